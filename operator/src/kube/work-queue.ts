import { type Clock, realClock, type Timer } from './clock.ts';

/**
 * The reconcile queue, with client-go's workqueue semantics:
 * - a key waiting in the queue is there once, however often it is added;
 * - a key being processed is never handed to a second worker; adding it meanwhile marks it
 *   dirty, and `done` puts it back so the change is not lost;
 * - `addRateLimited` delays a failing key exponentially per key (capped) and every key through
 *   a global token bucket, so one broken resource cannot hammer the API server and a burst of
 *   failures cannot either;
 * - `shutdown` refuses new work, wakes idle workers, and `drain` waits for in-flight work.
 */
export interface WorkQueueOptions {
  clock?: Clock;
  /** First retry delay of a failing key; doubles on every further failure. */
  baseDelayMs?: number;
  /** Longest per-key retry delay. */
  maxDelayMs?: number;
  /** Sustained retries per second across all keys. */
  qps?: number;
  /** Retries allowed at once before the bucket throttles. */
  burst?: number;
}

export class WorkQueue<K extends string = string> {
  readonly #clock: Clock;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #qps: number;
  readonly #burst: number;

  #queue: K[] = [];
  #head = 0;
  readonly #dirty = new Set<K>();
  readonly #processing = new Set<K>();
  readonly #waiting = new Map<K, { at: number; timer: Timer }>();
  readonly #failures = new Map<K, number>();
  readonly #getters: Array<(key: K | undefined) => void> = [];
  #drainers: Array<() => void> = [];
  #shuttingDown = false;
  #tokens: number;
  #tokensAt: number;

  constructor(options: WorkQueueOptions = {}) {
    this.#clock = options.clock ?? realClock;
    this.#baseDelayMs = options.baseDelayMs ?? 5;
    this.#maxDelayMs = options.maxDelayMs ?? 60_000;
    this.#qps = options.qps ?? 10;
    this.#burst = options.burst ?? 100;
    this.#tokens = this.#burst;
    this.#tokensAt = this.#clock.now();
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Keys ready to be handed out (not counting delayed or in-flight ones). */
  get length(): number {
    return this.#queue.length - this.#head;
  }

  get inFlight(): number {
    return this.#processing.size;
  }

  add(key: K): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Adds the key after `ms`; an earlier pending addAfter of the same key wins. */
  addAfter(key: K, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const pending = this.#waiting.get(key);
    if (pending !== undefined) {
      if (pending.at <= at) return;
      pending.timer.cancel();
    }
    const timer = this.#clock.setTimer(ms, () => {
      this.#waiting.delete(key);
      this.add(key);
    });
    this.#waiting.set(key, { at, timer });
  }

  /** Re-adds a key that failed, after its backoff or the global rate limit, whichever is longer. */
  addRateLimited(key: K, atLeastMs = 0): void {
    this.addAfter(key, Math.max(atLeastMs, this.#itemDelay(key), this.#bucketDelay()));
  }

  /** Clears a key's failure history: call when it was processed successfully. */
  forget(key: K): void {
    this.#failures.delete(key);
  }

  retries(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /**
   * Resolves with the next key, or undefined once the queue is shut down and empty, or when
   * the signal aborts (a worker that stops waiting is never handed a key).
   */
  get(signal?: AbortSignal): Promise<K | undefined> {
    const key = this.#take();
    if (key !== undefined || this.#shuttingDown || signal?.aborted) return Promise.resolve(key);
    return new Promise((resolve) => {
      const getter = (k: K | undefined) => {
        signal?.removeEventListener('abort', cancel);
        resolve(k);
      };
      const cancel = () => {
        const i = this.#getters.indexOf(getter);
        if (i !== -1) this.#getters.splice(i, 1);
        resolve(undefined);
      };
      signal?.addEventListener('abort', cancel, { once: true });
      this.#getters.push(getter);
    });
  }

  /** Marks a key from `get` finished; if it was added meanwhile, it goes back in the queue. */
  done(key: K): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) this.#push(key);
    if (this.#processing.size === 0) {
      for (const resolve of this.#drainers) resolve();
      this.#drainers = [];
    }
  }

  /** Stops accepting work, cancels delayed adds and releases idle workers. */
  shutdown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#waiting.values()) timer.cancel();
    this.#waiting.clear();
    if (this.length === 0) for (const resolve of this.#getters.splice(0)) resolve(undefined);
  }

  /** Resolves when no key is being processed. */
  drain(): Promise<void> {
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainers.push(resolve));
  }

  #push(key: K): void {
    const getter = this.#getters.shift();
    if (getter !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      getter(key);
      return;
    }
    this.#queue.push(key);
  }

  #take(): K | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const key = this.#queue[this.#head++] as K;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#dirty.delete(key);
    this.#processing.add(key);
    if (this.#shuttingDown && this.length === 0) {
      for (const resolve of this.#getters.splice(0)) resolve(undefined);
    }
    return key;
  }

  #itemDelay(key: K): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    return Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(failures, 52));
  }

  /** A token bucket that goes into debt: each call reserves a token and says how long to wait. */
  #bucketDelay(): number {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#tokensAt) * this.#qps) / 1000);
    this.#tokensAt = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#qps) * 1000;
  }
}
