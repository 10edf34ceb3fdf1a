import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { applyConfiguration } from './apply.ts';
import { allowAll, anonymousAdmin, forbiddenMessage, type Authenticator, type Authorizer, type UserInfo } from './auth.ts';
import { CRD_CLEANUP_FINALIZER, CRD_STORAGE, typesOfCrd } from './crd.ts';
import * as discovery from './discovery.ts';
import { ApiError, badRequest, cause, conflict, forbidden, internalError, invalid, methodNotAllowed, notFound, pathNotFound, tooOldResourceVersion, unauthorized, unsupportedMediaType } from './errors.ts';
import { eventsV1Codec } from './events.ts';
import { Faults, type FailureSpec, type Verb } from './faults.ts';
import { GarbageCollector } from './gc.ts';
import { kubeconfigYaml, writeKubeconfigFile } from './kubeconfig.ts';
import type { LogProvider } from './logs.ts';
import { NamespaceController } from './namespaces.ts';
import { defaultWriteContext, Objects, type FieldValidation, type WriteContext } from './objects.ts';
import { applyJsonPatch, applyMergePatch, strategicMerge } from './patch.ts';
import { Rbac, storedPolicy } from './rbac.ts';
import { decodeProtobuf } from './protobuf.ts';
import { negotiate, parseResourcePath, verbOf, type ResourceRequest } from './request.ts';
import { apiVersionOf, builtinTypes, ResourceRegistry, type ResourceType } from './resources.ts';
import { scaleOf, withReplicas } from './scale.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { Store } from './store.ts';
import { toTable, type IncludeObject } from './table.ts';
import { deleteOptionsSchema, isObject, type JsonObject, type KubeObject } from './types.ts';
import { transition, WatchHub, type WatchEventType } from './watch.ts';

// The HTTP face of the emulator: routing, content negotiation, watch streams, the admin
// endpoint for fault injection, and startApiServer, which composes the parts.

const here = dirname(fileURLToPath(import.meta.url));
/** The repository's generated CRDs. */
export const REPO_CRDS_DIR = join(here, '..', '..', 'crds');
/** The Istio VirtualService CRD a cluster with Istio has. */
export const ISTIO_CRDS_DIR = join(here, '..', 'istio-crds');

const MAX_BODY_BYTES = 3 * 1024 * 1024;
/**
 * A watch whose client reads slower than changes arrive is ended once this much is buffered,
 * as the real watch cache ends a watcher whose buffer stays full; the client re-watches.
 */
const WATCH_BUFFER_BYTES = 16 * 1024 * 1024;
const ADMIN_PREFIX = '/_sandbox/';
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

export type ApiServerOptions = {
  /** Address to bind; loopback by default. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Directories or files of CRD YAML installed at start. Default: the repository's crds/ if present. */
  crdPaths?: string[];
  /** Install the Istio VirtualService CRD (networking.istio.io/v1) at start. Default true. */
  istio?: boolean;
  /** Changes retained per resource for watch resumption; older resourceVersions get 410. */
  historyLimit?: number;
  /** How often watches that allow bookmarks get one. Default 60 s, as the real server. */
  bookmarkIntervalMs?: number;
  /** Longest watch when the client sets no timeoutSeconds. Default 1800 s. */
  maxWatchSeconds?: number;
  /** Bytes a slow watch client may leave unread before its watch is ended. Default 16 MiB. */
  watchBufferBytes?: number;
  /** Also write a kubeconfig here at start. */
  kubeconfigPath?: string;
  logProvider?: LogProvider;
  authenticate?: Authenticator;
  authorize?: Authorizer;
  /** Opt-in: bearer tokens and RBAC over the stored Roles and bindings (rbac.ts); overrides authenticate/authorize. */
  rbac?: boolean;
};

export type ApiServer = {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Set when options.kubeconfigPath was given. */
  kubeconfigPath: string | undefined;
  /** The kubeconfig YAML for this server. */
  kubeconfig(options?: { token?: string; namespace?: string }): string;
  writeKubeconfig(path: string, options?: { token?: string; namespace?: string }): Promise<string>;
  faults: Faults;
  setLogProvider(provider: LogProvider | undefined): void;
  setAuth(auth: { authenticate?: Authenticator; authorize?: Authorizer }): void;
  /** With options.rbac: token minting, the admin token (also in the kubeconfig), recorded decisions. */
  rbac: Rbac | undefined;
  /** Objects stored, across all resources (for benchmarks). */
  objectCount(): number;
  stop(): Promise<void>;
};

type Context = {
  registry: ResourceRegistry;
  store: Store;
  objects: Objects;
  hub: WatchHub;
  faults: Faults;
  bookmarkIntervalMs: number;
  maxWatchSeconds: number;
  watchBufferBytes: number;
  logProvider: LogProvider | undefined;
  authenticate: Authenticator;
  authorize: Authorizer;
  serverAddress: string;
  openWatches: Set<ServerResponse>;
};

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, err: unknown): void {
  const apiError = err instanceof ApiError ? err : internalError(err instanceof Error ? err.message : String(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, apiError.code, apiError.toStatus(), apiError.headers);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
}

const BODY_TYPES = ['application/json', 'application/yaml'];

function parseBody(body: Buffer, type: string): unknown {
  if (type === 'application/vnd.kubernetes.protobuf') return decodeProtobuf(body);
  // CBOR, like protobuf for most kinds, needs the Go types; kubectl apply and JSON clients work.
  if (type.includes('cbor')) throw unsupportedMediaType(BODY_TYPES);
  const text = body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    if (type.includes('yaml')) return parseYaml(text);
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`error decoding request body: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The manager a write is recorded under: the fieldManager parameter, else the user agent's name. */
function managerOf(q: URLSearchParams, req: IncomingMessage): string {
  return q.get('fieldManager') ?? (req.headers['user-agent'] ?? 'unknown').split('/')[0] ?? 'unknown';
}

function writeContext(q: URLSearchParams, req: IncomingMessage): WriteContext {
  const dryRun = q.getAll('dryRun');
  for (const d of dryRun) if (d !== 'All') throw badRequest(`Invalid dryRun value: ${d}; the only supported value is All`);
  const fv = q.get('fieldValidation') ?? 'Warn';
  if (!['Strict', 'Warn', 'Ignore'].includes(fv)) throw badRequest(`fieldValidation must be one of Strict, Warn, Ignore, not "${fv}"`);
  return {
    dryRun: dryRun.length > 0,
    fieldManager: managerOf(q, req),
    applying: false,
    fieldValidation: fv as FieldValidation,
    warnings: [],
  };
}

function warningHeaders(ctx: WriteContext): Record<string, string> {
  if (ctx.warnings.length === 0) return {};
  return { Warning: ctx.warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ') };
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw badRequest(`${name}: invalid value "${v}": must be an integer`);
  return n;
}

function listObject(t: ResourceType, items: KubeObject[], meta: JsonObject, objects: Objects): JsonObject {
  return { kind: t.listKind, apiVersion: apiVersionOf(t), metadata: meta, items: items.map((o) => objects.present(t, o)) };
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

function deletedStatus(t: ResourceType, obj: KubeObject): JsonObject {
  return {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
    details: { name: obj.metadata.name, group: t.group, kind: t.resource, uid: obj.metadata.uid },
  };
}

// --- watch -----------------------------------------------------------------------------------

function serveWatch(ctx: Context, t: ResourceType, rr: ResourceRequest, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
  const labels = parseLabelSelector(q.get('labelSelector'));
  const fields = parseFieldSelector(q.get('fieldSelector'), t.fieldSelectors);
  const namespace = t.namespaced ? rr.namespace : undefined;
  const accepts = (obj: KubeObject) =>
    (namespace === undefined || obj.metadata.namespace === namespace) &&
    labels(obj.metadata.labels) &&
    (!fields.filters || fields.matches(ctx.objects.present(t, obj)));
  const media = negotiate(req.headers.accept);
  const rvParam = q.get('resourceVersion') ?? '';
  let initial: [WatchEventType, KubeObject][] = [];
  if (rvParam !== '' && rvParam !== '0') {
    const rv = Number(rvParam);
    if (!Number.isInteger(rv) || rv < 0) throw badRequest(`invalid resource version "${rvParam}"`);
    const changes = ctx.store.changesSince(t.storage, rv);
    if (!changes) {
      // The real server accepts the watch, then ends it with a 410 ERROR event.
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      const status = tooOldResourceVersion(rvParam, ctx.store.oldestResumable(t.storage)).toStatus();
      res.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
      return;
    }
    for (const change of changes) {
      const ev = transition(change, accepts);
      if (ev) initial.push(ev);
    }
  } else {
    for (const [, obj] of ctx.store.list(t.storage, namespace)) if (accepts(obj)) initial.push(['ADDED', obj]);
  }
  if (fields.name !== undefined) initial = initial.filter(([, o]) => o.metadata.name === fields.name);

  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  let headersSent = false;
  const include = includeObject(q);
  const encode = (type: WatchEventType, obj: KubeObject): string => {
    let object: unknown = type === 'BOOKMARK' || type === 'ERROR' ? obj : ctx.objects.present(t, obj);
    if (media.table && type !== 'BOOKMARK' && type !== 'ERROR') {
      object = toTable(t, [obj], { include, headers: !headersSent });
      headersSent = true;
    }
    return JSON.stringify({ type, object }) + '\n';
  };
  let closed = false;
  const timers: NodeJS.Timeout[] = [];
  const close = () => {
    if (closed) return;
    closed = true;
    remove();
    for (const timer of timers) clearTimeout(timer);
    ctx.openWatches.delete(res);
    res.end();
  };
  const remove = ctx.hub.add({
    storage: t.storage,
    accepts,
    encodingKey: media.table ? undefined : `${apiVersionOf(t)}`,
    encode,
    write: (chunk) => {
      if (closed) return;
      res.write(chunk);
      if (res.writableLength > ctx.watchBufferBytes) close();
    },
    close,
  });
  ctx.openWatches.add(res);
  for (const [type, obj] of initial) res.write(encode(type, obj));
  const bookmark = (annotations?: Record<string, string>) =>
    encode('BOOKMARK', {
      kind: t.kind, apiVersion: apiVersionOf(t),
      metadata: { resourceVersion: String(ctx.store.rv), ...(annotations ? { annotations } : {}) },
    });
  const allowBookmarks = q.get('allowWatchBookmarks') === 'true';
  if (q.get('sendInitialEvents') === 'true' && allowBookmarks) res.write(bookmark({ 'k8s.io/initial-events-end': 'true' }));
  if (allowBookmarks) {
    const tick = () => {
      if (closed) return;
      res.write(bookmark());
      timers.push(setTimeout(tick, ctx.bookmarkIntervalMs).unref());
    };
    timers.push(setTimeout(tick, ctx.bookmarkIntervalMs).unref());
  }
  const timeout = intParam(q, 'timeoutSeconds') ?? ctx.maxWatchSeconds;
  timers.push(setTimeout(close, Math.min(timeout, ctx.maxWatchSeconds) * 1000).unref());
  req.on('close', close);
  res.on('close', close);
}

// --- resource requests -------------------------------------------------------------------------

async function servePatch(ctx: Context, t: ResourceType, rr: ResourceRequest, q: URLSearchParams, req: IncomingMessage, wctx: WriteContext): Promise<{ code: number; obj: KubeObject }> {
  const type = mediaType(req);
  if (!PATCH_TYPES.includes(type)) throw unsupportedMediaType(t.crd ? PATCH_TYPES.filter((p) => !p.includes('strategic')) : PATCH_TYPES);
  if (type === 'application/strategic-merge-patch+json' && t.crd) {
    throw unsupportedMediaType(PATCH_TYPES.filter((p) => !p.includes('strategic')));
  }
  const body = parseBody(await readBody(req), type);
  const name = rr.name ?? '';
  const sub = rr.subresource === 'status' ? 'status' : undefined;
  if (type === 'application/apply-patch+yaml') {
    if (!q.get('fieldManager') || !wctx.fieldManager) throw badRequest('PATCH /apply requires fieldManager to be set');
    wctx.applying = true;
    const current = ctx.objects.current(t, rr.namespace, name);
    const force = q.get('force') === 'true';
    const applied = applyConfiguration(t, current, body, wctx.fieldManager, force, sub);
    if (!current) return { code: 201, obj: ctx.objects.create(t, rr.namespace, applied, wctx) };
    return { code: 200, obj: ctx.objects.patched(t, rr.namespace, name, applied, wctx, sub) };
  }
  const current = ctx.objects.current(t, rr.namespace, name);
  if (!current) throw notFound({ group: t.group, resource: t.resource }, name);
  let doc: unknown;
  if (type === 'application/json-patch+json') doc = applyJsonPatch(current, body);
  else if (type === 'application/merge-patch+json') doc = applyMergePatch(current, body);
  else doc = strategicMerge(current, body);
  return { code: 200, obj: ctx.objects.patched(t, rr.namespace, name, doc, wctx, sub) };
}

async function serveScale(ctx: Context, t: ResourceType, rr: ResourceRequest, req: IncomingMessage, verb: Verb, wctx: WriteContext): Promise<{ code: number; body: unknown }> {
  const scale = t.scale;
  if (!scale) throw pathNotFound();
  const name = rr.name ?? '';
  const current = ctx.objects.get(t, rr.namespace, name);
  if (verb === 'get') return { code: 200, body: scaleOf(current, scale) };
  let desired: unknown;
  const type = mediaType(req);
  const body = parseBody(await readBody(req), type);
  if (verb === 'update') desired = body;
  else if (verb === 'patch') {
    const now = scaleOf(current, scale);
    if (type === 'application/json-patch+json') desired = applyJsonPatch(now, body);
    else if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') desired = applyMergePatch(now, body);
    else throw unsupportedMediaType(PATCH_TYPES.slice(0, 3));
  } else throw methodNotAllowed();
  const next = withReplicas(structuredClone(ctx.objects.present(t, current)), desired, scale, current.metadata.resourceVersion);
  const stored = ctx.objects.patched(t, rr.namespace, name, next, wctx);
  return { code: 200, body: scaleOf(stored, scale) };
}

/**
 * pods/binding, what a scheduler posts: sets spec.nodeName once
 * (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#create-binding-of-a-pod).
 */
function bindPod(ctx: Context, t: ResourceType, rr: ResourceRequest, body: unknown, wctx: WriteContext): void {
  const name = rr.name ?? '';
  const target = isObject(body) && isObject(body['target']) ? body['target'] : undefined;
  const node = target && typeof target['name'] === 'string' ? target['name'] : '';
  if (!node) throw invalid('', 'Binding', name, [cause.required('target.name')]);
  const pod = ctx.objects.current(t, rr.namespace, name);
  if (!pod) throw notFound({ group: '', resource: 'pods' }, name);
  const spec = isObject(pod['spec']) ? pod['spec'] : {};
  if (spec['nodeName']) {
    throw conflict({ group: '', resource: 'pods' }, name, `pod ${name} is already assigned to node "${String(spec['nodeName'])}"`);
  }
  if (pod.metadata.deletionTimestamp) throw conflict({ group: '', resource: 'pods' }, name, `pod ${name} is being deleted, cannot be assigned to a host`);
  pod['spec'] = { ...spec, nodeName: node };
  ctx.objects.patched(t, rr.namespace, name, pod, wctx);
}

async function serveLog(ctx: Context, t: ResourceType, rr: ResourceRequest, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pod = ctx.objects.get(t, rr.namespace, rr.name ?? '');
  const spec = isObject(pod['spec']) ? pod['spec'] : {};
  const names = (Array.isArray(spec['containers']) ? spec['containers'] : []).filter(isObject).map((c) => String(c['name']));
  const container = q.get('container') ?? (names.length === 1 ? names[0] : undefined);
  if (!container) throw badRequest(`a container name must be specified for pod ${rr.name ?? ''}, choose one of: [${names.join(' ')}]`);
  if (!names.includes(container)) throw badRequest(`container ${container} is not valid for pod ${rr.name ?? ''}`);
  if (!ctx.logProvider || !spec['nodeName']) throw badRequest(`pod ${rr.name ?? ''} does not have a host assigned`);
  const abort = new AbortController();
  req.on('close', () => abort.abort());
  const out = ctx.logProvider({
    namespace: rr.namespace ?? '', pod: rr.name ?? '', container,
    follow: q.get('follow') === 'true', previous: q.get('previous') === 'true', timestamps: q.get('timestamps') === 'true',
    tailLines: intParam(q, 'tailLines'), sinceSeconds: intParam(q, 'sinceSeconds'), limitBytes: intParam(q, 'limitBytes'),
    signal: abort.signal,
  });
  if (out instanceof Promise) {
    const text = await out;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
  try {
    for await (const chunk of out) {
      if (abort.signal.aborted) break;
      res.write(chunk);
    }
  } finally {
    res.end();
  }
}

async function serveResource(ctx: Context, rr: ResourceRequest, url: URL, req: IncomingMessage, res: ServerResponse, user: UserInfo): Promise<void> {
  const t = ctx.registry.get(rr.group, rr.version, rr.resource);
  if (!t) throw pathNotFound();
  if (!t.namespaced && rr.namespace !== undefined) throw pathNotFound();
  const q = url.searchParams;
  const watch = q.get('watch') === 'true' || q.get('watch') === '1';
  const method = req.method ?? 'GET';
  const sub = rr.subresource;
  const binding = sub === 'binding' && t.storage === '/pods';
  const verb = binding && method === 'POST' ? 'create' : verbOf(method, rr.name !== undefined, watch);
  if (!verb) throw methodNotAllowed();
  if (sub !== undefined && !binding) {
    const allowed = (sub === 'status' && t.statusSubresource) || (sub === 'scale' && t.scale) || (sub === 'log' && t.log);
    if (!allowed) throw pathNotFound();
    if (sub === 'log' && verb !== 'get') throw methodNotAllowed();
    if (!['get', 'update', 'patch'].includes(verb)) throw methodNotAllowed();
  }
  if (binding && verb !== 'create') throw methodNotAllowed();
  const attrs = {
    user, verb, apiGroup: t.group, resource: t.resource, subresource: sub ?? '', namespace: rr.namespace ?? '', name: rr.name ?? '',
  };
  const decision = ctx.authorize(attrs);
  if (!decision.allowed) {
    throw forbidden(forbiddenMessage(attrs) + (decision.reason ? `: ${decision.reason}` : ''), {
      // Go's omitempty: the real body has no empty name or group.
      ...(rr.name ? { name: rr.name } : {}), ...(t.group ? { group: t.group } : {}), kind: t.resource,
    });
  }
  ctx.faults.admit(verb, sub ? `${t.resource}/${sub}` : t.resource);
  const latency = ctx.faults.latencyFor(verb);
  if (latency > 0) await new Promise((r) => setTimeout(r, latency));
  const media = negotiate(req.headers.accept);
  const wctx = writeContext(q, req);
  const name = rr.name ?? '';

  if (sub === 'log') return serveLog(ctx, t, rr, q, req, res);
  if (binding) {
    bindPod(ctx, t, rr, parseBody(await readBody(req), mediaType(req)), wctx);
    return send(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
  }
  if (sub === 'scale') {
    const { code, body } = await serveScale(ctx, t, rr, req, verb, wctx);
    return send(res, code, body, warningHeaders(wctx));
  }
  const present = (obj: KubeObject) => (media.table ? toTable(t, [obj], { include: includeObject(q), headers: true }) : ctx.objects.present(t, obj));
  switch (verb) {
    case 'get':
      return send(res, 200, present(ctx.objects.get(t, rr.namespace, name)));
    case 'list': {
      const result = ctx.objects.list(t, rr.namespace, {
        labelSelector: q.get('labelSelector') ?? undefined,
        fieldSelector: q.get('fieldSelector') ?? undefined,
        limit: intParam(q, 'limit'),
        continueToken: q.get('continue') ?? undefined,
      });
      const meta: JsonObject = { resourceVersion: result.resourceVersion };
      if (result.continueToken) meta['continue'] = result.continueToken;
      if (result.remainingItemCount !== undefined) meta['remainingItemCount'] = result.remainingItemCount;
      const body = media.table
        ? toTable(t, result.items, { include: includeObject(q), headers: true, listMeta: meta })
        : listObject(t, result.items, meta, ctx.objects);
      return send(res, 200, body);
    }
    case 'watch':
      return serveWatch(ctx, t, rr, q, req, res);
    case 'create': {
      const body = parseBody(await readBody(req), mediaType(req));
      const obj = ctx.objects.create(t, rr.namespace, body, wctx);
      return send(res, 201, present(obj), warningHeaders(wctx));
    }
    case 'update': {
      const body = parseBody(await readBody(req), mediaType(req));
      const existed = ctx.store.get(t.storage, t.namespaced ? rr.namespace : undefined, name) !== undefined;
      const obj = ctx.objects.update(t, rr.namespace, name, body, wctx, sub === 'status' ? 'status' : undefined);
      return send(res, existed ? 200 : 201, present(obj), warningHeaders(wctx));
    }
    case 'patch': {
      const { code, obj } = await servePatch(ctx, t, rr, q, req, wctx);
      return send(res, code, present(obj), warningHeaders(wctx));
    }
    case 'delete':
    case 'deletecollection': {
      const parsed = deleteOptionsSchema.safeParse(parseBody(await readBody(req), mediaType(req)) ?? {});
      if (!parsed.success) throw badRequest(`invalid DeleteOptions: ${parsed.error.issues[0]?.message ?? ''}`);
      const options = parsed.data;
      const policy = q.get('propagationPolicy');
      if (policy === 'Orphan' || policy === 'Background' || policy === 'Foreground') options.propagationPolicy = policy;
      const grace = intParam(q, 'gracePeriodSeconds');
      if (grace !== undefined) options.gracePeriodSeconds = grace;
      if (options.dryRun?.includes('All')) wctx.dryRun = true;
      if (verb === 'deletecollection') {
        const deleted = ctx.objects.deleteCollection(t, rr.namespace, {
          labelSelector: q.get('labelSelector') ?? undefined, fieldSelector: q.get('fieldSelector') ?? undefined,
        }, options, wctx);
        return send(res, 200, listObject(t, deleted, { resourceVersion: String(ctx.store.rv) }, ctx.objects));
      }
      const obj = ctx.objects.delete(t, rr.namespace, name, options, wctx);
      const stillThere = ctx.store.get(t.storage, obj.metadata.namespace, name) !== undefined && !wctx.dryRun;
      return send(res, 200, stillThere || t.storage === '/pods' || wctx.dryRun ? ctx.objects.present(t, obj) : deletedStatus(t, obj));
    }
  }
}

// --- admin endpoint ----------------------------------------------------------------------------

async function serveAdmin(ctx: Context, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const action = path.slice(ADMIN_PREFIX.length);
  const method = req.method ?? 'GET';
  const body = method === 'POST' ? parseBody(await readBody(req), 'application/json') : undefined;
  const b = isObject(body) ? body : {};
  if (action === 'requests' && method === 'GET') return send(res, 200, ctx.faults.counts());
  if (action === 'stats' && method === 'GET') {
    const objects = ctx.store.storages().reduce((n, s) => n + ctx.store.count(s), 0);
    return send(res, 200, { objects, watches: ctx.hub.size, resourceVersion: String(ctx.store.rv), memory: process.memoryUsage() });
  }
  if (action === 'requests' && method === 'DELETE') {
    ctx.faults.resetCounts();
    return send(res, 200, ctx.faults.counts());
  }
  if (method !== 'POST') throw methodNotAllowed();
  switch (action) {
    case 'faults/fail': {
      const count = typeof b['count'] === 'number' ? b['count'] : 1;
      const code = b['code'] === 429 ? 429 : 500;
      const spec: FailureSpec = { code };
      if (typeof b['retryAfterSeconds'] === 'number') spec.retryAfterSeconds = b['retryAfterSeconds'];
      if (Array.isArray(b['verbs'])) spec.verbs = b['verbs'] as Verb[];
      if (typeof b['resource'] === 'string') spec.resource = b['resource'];
      ctx.faults.failNext(count, spec);
      return send(res, 200, { ok: true });
    }
    case 'faults/close-watches':
      return send(res, 200, { closed: ctx.faults.closeWatches() });
    case 'faults/compact':
      ctx.faults.compact();
      return send(res, 200, { ok: true, resourceVersion: String(ctx.store.rv) });
    case 'faults/latency':
      ctx.faults.setLatency(typeof b['ms'] === 'number' ? b['ms'] : 0, Array.isArray(b['verbs']) ? (b['verbs'] as Verb[]) : undefined);
      return send(res, 200, { ok: true });
    case 'faults/clear':
      ctx.faults.clear();
      return send(res, 200, { ok: true });
    default:
      throw pathNotFound();
  }
}

// --- the server --------------------------------------------------------------------------------

async function route(ctx: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sandbox');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  if (path.startsWith(ADMIN_PREFIX)) return serveAdmin(ctx, path, req, res);
  if (path === '/healthz' || path === '/readyz' || path === '/livez') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return;
  }
  const user = ctx.authenticate(req);
  if (!user) throw unauthorized();
  if (req.method === 'GET') {
    const doc = discoveryDocument(ctx, path);
    if (doc) return send(res, 200, doc);
  }
  const rr = parseResourcePath(path);
  if (!rr) throw pathNotFound();
  return serveResource(ctx, rr, url, req, res, user);
}

function discoveryDocument(ctx: Context, path: string): unknown {
  const parts = path.split('/').filter((p) => p);
  if (path === '/version') return discovery.SERVER_VERSION;
  if (path === '/api') return discovery.coreVersions(ctx.serverAddress);
  if (path === '/apis') return discovery.groupList(ctx.registry);
  if (parts[0] === 'api' && parts.length === 2) return discovery.resourceList(ctx.registry, '', parts[1] ?? '') ?? notFoundDoc();
  if (parts[0] === 'apis' && parts.length === 2) return discovery.group(ctx.registry, parts[1] ?? '') ?? notFoundDoc();
  if (parts[0] === 'apis' && parts.length === 3) return discovery.resourceList(ctx.registry, parts[1] ?? '', parts[2] ?? '') ?? notFoundDoc();
  if (path === '/openapi/v3') return discovery.openApiIndex(ctx.registry);
  if (parts[0] === 'openapi' && parts[1] === 'v3') {
    const isCore = parts[2] === 'api';
    const doc = isCore
      ? discovery.openApiGroupVersion(ctx.registry, '', parts[3] ?? '')
      : discovery.openApiGroupVersion(ctx.registry, parts[3] ?? '', parts[4] ?? '');
    return doc ?? notFoundDoc();
  }
  return undefined;
}

function notFoundDoc(): never {
  throw pathNotFound();
}

async function crdFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    const info = await stat(p).catch(() => undefined);
    if (!info) continue;
    if (info.isFile()) files.push(p);
    else for (const f of (await readdir(p)).sort()) if (/\.ya?ml$/.test(f)) files.push(join(p, f));
  }
  return files;
}

function installCrdTypes(registry: ResourceRegistry, store: Store, objects: Objects): void {
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

async function installCrdFiles(objects: Objects, registry: ResourceRegistry, files: string[]): Promise<void> {
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

export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const registry = new ResourceRegistry();
  for (const t of builtinTypes(eventsV1Codec)) registry.add(t);
  const store = new Store(options.historyLimit !== undefined ? { historyLimit: options.historyLimit } : {});
  const objects = new Objects(store, registry);
  const hub = new WatchHub();
  store.onChange((change) => hub.dispatch(change));
  installCrdTypes(registry, store, objects);
  const gc = new GarbageCollector(store, objects);
  const namespaces = new NamespaceController(store, objects);
  const faults = new Faults({ closeWatches: () => hub.closeAll(), compact: () => store.compact() });

  const nsType = registry.get('', 'v1', 'namespaces');
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    if (nsType) objects.create(nsType, undefined, { metadata: { name: ns } }, defaultWriteContext());
  }
  const crdPaths = [...(options.crdPaths ?? [REPO_CRDS_DIR]), ...(options.istio === false ? [] : [ISTIO_CRDS_DIR])];
  await installCrdFiles(objects, registry, await crdFiles(crdPaths));

  const rbac = options.rbac ? new Rbac(() => storedPolicy(store)) : undefined;
  const ctx: Context = {
    registry, store, objects, hub, faults,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    maxWatchSeconds: options.maxWatchSeconds ?? 1800,
    watchBufferBytes: options.watchBufferBytes ?? WATCH_BUFFER_BYTES,
    logProvider: options.logProvider,
    authenticate: rbac?.tokens.authenticate ?? options.authenticate ?? anonymousAdmin,
    authorize: rbac?.authorize ?? options.authorize ?? allowAll,
    serverAddress: '',
    openWatches: new Set(),
  };
  const server = createServer((req, res) => {
    route(ctx, req, res).catch((err: unknown) => sendError(res, err));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  ctx.serverAddress = `${host}:${address.port}`;
  const admin = rbac ? { token: rbac.adminToken } : {};
  const kubeconfigPath = options.kubeconfigPath ? await writeKubeconfigFile(options.kubeconfigPath, url, admin) : undefined;

  return {
    url,
    kubeconfigPath,
    kubeconfig: (o = {}) => kubeconfigYaml(url, { ...admin, ...o }),
    writeKubeconfig: (path, o = {}) => writeKubeconfigFile(path, url, { ...admin, ...o }),
    faults,
    setLogProvider: (p) => {
      ctx.logProvider = p;
    },
    setAuth: (auth) => {
      if (auth.authenticate) ctx.authenticate = auth.authenticate;
      if (auth.authorize) ctx.authorize = auth.authorize;
    },
    rbac,
    objectCount: () => store.storages().reduce((n, s) => n + store.count(s), 0),
    stop: async () => {
      gc.stop();
      namespaces.stop();
      hub.closeAll();
      for (const res of ctx.openWatches) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
