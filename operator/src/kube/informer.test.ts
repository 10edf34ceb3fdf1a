import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type ApiServer, startApiServer } from '../../../sandbox/apiserver/server.ts';
import { KubeClient, ObjectMeta, type ResourceType, resources } from './client.ts';
import { Informer } from './informer.ts';

let api: ApiServer | undefined;
afterEach(async () => {
  await api?.stop();
  api = undefined;
});

const event = (name: string, kind: string) => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name, namespace: 'default' },
  involvedObject: { kind, namespace: 'default', name: 'thumbs' },
  reason: 'Test',
  message: name,
});

describe('Informer', () => {
  it('lists and watches only what its field selector matches', async () => {
    api = await startApiServer({});
    const client = new KubeClient({ server: new URL(api.url), credentials: async () => ({}) });
    await client.create(resources.events, event('listed', 'ImageService'));
    await client.create(resources.events, event('listed-pod', 'Pod'));
    const informer = new Informer(client, resources.events, { fieldSelector: 'involvedObject.kind=ImageService' });
    const abort = new AbortController();
    const running = informer.run(abort.signal);
    await informer.waitForSync();
    await client.create(resources.events, event('watched-pod', 'Pod'));
    await client.create(resources.events, event('watched', 'ImageService'));
    await expect
      .poll(() =>
        informer
          .list()
          .map((e) => e.metadata.name)
          .sort(),
      )
      .toEqual(['listed', 'watched']);
    abort.abort();
    await running;
    client.close();
  });
  it('lists, then follows changes through dropped watches and a 410 relist, even after failed requests', async () => {
    api = await startApiServer({ crdPaths: [], istio: false });
    const client = new KubeClient({ server: new URL(api.url), credentials: async () => ({}) });
    const configmaps: ResourceType = { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
    const schema = z.looseObject({ metadata: ObjectMeta, data: z.record(z.string(), z.string()).optional() });
    const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { k: name } });
    const informer = new Informer(client, configmaps, { schema, backoff: { baseMs: 10, maxMs: 50 } });
    const deleted: string[] = [];
    informer.on({ delete: (obj) => deleted.push(obj.metadata.name) });
    const names = () =>
      informer
        .list()
        .map((c) => c.metadata.name)
        .sort()
        .join();
    await client.create(configmaps, cm('a'));
    api.faults.failNext(2, { code: 500, verbs: ['list'] });
    const abort = new AbortController();
    const running = informer.run(abort.signal);
    await informer.waitForSync();
    await expect.poll(names).toBe('a');

    api.faults.closeWatches();
    await client.create(configmaps, cm('b'));
    await expect.poll(names).toBe('a,b');

    // History compacted while the watch is down: the resume gets 410, the informer relists and
    // still learns of the deletion it missed.
    api.faults.closeWatches();
    api.faults.compact();
    await client.delete(configmaps, 'default', 'a');
    await client.create(configmaps, cm('c'));
    await expect.poll(names).toBe('b,c');
    expect(deleted).toContain('a');
    expect(informer.get('default', 'c')?.data).toEqual({ k: 'c' });
    abort.abort();
    await running;
    client.close();
  });

  it('leaves out an object its schema refuses', async () => {
    api = await startApiServer({ crdPaths: [], istio: false });
    const client = new KubeClient({ server: new URL(api.url), credentials: async () => ({}) });
    const schema = z.looseObject({ metadata: ObjectMeta, reason: z.literal('Kept') });
    const informer = new Informer(client, resources.events, { schema });
    await client.create(resources.events, { ...event('kept', 'Pod'), reason: 'Kept' });
    await client.create(resources.events, event('refused', 'Pod'));
    const abort = new AbortController();
    const running = informer.run(abort.signal);
    await informer.waitForSync();
    expect(informer.list().map((e) => e.metadata.name)).toEqual(['kept']);
    abort.abort();
    await running;
    client.close();
  });
});
