import { describe, expect, it } from 'vitest';
import { Admission, type RejectReason, type Release } from './admission.ts';
import { HttpError } from './errors.ts';

const never = new AbortController().signal;

function admission(slots: number, queueLimit: number, queueTimeoutMs = 10_000, now?: () => number) {
  const a = new Admission({ slots, queueLimit, queueTimeoutMs, ...(now === undefined ? {} : { now }) });
  const rejected: RejectReason[] = [];
  a.onReject = (reason) => rejected.push(reason);
  return { a, rejected };
}

async function settle(p: Promise<Release>): Promise<Release | HttpError | unknown> {
  return p.then(
    (r) => r,
    (e: unknown) => e,
  );
}

describe('Admission', () => {
  it('admits up to its slots, queues FIFO up to the limit, refuses the rest with 503 and Retry-After', async () => {
    const { a, rejected } = admission(1, 2, 2500);
    const first = await a.acquire(never);
    const order: number[] = [];
    const second = a.acquire(never).then((r) => {
      order.push(2);
      return r;
    });
    const third = a.acquire(never).then((r) => {
      order.push(3);
      return r;
    });
    const fourth = await settle(a.acquire(never));
    expect(fourth).toBeInstanceOf(HttpError);
    expect(fourth).toMatchObject({ status: 503, code: 'queue_full', headers: { 'retry-after': '3' } });
    expect(rejected).toEqual(['queue_full']);
    expect([a.inflight, a.queued]).toEqual([1, 2]);

    first();
    first(); // a second release is harmless
    (await second)();
    (await third)();
    expect(order).toEqual([2, 3]);
    expect([a.inflight, a.queued, a.peakInflight, a.peakQueued]).toEqual([0, 0, 1, 2]);
  });

  it('refuses a waiter that waited past the queue timeout', async () => {
    const { a, rejected } = admission(1, 5, 20);
    const held = await a.acquire(never);
    const waited = await settle(a.acquire(never));
    expect(waited).toMatchObject({ status: 503, code: 'queue_timeout', headers: { 'retry-after': '1' } });
    expect(rejected).toEqual(['queue_timeout']);
    expect(a.queued).toBe(0);
    held();
    expect(a.inflight).toBe(0);
  });

  it('drops a waiter whose client went away, and its place goes to the next', async () => {
    const { a } = admission(1, 1);
    const held = await a.acquire(never);
    const gone = new AbortController();
    const leaving = settle(a.acquire(gone.signal));
    gone.abort(new Error('client closed'));
    expect(await leaving).toMatchObject({ message: 'client closed' });
    expect(a.queued).toBe(0);
    const next = a.acquire(never); // the queue has room again
    held();
    (await next)();
    expect([a.inflight, a.queued]).toEqual([0, 0]);
  });

  it('refuses a waiter at the head of the queue when its remaining budget cannot cover the average hold', async () => {
    let clock = 0;
    // A minute of timeout: the real timers never fire here, the injected clock decides.
    const { a, rejected } = admission(1, 10, 60_000, () => clock);
    expect(a.expectedHoldMs).toBe(0);
    const first = await a.acquire(never);
    clock = 1000;
    first();
    expect(a.expectedHoldMs).toBe(1000); // the first hold seeds the average

    const held = await a.acquire(never); // taken at 1000
    const late = settle(a.acquire(never)); // deadline 61,000
    clock = 40_000;
    const onTime = a.acquire(never); // deadline 100,000
    clock = 60_500; // the late waiter has 500 ms left: less than a hold
    // This hold took 59,500 ms: the mean moves a tenth of the way (6,850), its deviation to
    // 5,850, and the expected hold is mean + 4 deviations: 30,250 ms.
    held();
    expect(await late).toMatchObject({ status: 503, code: 'queue_timeout', headers: { 'retry-after': '60' } });
    expect(rejected).toEqual(['queue_timeout']);
    // The slot went on to the next waiter, whose 39,500 ms left still cover that.
    expect([a.inflight, a.queued]).toEqual([1, 0]);
    expect(a.expectedHoldMs).toBeCloseTo(6850 + 4 * 5850);
    clock = 61_000;
    (await onTime)();
    expect([a.inflight, a.queued]).toEqual([0, 0]);
  });

  it.each([
    ['admits', 8300, 'admitted'],
    ['refuses, inside the reserve,', 8500, 'queue_timeout'],
  ])('%s a waiter whose remaining budget covers the hold with %i ms gone', async (_name, freedAt, outcome) => {
    let clock = 0;
    // Timeout 10 s, so the reserve is 600 ms; every hold takes 1000 ms, so the expected hold is 1000 ms.
    const { a } = admission(1, 10, 10_000, () => clock);
    const first = await a.acquire(never);
    clock = 1000;
    first();
    clock = freedAt - 1000;
    const held = await a.acquire(never);
    const waiter = settle(a.acquire(never, 0)); // arrived at 0: deadline 10,000
    clock = freedAt;
    held(); // a hold of exactly the mean: the expected hold stays 1000 ms
    const got = await Promise.race([waiter, new Promise((r) => setImmediate(() => r('pending')))]);
    expect(typeof got === 'function' ? 'admitted' : (got as HttpError).code).toBe(outcome);
  });

  it('counts the timeout from the arrival it is given, not from the call', async () => {
    let clock = 0;
    const { a, rejected } = admission(1, 10, 60_000, () => clock);
    const first = await a.acquire(never);
    clock = 1000;
    first(); // expected hold: 1000 ms
    const held = await a.acquire(never);
    clock = 10_000;
    const arrivedEarly = settle(a.acquire(never, 0)); // deadline 60,000, though queued at 10,000
    clock = 45_000;
    held(); // expected hold now 22,500 ms: 67,500 would miss 60,000 but make 70,000
    expect(await arrivedEarly).toMatchObject({ status: 503, code: 'queue_timeout' });
    expect(rejected).toEqual(['queue_timeout']);
  });

  it('never admits more than its slots under a burst', async () => {
    const { a } = admission(2, 3);
    let running = 0;
    let most = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => {
        try {
          const release = await a.acquire(never);
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setTimeout(r, 2));
          running--;
          release();
          return 'ok';
        } catch (e) {
          return (e as HttpError).status;
        }
      }),
    );
    expect(most).toBe(2);
    expect(results.filter((r) => r === 'ok')).toHaveLength(5);
    expect(results.filter((r) => r === 503)).toHaveLength(15);
  });
});
