/**
 * A byte-bounded LRU of transform results. The bound counts the bytes of the values (the
 * encoded images), which dominate; an entry larger than the whole bound is never stored, so
 * one huge result cannot flush everything else. A bound of 0 turns the cache off.
 */
export class ByteLruCache<V> {
  readonly maxBytes: number;
  readonly #sizeOf: (value: V) => number;
  // A Map iterates in insertion order: re-inserting on a hit makes the first key the least recent.
  readonly #entries = new Map<string, { value: V; size: number }>();
  #bytes = 0;

  constructor(maxBytes: number, sizeOf: (value: V) => number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`cache bound must be a byte count >= 0, got ${maxBytes}`);
    this.maxBytes = maxBytes;
    this.#sizeOf = sizeOf;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get entries(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` unless it alone exceeds the bound; evicts the least recently used to fit. */
  set(key: string, value: V): boolean {
    const size = this.#sizeOf(value);
    this.delete(key);
    if (size > this.maxBytes) return false;
    while (this.#bytes + size > this.maxBytes) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.delete(oldest.value);
    }
    this.#entries.set(key, { value, size });
    this.#bytes += size;
    return true;
  }

  /** Keys from least to most recently used. */
  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.size;
  }
}
