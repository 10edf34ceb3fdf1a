import { HttpError } from './errors.ts';

/**
 * Bounds the work in the service: at most `slots` holders at once, at most `queueLimit` waiting in
 * FIFO order, none waiting longer than `queueTimeoutMs`. Beyond that a 503 with Retry-After, so
 * memory is bounded by the slots (a waiter holds no image and no source bytes, only its request)
 * and the load balancer or client can try elsewhere. A waiter whose client goes away (its signal
 * aborts) leaves the queue at once.
 *
 * The timeout bounds the answer, not only the wait, and runs from the request's arrival: the
 * admission keeps exponentially weighted moving averages of how long a slot is held (source read
 * and resize) and of its deviation, and a waiter that reaches the head of the queue with less of
 * its timeout left than the expected hold (mean + 4 deviations, as TCP sizes its retransmission
 * timeout from round trips) plus a reserve of 6% of the timeout is refused there
 * (`queue_timeout`) instead of being admitted to answer late. The reserve covers what the slot
 * does not see: the request's way in before its arrival is stamped, and the answer's way out
 * after the slot is freed; 6% is the smallest reserve that kept the p99 of admitted requests, as
 * the clients measured it, within the timeout when 1000 clients connected at once
 * (docs/benchmarks.md, "Results: runs of 2026-12-06"). So admitted requests finish within the
 * queue timeout, as their clients see it, but for rare outliers.
 *
 * Waiters are not refused on arrival from an estimate of the wait ahead: clients in a closed loop
 * (load generators, retrying proxies) ask again at once after a 503, and an instant refusal turns
 * them into a busy loop that takes the CPU from the resizes (docs/benchmarks.md); a waiter costs
 * only its socket, so holding it until its budget is spent is the cheaper refusal.
 */

export interface AdmissionOptions {
  slots: number;
  queueLimit: number;
  queueTimeoutMs: number;
  /** Milliseconds from a monotonic origin; performance.now unless a test injects a clock. */
  now?: () => number;
}

export type Release = () => void;
export const REJECT_REASONS = ['queue_full', 'queue_timeout'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

interface Waiter {
  resolve: (release: Release) => void;
  reject: (error: Error) => void;
  signal: AbortSignal;
  /** When the waiter's queue budget runs out, on the admission's clock. */
  deadline: number;
  timer: NodeJS.Timeout;
  onAbort: () => void;
}

/** Weight of the newest hold time in the averages: about the last ten holds count. */
const EWMA_WEIGHT = 0.1;
/** Deviations added to the mean hold: a margin that covers nearly every hold. */
const DEVIATIONS = 4;
/** Share of the timeout kept for the way in and out around the slot (see above). */
const RESERVE = 0.06;

export class Admission {
  readonly slots: number;
  readonly queueLimit: number;
  readonly queueTimeoutMs: number;
  /** Called for every refused request, for the metrics. */
  onReject: (reason: RejectReason) => void = () => {};
  #inflight = 0;
  /** A Set keeps insertion order and removes any member in O(1): a FIFO that waiters can leave. */
  readonly #queue = new Set<Waiter>();
  #peakInflight = 0;
  #peakQueued = 0;
  #holdMs = 0;
  #holdDeviationMs = 0;
  readonly #now: () => number;
  /**
   * One error per reason, made once: a refusal storm must cost no stack capture and no message
   * formatting per request (the server also answers them with a precomputed body).
   */
  readonly #refusals: Readonly<Record<RejectReason, HttpError>>;

  constructor(options: AdmissionOptions) {
    this.slots = options.slots;
    this.queueLimit = options.queueLimit;
    this.queueTimeoutMs = options.queueTimeoutMs;
    this.#now = options.now ?? (() => performance.now());
    const retryAfter = { 'retry-after': String(Math.max(1, Math.ceil(options.queueTimeoutMs / 1000))) };
    this.#refusals = {
      queue_full: new HttpError(503, 'queue_full', 'the service is at capacity and its queue is full', retryAfter),
      queue_timeout: new HttpError(503, 'queue_timeout', `no worker could finish this request within ${options.queueTimeoutMs} ms`, retryAfter),
    };
  }

  get inflight(): number {
    return this.#inflight;
  }
  get queued(): number {
    return this.#queue.size;
  }
  /** High-water marks since start: what the tests (and an operator) check the bounds against. */
  get peakInflight(): number {
    return this.#peakInflight;
  }
  get peakQueued(): number {
    return this.#peakQueued;
  }
  /** A slot's expected hold in milliseconds: mean + 4 mean deviations (0 before the first release). */
  get expectedHoldMs(): number {
    return this.#holdMs + DEVIATIONS * this.#holdDeviationMs;
  }

  /** Whether `error` is one of this service's admission refusals (a 503 answered without work). */
  static isRefusal(error: unknown): boolean {
    return error instanceof HttpError && error.status === 503 && (error.code === 'queue_full' || error.code === 'queue_timeout');
  }

  /**
   * Resolves with a release function once a slot is held; rejects with a 503 HttpError, or the
   * signal's reason. `arrivedAt` (on the admission's clock, default now) starts the timeout.
   */
  acquire(signal: AbortSignal, arrivedAt = this.#now()): Promise<Release> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.#inflight < this.slots) {
      this.#take();
      return Promise.resolve(this.#releaser());
    }
    if (this.#queue.size >= this.queueLimit) return Promise.reject(this.#refuse('queue_full'));
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        deadline: arrivedAt + this.queueTimeoutMs,
        timer: setTimeout(
          () => {
            this.#leave(waiter);
            reject(this.#refuse('queue_timeout'));
          },
          Math.max(0, arrivedAt + this.queueTimeoutMs - this.#now()),
        ),
        onAbort: () => {
          this.#leave(waiter);
          reject(signal.reason as Error);
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.add(waiter);
      if (this.#queue.size > this.#peakQueued) this.#peakQueued = this.#queue.size;
    });
  }

  #take(): void {
    this.#inflight++;
    if (this.#inflight > this.#peakInflight) this.#peakInflight = this.#inflight;
  }

  #releaser(): Release {
    let released = false;
    const taken = this.#now();
    return () => {
      if (released) return;
      released = true;
      this.#inflight--;
      const now = this.#now();
      const held = now - taken;
      if (this.#holdMs === 0) this.#holdMs = held;
      else {
        this.#holdDeviationMs += EWMA_WEIGHT * (Math.abs(held - this.#holdMs) - this.#holdDeviationMs);
        this.#holdMs += EWMA_WEIGHT * (held - this.#holdMs);
      }
      const latest = now + this.expectedHoldMs + RESERVE * this.queueTimeoutMs;
      // The slot passes straight to the oldest waiter that can still be answered in time; those
      // that cannot are refused now rather than admitted to answer after their timeout.
      for (const waiter of this.#queue) {
        this.#leave(waiter);
        if (latest > waiter.deadline) {
          waiter.reject(this.#refuse('queue_timeout'));
          continue;
        }
        this.#take();
        waiter.resolve(this.#releaser());
        return;
      }
    };
  }

  #leave(waiter: Waiter): void {
    this.#queue.delete(waiter);
    clearTimeout(waiter.timer);
    waiter.signal.removeEventListener('abort', waiter.onAbort);
  }

  #refuse(reason: RejectReason): HttpError {
    this.onReject(reason);
    return this.#refusals[reason];
  }
}
