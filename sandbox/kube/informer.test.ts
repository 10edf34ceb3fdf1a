import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from '../apiserver/server.ts';
import { KubeClient, RESOURCES } from './client.ts';
import { Informer } from './informer.ts';
import { type ConfigMap, ConfigMapSchema } from './types.ts';

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('informer against the API server', () => {
  let api: ApiServer;
  let client: KubeClient;
  let informer: Informer<ConfigMap>;
  const deleted: string[] = [];

  const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: name } });
  const names = () => informer.list().map((c) => c.metadata.name).sort();

  beforeAll(async () => {
    api = await startApiServer({ crdPaths: [], istio: false });
    client = new KubeClient(api.url);
    informer = new Informer(client, RESOURCES.configmaps, ConfigMapSchema);
    informer.on((change, obj) => {
      if (change === 'deleted') deleted.push(obj.metadata.name);
    });
  });

  afterAll(async () => {
    await informer.stop();
    await api.stop();
  });

  it('lists, then follows changes through dropped watches and a 410 relist, even after failed requests', async () => {
    await client.create(RESOURCES.configmaps, 'default', cm('a'));
    api.faults.failNext(2, { code: 500, verbs: ['list'] });
    informer.start();
    await informer.synced;
    await until('a', () => names().includes('a'));

    api.faults.closeWatches();
    await client.create(RESOURCES.configmaps, 'default', cm('b'));
    await until('b after a dropped watch', () => names().includes('b'));

    // History compacted while the watch is down: the resume gets 410, the informer relists and
    // still learns of the deletion it missed.
    api.faults.closeWatches();
    api.faults.compact();
    await client.delete(RESOURCES.configmaps, 'default', 'a');
    await client.create(RESOURCES.configmaps, 'default', cm('c'));
    await until('the state after the relist', () => names().join() === 'b,c');
    expect(deleted).toContain('a');
    expect(informer.get('default', 'c')?.data).toEqual({ k: 'c' });
  });
});
