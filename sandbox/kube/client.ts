// A small Kubernetes REST client over fetch: what the sandbox's controllers and kubelet need and
// nothing else. It speaks only the public API, like the real controllers, so it works against any
// API server (the sandbox's emulator in tests, a real one in principle).
import type { z } from 'zod';

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
  deployments: { group: 'apps', version: 'v1', plural: 'deployments', namespaced: true },
  replicasets: { group: 'apps', version: 'v1', plural: 'replicasets', namespaced: true },
  endpointslices: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true },
  virtualservices: { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', namespaced: true },
} as const satisfies Record<string, ResourceType>;

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
  }
}

export function resourcePath(type: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const base = type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  let path = base;
  if (type.namespaced && namespace !== undefined) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${type.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) path += `/${subresource}`;
  return path;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

type Json = Record<string, unknown>;

export class KubeClient {
  readonly baseUrl: string;
  readonly #timeoutMs: number;
  /** Accept, plus the bearer token when the API server authenticates (startApiServer's `rbac`). */
  readonly #headers: Record<string, string>;

  constructor(baseUrl: string, options: { timeoutMs?: number; token?: string } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#headers = { accept: 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) };
  }

  async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Json> {
    const init: RequestInit = { method, headers: this.#headers, signal: AbortSignal.timeout(this.#timeoutMs) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { ...this.#headers, 'content-type': contentType };
    }
    const res = await fetch(this.baseUrl + path, init);
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const status = (parsed ?? {}) as { reason?: string; message?: string };
      throw new ApiError(res.status, status.reason ?? res.statusText, `${method} ${path}: ${res.status} ${status.message ?? text.slice(0, 200)}`);
    }
    if (parsed === undefined || typeof parsed !== 'object' || parsed === null) {
      throw new ApiError(res.status, 'InvalidResponse', `${method} ${path}: answer is not JSON`);
    }
    return parsed as Json;
  }

  async list<T>(type: ResourceType, schema: z.ZodType<T>, namespace?: string): Promise<{ items: T[]; invalid: string[]; resourceVersion: string }> {
    const body = await this.request('GET', resourcePath(type, namespace));
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

  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: { gracePeriodSeconds?: number; preconditionUid?: string } = {},
  ): Promise<void> {
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

  /** Streams watch events until the server ends the watch or the signal aborts. */
  async watch(type: ResourceType, resourceVersion: string, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const query = new URLSearchParams({ watch: '1', allowWatchBookmarks: 'true', timeoutSeconds: '300' });
    if (resourceVersion !== '') query.set('resourceVersion', resourceVersion);
    const res = await fetch(`${this.baseUrl}${resourcePath(type)}?${query}`, { signal, headers: this.#headers });
    if (!res.ok || res.body === null) {
      const text = await res.text().catch(() => '');
      throw new ApiError(res.status, 'WatchFailed', `watch ${type.plural}: ${res.status} ${text.slice(0, 200)}`);
    }
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line !== '') onEvent(JSON.parse(line) as WatchEvent);
      }
    }
  }
}

function describe(raw: unknown): string {
  const meta = (raw as { metadata?: { namespace?: string; name?: string } } | null)?.metadata;
  return `${meta?.namespace ?? ''}/${meta?.name ?? '?'}`;
}
