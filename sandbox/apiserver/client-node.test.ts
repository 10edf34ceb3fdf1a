import { ApiException, AppsV1Api, CoreV1Api, KubeConfig, type KubernetesObject, KubernetesObjectApi, makeInformer, PatchStrategy, setHeaderOptions, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, withServer } from './emulator.testkit.ts';
import type { ApiServer } from './server.ts';

// The emulator as @kubernetes/client-node (what the operator uses) sees it.

let server: ApiServer;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let n = 0;

beforeAll(async () => {
  ({ server } = await withServer());
  kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig());
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
});
afterAll(async () => {
  await server.stop();
});

async function newNamespace(): Promise<string> {
  const name = `cn${++n}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

async function apiError(p: Promise<unknown>): Promise<ApiException<string>> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiException) return err as ApiException<string>;
    throw err;
  }
  throw new Error('expected the request to fail');
}

describe('@kubernetes/client-node', () => {
  it('creates, reads, lists by label, replaces and deletes', async () => {
    const namespace = await newNamespace();
    const created = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'a', labels: { app: 'x' } }, data: { k: 'v' } } });
    expect(created.metadata?.uid).toBeTruthy();
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'b', labels: { app: 'y' } } } });
    const listed = await core.listNamespacedConfigMap({ namespace, labelSelector: 'app=x' });
    expect(listed.items.map((c) => c.metadata?.name)).toEqual(['a']);
    const read = await core.readNamespacedConfigMap({ name: 'a', namespace });
    const replaced = await core.replaceNamespacedConfigMap({ name: 'a', namespace, body: { ...read, data: { k: 'w' } } });
    expect(replaced.data).toEqual({ k: 'w' });
    await core.deleteNamespacedConfigMap({ name: 'a', namespace });
    expect((await apiError(core.readNamespacedConfigMap({ name: 'a', namespace }))).code).toBe(404);
  });

  it('reports a stale replace as 409 with the Status body', async () => {
    const namespace = await newNamespace();
    const first = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'c' } } });
    await core.replaceNamespacedConfigMap({ name: 'c', namespace, body: { ...first, data: { a: '1' } } });
    const err = await apiError(core.replaceNamespacedConfigMap({ name: 'c', namespace, body: { ...first, data: { a: '2' } } }));
    expect(err.code).toBe(409);
    expect(JSON.parse(err.body)).toMatchObject({ reason: 'Conflict' });
  });

  it('patches with every patch type', async () => {
    const namespace = await newNamespace();
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'd' },
        spec: {
          selector: { matchLabels: { app: 'd' } },
          template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'main', image: 'i:1', env: [{ name: 'A', value: '1' }] }] } },
        },
      },
    });
    const json = await apps.patchNamespacedDeployment({ name: 'd', namespace, body: [{ op: 'replace', path: '/spec/replicas', value: 2 }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    expect(json.spec?.replicas).toBe(2);
    const merge = await apps.patchNamespacedDeployment({ name: 'd', namespace, body: { metadata: { annotations: { note: 'm' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    expect(merge.metadata?.annotations).toEqual({ note: 'm' });
    const smp = await apps.patchNamespacedDeployment(
      { name: 'd', namespace, body: { spec: { template: { spec: { containers: [{ name: 'main', env: [{ name: 'B', value: '2' }] }] } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(smp.spec?.template.spec?.containers[0]?.env?.map((e) => e.name)).toEqual(['A', 'B']);
    expect(smp.spec?.template.spec?.containers[0]?.image).toBe('i:1');
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const applied = await objects.patch<V1ConfigMap & KubernetesObject>(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace }, data: { a: '1' } },
      undefined,
      undefined,
      'tester',
      true,
      PatchStrategy.ServerSideApply,
    );
    expect(applied.data).toEqual({ a: '1' });
    expect(applied.metadata?.managedFields?.[0]?.manager).toBe('tester');
  });

  it('keeps an informer in sync through dropped watches and a 410 relist', async () => {
    const namespace = await newNamespace();
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'initial' } } });
    const informer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${namespace}/configmaps`, () => core.listNamespacedConfigMap({ namespace }));
    const seen = new Set<string>();
    const deleted = new Set<string>();
    informer.on('add', (o) => seen.add(o.metadata?.name ?? ''));
    informer.on('delete', (o) => deleted.add(o.metadata?.name ?? ''));
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    try {
      await eventually(() => (seen.has('initial') ? true : undefined));
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'live' } } });
      await eventually(() => (seen.has('live') ? true : undefined));

      // Dropped watch: the informer resumes from its resourceVersion and misses nothing.
      server.faults.closeWatches();
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'while-dropped' } } });
      await eventually(() => (seen.has('while-dropped') ? true : undefined), 5000);

      // Expired history: while the informer's new watch is held back, objects change and the
      // history is compacted; the resume gets 410, and the informer relists and reconciles.
      server.faults.setLatency(500, ['watch']);
      server.faults.closeWatches();
      const listsBefore = server.faults.counts().byResource['list configmaps'] ?? 0;
      await core.deleteNamespacedConfigMap({ name: 'live', namespace });
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'after-compaction' } } });
      server.faults.compact();
      await eventually(() => (seen.has('after-compaction') && deleted.has('live') ? true : undefined), 8000);
      server.faults.clear();
      expect(server.faults.counts().byResource['list configmaps']).toBeGreaterThan(listsBefore);
      expect(
        informer
          .list()
          .map((o) => o.metadata?.name)
          .sort(),
      ).toEqual(['after-compaction', 'initial', 'while-dropped']);
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  }, 20_000);
});
