// The sandbox's "registry": an image reference maps to a command run from this checkout. There is no
// container runtime, so an image is a recipe (command, arguments, the image's own ENV).
import path from 'node:path';
import type { Container } from '../kube/types.ts';

export interface Launch {
  command: string;
  args: string[];
  /** The image's ENV: the container's env overrides it, as in a real runtime. */
  env: Record<string, string>;
  cwd: string;
}

export interface CatalogueEntry {
  /** Repository path without registry, e.g. `imageops/image-service`. */
  repository: string;
  launch(tag: string, container: Container): Launch;
}

export type Pull = { ok: true; launch: Launch } | { ok: false; reason: 'ErrImagePull' | 'InvalidImageName'; message: string };

/** Fault injection of the drill tags (the drill contract, docs/sandbox.md "Kubelet": at least 300 ms; at least half answered 5xx). */
export const SLOW_DELAY_MS = 400;
export const BROKEN_ERROR_PERCENT = 75;

/** Splits `registry.example.com:5000/imageops/image-service:1.4.0` into repository and tag. */
export function parseImage(ref: string): { repository: string; tag: string } | undefined {
  if (ref === '' || /\s/.test(ref) || ref.includes('@')) return undefined;
  const parts = ref.split('/');
  // The first component is a registry when it looks like a host (a dot, a port, or localhost).
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0] ?? '')) parts.shift();
  const last = parts.pop() ?? '';
  const colon = last.indexOf(':');
  const name = colon >= 0 ? last.slice(0, colon) : last;
  const tag = colon >= 0 ? last.slice(colon + 1) : 'latest';
  if (name === '' || tag === '') return undefined;
  return { repository: [...parts, name].join('/').replace(/^library\//, ''), tag };
}

/** This checkout's image service, reporting the tag as its version; `-slow`, `-broken` and `-drift` tags inject faults. */
export function imageServiceEntry(repoRoot: string): CatalogueEntry {
  return {
    repository: 'imageops/image-service',
    launch(tag) {
      const env: Record<string, string> = { IMAGE_SERVICE_VERSION: tag };
      if (tag.endsWith('-slow')) env.IMAGE_SERVICE_INJECT_DELAY_MS = String(SLOW_DELAY_MS);
      if (tag.endsWith('-broken')) env.IMAGE_SERVICE_INJECT_ERROR_PERCENT = String(BROKEN_ERROR_PERCENT);
      if (tag.endsWith('-drift')) env.IMAGE_SERVICE_INJECT_DRIFT = 'true';
      return { command: path.join(repoRoot, 'node_modules/.bin/node'), args: [path.join(repoRoot, 'image-service/src/main.ts')], env, cwd: repoRoot };
    },
  };
}

/**
 * This checkout's operator, as operator/Dockerfile builds it: its ENTRYPOINT's flags, its ENV
 * (NODE_COMPILE_CACHE under this checkout's node_modules/.cache), and
 * HOME `/` (a user without a passwd entry), so that its config lookup finds no kubeconfig and takes
 * the in-cluster path. `SERVICE_ACCOUNT_DIR` names the in-cluster path, which the kubelet rewrites
 * to the projected volume's directory. The container's `args` follow the ENTRYPOINT, as Docker
 * appends them (`check-ready NS/SERVICE`, the chart's test hook).
 */
export function operatorEntry(repoRoot: string): CatalogueEntry {
  return {
    repository: 'imageops/operator',
    launch: (_tag, container) => ({
      command: path.join(repoRoot, 'node_modules/.bin/node'),
      args: ['--max-semi-space-size=1', path.join(repoRoot, 'operator/src/main.ts'), ...(container.args ?? [])],
      // The image's compile cache, warmed by its first run here rather than at build time.
      env: { NODE_ENV: 'production', NODE_COMPILE_CACHE: path.join(repoRoot, 'node_modules/.cache/imageops-operator'), HOME: '/', SERVICE_ACCOUNT_DIR: SERVICE_ACCOUNT_MOUNT },
      cwd: repoRoot,
    }),
  };
}

/** Where a pod's service-account token, CA and namespace are mounted (ServiceAccount admission's projected volume). */
export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

export function pull(entries: readonly CatalogueEntry[], image: string | undefined, container: Container): Pull {
  const parsed = parseImage(image ?? '');
  if (parsed === undefined) return { ok: false, reason: 'InvalidImageName', message: `couldn't parse image name "${image ?? ''}"` };
  const entry = entries.find((e) => parsed.repository === e.repository || parsed.repository.endsWith(`/${e.repository}`));
  if (entry === undefined) {
    const known = entries.map((e) => e.repository).join(', ');
    return { ok: false, reason: 'ErrImagePull', message: `image "${image}" is not in the sandbox catalogue (known: ${known})` };
  }
  return { ok: true, launch: entry.launch(parsed.tag, container) };
}

/** `sandbox/test-server`: a small HTTP container for tests of the kubelet (not part of the default catalogue). */
export function testServerEntry(repoRoot: string): CatalogueEntry {
  return {
    repository: 'sandbox/test-server',
    launch: () => ({ command: path.join(repoRoot, 'node_modules/.bin/node'), args: [path.join(repoRoot, 'sandbox/kubelet/test-server.ts')], env: {}, cwd: repoRoot }),
  };
}
