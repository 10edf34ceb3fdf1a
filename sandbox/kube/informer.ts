// List then watch one resource type across namespaces, keep a cache, tell handlers what changed.
// Survives dropped watches (resume from the last resourceVersion) and 410 Gone (relist and diff),
// as client-go's reflector does.
import type { z } from 'zod';
import { ApiError, type KubeClient, type ResourceType, type WatchEvent } from './client.ts';
import { keyOf } from './types.ts';

export type ChangeType = 'added' | 'modified' | 'deleted';
export type Handler<T> = (change: ChangeType, object: T, old: T | undefined) => void;

interface Meta {
  metadata: { name: string; namespace?: string | undefined; resourceVersion?: string | undefined };
}

export class Informer<T extends Meta> {
  readonly #client: KubeClient;
  readonly #type: ResourceType;
  readonly #schema: z.ZodType<T>;
  readonly #cache = new Map<string, T>();
  readonly #handlers: Handler<T>[] = [];
  readonly #abort = new AbortController();
  readonly #onError: (err: unknown) => void;
  #synced!: () => void;
  readonly synced: Promise<void>;
  #loop: Promise<void> | undefined;

  readonly #fieldSelector: string | undefined;

  /** `fieldSelector` narrows the objects watched, e.g. a kubelet's `spec.nodeName=NODE`. */
  constructor(client: KubeClient, type: ResourceType, schema: z.ZodType<T>, onError: (err: unknown) => void = () => {}, fieldSelector?: string) {
    this.#fieldSelector = fieldSelector;
    this.#client = client;
    this.#type = type;
    this.#schema = schema;
    this.#onError = onError;
    this.synced = new Promise((resolve) => (this.#synced = resolve));
  }

  on(handler: Handler<T>): void {
    this.#handlers.push(handler);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#cache.get(keyOf({ name, namespace }));
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let backoffMs = 100;
    while (!signal.aborted) {
      try {
        let rv = await this.#relist();
        this.#synced();
        backoffMs = 100;
        // Resume the watch from the last version seen until the server says it is too old.
        for (;;) {
          if (signal.aborted) return;
          await this.#client.watch(
            this.#type,
            rv,
            (event) => {
              rv = this.#apply(event) ?? rv;
            },
            signal,
            this.#fieldSelector,
          );
        }
      } catch (err) {
        if (signal.aborted) return;
        // too old to resume from: relist at once
        if (err instanceof ApiError && err.status === 410) continue;
        this.#onError(err);
        await sleep(backoffMs, signal);
        backoffMs = Math.min(backoffMs * 2, 2000);
      }
    }
  }

  async #relist(): Promise<string> {
    const { items, resourceVersion } = await this.#client.list(this.#type, this.#schema, undefined, this.#fieldSelector);
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item.metadata);
      seen.add(key);
      this.#store(item);
    }
    for (const [key, old] of [...this.#cache]) {
      if (!seen.has(key)) {
        this.#cache.delete(key);
        this.#emit('deleted', old, old);
      }
    }
    return resourceVersion;
  }

  /** Applies one event; returns the new resourceVersion when it carries one. */
  #apply(event: WatchEvent): string | undefined {
    const rv = (event.object as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') return rv;
    const parsed = this.#schema.safeParse(event.object);
    if (!parsed.success) {
      this.#onError(new Error(`${this.#type.plural}: ignoring an object that does not parse: ${parsed.error.message.slice(0, 200)}`));
      return rv;
    }
    if (event.type === 'DELETED') {
      const key = keyOf(parsed.data.metadata);
      const old = this.#cache.get(key);
      this.#cache.delete(key);
      this.#emit('deleted', parsed.data, old);
    } else {
      this.#store(parsed.data);
    }
    return rv;
  }

  #store(item: T): void {
    const key = keyOf(item.metadata);
    const old = this.#cache.get(key);
    if (old !== undefined && old.metadata.resourceVersion === item.metadata.resourceVersion) return;
    this.#cache.set(key, item);
    this.#emit(old === undefined ? 'added' : 'modified', item, old);
  }

  #emit(change: ChangeType, object: T, old: T | undefined): void {
    for (const handler of this.#handlers) {
      try {
        handler(change, object, old);
      } catch (err) {
        this.#onError(err);
      }
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
