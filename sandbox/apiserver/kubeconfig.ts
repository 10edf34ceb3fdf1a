import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';

// A kubeconfig for the sandbox: one cluster over plain HTTP on loopback, one context, and a
// user with an optional bearer token (authentication is a seam; see auth.ts).
// insecure-skip-tls-verify is set because @kubernetes/client-node refuses an http:// server
// without it; kubectl ignores it for plain HTTP.

export function kubeconfigYaml(url: string, options: { token?: string; namespace?: string; name?: string } = {}): string {
  const name = options.name ?? 'imageops-sandbox';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name, user: options.token ? { token: options.token } : {} }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: options.namespace ?? 'default' } }],
    'current-context': name,
    preferences: {},
  });
}

export async function writeKubeconfigFile(path: string, url: string, options: { token?: string; namespace?: string } = {}): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, kubeconfigYaml(url, options), { mode: 0o600 });
  return path;
}
