// The sandbox's controllers, kubelet and mesh speak to the API server through the operator's
// client (operator/src/kube), the one transport of the project: TLS, tokens and client
// certificates, typed errors. This module keeps the sandbox's shape over it: resource types by
// group and version, lists parsed with the caller's zod schema, watches as callbacks.
import type { Logger } from 'pino';
import type { z } from 'zod';
import { type KubeObject, type ResourceType as LibraryType, KubeClient as Transport } from '../../operator/src/kube/client.ts';
import { ApiError } from '../../operator/src/kube/errors.ts';
import { Informer } from '../../operator/src/kube/informer.ts';
import type { Connection } from '../../operator/src/kube/kubeconfig.ts';

export { ApiError };

export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  plural: string;
  namespaced: boolean;
}

export const RESOURCES = {
  pods: { group: '', version: 'v1', plural: 'pods', namespaced: true },
  services: { group: '', version: 'v1', plural: 'services', namespaced: true },
  endpoints: { group: '', version: 'v1', plural: 'endpoints', namespaced: true },
  secrets: { group: '', version: 'v1', plural: 'secrets', namespaced: true },
  configmaps: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  events: { group: '', version: 'v1', plural: 'events', namespaced: true },
  namespaces: { group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  nodes: { group: '', version: 'v1', plural: 'nodes', namespaced: false },
  serviceaccounts: { group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true },
  persistentvolumeclaims: { group: '', version: 'v1', plural: 'persistentvolumeclaims', namespaced: true },
  persistentvolumes: { group: '', version: 'v1', plural: 'persistentvolumes', namespaced: false },
  leases: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true },
  customresourcedefinitions: { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', namespaced: false },
  deployments: { group: 'apps', version: 'v1', plural: 'deployments', namespaced: true },
  replicasets: { group: 'apps', version: 'v1', plural: 'replicasets', namespaced: true },
  endpointslices: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true },
  horizontalpodautoscalers: { group: 'autoscaling', version: 'v2', plural: 'horizontalpodautoscalers', namespaced: true },
  virtualservices: { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', namespaced: true },
  httproutes: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', namespaced: true },
} as const satisfies Record<string, ResourceType>;

export function resourcePath(type: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const base = type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  let path = base;
  if (type.namespaced && namespace !== undefined) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${type.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) path += `/${subresource}`;
  return path;
}

type Json = Record<string, unknown>;

export class KubeClient {
  readonly baseUrl: string;
  readonly #transport: Transport;

  /** A URL (plain HTTP, optionally a bearer token) or a whole connection (TLS, client certificates). */
  constructor(server: string | Connection, options: { timeoutMs?: number; token?: string; userAgent?: string } = {}) {
    const token = options.token;
    const connection: Connection = typeof server === 'string' ? { server: new URL(server), credentials: async () => (token ? { authorization: `Bearer ${token}` } : {}) } : server;
    this.baseUrl = connection.server.href.replace(/\/$/, '');
    this.#transport = new Transport(connection, { timeoutMs: options.timeoutMs ?? 10_000, userAgent: options.userAgent ?? 'imageops-sandbox' });
  }

  /** The library's client underneath, for the library's other parts (e.g. its EventRecorder). */
  get transport(): Transport {
    return this.#transport;
  }

  async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Json> {
    const answer = await this.#transport.request(method, path, body, contentType);
    if (typeof answer !== 'object' || answer === null) throw new ApiError(200, 'InvalidResponse', `${method} ${path}: answer is not a JSON object`);
    return answer as Json;
  }

  async list<T>(type: ResourceType, schema: z.ZodType<T>, namespace?: string, fieldSelector?: string): Promise<{ items: T[]; invalid: string[]; resourceVersion: string }> {
    const query = fieldSelector ? `?${new URLSearchParams({ fieldSelector })}` : '';
    const body = await this.request('GET', resourcePath(type, namespace) + query);
    const items: T[] = [];
    const invalid: string[] = [];
    for (const raw of (body.items as unknown[] | undefined) ?? []) {
      const r = schema.safeParse(raw);
      if (r.success) items.push(r.data);
      else invalid.push(describe(raw));
    }
    const meta = body.metadata as { resourceVersion?: string } | undefined;
    return { items, invalid, resourceVersion: meta?.resourceVersion ?? '' };
  }

  async get<T>(type: ResourceType, schema: z.ZodType<T>, namespace: string | undefined, name: string): Promise<T | undefined> {
    try {
      return schema.parse(await this.request('GET', resourcePath(type, namespace, name)));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  create(type: ResourceType, namespace: string | undefined, object: unknown): Promise<Json> {
    return this.request('POST', resourcePath(type, namespace), object);
  }

  replace(type: ResourceType, namespace: string | undefined, name: string, object: unknown, subresource?: string): Promise<Json> {
    return this.request('PUT', resourcePath(type, namespace, name, subresource), object);
  }

  mergePatch(type: ResourceType, namespace: string | undefined, name: string, patch: unknown, subresource?: string): Promise<Json> {
    return this.request('PATCH', resourcePath(type, namespace, name, subresource), patch, 'application/merge-patch+json');
  }

  async delete(type: ResourceType, namespace: string | undefined, name: string, options: { gracePeriodSeconds?: number; preconditionUid?: string } = {}): Promise<void> {
    const body: Json = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' };
    if (options.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = options.gracePeriodSeconds;
    if (options.preconditionUid !== undefined) body.preconditions = { uid: options.preconditionUid };
    try {
      await this.request('DELETE', resourcePath(type, namespace, name), body);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return;
      throw err;
    }
  }

  close(): void {
    this.#transport.close();
  }
}

function describe(raw: unknown): string {
  const meta = (raw as { metadata?: { namespace?: string; name?: string } } | null)?.metadata;
  return `${meta?.namespace ?? ''}/${meta?.name ?? '?'}`;
}

/** The library's name for a resource type: group and version as one apiVersion. */
export function libraryType(type: ResourceType): LibraryType {
  return { apiVersion: type.group === '' ? type.version : `${type.group}/${type.version}`, kind: '', plural: type.plural, namespaced: type.namespaced };
}

/** The sandbox's watchers retry fast: a local API server, or a CRD not served yet, is back in moments. */
const BACKOFF = { baseMs: 100, maxMs: 2000 };

/** The library's informer over this client for a sandbox component, its cache parsed with `schema`; run it with runInformers. */
export function informer<T extends KubeObject>(client: KubeClient, type: ResourceType, schema: z.ZodType<T>, logger?: Logger, fieldSelector?: string): Informer<T> {
  return new Informer<T>(client.transport, libraryType(type), { schema, backoff: BACKOFF, ...(logger ? { logger } : {}), ...(fieldSelector ? { fieldSelector } : {}) });
}

/** Runs informers until the returned stop is called; resolves once every one has listed. */
export async function runInformers(informers: readonly { run(signal: AbortSignal): Promise<void>; waitForSync(): Promise<void> }[]): Promise<() => Promise<void>> {
  const abort = new AbortController();
  const running = Promise.all(informers.map((i) => i.run(abort.signal)));
  await Promise.all(informers.map((i) => i.waitForSync()));
  return async () => {
    abort.abort();
    await running;
  };
}
