import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, get, makeFixture, metric, type Running, scrape, startService, until } from './service.testkit.ts';
import { openFileSource } from './sources/file.ts';
import type { Source } from './sources/source.ts';

/** Stampede protection through the real server: coalescing, the result cache and their metrics. */

let fixture: Fixture;
const running: Running[] = [];

async function start(...args: Parameters<typeof startService>): Promise<Running> {
  const svc = await startService(...args);
  running.push(svc);
  return svc;
}

/** The real file source, whose reads wait until the test opens the gate: requests then pile up for certain. */
async function gatedSource(): Promise<{ source: Source; open: () => void; reads: () => number }> {
  const real = await openFileSource(fixture.root);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let reads = 0;
  return {
    source: {
      kind: 'file',
      async get(key, opts) {
        reads++;
        await gate;
        return real.get(key, opts);
      },
    },
    open,
    reads: () => reads,
  };
}

async function openConnections(svc: Running): Promise<number> {
  return new Promise((resolve, reject) => svc.service.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

beforeAll(async () => {
  fixture = await makeFixture();
});
afterEach(async () => {
  for (const svc of running.splice(0)) await svc.close();
});
afterAll(async () => {
  await fixture?.cleanup();
});

describe('stampede protection', () => {
  it('runs exactly one transform for 200 concurrent identical requests, all answered with the same bytes', async () => {
    const gated = await gatedSource();
    const svc = await start(gated.source, { cacheBytes: 8 << 20, workers: 1, queueLimit: 4 });
    const answers = Array.from({ length: 200 }, () => get(svc.port, '/image/files/slow.jpg?w=320&fm=webp'));
    // Every request is in the server, waiting on the one source read, before any can finish.
    await until(async () => (await openConnections(svc)) >= 200);
    gated.open();
    const done = await Promise.all(answers);
    expect(done.every((a) => a.status === 200)).toBe(true);
    expect(new Set(done.map((a) => a.body.toString('base64'))).size).toBe(1);
    expect(gated.reads()).toBe(1);
    const metrics = await scrape(svc.port);
    expect(metric(metrics, 'image_service_transforms_total')).toBe(1);
    // One slot was enough: the 199 others joined the work instead of queueing (queueLimit is 4).
    expect(metric(metrics, 'image_service_rejected_total', 'reason="queue_full"')).toBe(0);

    // Later requests come from the cache.
    const again = await get(svc.port, '/image/files/slow.jpg?w=320&fm=webp');
    expect(again.body.equals(done[0]!.body)).toBe(true);
    const after = await scrape(svc.port);
    expect(metric(after, 'image_service_transforms_total')).toBe(1);
    expect(metric(after, 'image_service_cache_hits_total')).toBe(1);
  });

  it('coalesces without the cache, and a client that leaves does not cancel the work for the others', async () => {
    const gated = await gatedSource();
    const svc = await start(gated.source, { cacheBytes: 0 });
    const leaving = new AbortController();
    const left = get(svc.port, '/image/files/photo.jpg?w=64', {}, leaving.signal).catch((err: unknown) => err);
    const stays = get(svc.port, '/image/files/photo.jpg?w=64');
    await until(async () => (await openConnections(svc)) >= 2);
    leaving.abort();
    await left;
    await until(async () => (await openConnections(svc)) === 1);
    gated.open();
    expect((await stays).status).toBe(200);
    expect(metric(await scrape(svc.port), 'image_service_transforms_total')).toBe(1);
    // Without a cache, a request after the work finished runs again.
    expect((await get(svc.port, '/image/files/photo.jpg?w=64')).status).toBe(200);
    expect(metric(await scrape(svc.port), 'image_service_transforms_total')).toBe(2);
  });

  it('keeps the cache within its byte bound (as its metrics show) and never stores an entry larger than the bound', async () => {
    const bound = 40_000;
    const svc = await start(fixture.root, { cacheBytes: bound });
    let peak = 0;
    for (let w = 100; w < 140; w++) {
      expect((await get(svc.port, `/image/files/photo.jpg?w=${w}&fm=png`)).status).toBe(200);
      const bytes = metric(await scrape(svc.port), 'image_service_cache_bytes');
      expect(bytes).toBeLessThanOrEqual(bound);
      peak = Math.max(peak, bytes);
    }
    const metrics = await scrape(svc.port);
    expect(peak).toBeGreaterThan(bound / 2); // the cache was in use, and evicting
    expect(metric(metrics, 'image_service_cache_entries')).toBeLessThan(40);
    expect(metric(metrics, 'image_service_cache_max_bytes')).toBe(bound);
    // slow.jpg's original is far larger than the bound: served, never cached.
    const before = metric(metrics, 'image_service_cache_entries');
    expect((await get(svc.port, '/image/files/slow.jpg')).body.length).toBeGreaterThan(bound);
    const after = await scrape(svc.port);
    expect(metric(after, 'image_service_cache_entries')).toBe(before);
    expect(metric(after, 'image_service_cache_bytes')).toBeLessThanOrEqual(bound);
  });

  it('does not share a result between requests that negotiate different formats', async () => {
    const svc = await start(fixture.root, { cacheBytes: 1 << 20 });
    const webp = await get(svc.port, '/image/files/photo.jpg?w=50', { accept: 'image/webp' });
    const jpeg = await get(svc.port, '/image/files/photo.jpg?w=50', { accept: 'image/jpeg' });
    expect(webp.headers['content-type']).toBe('image/webp');
    expect(jpeg.headers['content-type']).toBe('image/jpeg');
    expect(metric(await scrape(svc.port), 'image_service_transforms_total')).toBe(2);
  });
});
