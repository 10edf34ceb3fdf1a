import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';

// A kubeconfig for the sandbox: one cluster on loopback, one context, and a user with an optional
// bearer token (authentication is a seam; see auth.ts). The emulator serves plain HTTP:
// insecure-skip-tls-verify is set for it because @kubernetes/client-node refuses an http://
// server without it (kubectl ignores it for plain HTTP). The real control plane serves HTTPS
// under the CA given.

export function kubeconfigYaml(url: string, options: { token?: string; namespace?: string; name?: string; ca?: Buffer } = {}): string {
  const name = options.name ?? 'imageops-sandbox';
  const cluster = options.ca ? { server: url, 'certificate-authority-data': options.ca.toString('base64') } : { server: url, 'insecure-skip-tls-verify': true };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
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
