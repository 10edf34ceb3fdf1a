// The kubelet's crash-loop back-off: a container that exits is restarted at once the first time,
// then after 10 s, doubling to a cap of 5 minutes; ten minutes of running resets it.

export const INITIAL_BACKOFF_MS = 10_000;
export const MAX_BACKOFF_MS = 300_000;
export const RESET_AFTER_MS = 600_000;

export interface BackoffState {
  /** Delay before the next restart. */
  nextDelayMs: number;
}

export const FRESH: BackoffState = { nextDelayMs: 0 };

/** The delay before restarting a container that ran for `ranMs`, and the state for the next crash. */
export function restartDelay(state: BackoffState, ranMs: number): { delayMs: number; next: BackoffState } {
  const current = ranMs >= RESET_AFTER_MS ? FRESH : state;
  const delayMs = current.nextDelayMs;
  const nextDelayMs = delayMs === 0 ? INITIAL_BACKOFF_MS : Math.min(delayMs * 2, MAX_BACKOFF_MS);
  return { delayMs, next: { nextDelayMs } };
}
