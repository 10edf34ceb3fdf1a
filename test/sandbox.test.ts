// The sandbox end to end: real image-service processes behind the mesh, driven through the
// Kubernetes API, observed by real Prometheus.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { type Deployment, DeploymentSchema, PodSchema } from '../sandbox/kube/types.ts';
import { SLOW_DELAY_MS } from '../sandbox/kubelet/catalogue.ts';
import { isAlive } from '../sandbox/pids.ts';
import { CONTROL_PLANES, type Sandbox, startSandbox } from '../sandbox/sandbox.ts';
import { imageServiceDeployment, meshGet, service, waitFor } from './sandbox.testkit.ts';

const NS = 'shop';
const exec = promisify(execFile);

describe.each(CONTROL_PLANES)('sandbox workloads on the %s control plane', (controlPlane) => {
  let sb: Sandbox;
  let dir: string;
  let imagesDir: string;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const started = new Set<number>();

  async function deployment(name: string): Promise<Deployment | undefined> {
    return sb.client.get(RESOURCES.deployments, DeploymentSchema, NS, name);
  }

  async function pods(app: string) {
    const { items } = await sb.client.list(RESOURCES.pods, PodSchema, NS);
    return items.filter((p) => p.metadata.labels?.app === app && p.metadata.deletionTimestamp === undefined);
  }

  /** Waits until the Deployment's rollout is complete with every replica available. */
  async function rolledOut(name: string, replicas: number): Promise<Deployment> {
    return waitFor(
      `deployment ${name} to have ${replicas} available replicas`,
      async () => {
        const d = await deployment(name);
        const s = d?.status;
        const progressing = s?.conditions?.find((c) => c.type === 'Progressing');
        const done =
          d !== undefined &&
          s?.observedGeneration === d.metadata.generation &&
          s?.updatedReplicas === replicas &&
          s?.availableReplicas === replicas &&
          s?.replicas === replicas &&
          progressing?.reason === 'NewReplicaSetAvailable';
        for (const pid of sb.pids()) started.add(pid);
        return done ? d : undefined;
      },
      45_000,
    );
  }

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-e2e-'));
    imagesDir = path.join(dir, 'photos');
    await fs.mkdir(imagesDir);
    await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 200, g: 80, b: 40 } } })
      .jpeg()
      .toFile(path.join(imagesDir, 'photo.jpg'));
    sb = await startSandbox({ stateDir: path.join(dir, 'state'), prometheus: 'required', controlPlane });
    await sb.client.create(RESOURCES.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    for (const [name, tag, replicas] of [
      ['thumbs', '1.0.0', 2],
      ['slow', '1.0.0-slow', 1],
      ['broken', '1.0.0-broken', 1],
    ] as const) {
      await sb.client.create(RESOURCES.deployments, NS, imageServiceDeployment(name, NS, `registry.example.com/imageops/image-service:${tag}`, replicas, imagesDir));
      await sb.client.create(RESOURCES.services, NS, service(name, NS, { app: name }));
    }
  });

  afterAll(async () => {
    agent.destroy();
    await sb?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('runs a Deployment of the image service as real processes that become Ready', { timeout: 60_000 }, async () => {
    const d = await rolledOut('thumbs', 2);
    expect(d.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    const running = await pods('thumbs');
    expect(running).toHaveLength(2);
    for (const p of running) {
      expect(p.status?.phase).toBe('Running');
      // the emulated control plane's pods bind loopback addresses; the real one's have namespaces
      expect(p.status?.podIP).toMatch(controlPlane === 'emulated' ? /^127\.\d+\.\d+\.\d+$/ : /^10\.244\.\d+\.\d+$/);
      expect(p.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(p.metadata.labels?.['pod-template-hash']).toBeDefined();
      expect(p.metadata.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
    }
    expect(new Set(running.map((p) => p.status?.podIP)).size).toBe(2);
    expect(sb.pids().length).toBeGreaterThanOrEqual(2);
    const health = await meshGet(sb.mesh, 'thumbs.shop', '/healthz', agent);
    expect(JSON.parse(health.body.toString())).toMatchObject({ status: 'ok', version: '1.0.0' });
    // IMAGE_SOURCE=file:///images reaches the hostPath volume mounted there.
    const image = await meshGet(sb.mesh, 'thumbs.shop.svc.cluster.local', '/image/files/photo.jpg?w=32&fm=png', agent);
    expect(image.status).toBe(200);
    expect((await sharp(image.body).metadata()).width).toBe(32);
  });

  it('serves container logs to kubectl', async () => {
    const kubeconfig = sb.kubeconfigPath;
    const { stdout } = await exec('kubectl', ['--kubeconfig', kubeconfig, '-n', NS, 'get', 'pods', '-l', 'app=thumbs', '-o', 'name']);
    const names = stdout.trim().split('\n');
    expect(names).toHaveLength(2);
    // The image request of the first test is in one of the two pods' JSON logs.
    const logs = await Promise.all(names.map(async (n) => (await exec('kubectl', ['--kubeconfig', kubeconfig, '-n', NS, 'logs', n])).stdout));
    expect(
      logs
        .join('')
        .split('\n')
        .some((line) => line.includes('"msg":"request"') && line.includes('/image/files/photo.jpg')),
    ).toBe(true);
    // --timestamps prefixes each line with its arrival time; --since keeps the recent ones
    const [first] = names;
    const plain = (await exec('kubectl', ['--kubeconfig', kubeconfig, '-n', NS, 'logs', first ?? ''])).stdout.trim().split('\n');
    const stamped = (await exec('kubectl', ['--kubeconfig', kubeconfig, '-n', NS, 'logs', first ?? '', '--timestamps'])).stdout.trim().split('\n');
    expect(stamped.length).toBe(plain.length);
    for (const [i, line] of stamped.entries()) {
      const [at, ...rest] = line.split(' ');
      expect(Date.now() - Date.parse(at ?? '')).toBeLessThan(10 * 60_000);
      expect(rest.join(' ')).toBe(plain[i]);
    }
    expect((await exec('kubectl', ['--kubeconfig', kubeconfig, '-n', NS, 'logs', first ?? '', '--since=1h'])).stdout.trim().split('\n')).toEqual(plain);
  });

  it('scales through the scale subresource (kubectl scale, then the API)', { timeout: 60_000 }, async () => {
    await exec('kubectl', ['--kubeconfig', sb.kubeconfigPath, '-n', NS, 'scale', 'deployment/thumbs', '--replicas=3']);
    await rolledOut('thumbs', 3);
    const ready = await waitFor('3 endpoints', async () => {
      const ep = (await sb.client.request('GET', `/api/v1/namespaces/${NS}/endpoints/thumbs`)) as { subsets?: { addresses?: unknown[] }[] };
      return ep.subsets?.[0]?.addresses?.length === 3 ? ep : undefined;
    });
    expect(ready.subsets?.[0]?.addresses).toHaveLength(3);
    await sb.client.mergePatch(RESOURCES.deployments, NS, 'thumbs', { spec: { replicas: 2 } }, 'scale');
    await rolledOut('thumbs', 2);
    expect(await waitFor('2 pods', async () => ((await pods('thumbs')).length === 2 ? true : undefined))).toBe(true);
  });

  it('rolls out a new tag under load through the mesh without failing a request', { timeout: 90_000 }, async () => {
    let ok = 0;
    const failures: string[] = [];
    let loading = true;
    const worker = async (): Promise<void> => {
      while (loading) {
        try {
          const r = await meshGet(sb.mesh, 'thumbs.shop', '/image/files/photo.jpg?w=24', agent);
          if (r.status === 200) ok += 1;
          else failures.push(`${r.status} ${r.body.toString().slice(0, 120)}`);
        } catch (err) {
          failures.push(String(err));
        }
        if (failures.length > 0) await new Promise((r) => setTimeout(r, 20)); // never spin on failures
      }
    };
    const load = Promise.all(Array.from({ length: 4 }, worker));
    await new Promise((r) => setTimeout(r, 300));
    // A strategic merge patch, as kubectl sends: containers merge by name.
    await sb.client.request(
      'PATCH',
      `/apis/apps/v1/namespaces/${NS}/deployments/thumbs`,
      { spec: { template: { spec: { containers: [{ name: 'image-service', image: 'registry.example.com/imageops/image-service:1.1.0' }] } } } },
      'application/strategic-merge-patch+json',
    );
    try {
      await waitFor(
        'the new version behind every endpoint',
        async () => {
          const d = await deployment('thumbs');
          if (d?.status?.updatedReplicas !== 2 || d.status.replicas !== 2 || d.status.availableReplicas !== 2) return undefined;
          const versions = new Set<string>();
          for (let i = 0; i < 6; i++) versions.add(JSON.parse((await meshGet(sb.mesh, 'thumbs.shop', '/healthz', agent)).body.toString()).version);
          return versions.size === 1 && versions.has('1.1.0') ? true : undefined;
        },
        60_000,
      );
    } finally {
      loading = false;
      await load;
    }
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    const rss = (await sb.client.request('GET', `/apis/apps/v1/namespaces/${NS}/replicasets`)) as { items: { spec: { replicas: number }; metadata: { labels: Record<string, string> } }[] };
    const thumbs = rss.items.filter((r) => r.metadata.labels.app === 'thumbs');
    expect(thumbs.map((r) => r.spec.replicas).sort()).toEqual([0, 2]);
  });

  it('slows down -slow tags and breaks -broken tags as catalogued', { timeout: 60_000 }, async () => {
    await rolledOut('slow', 1);
    await rolledOut('broken', 1);
    const slow = await meshGet(sb.mesh, 'slow.shop', '/image/files/photo.jpg?w=20', agent);
    expect(slow.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(SLOW_DELAY_MS - 5);
    const n = 200;
    const answers = await Promise.all(Array.from({ length: n }, () => meshGet(sb.mesh, 'broken.shop', '/image/files/photo.jpg?w=20', agent)));
    const errors = answers.filter((a) => a.status >= 500).length;
    // At least half answered 5xx (the catalogue injects 75%: half is over 8 standard deviations away).
    expect(errors).toBeGreaterThanOrEqual(n / 2);
    expect(errors).toBeLessThan(n);
  });

  it('splits a VirtualService 90/10 within a binomial bound over 1000 requests', async () => {
    await sb.client.create({ group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', namespaced: true }, NS, {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'split', namespace: NS },
      spec: {
        hosts: ['split.example.com'],
        http: [
          {
            route: [
              { destination: { host: 'thumbs' }, weight: 90 },
              { destination: { host: 'broken' }, weight: 10 },
            ],
          },
        ],
      },
    });
    await waitFor('the VirtualService in the mesh', async () => ((await meshGet(sb.mesh, 'split.example.com', '/healthz', agent)).status === 200 ? true : undefined));
    const n = 1000;
    let canary = 0;
    for (let batch = 0; batch < n / 50; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => meshGet(sb.mesh, 'split.example.com', '/healthz', agent)));
      for (const a of answers) {
        expect(a.status).toBe(200);
        if (JSON.parse(a.body.toString()).version === '1.0.0-broken') canary += 1;
      }
    }
    const sd = Math.sqrt(n * 0.1 * 0.9);
    expect(canary).toBeGreaterThan(n * 0.1 - 5 * sd);
    expect(canary).toBeLessThan(n * 0.1 + 5 * sd);
  });

  it('follows a VirtualService change under load without failing a request', async () => {
    const vs = { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', namespaced: true };
    let loading = true;
    const failures: string[] = [];
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (loading) {
          const a = await meshGet(sb.mesh, 'split.example.com', '/healthz', agent).catch((err: unknown) => ({ status: 0, body: Buffer.from(String(err)) }));
          if (a.status !== 200) failures.push(`${a.status} ${a.body.toString().slice(0, 100)}`);
        }
      }),
    );
    try {
      await sb.client.mergePatch(vs, NS, 'split', {
        spec: {
          http: [
            {
              route: [
                { destination: { host: 'thumbs' }, weight: 0 },
                { destination: { host: 'broken' }, weight: 100 },
              ],
            },
          ],
        },
      });
      await waitFor('all traffic on the new weights', async () => {
        const answers = await Promise.all(Array.from({ length: 20 }, () => meshGet(sb.mesh, 'split.example.com', '/healthz', agent)));
        return answers.every((a) => JSON.parse(a.body.toString()).version === '1.0.0-broken') ? true : undefined;
      });
    } finally {
      loading = false;
      await load;
    }
    expect(failures).toEqual([]);
  });

  it('lets Prometheus answer istio_requests_total for a workload within seconds', async () => {
    expect(sb.prometheus).toBeDefined();
    const q = `sum(istio_requests_total{reporter="destination",destination_workload="thumbs",destination_workload_namespace="${NS}"})`;
    const value = await waitFor(
      'istio_requests_total in Prometheus',
      async () => {
        const res = await fetch(`${sb.prometheus}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
        const v = Number(body.data.result[0]?.value[1] ?? 0);
        return v > 0 ? v : undefined;
      },
      15_000,
      250,
    );
    expect(value).toBeGreaterThan(0);
    // The annotated image-service pods are scraped too, labelled with their pod and namespace.
    const own = await waitFor(
      'image_service_http_requests_total in Prometheus',
      async () => {
        const res = await fetch(`${sb.prometheus}/api/v1/query?query=${encodeURIComponent(`sum by (pod, namespace) (image_service_http_requests_total{namespace="${NS}"})`)}`);
        const body = (await res.json()) as { data: { result: { metric: Record<string, string> }[] } };
        return body.data.result.length > 0 ? body.data.result : undefined;
      },
      15_000,
      250,
    );
    expect(own[0]?.metric.pod).toMatch(/^(thumbs|slow|broken)-/);
  });

  it('leaves no process behind when stopped', async () => {
    for (const pid of sb.pids()) started.add(pid);
    expect(started.size).toBeGreaterThanOrEqual(5);
    await sb.stop();
    const alive = [...started].filter(isAlive);
    expect(alive).toEqual([]);
  });
});
