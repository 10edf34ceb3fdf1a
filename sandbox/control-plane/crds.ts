// CustomResourceDefinitions installed into the real control plane at start, as a user's
// `kubectl apply -f` would: the repository's generated crds/, Istio's and the Gateway API's own
// CRDs, unchanged, so that what imageops writes is judged by their schemas and kube-apiserver's
// validation.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { REPO_CRDS_DIR } from '../apiserver/server.ts';
import { ApiError, type KubeClient, RESOURCES } from '../kube/client.ts';

/** The CRDs in YAML files (multi-document), in order. */
export function readCrds(files: string[]): Record<string, unknown>[] {
  return files.flatMap((file) =>
    parseAllDocuments(fs.readFileSync(file, 'utf8'))
      .map((d) => d.toJS() as unknown)
      .filter((d): d is Record<string, unknown> => typeof d === 'object' && d !== null && (d as { kind?: unknown }).kind === 'CustomResourceDefinition'),
  );
}

/** The CRDs the real control plane starts with: the repository's crds/, then upstream files (Istio's, the Gateway API's). */
export function startingCrds(upstreamFiles: string[]): Record<string, unknown>[] {
  const repo = fs
    .readdirSync(REPO_CRDS_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => path.join(REPO_CRDS_DIR, f));
  return readCrds([...repo, ...upstreamFiles]);
}

/** Creates each CRD and waits until the API server serves it (Established); a refusal names the CRD and why. */
export async function installCrds(client: KubeClient, crds: Record<string, unknown>[], timeoutMs = 30_000): Promise<void> {
  const names: string[] = [];
  for (const crd of crds) {
    const name = String((crd['metadata'] as { name?: unknown } | undefined)?.name ?? '?');
    try {
      await client.create(RESOURCES.customresourcedefinitions, undefined, crd);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) continue;
      throw new Error(`CRD ${name} was refused: ${err instanceof Error ? err.message : String(err)}`);
    }
    names.push(name);
  }
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = (await client.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)) as { status?: { conditions?: { type: string; status: string }[] } };
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not established within ${timeoutMs} ms`);
      await sleep(100);
    }
  }
}
