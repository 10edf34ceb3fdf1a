// Pod volumes as directories under the sandbox's state dir. A process has no mount namespace, so a
// container sees a volume at its host path, and the kubelet rewrites every env value that names a
// path under a mountPath (`/data/x` or `file:///data/x`) to the same path under the volume's
// directory. That is how `IMAGE_SOURCE=file:///images` reaches a hostPath or emptyDir.
// A persistentVolumeClaim is `<claimsDir>/<namespace>/<claimName>/`: one directory shared by every
// pod using the claim and kept after them, as a ReadOnlyMany volume is.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ConfigMap, Container, Pod, Secret, Volume } from '../kube/types.ts';
import { ContainerConfigError, configMapData, secretData } from './env.ts';

export interface Mount {
  mountPath: string;
  hostPath: string;
}

/** The files a Secret's or ConfigMap's keys become: every key, or `items` (each key required). */
function keyFiles(data: Record<string, Buffer>, items: { key: string; path: string }[] | undefined, what: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const item of items ?? Object.keys(data).map((key) => ({ key, path: key }))) {
    const value = data[item.key];
    if (value === undefined) throw new ContainerConfigError(`couldn't find key ${item.key} in ${what}`);
    out.set(item.path, value);
  }
  return out;
}

type ObjectRef = { name: string; items?: { key: string; path: string }[] | undefined; optional?: boolean | undefined };

/** The files of a Secret or ConfigMap volume (or projected source); a missing object fails the container unless optional. */
function objectFiles(kind: 'Secret' | 'ConfigMap', ref: ObjectRef, ns: string, secrets: ReadonlyMap<string, Secret>, configMaps: ReadonlyMap<string, ConfigMap>): Map<string, Buffer> {
  const obj = kind === 'Secret' ? secrets.get(ref.name) : configMaps.get(ref.name);
  if (obj === undefined) {
    if (ref.optional === true) return new Map();
    throw new ContainerConfigError(`${kind.toLowerCase()} "${ref.name}" not found`);
  }
  return keyFiles(kind === 'Secret' ? secretData(obj as Secret) : configMapData(obj as ConfigMap), ref.items, `${kind} ${ns}/${ref.name}`);
}

function safeFile(dir: string, item: string): string {
  if (path.isAbsolute(item) || item.split('/').includes('..')) throw new ContainerConfigError(`invalid volume item path "${item}"`);
  return path.join(dir, item);
}

async function writeKeys(dir: string, files: ReadonlyMap<string, Buffer>): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  for (const [item, value] of files) {
    const file = safeFile(dir, item);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, value, { mode: 0o644 });
  }
}

/** Replaces each file whole (write, then rename), as the kubelet's atomic writer does, so that a reader never sees half a token. */
export async function writeAtomically(dir: string, files: ReadonlyMap<string, Buffer>): Promise<void> {
  for (const [item, value] of files) {
    const file = safeFile(dir, item);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(`${file}.tmp`, value, { mode: 0o644 });
    await fs.rename(`${file}.tmp`, file);
  }
}

/** What a projected volume needs beyond the fetched objects: a ServiceAccount token and the Downward API. */
export interface Projection {
  /** A token from the TokenRequest API, bound to the pod. */
  token(source: { audience?: string | undefined; expirationSeconds?: number | undefined }): Promise<Buffer>;
  /** A Downward API field (`metadata.namespace`, ...). */
  field(fieldPath: string): string;
}

type ProjectedSources = NonNullable<NonNullable<Volume['projected']>['sources']>;

/** The files of a projected volume's sources ([projected volumes](https://kubernetes.io/docs/concepts/storage/projected-volumes/)). */
export async function projectedFiles(
  sources: ProjectedSources,
  ns: string,
  secrets: ReadonlyMap<string, Secret>,
  configMaps: ReadonlyMap<string, ConfigMap>,
  projection: Projection,
  only?: 'tokens',
): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const source of sources) {
    if (source.serviceAccountToken !== undefined) out.set(source.serviceAccountToken.path, await projection.token(source.serviceAccountToken));
    if (only === 'tokens') continue;
    if (source.configMap !== undefined) for (const [k, v] of objectFiles('ConfigMap', source.configMap, ns, secrets, configMaps)) out.set(k, v);
    if (source.secret !== undefined) for (const [k, v] of objectFiles('Secret', source.secret, ns, secrets, configMaps)) out.set(k, v);
    for (const item of source.downwardAPI?.items ?? []) if (item.fieldRef !== undefined) out.set(item.path, Buffer.from(projection.field(item.fieldRef.fieldPath)));
  }
  return out;
}

/** Creates (or refreshes) every volume of the pod under `podDir/volumes`; returns volume name -> directory. */
export async function materialiseVolumes(
  pod: Pod,
  podDir: string,
  secrets: ReadonlyMap<string, Secret>,
  configMaps: ReadonlyMap<string, ConfigMap>,
  claimsDir: string,
  projection: Projection,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ns = pod.metadata.namespace ?? 'default';
  for (const v of pod.spec.volumes ?? []) {
    const dir = path.join(podDir, 'volumes', v.name);
    out.set(v.name, await materialise(v, dir, ns, secrets, configMaps, claimsDir, projection));
  }
  return out;
}

/** The directory standing for a PersistentVolumeClaim; a name that is not a DNS label segment is refused. */
export function claimDir(claimsDir: string, namespace: string, claimName: string): string {
  for (const part of [namespace, claimName]) {
    if (part === '' || part === '.' || part === '..' || part.includes('/')) throw new ContainerConfigError(`invalid persistentVolumeClaim path segment "${part}"`);
  }
  return path.join(claimsDir, namespace, claimName);
}

async function materialise(
  v: Volume,
  dir: string,
  ns: string,
  secrets: ReadonlyMap<string, Secret>,
  configMaps: ReadonlyMap<string, ConfigMap>,
  claimsDir: string,
  projection: Projection,
): Promise<string> {
  if (v.persistentVolumeClaim !== undefined) {
    const claim = claimDir(claimsDir, ns, v.persistentVolumeClaim.claimName);
    await fs.mkdir(claim, { recursive: true });
    return claim;
  }
  if (v.hostPath !== undefined) {
    if (v.hostPath.type === 'DirectoryOrCreate') await fs.mkdir(v.hostPath.path, { recursive: true });
    return v.hostPath.path;
  }
  if (v.secret !== undefined) {
    await writeKeys(dir, objectFiles('Secret', { ...v.secret, name: v.secret.secretName }, ns, secrets, configMaps));
    return dir;
  }
  if (v.configMap !== undefined) {
    await writeKeys(dir, objectFiles('ConfigMap', v.configMap, ns, secrets, configMaps));
    return dir;
  }
  if (v.projected !== undefined) {
    await writeAtomically(dir, await projectedFiles(v.projected.sources ?? [], ns, secrets, configMaps, projection));
    return dir;
  }
  // emptyDir, and any other kind the sandbox does not model, is an empty directory kept for the pod's life.
  await fs.mkdir(dir, { recursive: true });
  return dir;
}

export function mountsOf(container: Container, volumes: ReadonlyMap<string, string>): Mount[] {
  return (container.volumeMounts ?? []).map((m) => {
    const dir = volumes.get(m.name);
    if (dir === undefined) throw new ContainerConfigError(`volumeMount "${m.name}" names no volume of the pod`);
    return { mountPath: m.mountPath.replace(/\/+$/, '') || '/', hostPath: m.subPath ? path.join(dir, m.subPath) : dir };
  });
}

/** Rewrites a value naming a path under a mountPath (plain or as a file:// URL); the longest mountPath wins. */
export function translatePath(value: string, mounts: readonly Mount[]): string {
  const scheme = value.startsWith('file://') ? 'file://' : '';
  const p = value.slice(scheme.length);
  let best: Mount | undefined;
  for (const m of mounts) {
    if ((p === m.mountPath || p.startsWith(m.mountPath === '/' ? '/' : `${m.mountPath}/`)) && (best === undefined || m.mountPath.length > best.mountPath.length)) best = m;
  }
  if (best === undefined) return value;
  return scheme + best.hostPath + p.slice(best.mountPath === '/' ? 0 : best.mountPath.length);
}
