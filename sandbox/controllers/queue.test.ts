import { describe, expect, it } from 'vitest';
import { WorkQueue } from './queue.ts';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('work queue', () => {
  it('handles a key once however often it is added, and again if added while in progress', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue(async (k) => {
      seen.push(k);
      if (seen.length === 1) await gate;
    }, () => {});
    q.add('a');
    q.add('a');
    await tick();
    q.add('a'); // while in progress: once more afterwards
    q.add('a');
    release();
    await tick(20);
    expect(seen).toEqual(['a', 'a']);
    await q.stop();
  });

  it('retries a failing key with back-off and stops cleanly', async () => {
    let calls = 0;
    const errors: string[] = [];
    const q = new WorkQueue(async () => {
      calls += 1;
      if (calls < 3) throw new Error(`fail ${calls}`);
    }, (k, err) => errors.push(`${k}: ${String(err)}`));
    q.add('k');
    for (let i = 0; i < 100 && calls < 3; i++) await tick(10);
    expect(calls).toBe(3);
    expect(errors).toEqual(['k: Error: fail 1', 'k: Error: fail 2']);
    await q.stop();
    q.add('k');
    await tick(20);
    expect(calls).toBe(3);
  });
});
