// A work queue like controller-runtime's: a key is queued once however often it is added, is never
// handled by two workers at once, and a failed key comes back with per-key exponential back-off.

export type Reconcile = (key: string) => Promise<{ requeueAfterMs?: number } | undefined>;

export class WorkQueue {
  readonly #reconcile: Reconcile;
  readonly #onError: (key: string, err: unknown) => void;
  readonly #queued = new Set<string>();
  readonly #order: string[] = [];
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #running = 0;
  readonly #concurrency: number;
  #stopped = false;
  #idle: (() => void)[] = [];

  constructor(reconcile: Reconcile, onError: (key: string, err: unknown) => void, concurrency = 2) {
    this.#reconcile = reconcile;
    this.#onError = onError;
    this.#concurrency = concurrency;
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#active.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#order.push(key);
    this.#pump();
  }

  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    const existing = this.#timers.get(key);
    if (existing !== undefined) clearTimeout(existing);
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        this.add(key);
      }, ms),
    );
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#order.length > 0) {
      const key = this.#order.shift() as string;
      this.#queued.delete(key);
      this.#active.add(key);
      this.#running += 1;
      void this.#work(key);
    }
  }

  async #work(key: string): Promise<void> {
    try {
      const result = await this.#reconcile(key);
      this.#failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      this.#onError(key, err);
      this.addAfter(key, Math.min(50 * 2 ** n, 10_000));
    } finally {
      this.#active.delete(key);
      this.#running -= 1;
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
      if (this.#running === 0 && this.#order.length === 0) for (const f of this.#idle.splice(0)) f();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#order.length = 0;
    this.#queued.clear();
    if (this.#running > 0) await new Promise<void>((r) => this.#idle.push(r));
  }
}
