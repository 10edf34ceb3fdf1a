import { Deferred } from './deferred.ts';
import { ApiError } from './errors.ts';
import { defaultWriteContext, FOREGROUND_FINALIZER, type Objects, ORPHAN_FINALIZER, type Propagation } from './objects.ts';
import type { Change, Store } from './store.ts';
import type { KubeObject, OwnerReference } from './types.ts';

// The garbage collector (https://kubernetes.io/docs/concepts/architecture/garbage-collection/):
// deletes dependents whose owners are all gone (background), deletes dependents before their
// owner (foreground, the `foregroundDeletion` finalizer), or detaches them (orphan, the `orphan`
// finalizer). It runs after the request that triggered it, from the store's change stream.

export class GarbageCollector {
  readonly #store: Store;
  readonly #objects: Objects;
  readonly #owners = new Deferred<string>((uids) => {
    for (const uid of uids) this.#processOwner(uid);
  });
  readonly #dependents = new Deferred<string>((uids) => {
    for (const uid of uids) this.#processDependent(uid);
  });

  constructor(store: Store, objects: Objects) {
    this.#store = store;
    this.#objects = objects;
    store.onChange((change) => this.#observe(change));
  }

  stop(): void {
    this.#owners.stop();
    this.#dependents.stop();
  }

  #observe(change: Change): void {
    const m = change.object.metadata;
    const uid = m.uid ?? '';
    if (change.type === 'DELETED') {
      for (const dep of this.#store.dependentsOf(uid)) this.#dependents.add(dep.object.metadata.uid ?? '');
      // A dependent gone may unblock an owner waiting in foreground deletion.
      for (const ref of m.ownerReferences ?? []) this.#owners.add(ref.uid);
    } else {
      const f = m.finalizers ?? [];
      if (m.deletionTimestamp && (f.includes(FOREGROUND_FINALIZER) || f.includes(ORPHAN_FINALIZER))) this.#owners.add(uid);
      const refsChanged = change.previous?.metadata.ownerReferences !== m.ownerReferences;
      if ((m.ownerReferences ?? []).length > 0 && refsChanged) this.#dependents.add(uid);
    }
  }

  #ownerExists(ref: OwnerReference, dependent: KubeObject): boolean {
    const owner = this.#store.byUid(ref.uid);
    if (!owner) return false;
    // A namespaced owner must be in the dependent's namespace; cluster-scoped owners may own anything.
    const ns = owner.object.metadata.namespace;
    return ns === undefined || ns === dependent.metadata.namespace;
  }

  #delete(storage: string, obj: KubeObject, propagationPolicy: Propagation): void {
    const t = this.#objects.registry.byStorage(storage);
    if (!t) return;
    try {
      this.#objects.delete(t, obj.metadata.namespace, obj.metadata.name ?? '', { propagationPolicy }, defaultWriteContext());
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }

  #processDependent(uid: string): void {
    const hit = this.#store.byUid(uid);
    if (!hit) return;
    const refs = hit.object.metadata.ownerReferences ?? [];
    const dangling = refs.filter((ref) => !this.#ownerExists(ref, hit.object));
    if (dangling.length === 0) return;
    if (dangling.length === refs.length) {
      if (!hit.object.metadata.deletionTimestamp) this.#delete(hit.storage, hit.object, 'Background');
      return;
    }
    // Some owners remain: only the references to the missing ones go.
    const gone = new Set(dangling.map((r) => r.uid));
    this.#objects.mutate(hit.storage, hit.object.metadata.namespace, hit.object.metadata.name ?? '', (obj) => {
      obj.metadata.ownerReferences = (obj.metadata.ownerReferences ?? []).filter((r) => !gone.has(r.uid));
    });
  }

  #processOwner(uid: string): void {
    const owner = this.#store.byUid(uid);
    if (!owner?.object.metadata.deletionTimestamp) return;
    const finalizers = owner.object.metadata.finalizers ?? [];
    const { namespace, name = '' } = owner.object.metadata;
    if (finalizers.includes(ORPHAN_FINALIZER)) {
      for (const dep of this.#store.dependentsOf(uid)) {
        this.#objects.mutate(dep.storage, dep.object.metadata.namespace, dep.object.metadata.name ?? '', (obj) => {
          obj.metadata.ownerReferences = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        });
      }
      this.#removeFinalizer(owner.storage, namespace, name, ORPHAN_FINALIZER);
      return;
    }
    if (!finalizers.includes(FOREGROUND_FINALIZER)) return;
    const dependents = this.#store.dependentsOf(uid);
    for (const dep of dependents) {
      if (!dep.object.metadata.deletionTimestamp) this.#delete(dep.storage, dep.object, 'Foreground');
    }
    const blocking = this.#store.dependentsOf(uid).filter((dep) => (dep.object.metadata.ownerReferences ?? []).some((r) => r.uid === uid && r.blockOwnerDeletion === true));
    if (blocking.length === 0) this.#removeFinalizer(owner.storage, namespace, name, FOREGROUND_FINALIZER);
  }

  #removeFinalizer(storage: string, namespace: string | undefined, name: string, finalizer: string): void {
    this.#objects.mutate(storage, namespace, name, (obj) => {
      obj.metadata.finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    });
  }
}
