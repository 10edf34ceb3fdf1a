import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.ts';
import { WorkQueue } from './work-queue.ts';
import { runWorkers } from './workers.ts';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('runWorkers', () => {
  it('reconciles a key once however often it is added, and again if added while in progress', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const queue = new WorkQueue();
    const abort = new AbortController();
    const running = runWorkers(
      queue,
      async (k) => {
        seen.push(k);
        if (seen.length === 1) await gate;
        return undefined;
      },
      2,
      abort.signal,
    );
    queue.add('a');
    queue.add('a');
    await tick();
    queue.add('a'); // while in progress: once more afterwards, never on the second worker at once
    queue.add('a');
    release();
    await tick(20);
    expect(seen).toEqual(['a', 'a']);
    abort.abort();
    await running;
  });

  it('retries a failing key rate-limited, reports each failure, and stops when the queue shuts down', async () => {
    let calls = 0;
    const failures: string[] = [];
    const durations: string[] = [];
    const queue = new WorkQueue({ baseDelayMs: 5, maxDelayMs: 20 });
    const running = runWorkers(
      queue,
      async () => {
        calls += 1;
        if (calls < 3) throw new Error(`fail ${calls}`);
        return undefined;
      },
      1,
      new AbortController().signal,
      { failed: (k, err, retries) => failures.push(`${k}: ${String(err)} after ${retries}`), finished: (k) => durations.push(k) },
    );
    queue.add('k');
    for (let i = 0; i < 100 && calls < 3; i++) await tick(10);
    expect(calls).toBe(3);
    expect(failures).toEqual(['k: Error: fail 1 after 0', 'k: Error: fail 2 after 1']);
    expect(durations).toEqual(['k', 'k', 'k']);
    expect(queue.retries('k')).toBe(0); // success forgets the failures
    queue.shutdown();
    await running;
    queue.add('k');
    await tick(20);
    expect(calls).toBe(3);
  });

  it('brings a key back after the delay its reconcile asks for, and waits out a Retry-After', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const queue = new WorkQueue({ clock, baseDelayMs: 1, maxDelayMs: 1 });
    const abort = new AbortController();
    const running = runWorkers(
      queue,
      async () => {
        calls += 1;
        if (calls === 1) return { requeueAfterMs: 30 };
        if (calls === 2) throw Object.assign(new Error('slow down'), { retryAfterSeconds: 0.05 });
        return undefined;
      },
      1,
      abort.signal,
    );
    queue.add('k');
    await tick();
    expect(calls).toBe(1);
    clock.advance(29);
    await tick();
    expect(calls).toBe(1);
    clock.advance(1);
    await tick();
    expect(calls).toBe(2);
    clock.advance(49);
    await tick();
    expect(calls).toBe(2);
    clock.advance(1);
    await tick();
    expect(calls).toBe(3);
    abort.abort();
    await running;
  });
});
