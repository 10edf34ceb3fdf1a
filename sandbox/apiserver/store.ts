import type { KubeObject } from './types.ts';

// The in-memory object store: one collection per storage name, a global resourceVersion counter
// (like etcd's revision), a bounded per-collection history of changes that watches resume from,
// and the two indexes the garbage collector needs (by uid, and dependents by owner uid).
// Stored objects are treated as immutable: every write stores a new object, so readers and the
// history can share them without copying.

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export type Change = {
  type: ChangeType;
  storage: string;
  rv: number;
  object: KubeObject;
  /** The object before the change (MODIFIED and DELETED), for selector transitions in watches. */
  previous: KubeObject | undefined;
};

export type StoredRef = { storage: string; key: string };

export function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

class Collection {
  readonly objects = new Map<string, KubeObject>();
  #sorted: string[] | undefined;
  history: Change[] = [];
  /** Every change with rv above this one is in `history`. */
  historyStart = 0;

  sortedKeys(): string[] {
    this.#sorted ??= [...this.objects.keys()].sort();
    return this.#sorted;
  }

  keysChanged(): void {
    this.#sorted = undefined;
  }
}

function lowerBound(keys: string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] ?? '') < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export type StoreOptions = { historyLimit?: number };

export class Store {
  #rv = 1;
  readonly #historyLimit: number;
  readonly #collections = new Map<string, Collection>();
  readonly #byUid = new Map<string, StoredRef>();
  readonly #dependents = new Map<string, Set<string>>();
  readonly #listeners = new Set<(change: Change) => void>();
  #compacted = 0;

  constructor(options: StoreOptions = {}) {
    this.#historyLimit = options.historyLimit ?? 10_000;
  }

  /** The latest resourceVersion, as a list would report it. */
  get rv(): number {
    return this.#rv;
  }

  #collection(storage: string): Collection {
    let c = this.#collections.get(storage);
    if (!c) {
      c = new Collection();
      this.#collections.set(storage, c);
    }
    return c;
  }

  onChange(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get(storage: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#collections.get(storage)?.objects.get(objectKey(namespace, name));
  }

  byUid(uid: string): { storage: string; object: KubeObject } | undefined {
    const ref = this.#byUid.get(uid);
    if (!ref) return undefined;
    const object = this.#collections.get(ref.storage)?.objects.get(ref.key);
    return object ? { storage: ref.storage, object } : undefined;
  }

  /** Objects whose ownerReferences name this uid. */
  dependentsOf(ownerUid: string): { storage: string; object: KubeObject }[] {
    const uids = this.#dependents.get(ownerUid);
    if (!uids) return [];
    const found: { storage: string; object: KubeObject }[] = [];
    for (const uid of uids) {
      const hit = this.byUid(uid);
      if (hit) found.push(hit);
    }
    return found;
  }

  count(storage: string): number {
    return this.#collections.get(storage)?.objects.size ?? 0;
  }

  /**
   * Objects in key order (namespace, then name), optionally in one namespace and after a key
   * (for continue tokens). Iterates lazily so that limit stops the scan.
   */
  *list(storage: string, namespace: string | undefined, afterKey?: string): Generator<[string, KubeObject]> {
    const c = this.#collections.get(storage);
    if (!c) return;
    const keys = c.sortedKeys();
    const prefix = namespace === undefined ? '' : `${namespace}/`;
    let i = lowerBound(keys, prefix);
    if (afterKey !== undefined && afterKey >= prefix) {
      i = lowerBound(keys, afterKey);
      if (keys[i] === afterKey) i++;
    }
    for (; i < keys.length; i++) {
      const key = keys[i] ?? '';
      if (!key.startsWith(prefix)) return;
      const obj = c.objects.get(key);
      if (obj) yield [key, obj];
    }
  }

  hasObjectsIn(storage: string, namespace: string): boolean {
    return !this.list(storage, namespace).next().done;
  }

  storages(): string[] {
    return [...this.#collections.keys()];
  }

  /** Stores a new object; the caller has checked it does not exist. Sets resourceVersion. */
  create(storage: string, obj: KubeObject): KubeObject {
    const c = this.#collection(storage);
    const key = objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
    obj.metadata.resourceVersion = String(++this.#rv);
    c.objects.set(key, obj);
    c.keysChanged();
    this.#index(storage, key, undefined, obj);
    this.#record(c, { type: 'ADDED', storage, rv: this.#rv, object: obj, previous: undefined });
    return obj;
  }

  /** Replaces a stored object; the caller has checked the resourceVersion precondition. */
  update(storage: string, obj: KubeObject): KubeObject {
    const c = this.#collection(storage);
    const key = objectKey(obj.metadata.namespace, obj.metadata.name ?? '');
    const previous = c.objects.get(key);
    obj.metadata.resourceVersion = String(++this.#rv);
    c.objects.set(key, obj);
    this.#index(storage, key, previous, obj);
    this.#record(c, { type: 'MODIFIED', storage, rv: this.#rv, object: obj, previous });
    return obj;
  }

  /** Removes an object; the DELETED change carries it with the deletion's resourceVersion. */
  remove(storage: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const c = this.#collections.get(storage);
    const key = objectKey(namespace, name);
    const previous = c?.objects.get(key);
    if (!c || !previous) return undefined;
    c.objects.delete(key);
    c.keysChanged();
    this.#index(storage, key, previous, undefined);
    const gone = { ...previous, metadata: { ...previous.metadata, resourceVersion: String(++this.#rv) } };
    this.#record(c, { type: 'DELETED', storage, rv: this.#rv, object: gone, previous });
    return gone;
  }

  /**
   * Changes after `rv` in one collection, or undefined when some of them are no longer retained
   * (the caller answers 410 Gone).
   */
  changesSince(storage: string, rv: number): Change[] | undefined {
    const c = this.#collection(storage);
    if (rv < this.oldestResumable(storage)) return undefined;
    const h = c.history;
    let lo = 0;
    let hi = h.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((h[mid]?.rv ?? 0) <= rv) lo = mid + 1;
      else hi = mid;
    }
    return h.slice(lo);
  }

  /** The oldest resourceVersion a watch of this collection can still resume from. */
  oldestResumable(storage: string): number {
    return Math.max(this.#collection(storage).historyStart, this.#compacted);
  }

  /** Forgets all history, as an etcd compaction does: every older resourceVersion is now expired. */
  compact(): void {
    for (const c of this.#collections.values()) {
      c.history = [];
      c.historyStart = this.#rv;
    }
    this.#compacted = this.#rv;
  }

  #record(c: Collection, change: Change): void {
    c.history.push(change);
    if (c.history.length > this.#historyLimit) {
      // Trim in chunks so that the array copy is amortised.
      const drop = Math.max(1, this.#historyLimit >> 4);
      c.historyStart = c.history[drop - 1]?.rv ?? c.historyStart;
      c.history = c.history.slice(drop);
    }
    for (const listener of this.#listeners) listener(change);
  }

  #index(storage: string, key: string, before: KubeObject | undefined, after: KubeObject | undefined): void {
    const beforeUid = before?.metadata.uid;
    const afterUid = after?.metadata.uid;
    if (beforeUid && beforeUid !== afterUid) this.#byUid.delete(beforeUid);
    if (afterUid) this.#byUid.set(afterUid, { storage, key });
    const beforeOwners = before?.metadata.ownerReferences ?? [];
    const afterOwners = after?.metadata.ownerReferences ?? [];
    if (beforeOwners === afterOwners && beforeUid === afterUid) return;
    for (const ref of beforeOwners) {
      const set = this.#dependents.get(ref.uid);
      if (!set || !beforeUid) continue;
      set.delete(beforeUid);
      if (set.size === 0) this.#dependents.delete(ref.uid);
    }
    for (const ref of afterOwners) {
      if (!afterUid) continue;
      let set = this.#dependents.get(ref.uid);
      if (!set) {
        set = new Set();
        this.#dependents.set(ref.uid, set);
      }
      set.add(afterUid);
    }
  }
}
