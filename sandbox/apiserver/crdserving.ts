import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CRD_CLEANUP_FINALIZER, CRD_STORAGE, typesOfCrd } from './crd.ts';
import { ApiError } from './errors.ts';
import { defaultWriteContext, type Objects } from './objects.ts';
import type { ResourceRegistry } from './resources.ts';
import type { Store } from './store.ts';
import { isObject } from './types.ts';

// Serving CRDs: the registry follows the stored CRDs, and CRD files are installed at start.

export async function crdFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    const info = await stat(p).catch(() => undefined);
    if (!info) continue;
    if (info.isFile()) files.push(p);
    else for (const f of (await readdir(p)).sort()) if (/\.ya?ml$/.test(f)) files.push(join(p, f));
  }
  return files;
}

export function installCrdTypes(registry: ResourceRegistry, store: Store, objects: Objects): void {
  // Serving follows the stored CRDs: added or changed ones are (re)registered at once, so the
  // next request can use them; a deleted one takes its objects with it.
  store.onChange((change) => {
    if (change.storage !== CRD_STORAGE) return;
    const crd = change.object;
    const name = crd.metadata.name ?? '';
    if (change.type === 'DELETED') {
      registry.removeCrd(name);
      return;
    }
    if (crd.metadata.deletionTimestamp) {
      const types = registry.removeCrd(name);
      const storage = types[0]?.storage;
      if (storage) for (const [, obj] of [...store.list(storage, undefined)]) store.remove(storage, obj.metadata.namespace, obj.metadata.name ?? '');
      queueMicrotask(() =>
        objects.mutate(CRD_STORAGE, undefined, name, (o) => {
          o.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f) => f !== CRD_CLEANUP_FINALIZER);
        }),
      );
      return;
    }
    registry.removeCrd(name);
    for (const t of typesOfCrd(crd)) registry.add(t);
  });
}

export async function installCrdFiles(objects: Objects, registry: ResourceRegistry, files: string[]): Promise<void> {
  const crdType = registry.get('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
  if (!crdType) return;
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      const obj: unknown = doc.toJS();
      if (!isObject(obj) || obj['kind'] !== 'CustomResourceDefinition') continue;
      try {
        objects.create(crdType, undefined, obj, defaultWriteContext());
      } catch (err) {
        if (err instanceof ApiError) throw new Error(`${file}: ${err.message}`);
        throw err;
      }
    }
  }
}
