/**
 * Request coalescing (singleflight): concurrent callers with the same key share one run of the
 * work and its outcome, success or failure. A caller whose signal aborts (its client went away)
 * leaves alone; the work goes on for the others. Only when every caller has left is the work's
 * own signal aborted, so abandoned work frees its worker like an uncoalesced request would.
 */
interface Flight<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  waiters: number;
}

export class Coalescer<T> {
  readonly #flights = new Map<string, Flight<T>>();

  /** Keys with work in progress. */
  get inflight(): number {
    return this.#flights.size;
  }

  run(key: string, signal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    let flight = this.#flights.get(key);
    if (flight === undefined) {
      const controller = new AbortController();
      const promise = work(controller.signal);
      const started: Flight<T> = { promise, controller, waiters: 0 };
      flight = started;
      this.#flights.set(key, started);
      const forget = () => {
        if (this.#flights.get(key) === started) this.#flights.delete(key);
      };
      // The caller's promise carries the outcome; this branch only cleans up (and keeps a
      // failure nobody waits for any more from surfacing as an unhandled rejection).
      promise.then(forget, forget);
    }
    return this.#join(key, flight, signal);
  }

  #join(key: string, flight: Flight<T>, signal: AbortSignal): Promise<T> {
    flight.waiters += 1;
    return new Promise<T>((resolve, reject) => {
      const leave = () => {
        flight.waiters -= 1;
        if (flight.waiters === 0) {
          if (this.#flights.get(key) === flight) this.#flights.delete(key);
          flight.controller.abort(signal.reason);
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', leave, { once: true });
      flight.promise.then(
        (value) => {
          signal.removeEventListener('abort', leave);
          resolve(value);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', leave);
          reject(err);
        },
      );
    });
  }
}
