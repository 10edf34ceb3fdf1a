import type { Logger } from 'pino';
import type { z } from 'zod';
import type { KubeClient, KubeObject, ResourceType } from './client.ts';
import { type Clock, realClock, sleep } from './clock.ts';
import { GoneError, NotFoundError } from './errors.ts';

/**
 * A shared informer: list, then watch from the list's resourceVersion, keeping a local cache
 * that reconcilers read instead of the API server. It survives everything a watch can do:
 * a normal end (resume from the last seen version, bookmarks included), an error (resume after
 * a capped exponential backoff, the server's Retry-After honoured), and 410 Gone (relist,
 * reporting what changed meanwhile as adds, updates and deletes). A periodic resync hands
 * every cached object to the handlers again, so a missed edge still reaches the reconciler.
 */

export interface InformerHandlers<T extends KubeObject = KubeObject> {
  add?(obj: T): void;
  update?(obj: T, old: T): void;
  delete?(obj: T): void;
  /** Periodic resync: every cached object, unchanged. */
  resync?(obj: T): void;
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
  /** Namespaces to watch; empty for all. */
  namespaces?: readonly string[];
  labelSelector?: string;
  fieldSelector?: string;
  /** 0 turns the periodic resync off. */
  resyncMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Backoff between failed lists or watches. */
  backoff?: { baseMs: number; maxMs: number };
  /** Server-side watch timeout, randomised like client-go to spread reconnections. */
  watchTimeoutSeconds?: number;
  /** Applied to every object before it is cached: drop what no reader needs, to save memory. */
  transform?: (obj: KubeObject) => KubeObject;
  /** The shape every cached object must have (after the transform); one that does not parse is logged and left out. */
  schema?: z.ZodType<T>;
}

/**
 * The default transform: drops metadata.managedFields, often the largest part of an object in
 * a real cluster and read by no controller. An update that omits the field keeps the server's.
 */
export function withoutManagedFields(obj: KubeObject): KubeObject {
  if (obj.metadata['managedFields'] === undefined) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata.namespace;
  return ns ? `${ns}/${obj.metadata.name}` : obj.metadata.name;
}

/** The uid of the object's controller (the ownerReference with controller: true). */
export function controllerOf(obj: KubeObject): { kind: string; name: string; uid: string } | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly type: ResourceType;
  readonly #client: KubeClient;
  readonly #namespaces: readonly string[];
  readonly #labelSelector: string | undefined;
  readonly #fieldSelector: string | undefined;
  readonly #resyncMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #backoff: { baseMs: number; maxMs: number };
  readonly #watchTimeoutSeconds: number;
  readonly #handlers: InformerHandlers<T>[] = [];
  readonly #transform: (obj: KubeObject) => KubeObject;
  readonly #schema: z.ZodType<T> | undefined;

  readonly #store = new Map<string, T>();
  readonly #byNamespace = new Map<string, Set<string>>();
  readonly #byOwner = new Map<string, Set<string>>();
  #synced = 0;
  #syncWaiters: Array<() => void> = [];
  /** Relists done, for tests and logs. */
  relists = 0;

  constructor(client: KubeClient, type: ResourceType, options: InformerOptions<T> = {}) {
    this.#schema = options.schema;
    this.type = type;
    this.#client = client;
    this.#namespaces = options.namespaces?.length ? options.namespaces : [''];
    this.#labelSelector = options.labelSelector;
    this.#fieldSelector = options.fieldSelector;
    this.#resyncMs = options.resyncMs ?? 0;
    this.#clock = options.clock ?? realClock;
    this.#logger = options.logger?.child({ informer: type.plural });
    this.#backoff = options.backoff ?? { baseMs: 500, maxMs: 30_000 };
    this.#watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
    this.#transform = options.transform ?? withoutManagedFields;
  }

  on(handlers: InformerHandlers<T>): void {
    this.#handlers.push(handlers);
  }

  get(namespace: string, name: string): T | undefined {
    return this.#store.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.#store.values()];
  }

  byNamespace(namespace: string): T[] {
    return this.#lookup(this.#byNamespace.get(namespace));
  }

  /** Objects whose controller ownerReference has this uid. */
  byOwner(uid: string): T[] {
    return this.#lookup(this.#byOwner.get(uid));
  }

  get size(): number {
    return this.#store.size;
  }

  hasSynced(): boolean {
    return this.#synced === this.#namespaces.length;
  }

  /** Resolves once every namespace has been listed. */
  waitForSync(): Promise<void> {
    if (this.hasSynced()) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  /** Runs until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const loops = this.#namespaces.map((ns) => this.#listWatch(ns, signal));
    const resync = this.#resyncMs > 0 ? this.#resyncLoop(signal) : Promise.resolve();
    await Promise.all([...loops, resync]);
  }

  async #listWatch(namespace: string, signal: AbortSignal): Promise<void> {
    let resourceVersion = '';
    let failures = 0;
    let firstSync = true;
    while (!signal.aborted) {
      try {
        if (resourceVersion === '') {
          const listed = await this.#client.list(this.type, { namespace, ...this.#selectors() }, signal);
          this.#replace(namespace, listed.items);
          resourceVersion = listed.resourceVersion;
          if (firstSync) {
            firstSync = false;
            this.#markSynced();
          } else {
            this.relists++;
          }
        }
        const events = this.#client.watch(
          this.type,
          {
            namespace,
            resourceVersion,
            // between the timeout and twice it, so that replicas do not reconnect in step
            timeoutSeconds: Math.round(this.#watchTimeoutSeconds * (1 + Math.random())),
            ...this.#selectors(),
          },
          signal,
        );
        const watchStarted = this.#clock.now();
        let received = false;
        for await (const event of events) {
          failures = 0;
          received = true;
          resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
          if (event.type === 'BOOKMARK') continue;
          if (event.type === 'DELETED') this.#remove(event.object);
          else this.#upsert(event.object);
        }
        // A server that ends every watch at once must not turn this loop into a busy one.
        if (!received && this.#clock.now() - watchStarted < 1000) {
          failures++;
          await sleep(this.#clock, this.#delay(failures, 0), signal).catch(() => undefined);
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof GoneError) {
          this.#logger?.info({ namespace }, 'watch history expired (410): relisting');
          resourceVersion = '';
          continue;
        }
        failures++;
        const retryAfterMs = ((err as { retryAfterSeconds?: number }).retryAfterSeconds ?? 0) * 1000;
        const delay = this.#delay(failures, retryAfterMs);
        // an API that is not served (no Istio) is reported once per outage, not every retry
        if (!(err instanceof NotFoundError) || failures === 1) {
          this.#logger?.warn({ namespace, err: String(err), retryInMs: delay }, 'list/watch failed');
        }
        await sleep(this.#clock, delay, signal).catch(() => undefined);
      }
    }
  }

  #selectors(): { labelSelector?: string; fieldSelector?: string } {
    return { ...(this.#labelSelector ? { labelSelector: this.#labelSelector } : {}), ...(this.#fieldSelector ? { fieldSelector: this.#fieldSelector } : {}) };
  }

  #delay(failures: number, atLeastMs: number): number {
    return Math.max(atLeastMs, Math.min(this.#backoff.maxMs, this.#backoff.baseMs * 2 ** (failures - 1)));
  }

  async #resyncLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.#clock, this.#resyncMs, signal).catch(() => undefined);
      if (signal.aborted) return;
      for (const obj of this.#store.values()) for (const h of this.#handlers) h.resync?.(obj);
    }
  }

  #markSynced(): void {
    this.#synced++;
    if (this.hasSynced()) for (const resolve of this.#syncWaiters.splice(0)) resolve();
  }

  /** A relist: the list is the truth; what vanished meanwhile is reported deleted. */
  #replace(namespace: string, items: KubeObject[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(objectKey(item));
      this.#upsert(item);
    }
    const stale = namespace === '' ? [...this.#store.keys()] : [...(this.#byNamespace.get(namespace) ?? [])];
    for (const key of stale) {
      const obj = this.#store.get(key);
      if (obj !== undefined && !seen.has(key)) this.#remove(obj);
    }
  }

  #upsert(received: KubeObject): void {
    const obj = this.#parse(this.#transform(received));
    if (obj === undefined) return;
    const key = objectKey(obj);
    const old = this.#store.get(key);
    if (old !== undefined && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    if (old !== undefined) this.#unindex(key, old);
    this.#store.set(key, obj);
    this.#index(key, obj);
    for (const h of this.#handlers) {
      if (old === undefined) h.add?.(obj);
      else h.update?.(obj, old);
    }
  }

  #parse(obj: KubeObject): T | undefined {
    if (this.#schema === undefined) return obj as T;
    const parsed = this.#schema.safeParse(obj);
    if (parsed.success) return parsed.data;
    this.#logger?.warn({ object: objectKey(obj), err: parsed.error.message.slice(0, 200) }, 'ignoring an object that does not parse');
    return undefined;
  }

  #remove(obj: KubeObject): void {
    const key = objectKey(obj);
    const old = this.#store.get(key);
    if (old === undefined) return;
    this.#store.delete(key);
    this.#unindex(key, old);
    for (const h of this.#handlers) h.delete?.(old);
  }

  #index(key: string, obj: KubeObject): void {
    addTo(this.#byNamespace, obj.metadata.namespace ?? '', key);
    const owner = controllerOf(obj);
    if (owner !== undefined) addTo(this.#byOwner, owner.uid, key);
  }

  #unindex(key: string, obj: KubeObject): void {
    removeFrom(this.#byNamespace, obj.metadata.namespace ?? '', key);
    const owner = controllerOf(obj);
    if (owner !== undefined) removeFrom(this.#byOwner, owner.uid, key);
  }

  #lookup(keys: Set<string> | undefined): T[] {
    const out: T[] = [];
    for (const key of keys ?? []) {
      const obj = this.#store.get(key);
      if (obj !== undefined) out.push(obj);
    }
    return out;
  }
}

function addTo(index: Map<string, Set<string>>, at: string, key: string): void {
  const set = index.get(at) ?? new Set<string>();
  set.add(key);
  index.set(at, set);
}

function removeFrom(index: Map<string, Set<string>>, at: string, key: string): void {
  const set = index.get(at);
  if (set === undefined) return;
  set.delete(key);
  if (set.size === 0) index.delete(at);
}
