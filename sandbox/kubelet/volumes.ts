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

async function writeKeys(dir: string, data: Record<string, Buffer>, items: { key: string; path: string }[] | undefined, what: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const files = items ?? Object.keys(data).map((key) => ({ key, path: key }));
  for (const item of files) {
    const value = data[item.key];
    if (value === undefined) throw new ContainerConfigError(`couldn't find key ${item.key} in ${what}`);
    if (path.isAbsolute(item.path) || item.path.split('/').includes('..')) throw new ContainerConfigError(`invalid volume item path "${item.path}"`);
    const file = path.join(dir, item.path);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, value, { mode: 0o644 });
  }
}

/** Creates (or refreshes) every volume of the pod under `podDir/volumes`; returns volume name -> directory. */
export async function materialiseVolumes(
  pod: Pod,
  podDir: string,
  secrets: ReadonlyMap<string, Secret>,
  configMaps: ReadonlyMap<string, ConfigMap>,
  claimsDir: string,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ns = pod.metadata.namespace ?? 'default';
  for (const v of pod.spec.volumes ?? []) {
    const dir = path.join(podDir, 'volumes', v.name);
    out.set(v.name, await materialise(v, dir, ns, secrets, configMaps, claimsDir));
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
    const s = secrets.get(v.secret.secretName);
    if (s === undefined && v.secret.optional !== true) throw new ContainerConfigError(`secret "${v.secret.secretName}" not found`);
    await writeKeys(dir, s === undefined ? {} : secretData(s), s === undefined ? [] : v.secret.items, `Secret ${ns}/${v.secret.secretName}`);
    return dir;
  }
  if (v.configMap !== undefined) {
    const cm = configMaps.get(v.configMap.name);
    if (cm === undefined && v.configMap.optional !== true) throw new ContainerConfigError(`configmap "${v.configMap.name}" not found`);
    await writeKeys(dir, cm === undefined ? {} : configMapData(cm), cm === undefined ? [] : v.configMap.items, `ConfigMap ${ns}/${v.configMap.name}`);
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
