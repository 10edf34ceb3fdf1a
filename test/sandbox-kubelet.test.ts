// The kubelet through the API, with real processes: env and volumes as the container sees them,
// image and config errors, crash-loop back-off, liveness restarts, graceful termination, logs.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { type Pod, PodSchema } from '../sandbox/kube/types.ts';
import { testServerEntry } from '../sandbox/kubelet/catalogue.ts';
import { isAlive } from '../sandbox/pids.ts';
import { REPO_ROOT, type Sandbox, startSandbox } from '../sandbox/sandbox.ts';
import { eventsAbout, waitFor } from './sandbox.testkit.ts';

const exec = promisify(execFile);
const NS = 'default';

type ContainerState = { waiting?: { reason: string; message?: string }; running?: unknown; terminated?: { exitCode: number } };
type Status = { restartCount: number; ready: boolean; state: ContainerState; lastState: ContainerState };

describe('kubelet', () => {
  let sb: Sandbox;
  let dir: string;

  function pod(name: string, container: Record<string, unknown>, spec: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NS, labels: { app: name }, annotations: { team: 'imaging' } },
      spec: {
        terminationGracePeriodSeconds: 5,
        ...spec,
        // Without a readiness probe a container is ready as soon as it runs, before it listens.
        containers: [{ name: 'app', image: 'sandbox/test-server:1', readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 }, ...container }],
      },
    };
  }

  async function get(name: string): Promise<Pod | undefined> {
    return sb.client.get(RESOURCES.pods, PodSchema, NS, name);
  }

  function status(p: Pod | undefined): Status | undefined {
    return (p?.status?.containerStatuses?.[0] as Status | undefined) ?? undefined;
  }

  async function ready(name: string): Promise<Pod> {
    return waitFor(
      `pod ${name} ready`,
      async () => {
        const p = await get(name);
        return p?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? p : undefined;
      },
      20_000,
    );
  }

  async function call(p: Pod, urlPath: string): Promise<Response> {
    return fetch(`http://${p.status?.podIP}:8080${urlPath}`);
  }

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-kubelet-'));
    sb = await startSandbox({ stateDir: path.join(dir, 'state'), prometheus: 'off', extraImages: [testServerEntry(REPO_ROOT)] });
  });

  afterAll(async () => {
    await sb?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('gives the container its env (Downward API, Secret, ConfigMap) and volumes at their mount paths', async () => {
    const host = path.join(dir, 'host');
    await fs.mkdir(host);
    await fs.writeFile(path.join(host, 'photo.txt'), 'from the host');
    await sb.client.create(RESOURCES.secrets, NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' }, data: { token: Buffer.from('s3cr3t').toString('base64') } });
    await sb.client.create(RESOURCES.configmaps, NS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { mode: 'fast', 'presets.json': '{"thumb":{}}' } });
    await sb.client.create(
      RESOURCES.pods,
      NS,
      pod(
        'env',
        {
          resources: { limits: { cpu: '1500m', memory: '256Mi' } },
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'TEAM', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['team']" } } },
            { name: 'CPUS', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
            { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
            { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } },
            { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } },
            { name: 'MISSING', valueFrom: { configMapKeyRef: { name: 'nope', key: 'x', optional: true } } },
            { name: 'SOURCE', value: 'file:///images' },
            { name: 'PRESETS', value: '/etc/cfg/presets.json' },
          ],
          volumeMounts: [
            { name: 'images', mountPath: '/images' },
            { name: 'cfg', mountPath: '/etc/cfg' },
            { name: 'scratch', mountPath: '/tmp/scratch' },
          ],
        },
        {
          volumes: [
            { name: 'images', hostPath: { path: host } },
            { name: 'cfg', configMap: { name: 'cfg' } },
            { name: 'scratch', emptyDir: {} },
          ],
        },
      ),
    );
    const p = await ready('env');
    const env = (await (await call(p, '/env')).json()) as Record<string, string>;
    expect(env).toMatchObject({
      POD_NAME: 'env',
      POD_IP: p.status?.podIP,
      IMAGE_SERVICE_HOST: p.status?.podIP,
      TEAM: 'imaging',
      CPUS: '2',
      MEM_MI: '256',
      TOKEN: 's3cr3t',
      MODE: 'fast',
      SOURCE: `file://${host}`,
    });
    expect(env.MISSING).toBeUndefined();
    expect(await (await call(p, `/file?path=${encodeURIComponent(`${host}/photo.txt`)}`)).text()).toBe('from the host');
    expect(await (await call(p, `/file?path=${encodeURIComponent(env.PRESETS ?? '')}`)).text()).toBe('{"thumb":{}}');
    expect(p.spec.nodeName).toBe('sandbox');
    expect(p.status?.conditions?.map((c) => c.type).sort()).toEqual(['ContainersReady', 'Initialized', 'PodReadyToStartContainers', 'PodScheduled', 'Ready']);
  });

  it('waits with CreateContainerConfigError for a missing Secret and starts once it exists', async () => {
    await sb.client.create(RESOURCES.pods, NS, pod('late', { env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'late-secret', key: 'k' } } }] }));
    const waiting = await waitFor('CreateContainerConfigError', async () => {
      const s = status(await get('late'));
      return s?.state.waiting?.reason === 'CreateContainerConfigError' ? s : undefined;
    });
    expect(waiting.state.waiting?.message).toBe('secret "late-secret" not found');
    expect((await get('late'))?.status?.phase).toBe('Pending');
    await sb.client.create(RESOURCES.secrets, NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'late-secret' }, stringData: { k: 'v' } });
    await ready('late');
  });

  it('reports an image not in the catalogue as ErrImagePull, then ImagePullBackOff', async () => {
    await sb.client.create(RESOURCES.pods, NS, pod('nope', { image: 'docker.io/library/nginx:1.27' }));
    const reasons = new Set<string>();
    await waitFor('ImagePullBackOff', async () => {
      const reason = status(await get('nope'))?.state.waiting?.reason;
      if (reason !== undefined) reasons.add(reason);
      return reason === 'ImagePullBackOff' ? true : undefined;
    });
    expect(reasons.has('ErrImagePull') || reasons.has('ImagePullBackOff')).toBe(true);
    expect(status(await get('nope'))?.state.waiting?.message).toContain('not in the sandbox catalogue');
  });

  it('restarts a crashing container with back-off and keeps its previous logs', async () => {
    await sb.client.create(RESOURCES.pods, NS, pod('crash', { env: [{ name: 'CRASH', value: '1' }] }));
    const s = await waitFor('CrashLoopBackOff', async () => {
      const st = status(await get('crash'));
      return st?.state.waiting?.reason === 'CrashLoopBackOff' ? st : undefined;
    });
    expect(s.restartCount).toBeGreaterThanOrEqual(1);
    expect(s.lastState.terminated?.exitCode).toBe(3);
    expect(s.state.waiting?.message).toContain('back-off 10s');
    const { stdout } = await exec('kubectl', ['--kubeconfig', sb.kubeconfigPath, 'logs', 'crash', '--previous']);
    expect(stdout).toContain('crashing on purpose');
    const events = await waitFor('a BackOff event', async () => {
      const list = await eventsAbout(sb.client, NS, 'crash');
      return list.some((e) => e.reason === 'BackOff') ? list : undefined;
    });
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['Scheduled', 'Pulled', 'Created', 'Started', 'BackOff']));
    expect(events.find((e) => e.reason === 'BackOff')).toMatchObject({ type: 'Warning', message: 'Back-off restarting failed container app' });
  });

  it('restarts a container that fails its liveness probe', { timeout: 60_000 }, async () => {
    await sb.client.create(RESOURCES.pods, NS, pod('live', { livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, initialDelaySeconds: 2, periodSeconds: 1, failureThreshold: 1 } }));
    const p = await ready('live');
    await call(p, '/fail');
    const restarted = await waitFor(
      'a restart',
      async () => {
        const st = status(await get('live'));
        return st !== undefined && st.restartCount >= 1 && st.ready ? st : undefined;
      },
      20_000,
    );
    expect(restarted.lastState.terminated).toBeDefined();
    expect(await (await call(p, '/healthz')).status).toBe(200);
  });

  it('terminates with the preStop hook, SIGTERM, then SIGKILL after the grace period, and frees the pod', async () => {
    const markers = path.join(dir, 'markers');
    await fs.mkdir(markers);
    const env = [
      { name: 'MARKER_DIR', value: markers },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ];
    const preStop = { exec: { command: ['sh', '-c', 'echo preStop > "$MARKER_DIR/prestop-polite"'] } };
    await sb.client.create(RESOURCES.pods, NS, pod('polite', { env, lifecycle: { preStop } }));
    await sb.client.create(RESOURCES.pods, NS, pod('stubborn', { env: [...env, { name: 'IGNORE_SIGTERM', value: '1' }] }, { terminationGracePeriodSeconds: 1 }));
    await ready('polite');
    await ready('stubborn');
    const pids = sb.kubelets.flatMap((k) => k.pids());
    const logs = await exec('kubectl', ['--kubeconfig', sb.kubeconfigPath, 'logs', 'polite']);
    expect(logs.stdout).toContain('listening on');
    // `logs -f` streams until the reader leaves.
    const follow = new AbortController();
    const res = await fetch(`${sb.apiServer}/api/v1/namespaces/${NS}/pods/polite/log?follow=true`, { signal: follow.signal });
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(new TextDecoder().decode(first?.value)).toContain('listening on');
    follow.abort();
    const started = Date.now();
    await sb.client.delete(RESOURCES.pods, NS, 'polite');
    await sb.client.delete(RESOURCES.pods, NS, 'stubborn');
    // Graceful deletion: marked first, removed by the kubelet once the containers have stopped.
    await waitFor('both pods gone', async () => ((await get('polite')) === undefined && (await get('stubborn')) === undefined ? true : undefined), 15_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // the stubborn one used its grace period
    expect(await fs.readFile(path.join(markers, 'sigterm-polite'), 'utf8')).toBe('SIGTERM');
    // The preStop hook ran, and before SIGTERM.
    const [hook, term] = await Promise.all([fs.stat(path.join(markers, 'prestop-polite')), fs.stat(path.join(markers, 'sigterm-polite'))]);
    expect(hook.mtimeMs).toBeLessThanOrEqual(term.mtimeMs);
    expect(await fs.readFile(path.join(markers, 'sigterm-stubborn'), 'utf8')).toBe('SIGTERM');
    const stillRunning = new Set(sb.kubelets.flatMap((k) => k.pids()));
    expect(pids.filter((pid) => !stillRunning.has(pid)).filter(isAlive)).toEqual([]);
  });
});
