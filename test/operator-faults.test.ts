import { afterEach, describe, expect, it } from 'vitest';
import { resources } from '../operator/src/kube/client.ts';
import { apiServer, clientFor, eventually, getOrUndefined, imageService, namespace, operator, settled, statusOf, stopAll } from './operator.testkit.ts';

afterEach(stopAll);

const NS = 'shop';

async function world() {
  const api = await apiServer();
  const client = await clientFor(api.url);
  await namespace(client, NS);
  const m = await operator(client);
  return { api, client, m };
}

async function converged(client: Awaited<ReturnType<typeof clientFor>>, m: Awaited<ReturnType<typeof operator>>, name: string) {
  await settled(client, m, NS, name);
  expect((await statusOf(client, NS, name))['phase']).toBe('Initialized');
  for (const d of [`${name}-primary`, `${name}-canary`]) {
    expect(await getOrUndefined(client, resources.deployments, NS, d)).toBeDefined();
  }
  expect(await getOrUndefined(client, resources.virtualServices, NS, name)).toBeDefined();
}

describe('operator under API faults', () => {
  it('converges through 500s on its writes', async () => {
    const { api, client, m } = await world();
    api.faults.failNext(6, { code: 500, verbs: ['create', 'update'], resource: 'deployments' });
    api.faults.failNext(2, { code: 500, verbs: ['update'], resource: 'imageservices' });
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await converged(client, m, 'thumbs');
    expect(api.faults.counts().byResource['create deployments']).toBeGreaterThanOrEqual(2);
    expect(m.queue.retries('shop/thumbs')).toBe(0);
  });

  it('waits as long as 429 Retry-After says, then converges', async () => {
    const { api, client, m } = await world();
    api.faults.failNext(1, { code: 429, retryAfterSeconds: 1, verbs: ['create'], resource: 'deployments' });
    const started = Date.now();
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await eventually('the 429 to be answered', () => api.faults.counts().byResource['create deployments'] === 1);
    // within the Retry-After, the operator does not come back (the queue's backoff alone is 10 ms)
    await new Promise((r) => setTimeout(r, 500));
    expect(api.faults.counts().byResource['create deployments']).toBe(1);
    await converged(client, m, 'thumbs');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('survives dropped watches: changes made meanwhile are seen', async () => {
    const { api, client, m } = await world();
    expect(api.faults.closeWatches()).toBeGreaterThan(0);
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await converged(client, m, 'thumbs');
    api.faults.closeWatches();
    await client.delete(resources.deployments, NS, 'thumbs-canary');
    await eventually('the canary Deployment to be recreated', () => getOrUndefined(client, resources.deployments, NS, 'thumbs-canary'));
  });

  it('relists after 410 Gone and catches up, also through failing lists', async () => {
    const { api, client, m } = await world();
    await client.create(resources.imageServices, imageService('one', NS));
    await converged(client, m, 'one');
    const relists = m.caches.imageServices.relists;
    api.faults.failNext(3, { code: 500, verbs: ['list'] });
    api.faults.compact();
    api.faults.closeWatches();
    await client.create(resources.imageServices, imageService('two', NS));
    await converged(client, m, 'two');
    expect(m.caches.imageServices.relists).toBeGreaterThan(relists);
    expect(m.caches.imageServices.get(NS, 'two')).toBeDefined();
  });

  it('keeps serving a steady state with zero writes after faults clear', async () => {
    const { api, client, m } = await world();
    api.faults.failNext(4, { code: 500, verbs: ['list', 'watch'] });
    api.faults.closeWatches();
    await client.create(resources.imageServices, imageService('thumbs', NS));
    await converged(client, m, 'thumbs');
    // converged: the status is observed, yet the watch event of the operator's own last write may
    // still be on its way and bring one more reconcile; steady means a reconcile writes nothing
    await eventually('a steady state', async () => (await m.reconciler.reconcile(NS, 'thumbs', new AbortController().signal)).writes === 0);
    await settled(client, m, NS, 'thumbs');
    api.faults.resetCounts();
    api.faults.closeWatches();
    await eventually('watches to be re-established', () => (api.faults.counts().byVerb['watch'] ?? 0) >= 4);
    await eventually('the queue to drain', () => m.queue.length === 0 && m.queue.inFlight === 0);
    expect((await m.reconciler.reconcile(NS, 'thumbs', new AbortController().signal)).writes).toBe(0);
    // named, so that a failure says what was written
    expect(Object.entries(api.faults.counts().byResource).filter(([request]) => !/^(get|list|watch) /.test(request))).toEqual([]);
    expect(api.faults.counts().writes).toBe(0);
  });
});
