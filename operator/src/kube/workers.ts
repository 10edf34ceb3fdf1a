import type { WorkQueue } from './work-queue.ts';

/**
 * A controller's workers, as controller-runtime runs them over its queue: each takes a key,
 * reconciles it, and tells the queue how it went. Success forgets the key's failures and, when
 * the reconcile asks, brings the key back after a delay; failure brings it back rate-limited,
 * no sooner than the server's Retry-After. A key is never with two workers at once (the queue's
 * promise). The workers stop when the signal aborts or the queue shuts down.
 */
export type Reconcile<K extends string> = (key: K, signal: AbortSignal) => Promise<{ requeueAfterMs?: number | undefined } | undefined>;

export interface WorkerHooks<K extends string> {
  /** A failed reconcile, before its rate-limited retry; not called once the signal aborted. */
  failed?(key: K, err: unknown, retries: number): void;
  /** Every reconcile's duration, failed or not. */
  finished?(key: K, seconds: number): void;
}

export function runWorkers<K extends string>(queue: WorkQueue<K>, reconcile: Reconcile<K>, count: number, signal: AbortSignal, hooks: WorkerHooks<K> = {}): Promise<void> {
  const process = async (key: K): Promise<void> => {
    const started = performance.now();
    try {
      const result = await reconcile(key, signal);
      queue.forget(key);
      if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      if (signal.aborted) return;
      hooks.failed?.(key, err, queue.retries(key));
      const retryAfterSeconds = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
      queue.addRateLimited(key, typeof retryAfterSeconds === 'number' ? retryAfterSeconds * 1000 : 0);
    } finally {
      hooks.finished?.(key, (performance.now() - started) / 1000);
      queue.done(key);
    }
  };
  const work = async (): Promise<void> => {
    while (!signal.aborted) {
      const key = await queue.get(signal);
      if (key === undefined) return;
      await process(key);
    }
  };
  return Promise.all(Array.from({ length: count }, work)).then(() => undefined);
}
