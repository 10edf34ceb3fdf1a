import type { Change } from './store.ts';
import type { KubeObject } from './types.ts';

// Fan-out of store changes to open watches. A watch sees an object's change through its filter
// the way the real watch cache does: an object that starts matching arrives as ADDED, one that
// stops matching leaves as DELETED (its last matching state, at the new resourceVersion).

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export type Watcher = {
  storage: string;
  accepts(obj: KubeObject): boolean;
  /** Watchers with the same key encode events identically and share the encoded bytes. */
  encodingKey: string | undefined;
  encode(type: WatchEventType, obj: KubeObject): string;
  write(chunk: string): void;
  close(): void;
};

export function transition(change: Change, accepts: (o: KubeObject) => boolean): [WatchEventType, KubeObject] | undefined {
  const now = change.type !== 'DELETED' && accepts(change.object);
  const before = change.previous !== undefined && accepts(change.previous);
  if (change.type === 'ADDED') return now ? ['ADDED', change.object] : undefined;
  if (change.type === 'DELETED') return before ? ['DELETED', change.object] : undefined;
  if (now) return [before ? 'MODIFIED' : 'ADDED', change.object];
  if (before && change.previous) {
    const left = { ...change.previous, metadata: { ...change.previous.metadata, resourceVersion: String(change.rv) } };
    return ['DELETED', left];
  }
  return undefined;
}

export class WatchHub {
  readonly #byStorage = new Map<string, Set<Watcher>>();

  add(watcher: Watcher): () => void {
    let set = this.#byStorage.get(watcher.storage);
    if (!set) {
      set = new Set();
      this.#byStorage.set(watcher.storage, set);
    }
    set.add(watcher);
    return () => {
      set.delete(watcher);
    };
  }

  get size(): number {
    let n = 0;
    for (const set of this.#byStorage.values()) n += set.size;
    return n;
  }

  dispatch(change: Change): void {
    const watchers = this.#byStorage.get(change.storage);
    if (!watchers || watchers.size === 0) return;
    const encoded = new Map<string, string>();
    for (const w of watchers) {
      const event = transition(change, (o) => w.accepts(o));
      if (!event) continue;
      const [type, obj] = event;
      if (w.encodingKey === undefined) {
        w.write(w.encode(type, obj));
        continue;
      }
      const cacheKey = `${w.encodingKey}\u0000${type}\u0000${obj === change.object ? 'n' : 'p'}`;
      let chunk = encoded.get(cacheKey);
      if (chunk === undefined) {
        chunk = w.encode(type, obj);
        encoded.set(cacheKey, chunk);
      }
      w.write(chunk);
    }
  }

  /** Ends every open watch (a fault the clients must survive by re-watching). */
  closeAll(): number {
    let n = 0;
    for (const set of this.#byStorage.values()) {
      for (const w of [...set]) {
        w.close();
        n++;
      }
    }
    return n;
  }
}
