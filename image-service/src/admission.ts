import { HttpError } from './errors.ts';

/**
 * Bounds the work in the service: at most `slots` holders at once, at most `queueLimit` waiting in
 * FIFO order, none waiting longer than `queueTimeoutMs`. Beyond that a 503 with Retry-After, so
 * memory is bounded by the slots (a waiter holds no image and no source bytes, only its request)
 * and the load balancer or client can try elsewhere. A waiter whose client goes away (its signal
 * aborts) leaves the queue at once.
 */

export interface AdmissionOptions {
  slots: number;
  queueLimit: number;
  queueTimeoutMs: number;
}

export type Release = () => void;
export type RejectReason = 'queue_full' | 'queue_timeout';

interface Waiter {
  resolve: (release: Release) => void;
  reject: (error: Error) => void;
  signal: AbortSignal;
  timer: NodeJS.Timeout;
  onAbort: () => void;
}

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
  readonly #retryAfter: string;

  constructor(options: AdmissionOptions) {
    this.slots = options.slots;
    this.queueLimit = options.queueLimit;
    this.queueTimeoutMs = options.queueTimeoutMs;
    this.#retryAfter = String(Math.max(1, Math.ceil(options.queueTimeoutMs / 1000)));
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

  /** Resolves with a release function once a slot is held; rejects with a 503 HttpError, or the signal's reason. */
  acquire(signal: AbortSignal): Promise<Release> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.#inflight < this.slots) {
      this.#take();
      return Promise.resolve(this.#releaser());
    }
    if (this.#queue.size >= this.queueLimit) return Promise.reject(this.#rejection('queue_full', 'the service is at capacity and its queue is full'));
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        timer: setTimeout(() => {
          this.#leave(waiter);
          reject(this.#rejection('queue_timeout', `no worker became free within ${this.queueTimeoutMs} ms`));
        }, this.queueTimeoutMs),
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
    return () => {
      if (released) return;
      released = true;
      this.#inflight--;
      const next = this.#queue.values().next();
      if (next.done) return;
      // The slot passes straight to the oldest waiter.
      this.#leave(next.value);
      this.#take();
      next.value.resolve(this.#releaser());
    };
  }

  #leave(waiter: Waiter): void {
    this.#queue.delete(waiter);
    clearTimeout(waiter.timer);
    waiter.signal.removeEventListener('abort', waiter.onAbort);
  }

  #rejection(reason: RejectReason, message: string): HttpError {
    this.onReject(reason);
    return new HttpError(503, reason, message, { 'retry-after': this.#retryAfter });
  }
}
