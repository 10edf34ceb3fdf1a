import { MAX_RECENT_BYTES, MAX_RECENT_ENTRIES, type RecentRecord } from './recent-record.ts';

/**
 * The last distinct successful image requests (key and normalised parameters), for the
 * operator's output check to sample primary's traffic. A Map keeps insertion order, so a repeat
 * moves to the newest end by delete and set and the oldest is the first key: O(1) per request.
 * Keys are user input: the record is bounded in entries and in bytes, and only requests that
 * rendered (200) enter it, so a flood of made-up keys cannot (they answer 400 or 404).
 */
export class RecentRequests {
  readonly #entries = new Map<string, { key: string; params: string; bytes: number }>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxEntries = MAX_RECENT_ENTRIES, maxBytes = MAX_RECENT_BYTES) {
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  record(key: string, params: string): void {
    const id = `${params}?${key}`;
    const known = this.#entries.get(id);
    if (known !== undefined) {
      this.#entries.delete(id);
      this.#entries.set(id, known);
      return;
    }
    // UTF-16 units times 3 bound the UTF-8 bytes without encoding the key on the hot path.
    const bytes = (key.length + params.length) * 3;
    this.#entries.set(id, { key, params, bytes });
    this.#bytes += bytes;
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const [oldest, entry] = this.#entries.entries().next().value!;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }

  /** The most recent first. */
  snapshot(): RecentRecord {
    const entries = [...this.#entries.values()].reverse().map(({ key, params }) => ({ key, params }));
    return { entries };
  }

  get bytes(): number {
    return this.#bytes;
  }
}
