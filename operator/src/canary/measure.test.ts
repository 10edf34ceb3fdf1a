import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture, type Running, startService } from '../../../image-service/src/service.testkit.ts';
import { type ImageService, ImageServiceSchema } from '../api/image-service.ts';
import { DiffStore, MAX_DIFFS } from './diffs.ts';
import { canaryMeasure } from './measure.ts';
import type { EndpointSource } from './providers/direct.ts';
import { Providers } from './providers/select.ts';

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

const isvc = (samples: unknown[]): ImageService =>
  ImageServiceSchema.parse({
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name: 'thumbs', namespace: 'shop' },
    spec: { image: 'img:2', source: { file: { claimName: 'originals' } }, canary: { analysis: { provider: 'direct', minRequests: 1, output: { samples } } } },
  });

describe('canaryMeasure with an output check', () => {
  const endpoints: EndpointSource = async (target) => [{ pod: `${target.service}-0`, url: target.service === 'thumbs-primary' ? primary.base : drift.base }];
  const sample = [{ key: 'photo.jpg', params: 'w=200' }];

  it('before the first weight: the output alone fails a drifted canary, with a diff one can open', async () => {
    const diffs = new DiffStore();
    const measure = canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints }), diffs);
    const record = await measure(isvc(sample), { intervalMs: 10_000, metrics: [], outputOnly: true }, new Date(), AbortSignal.timeout(30_000));
    expect(record).toMatchObject({ passed: false, output: { samples: 1, failed: 1 } });
    expect(record.reason).toMatch(/^output of photo\.jpg\?w=200: colour difference \(mean CIEDE2000\) primary 0, canary [\d.]+ \(limit at most 1\.5\)$/);
    expect(record).not.toHaveProperty('requests');
    const path = record.output!.diffs![0]!;
    expect(path).toMatch(/^\/canary\/diffs\/shop\/thumbs\/\d+\.png$/);
    expect((await sharp(diffs.get(path)!).metadata()).format).toBe('png');
  });

  it('at a check: perfect latency and errors, the output check fails the check', async () => {
    await fetch(`${drift.base}/image/files/photo.jpg?w=50`).then((r) => r.arrayBuffer());
    const measure = canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints }));
    const record = await measure(isvc(sample), { intervalMs: 10_000, metrics: [], outputOnly: false }, new Date(), AbortSignal.timeout(30_000));
    expect(record.errorRatePercent).toBe(0);
    expect(record.passed).toBe(false);
    expect(record.reason).toMatch(/colour difference/);
  });

  it('a Service without ready pods fails the output check with its name', async () => {
    const none: EndpointSource = async () => [];
    const record = await canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints: none }))(
      isvc(sample),
      { intervalMs: 10_000, metrics: [], outputOnly: true },
      new Date(),
      AbortSignal.timeout(30_000),
    );
    expect(record.reason).toBe('output check: Service shop/thumbs-primary has no ready endpoint');
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
