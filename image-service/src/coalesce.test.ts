import { describe, expect, it } from 'vitest';
import { Coalescer } from './coalesce.ts';

/** Work that finishes when the test says so, recording how often it ran and whether it was aborted. */
function gate<T>() {
  let release!: (v: T) => void;
  let fail!: (e: unknown) => void;
  const runs: AbortSignal[] = [];
  const work = (signal: AbortSignal) => {
    runs.push(signal);
    return new Promise<T>((resolve, reject) => {
      release = resolve;
      fail = reject;
    });
  };
  return { work, runs, release: (v: T) => release(v), fail: (e: unknown) => fail(e) };
}

const never = new AbortController().signal;

describe('Coalescer', () => {
  it('runs identical concurrent work once and gives every caller the same result', async () => {
    const c = new Coalescer<Buffer>();
    const g = gate<Buffer>();
    const calls = Array.from({ length: 50 }, () => c.run('k', never, g.work));
    const result = Buffer.from('once');
    g.release(result);
    const results = await Promise.all(calls);
    expect(g.runs).toHaveLength(1);
    expect(results.every((r) => r === result)).toBe(true);
    expect(c.inflight).toBe(0);
  });

  it('runs different keys separately', async () => {
    const c = new Coalescer<string>();
    let runs = 0;
    const work = async () => `run ${++runs}`;
    expect(await Promise.all([c.run('a', never, work), c.run('b', never, work)])).toEqual(['run 1', 'run 2']);
  });

  it('shares a failure with every caller, then runs afresh', async () => {
    const c = new Coalescer<string>();
    const g = gate<string>();
    const calls = [c.run('k', never, g.work), c.run('k', never, g.work)];
    g.fail(new Error('broken image'));
    for (const call of calls) await expect(call).rejects.toThrow('broken image');
    const again = gate<string>();
    const next = c.run('k', never, again.work);
    again.release('ok');
    expect(await next).toBe('ok');
  });

  it('a caller that leaves does not cancel the work for the others', async () => {
    const c = new Coalescer<string>();
    const g = gate<string>();
    const leaving = new AbortController();
    const left = c.run('k', leaving.signal, g.work);
    const staying = c.run('k', never, g.work);
    leaving.abort(new Error('client gone'));
    await expect(left).rejects.toThrow('client gone');
    expect(g.runs[0]?.aborted).toBe(false);
    g.release('done');
    expect(await staying).toBe('done');
    expect(g.runs).toHaveLength(1);
  });

  it('aborts the work when every caller has left, and a newcomer starts new work', async () => {
    const c = new Coalescer<string>();
    const g = gate<string>();
    const a = new AbortController();
    const b = new AbortController();
    const calls = [c.run('k', a.signal, g.work), c.run('k', b.signal, g.work)];
    a.abort(new Error('gone'));
    b.abort(new Error('gone'));
    for (const call of calls) await expect(call).rejects.toThrow('gone');
    expect(g.runs[0]?.aborted).toBe(true);
    expect(c.inflight).toBe(0);
    const fresh = gate<string>();
    const next = c.run('k', never, fresh.work);
    fresh.release('fresh');
    expect(await next).toBe('fresh');
  });

  it('refuses at once a caller whose signal is already aborted, without running anything', async () => {
    const c = new Coalescer<string>();
    const g = gate<string>();
    await expect(c.run('k', AbortSignal.abort(new Error('gone')), g.work)).rejects.toThrow('gone');
    expect(g.runs).toHaveLength(0);
  });
});
