import { Deferred } from './deferred.ts';
import { ApiError } from './errors.ts';
import { defaultWriteContext, type Objects } from './objects.ts';
import type { Change, Store } from './store.ts';
import { isObject } from './types.ts';

// Namespace lifecycle (https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/):
// a new namespace gets its `default` ServiceAccount (the service account controller); a deleted
// one is Terminating until everything in it is gone, then its `kubernetes` finalizer is removed
// and it disappears (the namespace controller).

export class NamespaceController {
  readonly #store: Store;
  readonly #objects: Objects;
  readonly #terminating = new Deferred<string>((names) => {
    for (const ns of names) this.#cleanup(ns);
  });

  constructor(store: Store, objects: Objects) {
    this.#store = store;
    this.#objects = objects;
    store.onChange((change) => this.#observe(change));
  }

  stop(): void {
    this.#terminating.stop();
  }

  #observe(change: Change): void {
    const m = change.object.metadata;
    if (change.storage === '/namespaces') {
      if (change.type === 'ADDED') this.#createDefaultServiceAccount(m.name ?? '');
      if (change.type === 'MODIFIED' && m.deletionTimestamp) this.#terminating.add(m.name ?? '');
      return;
    }
    if (change.type === 'DELETED' && m.namespace && this.#store.get('/namespaces', undefined, m.namespace)?.metadata.deletionTimestamp) {
      this.#terminating.add(m.namespace);
    }
  }

  #createDefaultServiceAccount(namespace: string): void {
    const t = this.#objects.registry.byStorage('/serviceaccounts');
    if (!t || this.#store.get(t.storage, namespace, 'default')) return;
    queueMicrotask(() => {
      try {
        this.#objects.create(t, namespace, { metadata: { name: 'default' } }, defaultWriteContext());
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
      }
    });
  }

  #cleanup(namespace: string): void {
    const ns = this.#store.get('/namespaces', undefined, namespace);
    if (!ns?.metadata.deletionTimestamp) return;
    let remaining = 0;
    const storages = new Set(
      this.#objects.registry
        .all()
        .filter((t) => t.namespaced)
        .map((t) => t.storage),
    );
    for (const storage of storages) {
      const t = this.#objects.registry.byStorage(storage);
      if (!t) continue;
      for (const [, obj] of [...this.#store.list(storage, namespace)]) {
        remaining++;
        if (obj.metadata.deletionTimestamp) continue;
        try {
          this.#objects.delete(t, namespace, obj.metadata.name ?? '', { propagationPolicy: 'Background' }, defaultWriteContext());
        } catch (err) {
          if (!(err instanceof ApiError && err.code === 404)) throw err;
        }
      }
    }
    const left = [...storages].some((s) => this.#store.hasObjectsIn(s, namespace));
    if (remaining === 0 || !left) {
      this.#objects.mutate('/namespaces', undefined, namespace, (obj) => {
        if (isObject(obj['spec'])) obj['spec']['finalizers'] = [];
      });
    }
  }
}
