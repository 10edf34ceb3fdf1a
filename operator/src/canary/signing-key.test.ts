import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture, type Running, randomLoopback, startService } from '../../../image-service/src/service.testkit.ts';
import { signUrl } from '../../../image-service/src/signing.ts';
import { type ApiServer, startApiServer } from '../../../sandbox/apiserver/server.ts';
import { type ImageService, ImageServiceSchema } from '../api/image-service.ts';
import { managementPort } from '../build/labels.ts';
import { KubeClient } from '../kube/client.ts';
import type { CheckDue } from '../rollout.ts';
import { canaryMeasure } from './measure.ts';
import type { EndpointSource } from './providers/direct.ts';
import { AnalysisError } from './providers/provider.ts';
import { Providers } from './providers/select.ts';
import { firstSigningKey, kubeSigningKey } from './signing-key.ts';

// Signed URLs in the output check: the key from a Secret in the sandbox's API server, through the
// operator's client; real image services that verify signatures, started with the Secret's keys.
const KEYS = ['first-signing-key', 'older-signing-key'] as const;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const SECRETS: Record<string, Record<string, string>> = {
  'thumbs-signing': { keys: b64(` ${KEYS.join(' , ')} `) },
  'no-keys-key': { token: b64('first-signing-key') },
  blank: { keys: b64(' , ') },
  // Keys no service of this test knows: a wrong Secret.
  stranger: { keys: b64('unknown-signing-key') },
};
const NS = 'shop';

let server: ApiServer;
let client: KubeClient;
let fixture: Fixture;
let primary: Running, rebuild: Running, drift: Running;

beforeAll(async () => {
  server = await startApiServer({ crdPaths: [], istio: false, gatewayApi: false });
  client = await KubeClient.fromKubeconfig(server.kubeconfig());
  const post = (path: string, body: unknown) => fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect((await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })).status).toBe(201);
  for (const [name, data] of Object.entries(SECRETS)) {
    expect((await post(`/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, data })).status).toBe(201);
  }
  fixture = await makeFixture();
  // Primary as a pod runs it (its own address, the management port the operator gives it), recording users' renders.
  [primary, rebuild, drift] = await Promise.all([
    startService(fixture.root, { signingKeys: KEYS, recordRecent: true }, undefined, { host: randomLoopback(), managementPort: managementPort(8080) }),
    startService(fixture.root, { signingKeys: KEYS }),
    startService(fixture.root, { signingKeys: KEYS, injectDrift: true }),
  ]);
});
afterAll(async () => {
  await Promise.all([primary?.close(), rebuild?.close(), drift?.close()]);
  await fixture?.cleanup();
  client?.close();
  await server?.stop();
});

describe('firstSigningKey', () => {
  const secret = (data: unknown) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data });
  it.each([
    ['the first of comma-separated keys, blanks ignored', secret({ keys: b64(' , k1 ,k2') }), 'k1'],
    ['one key', secret({ keys: b64('only') }), 'only'],
    ['other keys beside it', secret({ token: b64('t'), keys: b64('k') }), 'k'],
  ])('%s', (_name, object, key) => {
    expect(firstSigningKey(object, NS, 's')).toBe(key);
  });

  it.each([
    ['no data', secret(undefined), 'Secret shop/s (serving.signingKeysSecret) has no key "keys"'],
    ['no key keys', secret({ token: b64('k') }), 'Secret shop/s (serving.signingKeysSecret) has no key "keys"'],
    ['a blank key list', secret({ keys: b64(' ,, ') }), 'Secret shop/s (serving.signingKeysSecret): key "keys" holds no signing key'],
    ['an empty value', secret({ keys: '' }), 'Secret shop/s (serving.signingKeysSecret): key "keys" holds no signing key'],
    ['data that is not base64', secret({ keys: 'not base64!' }), 'Secret shop/s (serving.signingKeysSecret): data that is not base64'],
  ])('%s: an error naming the Secret and its key, never the content', (_name, object, message) => {
    const error = (() => {
      try {
        firstSigningKey(object, NS, 's');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(AnalysisError);
    expect(error).toMatchObject({ kind: 'configuration', message });
  });
});

describe('kubeSigningKey', () => {
  const read = (name: string) => kubeSigningKey(client)(NS, name, AbortSignal.timeout(10_000));

  it("reads the first key of the Secret's keys", async () => {
    expect(await read('thumbs-signing')).toBe(KEYS[0]);
  });

  it.each([
    ['gone', 'Secret shop/gone (serving.signingKeysSecret) not found'],
    ['no-keys-key', 'Secret shop/no-keys-key (serving.signingKeysSecret) has no key "keys"'],
    ['blank', 'Secret shop/blank (serving.signingKeysSecret): key "keys" holds no signing key'],
  ])('%s: %s', async (name, message) => {
    await expect(read(name)).rejects.toMatchObject({ kind: 'configuration', message });
  });

  it('reads in the namespace asked for only', async () => {
    await expect(kubeSigningKey(client)('default', 'thumbs-signing', AbortSignal.timeout(10_000))).rejects.toThrow('Secret default/thumbs-signing (serving.signingKeysSecret) not found');
  });
});

describe('canaryMeasure of a service with signed URLs', () => {
  const isvc = (signingKeysSecret: string, samples: unknown[], fromTraffic = 0): ImageService =>
    ImageServiceSchema.parse({
      apiVersion: 'imageops.dev/v1alpha1',
      kind: 'ImageService',
      metadata: { name: 'thumbs', namespace: NS },
      spec: {
        image: 'img:2',
        source: { file: { claimName: 'originals' } },
        serving: { signingKeysSecret },
        canary: { analysis: { provider: 'direct', minRequests: 1, output: { samples, fromTraffic } } },
      },
    });
  const to =
    (canary: Running): EndpointSource =>
    async (target) => [{ pod: `${target.service}-0`, url: target.service === 'thumbs-primary' ? primary.base : canary.base }];
  const measure = (canary: Running) => canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints: to(canary), signingKey: kubeSigningKey(client) }));
  const gate: CheckDue = { intervalMs: 10_000, metrics: [], measures: 'output' };
  const sample = [{ key: 'photo.jpg', params: 'w=200' }];

  it('both revisions answer the signed samples, listed and from traffic: a rebuild passes', async () => {
    // Unsigned, both answer 403: what every check got before it signed.
    for (const base of [primary.base, rebuild.base]) expect((await fetch(`${base}/image/files/photo.jpg?w=200`)).status).toBe(403);
    // Users' signed requests, one signed with the older key (every key verifies; the record keeps no sig).
    for (const [path, key] of [
      ['/image/files/nested/photo%20copy.jpg?w=90&fm=jpeg', KEYS[0]],
      ['/image/files/alpha.png?w=60', KEYS[1]],
    ] as const) {
      expect((await fetch(`${primary.base}${signUrl(path, key)}`)).status).toBe(200);
    }
    const record = await measure(rebuild)(isvc('thumbs-signing', sample, 2), gate, new Date(), AbortSignal.timeout(30_000));
    expect(record).toMatchObject({ passed: true, output: { samples: 3, failed: 0, fromTraffic: 2, worstDeltaE: 0 } });
  });

  it('a drifted canary is caught on its pictures, not on a status', async () => {
    const record = await measure(drift)(isvc('thumbs-signing', sample), gate, new Date(), AbortSignal.timeout(30_000));
    expect(record).toMatchObject({ passed: false, output: { samples: 1, failed: 1 } });
    expect(record.reason).toMatch(/^output of photo\.jpg\?w=200: colour difference \(mean CIEDE2000\) primary 0, canary [\d.]+ \(limit at most 1\.5\)$/);
  });

  it.each([
    ['a missing Secret', 'gone', 'output check: Secret shop/gone (serving.signingKeysSecret) not found'],
    ['a Secret without the key keys', 'no-keys-key', 'output check: Secret shop/no-keys-key (serving.signingKeysSecret) has no key "keys"'],
  ])('%s: a failed check naming the Secret and key, nothing fetched', async (_name, secret, reason) => {
    const record = await measure(rebuild)(isvc(secret, sample), gate, new Date(), AbortSignal.timeout(30_000));
    expect(record).toMatchObject({ passed: false, reason, output: { samples: 0, failed: 1 } });
    expect(record).not.toHaveProperty('noData');
  });

  it("a Secret with keys the service does not have: primary's 403 fails the sample, and no key is repeated", async () => {
    const record = await measure(rebuild)(isvc('stranger', sample), gate, new Date(), AbortSignal.timeout(30_000));
    expect(record).toMatchObject({ passed: false, reason: 'output of photo.jpg?w=200: status primary 403, canary 403 (limit primary must answer 200: check the sample)' });
    expect(JSON.stringify(record)).not.toMatch(/signing-key/);
  });
});
