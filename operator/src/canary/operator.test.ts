// The canary decision and analysis through the operator's real reconciler, against the
// sandbox's API server. No Deployment controller runs: the test plays it, marking a Deployment
// rolled out when the rollout would be done; the canary pod is a loopback server with the image
// service's real metrics, found through its EndpointSlice by the direct provider.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admission } from '../../../image-service/src/admission.ts';
import { Metrics } from '../../../image-service/src/metrics.ts';
import { type ApiServer, startApiServer } from '../../../sandbox/apiserver/server.ts';
import { KubeClient, type KubeObject, resources } from '../kube/client.ts';
import { Manager } from '../manager.ts';
import { OperatorMetrics } from '../metrics.ts';
import { CLOSED_POLICY } from '../policy.ts';
import { ABORT_ANNOTATION } from './decide.ts';
import { eventually, type Served, serve, times } from './providers/testkit.ts';

const NS = 'shop';
let server: ApiServer;
let client: KubeClient;
let manager: Manager;
let pod: Served;
/** A rollout hook: says no (500) to its first call, yes after; records every path it is asked. */
let hook: Served;
const hookCalls: string[] = [];
let metrics: OperatorMetrics;
/** What the canary pod answers between two scrapes. */
let traffic: 'healthy' | 'broken' = 'healthy';

const raw = (method: string, path: string, body?: unknown, type = 'application/json') =>
  fetch(server.url + path, { method, headers: { 'content-type': type }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

async function status(): Promise<Record<string, unknown>> {
  return ((await client.get(resources.imageServices, NS, 'thumbs'))['status'] ?? {}) as Record<string, unknown>;
}

async function until(what: string, check: (s: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return eventually(
    async () => {
      const s = await status();
      return check(s) ? s : undefined;
    },
    what,
    20_000,
  );
}

/** Plays the Deployment controller: the Deployment has rolled out its current spec. */
async function rolledOut(name: string): Promise<void> {
  const d = await client.get(resources.deployments, NS, name);
  const replicas = (d['spec'] as { replicas: number }).replicas;
  const s = { observedGeneration: d.metadata.generation, replicas, readyReplicas: replicas, updatedReplicas: replicas, availableReplicas: replicas };
  const r = await raw('PUT', `/apis/apps/v1/namespaces/${NS}/deployments/${name}/status`, { ...d, status: s });
  expect(r.status).toBe(200);
}

const deployment = (name: string) => client.get(resources.deployments, NS, name);
const image = (d: KubeObject) => (d['spec'] as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]?.image;
const replicas = (d: KubeObject) => (d['spec'] as { replicas: number }).replicas;

async function weights(): Promise<number[]> {
  const vs = await client.get(resources.virtualServices, NS, 'thumbs');
  return ((vs['spec'] as { http: { route: { weight: number }[] }[] }).http[0]?.route ?? []).map((r) => r.weight);
}

async function eventReasons(): Promise<string[]> {
  await manager.recorder.flush();
  const list = await client.list(resources.events, { namespace: NS });
  return list.items.map((e) => String(e['reason']));
}

beforeAll(async () => {
  server = await startApiServer({});
  client = await KubeClient.fromKubeconfig(server.kubeconfig());
  await raw('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });

  const podMetrics = new Metrics('test', new Admission({ slots: 1, queueLimit: 1, queueTimeoutMs: 1000 }));
  pod = await serve((_req, res) => {
    const batch = traffic === 'healthy' ? times(30, { ms: 10, code: 200 }) : [...times(15, { ms: 10, code: 200 }), ...times(15, { ms: 10, code: 503 })];
    for (const r of batch) podMetrics.observe('image', r.code, r.ms / 1000);
    void podMetrics.registry.metrics().then((text) => res.end(text));
  }, '127.0.0.41');
  const r = await raw('POST', `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'thumbs-canary-x1', namespace: NS, labels: { 'kubernetes.io/service-name': 'thumbs-canary' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: Number(new URL(pod.url).port) }],
    endpoints: [{ addresses: ['127.0.0.41'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'thumbs-canary-x1' } }],
  });
  expect(r.status).toBe(201);

  hook = await serve((req, res) => {
    hookCalls.push(req.url ?? '');
    req.resume();
    res.writeHead(hookCalls.length === 1 ? 500 : 200).end();
  });

  metrics = new OperatorMetrics({ processMetrics: false });
  manager = new Manager({
    client,
    logger: pino({ level: 'silent' }),
    metrics,
    workers: 2,
    backoff: { baseMs: 10, maxMs: 500 },
    watchBackoff: { baseMs: 10, maxMs: 200 },
    policy: { ...CLOSED_POLICY, webhookUrls: [`${hook.url}/check`] },
  });
  await manager.start();
});

afterAll(async () => {
  await manager?.stop();
  client?.close();
  await pod?.close();
  await hook?.close();
  await server?.stop();
});

describe('the canary through the reconciler', () => {
  it('initialises, then promotes a healthy new image 50% -> 100% -> Succeeded', async () => {
    await client.create(resources.imageServices, {
      apiVersion: 'imageops.dev/v1alpha1',
      kind: 'ImageService',
      metadata: { name: 'thumbs', namespace: NS },
      spec: {
        image: 'imageops/image-service:1.0.0',
        replicas: 1,
        source: { file: {} },
        canary: { interval: '1s', stepWeight: 50, threshold: 2, analysis: { provider: 'direct', minRequests: 5 } },
      },
    } as KubeObject);
    await until('Initialized', (s) => s['phase'] === 'Initialized');
    await rolledOut('thumbs-primary');

    await client.mergePatch(resources.imageServices, NS, 'thumbs', { spec: { image: 'imageops/image-service:1.1.0' } });
    await eventually(async () => ((await until('Progressing', (s) => s['phase'] === 'Progressing')) && replicas(await deployment('thumbs-canary')) === 1 ? true : undefined), 'canary scaled up');
    expect(await weights()).toEqual([100, 0]);
    await rolledOut('thumbs-canary');

    await eventually(async () => ((await weights())[1] === 50 ? true : undefined), 'canary at 50%');
    await until('Promoting', (s) => s['phase'] === 'Promoting');
    await eventually(async () => (image(await deployment('thumbs-primary')) === 'imageops/image-service:1.1.0' ? true : undefined), 'primary gets the canary template');
    await rolledOut('thumbs-primary');
    const done = await until('Succeeded', (s) => s['phase'] === 'Succeeded');
    expect(done).toMatchObject({ primary: { image: 'imageops/image-service:1.1.0' }, canaryWeight: 0, failedChecks: 0 });
    expect(await weights()).toEqual([100, 0]);
    expect(replicas(await deployment('thumbs-canary'))).toBe(0);
    expect(await eventReasons()).toEqual(expect.arrayContaining(['Initialized', 'NewRevision', 'CanaryReady', 'Advanced', 'Promoting', 'Finalising', 'Succeeded']));
    // the operator's metrics follow the status
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/imageops_canary_phase\{namespace="shop",name="thumbs"\} 5/);
    expect(text).toMatch(/imageops_analysis_value\{namespace="shop",name="thumbs",metric="errorRatePercent"\} 0/);
  });

  it('rolls a broken image back on its error rate, primary untouched', async () => {
    traffic = 'broken';
    await client.mergePatch(resources.imageServices, NS, 'thumbs', { spec: { image: 'imageops/image-service:1.2.0' } });
    await until('Progressing', (s) => s['phase'] === 'Progressing');
    await eventually(async () => ((await deployment('thumbs-canary'))['spec'] as { replicas: number }).replicas === 1 || undefined, 'canary scaled up');
    await rolledOut('thumbs-canary');
    const failed = await until('Failed', (s) => s['phase'] === 'Failed');
    expect(failed).toMatchObject({ failedChecks: 2, canaryWeight: 0, primary: { image: 'imageops/image-service:1.1.0' } });
    expect(String(failed['message'])).toMatch(/after 2 failed checks .*5xx rate 50% is above the SLO of 1%/);
    expect(image(await deployment('thumbs-primary'))).toBe('imageops/image-service:1.1.0');
    expect(await weights()).toEqual([100, 0]);
    await eventually(async () => (replicas(await deployment('thumbs-canary')) === 0 ? true : undefined), 'canary scaled to 0');
    expect(await eventReasons()).toEqual(expect.arrayContaining(['CheckFailed', 'RolledBack']));
  });

  it('aborts on the annotation mid-analysis and removes it', async () => {
    traffic = 'healthy';
    await client.mergePatch(resources.imageServices, NS, 'thumbs', { spec: { image: 'imageops/image-service:1.3.0', canary: { interval: '30s' } } });
    await until('Progressing', (s) => s['phase'] === 'Progressing');
    await eventually(async () => replicas(await deployment('thumbs-canary')) === 1 || undefined, 'canary scaled up');
    await rolledOut('thumbs-canary');
    await eventually(async () => ((await weights())[1] === 50 ? true : undefined), 'canary at 50%');
    await client.mergePatch(resources.imageServices, NS, 'thumbs', { metadata: { annotations: { [ABORT_ANNOTATION]: 'true' } } });
    const failed = await until('Failed', (s) => s['phase'] === 'Failed');
    expect(String(failed['message'])).toMatch(/aborted by annotation imageops.dev\/abort at 50%/);
    expect(await weights()).toEqual([100, 0]);
    await eventually(async () => ((await client.get(resources.imageServices, NS, 'thumbs')).metadata.annotations?.[ABORT_ANNOTATION] === undefined ? true : undefined), 'annotation removed');
    expect(image(await deployment('thumbs-primary'))).toBe('imageops/image-service:1.1.0');
  });

  it('a rollout hook that flips: its no is a failed check naming it, its yes lets the canary on', async () => {
    await client.mergePatch(resources.imageServices, NS, 'thumbs', {
      spec: { image: 'imageops/image-service:1.4.0', canary: { interval: '1s', threshold: 3, webhooks: [{ name: 'smoke', type: 'rollout', url: `${hook.url}/check`, timeout: '2s' }] } },
    });
    await until('Progressing', (s) => s['phase'] === 'Progressing');
    await eventually(async () => replicas(await deployment('thumbs-canary')) === 1 || undefined, 'canary scaled up');
    await rolledOut('thumbs-canary');
    const done = await until('Promoting', (s) => s['phase'] === 'Promoting');
    expect(done).toMatchObject({ failedChecks: 1, lastAnalysis: { passed: true, webhooks: { smoke: 'HTTP 200' } } });
    await manager.recorder.flush();
    const messages = (await client.list(resources.events, { namespace: NS })).items.map((e) => `${String(e['reason'])}: ${String(e['message'])}`);
    expect(messages).toEqual(
      expect.arrayContaining([expect.stringMatching(/^CheckFailed: .*rollout webhook smoke did not say yes: HTTP 500/), expect.stringMatching(/^Promoting: .*webhook smoke HTTP 200/)]),
    );
  });

  it('refuses a hook URL the installer did not allow, and never calls it', async () => {
    const before = hookCalls.length;
    await client.create(resources.imageServices, {
      apiVersion: 'imageops.dev/v1alpha1',
      kind: 'ImageService',
      metadata: { name: 'sneaky', namespace: NS },
      spec: { image: 'imageops/image-service:1.0.0', source: { file: {} }, canary: { webhooks: [{ name: 'probe', type: 'rollout', url: `${hook.url}/elsewhere` }] } },
    } as KubeObject);
    const refused = await eventually(
      async () => {
        const s = ((await client.get(resources.imageServices, NS, 'sneaky'))['status'] ?? {}) as { conditions?: { type: string; reason?: string; message?: string }[] };
        return s.conditions?.find((c) => c.type === 'PolicyViolation');
      },
      'PolicyViolation',
      20_000,
    );
    expect(refused).toMatchObject({ reason: 'WebhookNotAllowed', message: expect.stringMatching(/^spec\.canary\.webhooks\[0\]\.url: .* is not a hook this operator may call/) });
    expect(hookCalls.slice(before)).toEqual([]);
  });

  it('a signed service whose Secret is missing: the output check fails naming the Secret and key, in a Warning and in status', async () => {
    await client.create(resources.imageServices, {
      apiVersion: 'imageops.dev/v1alpha1',
      kind: 'ImageService',
      metadata: { name: 'signed', namespace: NS },
      spec: {
        image: 'imageops/image-service:1.0.0',
        replicas: 1,
        source: { file: {} },
        serving: { signingKeysSecret: 'signed-keys' },
        canary: { interval: '1s', threshold: 1, analysis: { provider: 'direct', output: { samples: [{ key: 'photo.jpg', params: 'w=200' }] } } },
      },
    } as KubeObject);
    const statusOf = async () => ((await client.get(resources.imageServices, NS, 'signed'))['status'] ?? {}) as { phase?: string; lastAnalysis?: { reason?: string } };
    await eventually(async () => ((await statusOf()).phase === 'Initialized' ? true : undefined), 'Initialized');
    await rolledOut('signed-primary');
    await client.mergePatch(resources.imageServices, NS, 'signed', { spec: { image: 'imageops/image-service:1.1.0' } });
    await eventually(async () => (replicas(await deployment('signed-canary')) === 1 ? true : undefined), 'canary scaled up');
    await rolledOut('signed-canary');
    const failed = await eventually(async () => {
      const s = await statusOf();
      return s.phase === 'Failed' ? s : undefined;
    }, 'Failed');
    const reason = 'output check: Secret shop/signed-keys (serving.signingKeysSecret) not found';
    expect(failed.lastAnalysis?.reason).toBe(reason);
    await manager.recorder.flush();
    const warnings = (await client.list(resources.events, { namespace: NS })).items.filter((e) => e['type'] === 'Warning' && (e['involvedObject'] as { name?: string }).name === 'signed');
    expect(warnings.map((e) => String(e['message'])).join('\n')).toContain(reason);
  });
});
