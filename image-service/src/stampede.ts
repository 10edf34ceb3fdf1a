import type { Registry } from 'prom-client';
import { ByteLruCache } from './cache.ts';
import { Coalescer } from './coalesce.ts';
import { readGauge } from './metrics.ts';

/**
 * Stampede protection for the GET path (a CDN's cache expiring sends the same few URLs at once):
 * a result found in the byte-bounded cache is answered at once; otherwise identical concurrent
 * requests share one production (source read and transform) through the coalescer, and its
 * result is cached. A failure is shared by the requests that waited for it and never cached.
 *
 * Keys are `<source key>\0<variant>`, where the variant fixes the output (normalized parameters
 * and output format). An entry lives at most `maxAgeMs`: the freshness the service already grants
 * every other cache through Cache-Control, so this cache serves nothing a CDN could not. Uploads
 * and deletes through the admin API invalidate the key at once.
 */

export interface ImageResult {
  etag: string;
  contentType: string;
  /** Absent when a conditional request matched: the client already has these bytes. */
  body: Buffer | undefined;
}

interface Entry {
  result: ImageResult;
  expiresAt: number;
}

/** What the cache counts per entry beyond the body: key, headers, bookkeeping. */
const ENTRY_OVERHEAD_BYTES = 512;

export class Stampede {
  readonly #cache: ByteLruCache<Entry>;
  readonly #coalescer = new Coalescer<ImageResult>();
  readonly #maxAgeMs: number;
  readonly #coalesce: boolean;
  readonly #now: () => number;

  constructor(opts: { cacheBytes: number; maxAgeMs: number; coalesce: boolean; now?: () => number }) {
    this.#cache = new ByteLruCache(opts.maxAgeMs > 0 ? opts.cacheBytes : 0, (e) => (e.result.body?.length ?? 0) + ENTRY_OVERHEAD_BYTES);
    this.#maxAgeMs = opts.maxAgeMs;
    this.#coalesce = opts.coalesce;
    this.#now = opts.now ?? Date.now;
  }

  static key(sourceKey: string, variant: string): string {
    return `${sourceKey}\0${variant}`;
  }

  /** A fresh cached result, or undefined. */
  lookup(key: string): ImageResult | undefined {
    const entry = this.#cache.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > this.#now()) return entry.result;
    this.#cache.delete(key);
    return undefined;
  }

  /** Produces the result once for every concurrent caller with this key, and caches it. */
  produce(key: string, signal: AbortSignal, work: (signal: AbortSignal) => Promise<ImageResult>): Promise<ImageResult> {
    const run = async (workSignal: AbortSignal) => this.store(key, await work(workSignal));
    return this.#coalesce ? this.#coalescer.run(key, signal, run) : run(signal);
  }

  /** Caches a result that has a body; returns it. */
  store(key: string, result: ImageResult): ImageResult {
    if (result.body !== undefined) this.#cache.set(key, { result, expiresAt: this.#now() + this.#maxAgeMs });
    return result;
  }

  /** Forgets every cached variant of these source keys. */
  invalidate(sourceKeys: Iterable<string>): void {
    const gone = new Set(sourceKeys);
    for (const key of [...this.#cache.keys()]) {
      if (gone.has(key.slice(0, key.indexOf('\0')))) this.#cache.delete(key);
    }
  }

  get cacheBytes(): number {
    return this.#cache.bytes;
  }

  get cacheEntries(): number {
    return this.#cache.entries;
  }

  /** image_service_cache_bytes, _entries and _max_bytes on the service's registry. */
  registerMetrics(registry: Registry): void {
    const gauge = (name: string, help: string, read: () => number) => readGauge(registry, name, help, read);
    gauge('image_service_cache_bytes', 'Bytes held by the result cache (bodies plus per-entry overhead).', () => this.#cache.bytes);
    gauge('image_service_cache_entries', 'Results held by the result cache.', () => this.#cache.entries);
    gauge('image_service_cache_max_bytes', 'The result cache bound (IMAGE_SERVICE_CACHE_BYTES; 0 = off).', () => this.#cache.maxBytes);
  }
}
