import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type ImageResult, Stampede } from './stampede.ts';

const never = new AbortController().signal;
const result = (text: string, size = 10): ImageResult => ({ body: Buffer.alloc(size, text), etag: `"${text}"`, contentType: 'image/jpeg' });

/** What the server does: the cache, else one production for all. */
async function get(s: Stampede, key: string, signal: AbortSignal, work: () => Promise<ImageResult>): Promise<{ result: ImageResult; hit: boolean }> {
  const cached = s.lookup(key);
  return cached !== undefined ? { result: cached, hit: true } : { result: await s.produce(key, signal, work), hit: false };
}

function counting(make: () => ImageResult) {
  const state = { runs: 0 };
  const produce = async () => {
    state.runs++;
    await new Promise((r) => setImmediate(r));
    return make();
  };
  return { state, produce };
}

describe('Stampede', () => {
  it('produces once for concurrent callers, then answers from the cache', async () => {
    const s = new Stampede({ cacheBytes: 1 << 20, maxAgeMs: 60_000, coalesce: true });
    const { state, produce } = counting(() => result('a'));
    const first = await Promise.all(Array.from({ length: 20 }, () => get(s, 'k\0v', never, produce)));
    expect(state.runs).toBe(1);
    expect(first.every((r) => !r.hit && r.result === first[0]?.result)).toBe(true);
    const again = await get(s, 'k\0v', never, produce);
    expect(again.hit).toBe(true);
    expect(state.runs).toBe(1);
  });

  it('runs every request without coalescing and cache', async () => {
    const s = new Stampede({ cacheBytes: 0, maxAgeMs: 60_000, coalesce: false });
    const { state, produce } = counting(() => result('a'));
    await Promise.all(Array.from({ length: 5 }, () => get(s, 'k\0v', never, produce)));
    await get(s, 'k\0v', never, produce);
    expect(state.runs).toBe(6);
  });

  it('expires entries after maxAge and caches nothing with maxAge 0', async () => {
    let now = 1000;
    const s = new Stampede({ cacheBytes: 1 << 20, maxAgeMs: 500, coalesce: true, now: () => now });
    const { state, produce } = counting(() => result('a'));
    await get(s, 'k\0v', never, produce);
    now += 499;
    expect((await get(s, 'k\0v', never, produce)).hit).toBe(true);
    now += 1;
    expect((await get(s, 'k\0v', never, produce)).hit).toBe(false);
    expect(state.runs).toBe(2);

    const off = new Stampede({ cacheBytes: 1 << 20, maxAgeMs: 0, coalesce: true });
    await get(off, 'k\0v', never, produce);
    expect(off.cacheEntries).toBe(0);
  });

  it('shares a failure and does not cache it', async () => {
    const s = new Stampede({ cacheBytes: 1 << 20, maxAgeMs: 60_000, coalesce: true });
    let runs = 0;
    const failing = async () => {
      runs++;
      await new Promise((r) => setImmediate(r));
      throw new Error('broken image');
    };
    const outcomes = await Promise.allSettled(Array.from({ length: 3 }, () => get(s, 'k\0v', never, failing)));
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    expect(runs).toBe(1);
    expect(s.cacheEntries).toBe(0);
  });

  it('does not cache a result without a body (a matched conditional request)', async () => {
    const s = new Stampede({ cacheBytes: 1 << 20, maxAgeMs: 60_000, coalesce: true });
    s.store('k\0v', { etag: '"e"', contentType: 'image/jpeg', body: undefined });
    expect(s.lookup('k\0v')).toBeUndefined();
    s.store('k\0v', result('a'));
    expect(s.lookup('k\0v')?.etag).toBe('"a"');
  });

  it('invalidates every variant of a source key and nothing else', async () => {
    const s = new Stampede({ cacheBytes: 1 << 20, maxAgeMs: 60_000, coalesce: true });
    for (const key of [Stampede.key('a.jpg', 'w=1'), Stampede.key('a.jpg', 'w=2'), Stampede.key('a.jpg.bak', 'w=1'), Stampede.key('b.jpg', 'w=1')]) {
      await get(s, key, never, async () => result(key));
    }
    s.invalidate(['a.jpg']);
    expect(s.cacheEntries).toBe(2);
    expect((await get(s, Stampede.key('a.jpg.bak', 'w=1'), never, async () => result('x'))).hit).toBe(true);
  });

  it('keeps the cache within its bound and reports it', async () => {
    const s = new Stampede({ cacheBytes: 5000, maxAgeMs: 60_000, coalesce: true });
    const registry = new Registry();
    s.registerMetrics(registry);
    for (let i = 0; i < 20; i++) await get(s, Stampede.key(`k${i}`, ''), never, async () => result('x', 1000));
    const text = await registry.metrics();
    const bytes = Number(/^image_service_cache_bytes (\d+)$/m.exec(text)?.[1]);
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(5000);
    expect(text).toMatch(/^image_service_cache_max_bytes 5000$/m);
    expect(Number(/^image_service_cache_entries (\d+)$/m.exec(text)?.[1])).toBe(3);
  });
});
