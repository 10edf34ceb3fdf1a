import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { ApiError, apiError, TransportError } from './errors.ts';
import { type Connection, type Credentials, fromKubeconfig, loadConnection } from './kubeconfig.ts';

/**
 * A small typed REST client for the Kubernetes API: the connection comes from kubeconfig.ts
 * ($KUBECONFIG, ~/.kube/config, in-cluster); requests go over one keep-alive agent with
 * node:http(s), so the hot path is a plain request, errors are the typed exceptions of
 * errors.ts and a watch is an async iterator of validated events.
 */

export const OwnerReference = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  name: z.string(),
  uid: z.string(),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});
export type OwnerReference = z.infer<typeof OwnerReference>;

/** The metadata every client of this library reads; loose, so a read-modify-write loses nothing. */
export const ObjectMeta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  generateName: z.string().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  deletionGracePeriodSeconds: z.number().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  ownerReferences: z.array(OwnerReference).optional(),
  finalizers: z.array(z.string()).optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

export const KubeObject = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMeta,
});
export type KubeObject = z.infer<typeof KubeObject>;

const ListAnswer = z.looseObject({
  metadata: z.looseObject({ resourceVersion: z.string().optional(), continue: z.string().optional() }).optional(),
  items: z.array(KubeObject).nullable().optional(),
});

// A bookmark carries only a resourceVersion: kube-apiserver sends no name with it.
const Bookmark = z.looseObject({ metadata: z.looseObject({ resourceVersion: z.string() }) });

const WatchLine = z.discriminatedUnion('type', [
  z.object({ type: z.enum(['ADDED', 'MODIFIED', 'DELETED']), object: KubeObject }),
  z.object({ type: z.literal('BOOKMARK'), object: Bookmark }),
  z.object({ type: z.literal('ERROR'), object: z.looseObject({ code: z.number().optional() }) }),
]);

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject } | { type: 'BOOKMARK'; object: z.infer<typeof Bookmark> };

/** Where a kind is served. */
export interface ResourceType {
  /** `v1` for the core group, else `group/version`. */
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

export const resources = {
  deployments: { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  services: { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  secrets: { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  events: { apiVersion: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  leases: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', plural: 'leases', namespaced: true },
  horizontalPodAutoscalers: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers', namespaced: true },
  virtualServices: {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    plural: 'virtualservices',
    namespaced: true,
  },
  httpRoutes: {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    plural: 'httproutes',
    namespaced: true,
  },
  imageServices: {
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    plural: 'imageservices',
    namespaced: true,
  },
} as const satisfies Record<string, ResourceType>;

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchOptions extends ListOptions {
  resourceVersion: string;
  timeoutSeconds?: number;
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

const VERB_OF_METHOD: Record<string, Verb> = { GET: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

export interface KubeClientOptions {
  /** Longest wait for any request other than a watch. */
  timeoutMs?: number;
  /** Identifies this client in the server's logs. */
  userAgent?: string;
}

export class KubeClient {
  readonly #connection: Connection;
  readonly #base: URL;
  readonly #agent: http.Agent;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  /** Requests sent, by verb: what the benchmark reports. */
  readonly requests: Record<Verb, number> = { get: 0, list: 0, watch: 0, create: 0, update: 0, patch: 0, delete: 0 };
  /** Writes sent, by `verb plural`, e.g. `update leases`: tells the operator's own writes from its lease renewals. */
  readonly writes = new Map<string, number>();

  constructor(connection: Connection, options: KubeClientOptions = {}) {
    this.#connection = connection;
    this.#base = connection.server;
    this.#agent =
      connection.server.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            ...(connection.ca ? { ca: connection.ca } : {}),
            ...(connection.cert ? { cert: connection.cert } : {}),
            ...(connection.key ? { key: connection.key } : {}),
            ...(connection.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
            ...(connection.tlsServerName ? { servername: connection.tlsServerName } : {}),
          })
        : new http.Agent({ keepAlive: true });
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#userAgent = options.userAgent ?? 'imageops-operator';
  }

  /** From $KUBECONFIG, ~/.kube/config or the in-cluster service account, like kubectl. */
  static async fromDefault(options: KubeClientOptions = {}): Promise<KubeClient> {
    return new KubeClient(await loadConnection(), options);
  }

  /** From a kubeconfig document (relative paths in it resolve against baseDir). */
  static async fromKubeconfig(text: string, options: KubeClientOptions & { baseDir?: string } = {}): Promise<KubeClient> {
    return new KubeClient(await fromKubeconfig(text, options.baseDir ?? process.cwd()), options);
  }

  close(): void {
    this.#agent.destroy();
  }

  path(type: ResourceType, namespace: string | undefined, name?: string, sub?: string): string {
    const group = type.apiVersion.includes('/') ? `/apis/${type.apiVersion}` : `/api/${type.apiVersion}`;
    const ns = type.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    const n = name === undefined ? '' : `/${encodeURIComponent(name)}`;
    return `${group}${ns}/${type.plural}${n}${sub === undefined ? '' : `/${sub}`}`;
  }

  async get(type: ResourceType, namespace: string, name: string, signal?: AbortSignal): Promise<KubeObject> {
    return KubeObject.parse(await this.#json('get', 'GET', this.path(type, namespace, name), undefined, signal));
  }

  /** Every page of a list, and the resourceVersion to watch from. */
  async list(type: ResourceType, options: ListOptions = {}, signal?: AbortSignal) {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const query = new URLSearchParams({ limit: '500' });
      if (options.labelSelector) query.set('labelSelector', options.labelSelector);
      if (options.fieldSelector) query.set('fieldSelector', options.fieldSelector);
      if (cont) query.set('continue', cont);
      const path = `${this.path(type, options.namespace)}?${query}`;
      const page = ListAnswer.parse(await this.#json('list', 'GET', path, undefined, signal));
      for (const item of page.items ?? []) items.push(item);
      resourceVersion = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?.continue || undefined;
    } while (cont !== undefined);
    return { items, resourceVersion };
  }

  /**
   * A request by path with a JSON answer, for what the typed verbs do not cover (subresources
   * such as pods/binding, other kinds); the verb is the one the method stands for.
   */
  async request(method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<unknown> {
    return this.#json(VERB_OF_METHOD[method] ?? 'get', method, path, body, signal, contentType);
  }

  #wrote(verb: Verb, type: ResourceType, sub = ''): void {
    const what = `${verb} ${type.plural}${sub}`;
    this.writes.set(what, (this.writes.get(what) ?? 0) + 1);
  }

  async create(type: ResourceType, object: KubeObject, signal?: AbortSignal): Promise<KubeObject> {
    this.#wrote('create', type);
    const path = this.path(type, object.metadata.namespace);
    return KubeObject.parse(await this.#json('create', 'POST', path, object, signal));
  }

  /** PUT with the object's resourceVersion: a stale one is a ConflictError. */
  async replace(type: ResourceType, object: KubeObject, signal?: AbortSignal): Promise<KubeObject> {
    this.#wrote('update', type);
    const path = this.path(type, object.metadata.namespace, object.metadata.name);
    return KubeObject.parse(await this.#json('update', 'PUT', path, object, signal));
  }

  async replaceStatus(type: ResourceType, object: KubeObject, signal?: AbortSignal): Promise<KubeObject> {
    this.#wrote('update', type, '/status');
    const path = this.path(type, object.metadata.namespace, object.metadata.name, 'status');
    return KubeObject.parse(await this.#json('update', 'PUT', path, object, signal));
  }

  async mergePatch(type: ResourceType, namespace: string, name: string, patch: unknown, signal?: AbortSignal): Promise<KubeObject> {
    this.#wrote('patch', type);
    const path = this.path(type, namespace, name);
    return KubeObject.parse(await this.#json('patch', 'PATCH', path, patch, signal, 'application/merge-patch+json'));
  }

  async delete(type: ResourceType, namespace: string, name: string, signal?: AbortSignal): Promise<void> {
    this.#wrote('delete', type);
    const body = { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' };
    await this.#json('delete', 'DELETE', this.path(type, namespace, name), body, signal);
  }

  /**
   * Watch events from a resourceVersion until the server ends the stream (returns) or fails
   * (throws: a GoneError when the version is too old to resume from).
   */
  async *watch(type: ResourceType, options: WatchOptions, signal?: AbortSignal): AsyncGenerator<WatchEvent> {
    const query = new URLSearchParams({
      watch: '1',
      allowWatchBookmarks: 'true',
      resourceVersion: options.resourceVersion,
      timeoutSeconds: String(options.timeoutSeconds ?? 300),
    });
    if (options.labelSelector) query.set('labelSelector', options.labelSelector);
    if (options.fieldSelector) query.set('fieldSelector', options.fieldSelector);
    const res = await this.#send('watch', 'GET', `${this.path(type, options.namespace)}?${query}`, undefined, signal, false);
    if ((res.statusCode ?? 0) >= 400) throw await this.#failure(res);
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (line.trim() === '') continue;
        const event = WatchLine.parse(JSON.parse(line));
        if (event.type === 'ERROR') throw apiError(event.object.code ?? 500, event.object, null);
        yield event;
      }
    } catch (err) {
      if (signal?.aborted) return;
      if (err instanceof ApiError || err instanceof z.ZodError || err instanceof SyntaxError) throw err;
      throw new TransportError(0, 'WatchBroken', `watch ${type.plural} broke: ${String(err)}`);
    } finally {
      lines.close();
      res.destroy();
    }
  }

  async #json(verb: Verb, method: string, path: string, body: unknown, signal: AbortSignal | undefined, contentType = 'application/json'): Promise<unknown> {
    const res = await this.#send(verb, method, path, body, signal, true, contentType);
    if ((res.statusCode ?? 0) >= 400) throw await this.#failure(res);
    const text = await readText(res);
    return text === '' ? {} : JSON.parse(text);
  }

  async #failure(res: http.IncomingMessage): Promise<ApiError> {
    const text = await readText(res).catch(() => '');
    let body: unknown = { message: text.slice(0, 500) || `HTTP ${res.statusCode}` };
    try {
      body = JSON.parse(text);
    } catch {
      // not a Status object: keep the text as the message
    }
    const retryAfter = res.headers['retry-after'];
    return apiError(res.statusCode ?? 0, body, typeof retryAfter === 'string' ? retryAfter : null);
  }

  async #send(verb: Verb, method: string, path: string, body: unknown, signal: AbortSignal | undefined, bounded: boolean, contentType = 'application/json'): Promise<http.IncomingMessage> {
    this.requests[verb]++;
    const auth: Credentials = await this.#connection.credentials();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: http.OutgoingHttpHeaders = {
      ...(auth.authorization ? { authorization: auth.authorization } : {}),
      accept: 'application/json',
      'user-agent': this.#userAgent,
    };
    if (payload !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const url = new URL(this.#base.pathname.replace(/\/$/, '') + path, this.#base);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      // one timer per bounded request, cleared when its response is consumed (an AbortSignal
      // timeout would live on for the whole timeout after every request)
      let timer: NodeJS.Timeout | undefined;
      let response: http.IncomingMessage | undefined;
      const req = lib.request(url, { method, headers, agent: this.#agent, ...(auth.auth ? { auth: auth.auth } : {}), ...(signal ? { signal } : {}) }, (res) => {
        response = res;
        if (timer !== undefined) res.once('close', () => clearTimeout(timer));
        resolve(res);
      });
      if (bounded) {
        timer = setTimeout(() => {
          const err = new TransportError(0, 'Timeout', `${method} ${url.pathname}: timed out after ${this.#timeoutMs} ms`);
          if (response) response.destroy(err);
          else req.destroy(err);
        }, this.#timeoutMs);
      }
      req.on('error', (err) => {
        clearTimeout(timer);
        if (signal?.aborted) return reject(signal.reason);
        reject(err instanceof TransportError ? err : new TransportError(0, 'Unreachable', `${method} ${url.pathname}: ${err.message}`));
      });
      req.end(payload);
    });
  }
}

function readText(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}
