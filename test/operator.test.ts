import { afterEach, describe, expect, it } from 'vitest';
import { buildHTTPRoute } from '../operator/src/build/http-route.ts';
import { asRead } from '../operator/src/build/image-services.testkit.ts';
import { buildVirtualService, type CanaryRouting } from '../operator/src/build/virtual-service.ts';
import { mergeOwned, needsWrite } from '../operator/src/children.ts';
import { type KubeClient, type KubeObject, resources } from '../operator/src/kube/client.ts';
import { ConflictError } from '../operator/src/kube/errors.ts';
import type { Manager } from '../operator/src/manager.ts';
import { OperatorMetrics } from '../operator/src/metrics.ts';
import type { ApiServer } from '../sandbox/apiserver/server.ts';
import { CONTROL_PLANES, type ControlPlaneKind } from '../sandbox/sandbox.ts';
import { cluster, condition, eventually, getOrUndefined, imageService, namespace, operator, settled, statusOf, stopAll } from './operator.testkit.ts';

afterEach(stopAll);

const NS = 'shop';

async function world(controlPlane: ControlPlaneKind = 'emulated', options: { istio?: boolean; gatewayApi?: boolean } = {}) {
  const c = await cluster(controlPlane, options);
  const client = await c.connect();
  await namespace(client, NS);
  return { api: c.api, client };
}

/** A built route without its owner: no operator runs, and the real plane's garbage collector would take an orphan. */
function unowned(route: { metadata: object }): KubeObject {
  return { ...route, metadata: { ...route.metadata, ownerReferences: [] } } as unknown as KubeObject;
}

/** Every write the client has sent. */
const writesOf = (client: KubeClient) => [...client.writes.values()].reduce((a, b) => a + b, 0);

/** Once thumbs settled, a reconcile writes nothing (counted by the client and, emulated, by the server). */
async function expectNoWriteAtRest(api: ApiServer | undefined, client: KubeClient, m: Manager): Promise<void> {
  await settled(client, m, NS, 'thumbs');
  api?.faults.resetCounts();
  const before = writesOf(client);
  const again = await m.reconciler.reconcile(NS, 'thumbs', new AbortController().signal);
  expect(again.writes).toBe(0);
  expect(writesOf(client)).toBe(before);
  if (api) expect(api.faults.counts().writes).toBe(0);
}

type Container = { name: string; image: string; env?: Array<{ name: string; value?: string }> };
const containers = (d: KubeObject) => (d['spec'] as { template: { spec: { containers: Container[] } } }).template.spec.containers;
const envOf = (d: KubeObject) => Object.fromEntries((containers(d)[0]?.env ?? []).map((e) => [e.name, e.value]));

async function events(client: KubeClient, reason: string) {
  const list = await client.list(resources.events, { namespace: NS });
  return list.items.filter((e) => e['reason'] === reason);
}

// A real control plane takes about ten seconds to start, in each test.
describe.each(CONTROL_PLANES)('operator against the %s control plane', { timeout: 120_000 }, (controlPlane) => {
  it('creates every child (docs/architecture.md) with owner, labels and the threads env; primary at 100%, Initialized', async () => {
    const { client } = await world(controlPlane);
    const m = await operator(client);
    const created = await client.create(resources.imageServices, imageService('thumbs', NS));
    await settled(client, m, NS, 'thumbs');

    const children = [
      [resources.deployments, 'thumbs-primary', 'primary'],
      [resources.deployments, 'thumbs-canary', 'canary'],
      [resources.services, 'thumbs-primary', 'primary'],
      [resources.services, 'thumbs-canary', 'canary'],
      [resources.services, 'thumbs', undefined],
      [resources.virtualServices, 'thumbs', undefined],
    ] as const;
    for (const [type, name, track] of children) {
      const child = await client.get(type, NS, name);
      expect(child.metadata.ownerReferences, `${type.kind} ${name}`).toEqual([expect.objectContaining({ kind: 'ImageService', name: 'thumbs', uid: created.metadata.uid, controller: true })]);
      expect(child.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'image-service',
        'app.kubernetes.io/instance': 'thumbs',
        'app.kubernetes.io/managed-by': 'imageops',
        ...(track ? { 'imageops.dev/track': track } : {}),
      });
    }
    // the caches index children by their controller and by namespace
    const uid = created.metadata.uid ?? '';
    expect(
      m.caches.deployments
        .byOwner(uid)
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(['thumbs-canary', 'thumbs-primary']);
    expect(m.caches.services.byOwner(uid)).toHaveLength(3);
    expect(m.caches.virtualServices.byNamespace(NS).map((v) => v.metadata.name)).toEqual(['thumbs']);
    expect(m.caches.virtualServices.byNamespace('elsewhere')).toEqual([]);
    // and keep no managedFields, which the server records on every write
    expect((await client.get(resources.deployments, NS, 'thumbs-primary')).metadata['managedFields']).toBeDefined();
    expect(m.caches.deployments.get(NS, 'thumbs-primary')?.metadata['managedFields']).toBeUndefined();

    const primary = await client.get(resources.deployments, NS, 'thumbs-primary');
    expect(envOf(primary)).toMatchObject({
      IMAGE_SERVICE_WORKERS: '1',
      UV_THREADPOOL_SIZE: '2',
      VIPS_CONCURRENCY: '1',
      MALLOC_ARENA_MAX: '1', // one arena with one worker (docs/benchmarks.md, thread defaults)
      NODE_OPTIONS: '--max-old-space-size=256',
    });
    expect((primary['spec'] as { replicas: number }).replicas).toBe(2);
    const canary = await client.get(resources.deployments, NS, 'thumbs-canary');
    expect((canary['spec'] as { replicas: number }).replicas).toBe(0);
    const vs = await client.get(resources.virtualServices, NS, 'thumbs');
    const http = (vs['spec'] as { http: Array<{ route: Array<{ destination: { host: string }; weight: number }> }> }).http;
    expect(http[0]?.route.map((r) => [r.destination.host, r.weight])).toEqual([
      ['thumbs-primary', 100],
      ['thumbs-canary', 0],
    ]);

    const status = await statusOf(client, NS, 'thumbs');
    expect(status).toMatchObject({ phase: 'Initialized', canaryWeight: 0, observedGeneration: 1 });
    expect((status['primary'] as { revision: string }).revision).toBe(primary.metadata.labels?.['imageops.dev/revision']);
    expect(condition(status, 'Promoted')).toMatchObject({ status: 'True', reason: 'Initialized' });
    // no Deployment controller runs here: primary never becomes ready
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'PrimaryNotReady' });
    await m.recorder.flush();
    expect(await events(client, 'Initialized')).toHaveLength(1);
    // six children, one status, one Event: within the 8 writes per new ImageService
    expect(Object.fromEntries(client.writes)).toEqual({
      'create deployments': 2,
      'create services': 3,
      'create virtualservices': 1,
      'update imageservices/status': 1,
      'create events': 1,
      // the test's own
      'create namespaces': 1,
      'create imageservices': 1,
    });
  });

  it('makes no write in a steady state, recreates a deleted child and reverts a hand edit', async () => {
    const { api, client } = await world(controlPlane);
    const m = await operator(client);
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await expectNoWriteAtRest(api, client, m);

    const svc = await client.get(resources.services, NS, 'thumbs-canary');
    await client.delete(resources.services, NS, 'thumbs-canary');
    const back = await eventually('the Service to be recreated', async () => {
      const s = await getOrUndefined(client, resources.services, NS, 'thumbs-canary');
      return s !== undefined && s.metadata.uid !== svc.metadata.uid ? s : undefined;
    });
    expect(back.metadata.ownerReferences?.[0]?.name).toBe('thumbs');

    // the hand edit, retried when another writer (kube-controller-manager's status) came first
    await eventually('the hand edit to be written', async () => {
      const primary = await client.get(resources.deployments, NS, 'thumbs-primary');
      containers(primary)[0]!.image = 'evil/image:latest';
      (primary['spec'] as { replicas: number }).replicas = 7;
      return client.replace(resources.deployments, primary).then(
        () => true,
        (err: unknown) => {
          if (err instanceof ConflictError) return false;
          throw err;
        },
      );
    });
    await eventually('the hand edit to be reverted', async () => {
      const d = await client.get(resources.deployments, NS, 'thumbs-primary');
      return containers(d)[0]?.image === 'imageops/image-service:1.0.0' && (d['spec'] as { replicas: number }).replicas === 2;
    });
    // the revert shows on the server before the reconciler, back from its write, records the Event
    await eventually('the Updated Event', async () => {
      await m.recorder.flush();
      return (await events(client, 'Updated')).some((e) => e['message'] === 'Updated Deployment thumbs-primary');
    });
  });

  it("with spec.autoscaling: an HPA owns primary's replicas, no write at rest, and goes when autoscaling does", async () => {
    const { api, client } = await world(controlPlane);
    const m = await operator(client);
    const autoscaling = { minReplicas: 2, maxReplicas: 5, targetCPUUtilizationPercentage: 60, behavior: { scaleDown: { stabilizationWindowSeconds: 5 } } };
    await client.create(resources.imageServices, imageService('thumbs', NS, { replicas: 3, autoscaling }));
    await settled(client, m, NS, 'thumbs');
    const replicasOf = async () => ((await client.get(resources.deployments, NS, 'thumbs-primary'))['spec'] as { replicas: number }).replicas;
    const hpa = await client.get(resources.horizontalPodAutoscalers, NS, 'thumbs-primary');
    expect(hpa.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'ImageService', name: 'thumbs', controller: true })]);
    expect(hpa['spec']).toMatchObject({ scaleTargetRef: { kind: 'Deployment', name: 'thumbs-primary' }, minReplicas: 2, maxReplicas: 5 });
    // created at minReplicas, not spec.replicas: the HPA decides from there
    expect(await replicasOf()).toBe(2);

    // The HPA scales primary (as it does, through the scale subresource); the operator keeps its choice.
    await client.request('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/thumbs-primary/scale`, { spec: { replicas: 4 } }, 'application/merge-patch+json');
    await eventually("the cache to see the HPA's choice", () => (m.caches.deployments.get(NS, 'thumbs-primary')?.['spec'] as { replicas?: number } | undefined)?.replicas === 4);
    await expectNoWriteAtRest(api, client, m);
    expect(await replicasOf()).toBe(4);

    // a hand edit of the HPA is reverted like any child's
    await eventually('the hand edit of the HPA to be written', async () => {
      const live = await client.get(resources.horizontalPodAutoscalers, NS, 'thumbs-primary');
      (live['spec'] as { maxReplicas: number }).maxReplicas = 50;
      return client.replace(resources.horizontalPodAutoscalers, live).then(
        () => true,
        (err: unknown) => (err instanceof ConflictError ? false : Promise.reject(err)),
      );
    });
    await eventually('the HPA to be reverted', async () => ((await client.get(resources.horizontalPodAutoscalers, NS, 'thumbs-primary'))['spec'] as { maxReplicas: number }).maxReplicas === 5);

    // Without autoscaling the HPA goes (it would keep scaling primary) and spec.replicas applies again.
    await client.mergePatch(resources.imageServices, NS, 'thumbs', { spec: { autoscaling: null } });
    await eventually('the HPA to be deleted', async () => (await getOrUndefined(client, resources.horizontalPodAutoscalers, NS, 'thumbs-primary')) === undefined);
    await eventually('primary back at spec.replicas', async () => (await replicasOf()) === 3);
    await m.recorder.flush();
    expect((await events(client, 'Deleted')).map((e) => e['message'])).toContain('Deleted HorizontalPodAutoscaler thumbs-primary');
  });

  it('starts a canary of a changed template and keeps primary on the promoted revision', async () => {
    const { client } = await world(controlPlane);
    const m = await operator(client);
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await settled(client, m, NS, 'thumbs');
    const before = await statusOf(client, NS, 'thumbs');

    await client.mergePatch(resources.imageServices, NS, 'thumbs', { spec: { image: 'imageops/image-service:1.1.0' } });
    await settled(client, m, NS, 'thumbs');

    const status = await statusOf(client, NS, 'thumbs');
    expect(status['primary']).toEqual(before['primary']);
    expect(status['canary']).toMatchObject({ image: 'imageops/image-service:1.1.0' });
    // No node runs the canary's pods: the analysis waits for them, with no traffic.
    expect(status).toMatchObject({ phase: 'Progressing', canaryWeight: 0 });
    expect(condition(status, 'Progressing')).toMatchObject({ status: 'True', reason: expect.stringMatching(/^(NewRevision|WaitingForCanary)$/) });
    const primary = await client.get(resources.deployments, NS, 'thumbs-primary');
    expect(containers(primary)[0]?.image).toBe('imageops/image-service:1.0.0');
    const canary = await client.get(resources.deployments, NS, 'thumbs-canary');
    expect(containers(canary)[0]?.image).toBe('imageops/image-service:1.1.0');
    expect(canary.metadata.labels?.['imageops.dev/revision']).toBe((status['canary'] as { revision: string }).revision);
    expect((canary['spec'] as { replicas: number }).replicas).toBe(2);
  });

  it('recreates a deleted primary on the promoted revision while a newer one waits, never on the newer one', async () => {
    const { client } = await world(controlPlane);
    const m = await operator(client);
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await settled(client, m, NS, 'thumbs');
    const promoted = (await statusOf(client, NS, 'thumbs'))['primary'] as { revision: string; template: string };
    expect(promoted.template).toContain('imageops/image-service:1.0.0');

    await client.mergePatch(resources.imageServices, NS, 'thumbs', { spec: { image: 'imageops/image-service:1.1.0' } });
    await settled(client, m, NS, 'thumbs');

    const gone = await client.get(resources.deployments, NS, 'thumbs-primary');
    await client.delete(resources.deployments, NS, 'thumbs-primary');
    const back = await eventually('primary to be recreated', async () => {
      const d = await getOrUndefined(client, resources.deployments, NS, 'thumbs-primary');
      return d !== undefined && d.metadata.uid !== gone.metadata.uid ? d : undefined;
    });
    expect(containers(back)[0]?.image).toBe('imageops/image-service:1.0.0');
    expect(back.metadata.labels?.['imageops.dev/revision']).toBe(promoted.revision);
    await settled(client, m, NS, 'thumbs');
    expect(((await statusOf(client, NS, 'thumbs'))['primary'] as { revision: string }).revision).toBe(promoted.revision);
    await m.recorder.flush();
    expect((await events(client, 'PrimaryRecreated')).map((e) => e['type'])).toEqual(['Warning']);
  });

  it('deleting the ImageService garbage-collects its children', { timeout: 90_000 }, async () => {
    const { client } = await world(controlPlane);
    const m = await operator(client);
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await settled(client, m, NS, 'thumbs');
    await client.delete(resources.imageServices, NS, 'thumbs');
    await eventually(
      'children to be collected',
      async () => {
        const owned = { namespace: NS, labelSelector: 'app.kubernetes.io/instance=thumbs' };
        const [d, s, v] = await Promise.all([client.list(resources.deployments, owned), client.list(resources.services, owned), client.list(resources.virtualServices, owned)]);
        return d.items.length + s.items.length + v.items.length === 0;
        // kube-controller-manager's garbage collector learns a new CRD's kind at its next
        // discovery resync (every 30 s), and only then collects what such an owner had
      },
      60_000,
    );
    // and the operator does not bring them back
    await eventually('the queue to drain', () => m.queue.length === 0 && m.queue.inFlight === 0);
    expect(await getOrUndefined(client, resources.deployments, NS, 'thumbs-primary')).toBeUndefined();
  });

  it('reports what the CRD cannot reject as InvalidSpec, writes no child, and recovers when fixed', async () => {
    const { client } = await world(controlPlane);
    const m = await operator(client);
    // The CRD's pattern admits this origin; the WHATWG URL parser the service uses does not (a
    // port of "b:c"), and Kubernetes' url() parses as Go does, so the check stays the operator's.
    const bad = imageService('thumbs', NS, { source: { http: { baseUrl: 'http://origin:b:c/images' } } });
    await client.create(resources.imageServices, bad);
    const status = await eventually('InvalidSpec', async () => {
      const s = await statusOf(client, NS, 'thumbs');
      return condition(s, 'InvalidSpec') ? s : undefined;
    });
    expect(condition(status, 'InvalidSpec')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(String(condition(status, 'InvalidSpec')?.['message'])).toContain('spec.source.http.baseUrl: http.baseUrl is not a valid URL');
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(await getOrUndefined(client, resources.deployments, NS, 'thumbs-primary')).toBeUndefined();
    await m.recorder.flush();
    expect(await events(client, 'InvalidSpec')).toHaveLength(1);

    const obj = await client.get(resources.imageServices, NS, 'thumbs');
    (obj['spec'] as { source: unknown }).source = { http: { baseUrl: 'http://origin:8080/images' } };
    await client.replace(resources.imageServices, obj);
    await settled(client, m, NS, 'thumbs');
    const fixed = await statusOf(client, NS, 'thumbs');
    expect(condition(fixed, 'InvalidSpec')).toBeUndefined();
    expect(fixed['phase']).toBe('Initialized');
    expect(await getOrUndefined(client, resources.deployments, NS, 'thumbs-primary')).toBeDefined();
  });

  it('leaves a child it does not own alone and says so (ConflictingChild)', async () => {
    const { client } = await world(controlPlane);
    const foreign = await client.create(resources.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'thumbs', namespace: NS },
      spec: { selector: { app: 'legacy' }, ports: [{ port: 80 }] },
    });
    const m = await operator(client);
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await settled(client, m, NS, 'thumbs');
    const status = await statusOf(client, NS, 'thumbs');
    expect(condition(status, 'ConflictingChild')).toMatchObject({ status: 'True', reason: 'NotOwned' });
    expect(String(condition(status, 'ConflictingChild')?.['message'])).toContain('Service thumbs');
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'ConflictingChild' });
    const after = await client.get(resources.services, NS, 'thumbs');
    expect(after.metadata.resourceVersion).toBe(foreign.metadata.resourceVersion);
    expect(await getOrUndefined(client, resources.deployments, NS, 'thumbs-primary')).toBeDefined();
  });

  it('a router switch writes the other route and removes the old one, both ways', async () => {
    const { client } = await world(controlPlane);
    const m = await operator(client);
    await client.create(resources.imageServices, imageService('thumbs', NS, { traffic: { hosts: ['img.example.com'], parentRefs: [{ name: 'public', namespace: NS, sectionName: 'http' }] } }));
    await settled(client, m, NS, 'thumbs');
    expect(await getOrUndefined(client, resources.virtualServices, NS, 'thumbs')).toBeDefined();
    expect(await getOrUndefined(client, resources.httpRoutes, NS, 'thumbs')).toBeUndefined();

    const switchTo = async (router: string) => {
      const obj = await client.get(resources.imageServices, NS, 'thumbs');
      await client.replace(resources.imageServices, { ...obj, spec: { ...(obj['spec'] as object), router } });
      await settled(client, m, NS, 'thumbs');
    };
    await switchTo('gatewayapi');
    // the server's copy, as the upstream CRD (real plane) or its subset (emulated) admitted it
    const route = await client.get(resources.httpRoutes, NS, 'thumbs');
    expect(route['spec']).toMatchObject({
      parentRefs: [
        { group: '', kind: 'Service', name: 'thumbs', port: 8080 },
        { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'public', namespace: NS, sectionName: 'http' },
      ],
      hostnames: ['img.example.com'],
      rules: [
        {
          backendRefs: [
            { name: 'thumbs-primary', port: 8080, weight: 100 },
            { name: 'thumbs-canary', port: 8080, weight: 0 },
          ],
          timeouts: { request: '30s' },
        },
      ],
    });
    expect(route.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'ImageService', name: 'thumbs', controller: true })]);
    await eventually('the VirtualService to go', async () => (await getOrUndefined(client, resources.virtualServices, NS, 'thumbs')) === undefined);
    expect((await events(client, 'Deleted')).map((e) => e['message'])).toEqual(['Deleted VirtualService thumbs']);
    // at rest: nothing more to write
    const writes = writesOf(client);
    await m.reconciler.reconcile(NS, 'thumbs', new AbortController().signal);
    expect(writesOf(client)).toBe(writes);

    await switchTo('istio');
    expect(await getOrUndefined(client, resources.virtualServices, NS, 'thumbs')).toBeDefined();
    await eventually('the HTTPRoute to go', async () => (await getOrUndefined(client, resources.httpRoutes, NS, 'thumbs')) === undefined);
  });

  it("admits a canary's HTTPRoute (preview rule, RequestMirror) as built; a mirror that ends is cleared", async () => {
    const { client } = await world(controlPlane);
    const isvc = asRead(imageService('thumbs', NS, { router: 'gatewayapi', canary: { preview: { header: 'x-imageops-preview', value: 'yes' }, mirror: 20 } }), NS);
    const built = (routing: CanaryRouting) => unowned(buildHTTPRoute(isvc, routing));
    const mirroring = built({ weight: 0, canaryRunning: true, mirrorPercent: 20 });
    const stored = await client.create(resources.httpRoutes, mirroring);
    // the server's defaults (a rule's path match, a reference's group) add to it and change nothing written
    expect(needsWrite(mirroring, stored)).toBe(false);
    expect((stored['spec'] as { rules: unknown[] }).rules).toMatchObject([
      {
        name: 'preview',
        matches: [{ headers: [{ type: 'Exact', name: 'x-imageops-preview', value: 'yes' }], path: { type: 'PathPrefix', value: '/' } }],
        backendRefs: [{ name: 'thumbs-canary', weight: 100 }],
      },
      {
        name: 'primary-canary',
        matches: [{ path: { type: 'PathPrefix', value: '/' } }],
        filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { group: '', kind: 'Service', name: 'thumbs-canary', port: 8080 }, percent: 20 } }],
      },
    ]);
    // mirroring ends at 0% (a rollback or a pause): the route differs, and the write clears the filter
    const ended = built({ weight: 0, canaryRunning: true, mirrorPercent: 0 });
    expect(needsWrite(ended, stored)).toBe(true);
    const cleared = await client.replace(resources.httpRoutes, mergeOwned(stored, ended));
    expect((cleared['spec'] as { rules: { filters?: unknown[] }[] }).rules[1]?.filters ?? []).toEqual([]);
    expect(needsWrite(ended, cleared)).toBe(false);
    // the emulated plane's CRD holds upstream's rule on the filter
    const both = structuredClone(mergeOwned(cleared, mirroring)) as KubeObject & { spec: { rules: { filters: { requestMirror: Record<string, unknown> }[] }[] } };
    both.spec.rules[1]!.filters[0]!.requestMirror['fraction'] = { numerator: 1, denominator: 5 };
    const refused = await client.replace(resources.httpRoutes, both).catch((e: unknown) => e);
    expect(String(refused)).toContain('Only one of percent or fraction may be specified in HTTPRequestMirrorFilter');
  });

  it("a VirtualService's mirror that ends at 0% is cleared, and nothing more is written", async () => {
    const { client } = await world(controlPlane);
    const isvc = asRead(imageService('thumbs', NS, { canary: { mirror: 20 } }), NS);
    const built = (routing: CanaryRouting) => unowned(buildVirtualService(isvc, routing));
    const mirroring = built({ weight: 0, canaryRunning: true, mirrorPercent: 20 });
    const stored = await client.create(resources.virtualServices, mirroring);
    expect(needsWrite(mirroring, stored)).toBe(false);
    const ended = built({ weight: 0, canaryRunning: true, mirrorPercent: 0 });
    expect(needsWrite(ended, stored)).toBe(true);
    // the nulls that say "no mirror" are dropped by the server (the fields are not nullable)
    const cleared = await client.replace(resources.virtualServices, mergeOwned(stored, ended));
    const rule = (cleared['spec'] as { http: Record<string, unknown>[] }).http[0];
    expect(rule).toMatchObject({ name: 'primary-canary' });
    expect(Object.keys(rule ?? {})).not.toContain('mirror');
    expect(Object.keys(rule ?? {})).not.toContain('mirrorPercentage');
    expect(needsWrite(ended, cleared)).toBe(false);
  });

  it('without the Gateway API: HTTPRouteUnavailable, and the VirtualService stays', async () => {
    const { client } = await world(controlPlane, { gatewayApi: false });
    const m = await operator(client);
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await settled(client, m, NS, 'thumbs');
    const obj = await client.get(resources.imageServices, NS, 'thumbs');
    await client.replace(resources.imageServices, { ...obj, spec: { ...(obj['spec'] as object), router: 'gatewayapi' } });
    await settled(client, m, NS, 'thumbs');
    const status = await statusOf(client, NS, 'thumbs');
    expect(condition(status, 'HTTPRouteUnavailable')).toMatchObject({ status: 'True', reason: 'APINotServed' });
    expect(String(condition(status, 'HTTPRouteUnavailable')?.['message'])).toContain('install the Gateway API CRDs');
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'HTTPRouteUnavailable' });
    // traffic keeps its route until the new one can be written
    expect(await getOrUndefined(client, resources.virtualServices, NS, 'thumbs')).toBeDefined();
    expect(await events(client, 'HTTPRouteUnavailable')).toHaveLength(1);
  });

  it('without Istio: VirtualServiceUnavailable, Deployments and Services in place, no crash', async () => {
    const { client } = await world(controlPlane, { istio: false });
    const m = await operator(client);
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await settled(client, m, NS, 'thumbs');
    const status = await statusOf(client, NS, 'thumbs');
    expect(condition(status, 'VirtualServiceUnavailable')).toMatchObject({ status: 'True', reason: 'APINotServed' });
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'VirtualServiceUnavailable' });
    expect(status['phase']).toBe('Initialized');
    expect(await getOrUndefined(client, resources.deployments, NS, 'thumbs-primary')).toBeDefined();
    expect(await getOrUndefined(client, resources.services, NS, 'thumbs')).toBeDefined();
    expect(m.ready()).toBe(true);
    await m.recorder.flush();
    expect(await events(client, 'VirtualServiceUnavailable')).toHaveLength(1);
  });
});

describe('periodic resync', () => {
  it('reconciles every ImageService again without a change, and writes nothing', async () => {
    const { api, client } = await world();
    const metrics = new OperatorMetrics({ processMetrics: false });
    const m = await operator(client, { resyncMs: 100, metrics });
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await settled(client, m, NS, 'thumbs');
    const reconciles = async () => {
      const h = await metrics.reconcileDuration.get();
      return h.values.find((v) => v.metricName === 'imageops_reconcile_duration_seconds_count')?.value ?? 0;
    };
    const before = await reconciles();
    const writes = writesOf(client);
    api?.faults.resetCounts();
    await eventually('two resyncs', async () => (await reconciles()) >= before + 2);
    expect(writesOf(client)).toBe(writes);
    expect(api?.faults.counts().writes).toBe(0);
  });
});

describe('WATCH_NAMESPACES', () => {
  it('manages ImageServices in the watched namespaces only', async () => {
    const { client } = await world();
    await namespace(client, 'media');
    await namespace(client, 'elsewhere');
    const m = await operator(client, { namespaces: [NS, 'media'] });
    for (const ns of [NS, 'media', 'elsewhere']) await client.create(resources.imageServices, imageService('thumbs', ns));
    await settled(client, m, NS, 'thumbs');
    await settled(client, m, 'media', 'thumbs');
    expect(await getOrUndefined(client, resources.deployments, 'media', 'thumbs-primary')).toBeDefined();
    expect(m.caches.imageServices.get('elsewhere', 'thumbs')).toBeUndefined();
    expect(await statusOf(client, 'elsewhere', 'thumbs')).toEqual({});
    expect(await getOrUndefined(client, resources.deployments, 'elsewhere', 'thumbs-primary')).toBeUndefined();
  });
});
