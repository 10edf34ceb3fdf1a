import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_PREFIX, serveAdmin } from './admin.ts';
import { applyConfiguration } from './apply.ts';
import { type Authenticator, type Authorizer, allowAll, anonymousAdmin, forbiddenMessage, type UserInfo } from './auth.ts';
import { builtinSchemas } from './builtinschema.ts';
import type { Context } from './context.ts';
import { crdFiles, installCrdFiles, installCrdTypes } from './crdserving.ts';
import * as discovery from './discovery.ts';
import { badRequest, forbidden, methodNotAllowed, notFound, pathNotFound, unauthorized, unsupportedMediaType } from './errors.ts';
import { eventsV1Codec } from './events.ts';
import { Faults } from './faults.ts';
import { GarbageCollector } from './gc.ts';
import { deletedStatus, includeObject, intParam, listObject, mediaType, PATCH_TYPES, parseBody, readBody, send, sendError, warningHeaders, writeContext } from './http.ts';
import { kubeconfigYaml, writeKubeconfigFile } from './kubeconfig.ts';
import type { LogProvider } from './logs.ts';
import { NamespaceController } from './namespaces.ts';
import { defaultWriteContext, Objects, type WriteContext } from './objects.ts';
import { ownerReferencesAdmission } from './owner-references.ts';
import { applyJsonPatch, applyMergePatch, strategicMerge } from './patch.ts';
import { Rbac, storedPolicy } from './rbac.ts';
import { negotiate, parseResourcePath, queryBool, type ResourceRequest, verbOf } from './request.ts';
import { apiVersionOf, builtinTypes, type Provided, ResourceRegistry, type ResourceType, resourceType } from './resources.ts';
import { Store } from './store.ts';
import { bindPod, serveLog, serveScale } from './subresources.ts';
import { toTable } from './table.ts';
import { deleteOptionsSchema, type JsonObject, type KubeObject } from './types.ts';
import { WatchHub } from './watch.ts';
import { serveWatch } from './watchstream.ts';

// The HTTP face of the emulator: routing of discovery and resource requests, the verbs, and
// startApiServer, which composes the parts (store, watches, controllers, faults).

const here = dirname(fileURLToPath(import.meta.url));
/** The repository's generated CRDs. */
export const REPO_CRDS_DIR = join(here, '..', '..', 'crds');
/** The Istio VirtualService CRD a cluster with Istio has. */
export const ISTIO_CRDS_DIR = join(here, '..', 'istio-crds');
/** The Gateway API HTTPRoute CRD a cluster with the Gateway API has. */
export const GATEWAY_API_CRDS_DIR = join(here, '..', 'gateway-api-crds');

/**
 * A watch whose client reads slower than changes arrive is ended once this much is buffered,
 * as the real watch cache ends a watcher whose buffer stays full; the client re-watches.
 */
const WATCH_BUFFER_BYTES = 16 * 1024 * 1024;

export type ApiServerOptions = {
  /** Address to bind; loopback by default. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Directories or files of CRD YAML installed at start. Default: the repository's crds/ if present. */
  crdPaths?: string[];
  /** Install the Istio VirtualService CRD (networking.istio.io/v1) at start. Default true. */
  istio?: boolean;
  /** Install the Gateway API HTTPRoute CRD (gateway.networking.k8s.io/v1) at start. Default true. */
  gatewayApi?: boolean;
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
  /** Serves a read-only type from a function (get, list), as an APIService would: e.g. metrics.k8s.io PodMetrics (namespaced unless said). */
  provide(type: { group: string; version: string; resource: string; kind: string; namespaced?: boolean }, provided: Provided): void;
  setAuth(auth: { authenticate?: Authenticator; authorize?: Authorizer }): void;
  /** With options.rbac: token minting, the admin token (also in the kubeconfig), recorded decisions. */
  rbac: Rbac | undefined;
  /** Objects stored, across all resources (for benchmarks). */
  objectCount(): number;
  stop(): Promise<void>;
};

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
    const force = queryBool(q, 'force');
    const applied = applyConfiguration(t, current, body, wctx.fieldManager, force, sub);
    if (applied.metadata.name !== name) {
      throw badRequest(`the name of the object (${applied.metadata.name ?? ''}) does not match the name on the URL (${name})`);
    }
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

async function serveResource(ctx: Context, rr: ResourceRequest, url: URL, req: IncomingMessage, res: ServerResponse, user: UserInfo): Promise<void> {
  const t = ctx.registry.get(rr.group, rr.version, rr.resource);
  if (!t) throw pathNotFound();
  if (!t.namespaced && rr.namespace !== undefined) throw pathNotFound();
  const q = url.searchParams;
  const watch = queryBool(q, 'watch');
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
    user,
    verb,
    apiGroup: t.group,
    resource: t.resource,
    subresource: sub ?? '',
    namespace: rr.namespace ?? '',
    name: rr.name ?? '',
  };
  const decision = ctx.authorize(attrs);
  if (!decision.allowed) {
    throw forbidden(forbiddenMessage(attrs) + (decision.reason ? `: ${decision.reason}` : ''), {
      // Go's omitempty: the real body has no empty name or group.
      ...(rr.name ? { name: rr.name } : {}),
      ...(t.group ? { group: t.group } : {}),
      kind: t.resource,
    });
  }
  ctx.faults.admit(verb, sub ? `${t.resource}/${sub}` : t.resource);
  const latency = ctx.faults.latencyFor(verb);
  if (latency > 0) await new Promise((r) => setTimeout(r, latency));
  if (t.provided) return serveProvided(t, t.provided, rr, verb, q, res);
  const media = negotiate(req.headers.accept);
  const wctx = writeContext(q, req);
  wctx.admission = ownerReferencesAdmission(ctx.registry, ctx.authorize, user);
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
      const body = media.table ? toTable(t, result.items, { include: includeObject(q), headers: true, listMeta: meta }) : listObject(t, result.items, meta, ctx.objects);
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
        const deleted = ctx.objects.deleteCollection(
          t,
          rr.namespace,
          {
            labelSelector: q.get('labelSelector') ?? undefined,
            fieldSelector: q.get('fieldSelector') ?? undefined,
          },
          options,
          wctx,
        );
        return send(res, 200, listObject(t, deleted, { resourceVersion: String(ctx.store.rv) }, ctx.objects));
      }
      const obj = ctx.objects.delete(t, rr.namespace, name, options, wctx);
      const stillThere = ctx.store.get(t.storage, obj.metadata.namespace, name) !== undefined && !wctx.dryRun;
      return send(res, 200, stillThere || t.storage === '/pods' || wctx.dryRun ? ctx.objects.present(t, obj) : deletedStatus(t, obj));
    }
  }
}

/** A provided type: get and list from its function, nothing stored, no other verb (an aggregated API's answers). */
function serveProvided(t: ResourceType, provided: Provided, rr: ResourceRequest, verb: string, q: URLSearchParams, res: ServerResponse): void {
  if (rr.subresource !== undefined) throw pathNotFound();
  if (verb !== 'get' && verb !== 'list') throw methodNotAllowed();
  let items: Record<string, unknown>[];
  try {
    items = provided.list(rr.namespace, verb === 'list' ? (q.get('labelSelector') ?? undefined) : undefined);
  } catch (err) {
    throw badRequest(err instanceof Error ? err.message : String(err));
  }
  if (verb === 'list') {
    send(res, 200, { kind: t.listKind, apiVersion: apiVersionOf(t), metadata: {}, items });
    return;
  }
  const obj = items.find((o) => (o['metadata'] as { name?: unknown } | undefined)?.name === rr.name);
  if (obj === undefined) throw notFound({ group: t.group, resource: t.resource }, rr.name ?? '');
  send(res, 200, obj);
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
    if ((path === '/api' || path === '/apis') && discovery.wantsAggregated(req.headers.accept)) {
      return send(res, 200, discovery.aggregated(ctx.registry, path === '/api'), { 'Content-Type': discovery.AGGREGATED_DISCOVERY_TYPE });
    }
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
    const doc = isCore ? discovery.openApiGroupVersion(ctx.registry, '', parts[3] ?? '') : discovery.openApiGroupVersion(ctx.registry, parts[3] ?? '', parts[4] ?? '');
    return doc ?? notFoundDoc();
  }
  return undefined;
}

function notFoundDoc(): never {
  throw pathNotFound();
}

export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const registry = new ResourceRegistry();
  for (const t of builtinTypes(eventsV1Codec)) registry.add(t);
  const store = new Store(options.historyLimit !== undefined ? { historyLimit: options.historyLimit } : {});
  const objects = new Objects(store, registry);
  objects.useBuiltinSchemas(await builtinSchemas());
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
  const crdPaths = [...(options.crdPaths ?? [REPO_CRDS_DIR]), ...(options.istio === false ? [] : [ISTIO_CRDS_DIR]), ...(options.gatewayApi === false ? [] : [GATEWAY_API_CRDS_DIR])];
  await installCrdFiles(objects, registry, await crdFiles(crdPaths));

  const rbac = options.rbac ? new Rbac(() => storedPolicy(store)) : undefined;
  const ctx: Context = {
    registry,
    store,
    objects,
    hub,
    faults,
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
    provide: (type, provided) => registry.add(resourceType({ ...type, provided })),
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
