import { afterEach, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from '../../../sandbox/apiserver/server.ts';
import { KubeClient, resources } from './client.ts';
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
    await expect.poll(() => informer.list().map((e) => e.metadata.name).sort()).toEqual(['listed', 'watched']);
    abort.abort();
    await running;
    client.close();
  });
});
