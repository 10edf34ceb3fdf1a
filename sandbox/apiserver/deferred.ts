// A set of pending keys drained after the current request finishes (setImmediate), as the
// real controllers work after, not inside, the write that triggered them.

export class Deferred<T> {
  readonly #pending = new Set<T>();
  readonly #drain: (batch: T[]) => void;
  #scheduled = false;
  #stopped = false;

  constructor(drain: (batch: T[]) => void) {
    this.#drain = drain;
  }

  add(key: T): void {
    this.#pending.add(key);
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.#pending.clear();
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped || this.#pending.size === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#stopped) return;
      const batch = [...this.#pending];
      this.#pending.clear();
      this.#drain(batch);
      this.#schedule();
    });
  }
}
