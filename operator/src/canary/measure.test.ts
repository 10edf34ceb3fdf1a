import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture, type Running, randomLoopback, startService } from '../../../image-service/src/service.testkit.ts';
import { type ImageService, ImageServiceSchema } from '../api/image-service.ts';
import { managementPort } from '../build/labels.ts';
import type { CheckDue } from '../rollout.ts';
import { DiffStore, MAX_DIFFS } from './diffs.ts';
import { canaryMeasure } from './measure.ts';
import type { EndpointSource } from './providers/direct.ts';
import { Providers } from './providers/select.ts';
import { noSigningKey } from './providers/testkit.ts';

// The measurement as the reconciler runs it: the direct provider scrapes the canary's real
// /metrics, the output check fetches from real primary and canary services.
let fixture: Fixture;
let primary: Running, drift: Running;

beforeAll(async () => {
  fixture = await makeFixture();
  [primary, drift] = await Promise.all([startService(fixture.root), startService(fixture.root, { injectDrift: true })]);
});
afterAll(async () => {
  await Promise.all([primary?.close(), drift?.close()]);
  await fixture?.cleanup();
});

const isvc = (samples: unknown[], fromTraffic = 0): ImageService =>
  ImageServiceSchema.parse({
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name: 'thumbs', namespace: 'shop' },
    spec: { image: 'img:2', source: { file: { claimName: 'originals' } }, canary: { analysis: { provider: 'direct', minRequests: 1, output: { samples, fromTraffic } } } },
  });

describe('canaryMeasure with an output check', () => {
  const endpoints: EndpointSource = async (target) => [{ pod: `${target.service}-0`, url: target.service === 'thumbs-primary' ? primary.base : drift.base }];
  const sample = [{ key: 'photo.jpg', params: 'w=200' }];

  it('before the first weight: the output alone fails a drifted canary, with a diff one can open', async () => {
    const diffs = new DiffStore();
    const measure = canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints, signingKey: noSigningKey }), diffs);
    const record = await measure(isvc(sample), { intervalMs: 10_000, metrics: [], measures: 'output' }, new Date(), AbortSignal.timeout(30_000));
    expect(record).toMatchObject({ passed: false, output: { samples: 1, failed: 1 } });
    expect(record.reason).toMatch(/^output of photo\.jpg\?w=200: colour difference \(mean CIEDE2000\) primary 0, canary [\d.]+ \(limit at most 1\.5\)$/);
    expect(record).not.toHaveProperty('requests');
    const path = record.output!.diffs![0]!;
    expect(path).toMatch(/^\/canary\/diffs\/shop\/thumbs\/\d+\.png$/);
    expect((await sharp(diffs.get(path)!).metadata()).format).toBe('png');
  });

  it('at a check: perfect latency and errors, the output check fails the check', async () => {
    await fetch(`${drift.base}/image/files/photo.jpg?w=50`).then((r) => r.arrayBuffer());
    const measure = canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints, signingKey: noSigningKey }));
    const record = await measure(isvc(sample), { intervalMs: 10_000, metrics: [], measures: 'traffic' }, new Date(), AbortSignal.timeout(30_000));
    expect(record.errorRatePercent).toBe(0);
    expect(record.passed).toBe(false);
    expect(record.reason).toMatch(/colour difference/);
  });

  it('a Service without ready pods fails the output check with its name', async () => {
    const none: EndpointSource = async () => [];
    const record = await canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints: none, signingKey: noSigningKey }))(
      isvc(sample),
      { intervalMs: 10_000, metrics: [], measures: 'output' },
      new Date(),
      AbortSignal.timeout(30_000),
    );
    expect(record.reason).toBe('output check: Service shop/thumbs-primary has no ready endpoint');
  });
});

describe("canaryMeasure with samples from primary's traffic", () => {
  // Primary as a pod runs it: an address of its own, the management port the operator gives it.
  let recording: Running;
  let alike: Running;
  beforeAll(async () => {
    const host = randomLoopback();
    recording = await startService(fixture.root, { recordRecent: true }, undefined, { host, managementPort: managementPort(8080) });
    // Its own address too, so that nothing else answers on its (closed) management port.
    alike = await startService(fixture.root, {}, undefined, { host: randomLoopback() });
  });
  afterAll(async () => {
    await Promise.all([recording?.close(), alike?.close()]);
  });
  const to =
    (canary: Running): EndpointSource =>
    async (target) => [{ pod: `${target.service}-0`, url: target.service === 'thumbs-primary' ? recording.base : canary.base }];
  const gate: CheckDue = { intervalMs: 10_000, metrics: [], measures: 'output' };

  it('an empty record with no listed samples: no data, saying why; with listed samples: those only, and said', async () => {
    const measure = canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints: to(drift), signingKey: noSigningKey }));
    const empty = await measure(isvc([], 3), gate, new Date(), AbortSignal.timeout(30_000));
    expect(empty).toMatchObject({ passed: false, noData: true, reason: "primary's record of recent requests: empty: nothing to compare", output: { samples: 0 } });
    const listed = await measure(isvc([{ key: 'photo.jpg', params: 'w=200' }], 3), gate, new Date(), AbortSignal.timeout(30_000));
    expect(listed).toMatchObject({ passed: false, output: { samples: 1, failed: 1, note: "primary's record of recent requests: empty: listed samples only" } });
    expect(listed.output).not.toHaveProperty('fromTraffic');
  });

  it('a drifted canary is caught by the keys users asked primary for, none listed', async () => {
    for (const path of ['photo.jpg?w=120', 'nested/photo%20copy.jpg?w=90&fm=jpeg', 'missing.jpg?w=10']) await fetch(`${recording.base}/image/files/${path}`).then((r) => r.arrayBuffer());
    const measure = canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints: to(drift), signingKey: noSigningKey }));
    const record = await measure(isvc([], 2), gate, new Date(), AbortSignal.timeout(30_000));
    expect(record).toMatchObject({ passed: false, output: { samples: 2, failed: 2, fromTraffic: 2 } });
    expect(record.output).not.toHaveProperty('note');
    expect(record.reason).toMatch(/^output of nested\/photo copy\.jpg\?w=90&fit=inside&q=80&fm=jpeg: colour difference/);
    expect(record.reason).toMatch(/output of photo\.jpg\?w=120&fit=inside&q=80&fm=auto: colour difference/);
  });

  it('the same version passes on the same keys; fewer in the record than asked is said, not a failure', async () => {
    const measure = canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints: to(alike), signingKey: noSigningKey }));
    const record = await measure(isvc([{ key: 'photo.jpg', params: 'w=200' }], 2), gate, new Date(), AbortSignal.timeout(30_000));
    expect(record).toMatchObject({ passed: true, output: { samples: 3, failed: 0, fromTraffic: 2, worstDeltaE: 0 } });
    // The listed sample fetched above is the check's own request: it did not enter the record.
    const short = await measure(isvc([], 5), gate, new Date(), AbortSignal.timeout(30_000));
    expect(short).toMatchObject({ passed: true, output: { samples: 2, fromTraffic: 2, note: "primary's record of recent requests: 2 of 5 usable" } });
  });

  it('a primary without the record (its management port closed): the listed samples only, said', async () => {
    const endpoints: EndpointSource = async (target) => [{ pod: `${target.service}-0`, url: alike.base }];
    const record = await canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints, signingKey: noSigningKey }))(
      isvc([{ key: 'photo.jpg', params: 'w=200' }], 5),
      gate,
      new Date(),
      AbortSignal.timeout(30_000),
    );
    expect(record).toMatchObject({ passed: true, output: { samples: 1, note: "primary's record of recent requests: unreachable: listed samples only" } });
  });
});

describe('DiffStore', () => {
  it('keeps the last MAX_DIFFS pictures only', () => {
    const store = new DiffStore();
    const paths = Array.from({ length: MAX_DIFFS + 3 }, (_, i) => store.put('ns', 'a', Buffer.from([i])));
    expect(store.get(paths[0]!)).toBeUndefined();
    expect(store.get(paths[2]!)).toBeUndefined();
    expect(store.get(paths[3]!)).toEqual(Buffer.from([3]));
    expect(store.get('/metrics')).toBeUndefined();
  });
});
