import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.ts';
import { WorkQueue } from './work-queue.ts';

function queue(options: ConstructorParameters<typeof WorkQueue>[0] = {}) {
  const clock = new ManualClock(1_000_000);
  return { clock, q: new WorkQueue({ clock, ...options }) };
}

describe('WorkQueue', () => {
  it('hands out a key added many times once, in first-added order', async () => {
    const { q } = queue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  it('never gives a key to two workers; a re-add while processing comes back after done', async () => {
    const { q } = queue();
    q.add('a');
    const first = await q.get();
    q.add('a');
    // a second worker waits: the key is in flight
    let second: string | undefined = 'none';
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBe('none');
    q.done(first as string);
    await Promise.resolve();
    expect(second).toBe('a');
  });

  it('a key added while processing and not re-added is gone after done', async () => {
    const { q } = queue();
    q.add('a');
    q.done((await q.get()) as string);
    expect(q.length).toBe(0);
    expect(q.inFlight).toBe(0);
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const { q } = queue();
    const next = q.get();
    q.add('x');
    expect(await next).toBe('x');
  });

  it('addAfter adds when the clock reaches the delay; the earliest of two wins', async () => {
    const { q, clock } = queue();
    q.addAfter('a', 1000);
    q.addAfter('a', 200);
    clock.advance(199);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    clock.advance(5000);
    expect(q.length).toBe(0);
  });

  it('backs off a failing key exponentially up to the cap, and forget resets it', () => {
    const { q, clock } = queue({ baseDelayMs: 10, maxDelayMs: 100, qps: 1000, burst: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      q.addRateLimited('a');
      let waited = 0;
      while (q.length === 0) {
        clock.advance(1);
        waited++;
      }
      delays.push(waited);
      void q.get();
      q.done('a');
    }
    expect(delays).toEqual([10, 20, 40, 80, 100, 100]);
    expect(q.retries('a')).toBe(6);
    q.forget('a');
    expect(q.retries('a')).toBe(0);
  });

  it('honours a minimum delay such as Retry-After', () => {
    const { q, clock } = queue({ baseDelayMs: 1 });
    q.addRateLimited('a', 3000);
    clock.advance(2999);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
  });

  it('throttles all keys together through the token bucket', () => {
    const { q, clock } = queue({ baseDelayMs: 0, qps: 10, burst: 2 });
    for (const k of ['a', 'b', 'c', 'd']) q.addRateLimited(k);
    // burst of two at once, then one every 100 ms
    expect(q.length).toBe(2);
    clock.advance(99);
    expect(q.length).toBe(2);
    clock.advance(1);
    expect(q.length).toBe(3);
    clock.advance(100);
    expect(q.length).toBe(4);
  });

  it('on shutdown refuses new keys, cancels delayed ones, hands out what is queued, then undefined', async () => {
    const { q, clock } = queue();
    q.add('a');
    q.addAfter('b', 10);
    q.shutdown();
    q.add('c');
    clock.advance(100);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBeUndefined();
    expect(clock.pending()).toBe(0);
  });

  it('releases idle workers at shutdown and drain waits for in-flight keys', async () => {
    const { q } = queue();
    q.add('a');
    const key = (await q.get()) as string;
    const idle = q.get();
    q.shutdown();
    expect(await idle).toBeUndefined();
    let drained = false;
    const drain = q.drain().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    q.done(key);
    await drain;
    expect(drained).toBe(true);
  });
});

describe('WorkQueue.get with a signal', () => {
  it('a worker that stops waiting is never handed a key', async () => {
    const { q } = queue();
    const stop = new AbortController();
    const waiting = q.get(stop.signal);
    stop.abort();
    expect(await waiting).toBeUndefined();
    q.add('a');
    expect(q.length).toBe(1);
    expect(q.inFlight).toBe(0);
  });
});
