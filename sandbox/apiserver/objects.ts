import { randomUUID } from 'node:crypto';
import { recordUpdate } from './apply.ts';
import { ClusterIps } from './clusterip.ts';
import { CRD_CLEANUP_FINALIZER, CRD_STORAGE, establishedStatus, validateCrd } from './crd.ts';
import { builtinDefaults, qosClass } from './defaults.ts';
import { ApiError, alreadyExists, badRequest, cause, conflict, expired, forbidden, invalid, notFound, type StatusCause } from './errors.ts';
import { cloneJson, deepEqual, equalExcept } from './json.ts';
import { apiVersionOf, type ResourceRegistry, type ResourceType } from './resources.ts';
import { applyDefaults, prune, type StructuralSchema, validate as validateSchema } from './schema.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { Store } from './store.ts';
import { now } from './time.ts';
import { type DeleteOptions, isObject, type JsonObject, type KubeObject, kubeObjectSchema } from './types.ts';
import { builtinValidators, validateMetadata } from './validation.ts';

// The semantics of the REST verbs on stored objects, independent of HTTP: identity and
// timestamps, optimistic concurrency, generation, the status subresource split, defaulting,
// pruning and validation, finalizers and graceful deletion. Garbage collection and namespace
// cleanup react to the store's changes elsewhere (gc.ts, namespaces.ts).

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export type WriteContext = {
  dryRun: boolean;
  /** Who writes: recorded in managedFields (an Update entry, unless this is an apply). */
  fieldManager: string | undefined;
  applying: boolean;
  fieldValidation: FieldValidation;
  /** Warnings for the client (the Warning header). */
  warnings: string[];
  /** Validating admission that needs the request's user (owner-references.ts); runs after validation. */
  admission?: (t: ResourceType, obj: KubeObject, old: KubeObject | undefined) => void;
};

export const defaultWriteContext = (): WriteContext => ({
  dryRun: false,
  fieldManager: undefined,
  applying: false,
  fieldValidation: 'Ignore',
  warnings: [],
});

export type ListOptions = {
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  limit?: number | undefined;
  continueToken?: string | undefined;
};

export type ListResult = { items: KubeObject[]; resourceVersion: string; continueToken?: string; remainingItemCount?: number };

export type Propagation = 'Orphan' | 'Background' | 'Foreground';

export const FOREGROUND_FINALIZER = 'foregroundDeletion';
export const ORPHAN_FINALIZER = 'orphan';

const GENERATE_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function gr(t: ResourceType) {
  return { group: t.group, resource: t.resource };
}

function isCustom(t: ResourceType): boolean {
  return t.crd !== undefined;
}

/** Types whose PUT creates a missing object (AllowCreateOnUpdate in their REST strategies). */
const createOnUpdate = new Set(['coordination.k8s.io/leases', '/events', '/endpoints']);

function encodeContinue(rv: number, key: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: key })).toString('base64');
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
    if (isObject(parsed) && typeof parsed['rv'] === 'number' && typeof parsed['start'] === 'string') {
      return { rv: parsed['rv'], start: parsed['start'] };
    }
  } catch {
    // fall through
  }
  throw badRequest('continue key is not valid: invalid continue token');
}

export class Objects {
  readonly store: Store;
  readonly registry: ResourceRegistry;
  readonly #ips = new ClusterIps();
  #builtinSchemas = new Map<string, StructuralSchema>();

  constructor(store: Store, registry: ResourceRegistry) {
    this.store = store;
    this.registry = registry;
    store.onChange((change) => {
      if (change.type === 'DELETED' && change.storage === '/services') {
        const ip = isObject(change.object['spec']) ? change.object['spec']['clusterIP'] : undefined;
        if (typeof ip === 'string' && ip !== 'None') this.#ips.release(ip);
      }
    });
  }

  /** The field structure of built-in kinds (builtinschema.ts); without it their fields are not checked. */
  useBuiltinSchemas(schemas: Map<string, StructuralSchema>): void {
    this.#builtinSchemas = schemas;
  }

  /** The object as its API version shows it. */
  present(t: ResourceType, obj: KubeObject): KubeObject {
    return t.codec ? (t.codec.fromStorage(obj) as KubeObject) : obj;
  }

  get(t: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.store.get(t.storage, t.namespaced ? namespace : undefined, name);
    if (!obj) throw notFound(gr(t), name);
    return obj;
  }

  list(t: ResourceType, namespace: string | undefined, options: ListOptions): ListResult {
    const labels = parseLabelSelector(options.labelSelector);
    const fields = parseFieldSelector(options.fieldSelector, t.fieldSelectors);
    const ns = t.namespaced ? (namespace ?? fields.namespace) : undefined;
    const rv = this.store.rv;
    let after: string | undefined;
    if (options.continueToken) {
      const token = decodeContinue(options.continueToken);
      if (token.rv < this.store.oldestResumable(t.storage)) {
        throw expired('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      }
      after = token.start;
    }
    const limit = options.limit && options.limit > 0 ? options.limit : Infinity;
    const items: KubeObject[] = [];
    const matches = fields.filters ? (obj: KubeObject) => labels(obj.metadata.labels) && fields.matches(this.present(t, obj)) : (obj: KubeObject) => labels(obj.metadata.labels);
    if (fields.name !== undefined && after === undefined) {
      // A single-object list (kubectl wait, informers on one name) needs no scan.
      const candidates =
        ns !== undefined || !t.namespaced ? [this.store.get(t.storage, ns, fields.name)] : [...this.store.list(t.storage, undefined)].map(([, o]) => o).filter((o) => o.metadata.name === fields.name);
      for (const obj of candidates) if (obj && matches(obj)) items.push(obj);
      return { items, resourceVersion: String(rv) };
    }
    const iterator = this.store.list(t.storage, ns, after);
    let lastKey: string | undefined;
    for (const [key, obj] of iterator) {
      if (!matches(obj)) continue;
      if (items.length >= limit) {
        let remaining = 1;
        for (const [, rest] of iterator) if (matches(rest)) remaining++;
        return {
          items,
          resourceVersion: String(rv),
          continueToken: encodeContinue(rv, lastKey ?? key),
          ...(options.labelSelector || options.fieldSelector ? {} : { remainingItemCount: remaining }),
        };
      }
      items.push(obj);
      lastKey = key;
    }
    return { items, resourceVersion: String(rv) };
  }

  // --- create -----------------------------------------------------------------------------------

  create(t: ResourceType, namespace: string | undefined, body: unknown, ctx: WriteContext): KubeObject {
    const obj = this.#decode(t, namespace, body);
    const m = obj.metadata;
    if (!m.name && m.generateName) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += GENERATE_CHARS[Math.floor(Math.random() * GENERATE_CHARS.length)];
      m.name = `${m.generateName}${suffix}`;
    }
    this.#checkNamespace(t, m.namespace);
    m.uid = randomUUID();
    m.creationTimestamp = now();
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.resourceVersion;
    if (t.generation) m.generation = 1;
    else delete m.generation;
    this.#resetStatusOnCreate(t, obj);
    this.#admit(t, obj, undefined, ctx);
    this.#recordManager(t, undefined, obj, ctx, undefined);
    if (this.store.get(t.storage, m.namespace, m.name ?? '')) throw alreadyExists(gr(t), m.name ?? '');
    if (t.storage === '/services') this.#allocateIp(obj);
    if (ctx.dryRun) {
      const ip = t.storage === '/services' && isObject(obj['spec']) ? obj['spec']['clusterIP'] : undefined;
      if (typeof ip === 'string' && ip !== 'None') this.#ips.release(ip);
      return obj;
    }
    return this.store.create(t.storage, obj);
  }

  #allocateIp(svc: KubeObject): void {
    const spec = svc['spec'] as JsonObject;
    if (spec['type'] === 'ExternalName') return;
    const requested = spec['clusterIP'];
    if (requested === 'None') {
      spec['clusterIPs'] = ['None'];
    } else if (typeof requested === 'string' && requested !== '') {
      if (!this.#ips.reserve(requested)) {
        throw invalid('', 'Service', svc.metadata.name ?? '', [cause.invalid('spec.clusterIPs', [requested], `failed to allocate IP ${requested}: provided IP is already allocated`)]);
      }
      spec['clusterIPs'] = [requested];
    } else {
      const ip = this.#ips.allocate();
      spec['clusterIP'] = ip;
      spec['clusterIPs'] = [ip];
    }
    spec['ipFamilies'] ??= ['IPv4'];
    spec['ipFamilyPolicy'] ??= 'SingleStack';
  }

  #resetStatusOnCreate(t: ResourceType, obj: KubeObject): void {
    if (!t.statusSubresource) return;
    switch (t.storage) {
      case '/pods':
        obj['status'] = { phase: 'Pending', qosClass: qosClass(obj['spec']) };
        return;
      case '/namespaces':
        obj['status'] = { phase: 'Active' };
        return;
      case '/services':
        obj['status'] = { loadBalancer: {} };
        return;
      case CRD_STORAGE:
        obj['status'] = establishedStatus(obj, now());
        return;
      default:
        if (isCustom(t)) delete obj['status'];
        else obj['status'] = {};
    }
  }

  #checkNamespace(t: ResourceType, namespace: string | undefined): void {
    if (!t.namespaced) return;
    if (!namespace) throw badRequest('the server could not find the requested resource: a namespace is required');
    const ns = this.store.get('/namespaces', undefined, namespace);
    if (!ns) throw notFound({ group: '', resource: 'namespaces' }, namespace);
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(`${t.resource}${t.group ? `.${t.group}` : ''} "" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`, {
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  /** Parses a request body into a fresh object of this type, in the storage representation. */
  #decode(t: ResourceType, namespace: string | undefined, body: unknown): KubeObject {
    const parsed = kubeObjectSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid object'}`);
    }
    const apiVersion = apiVersionOf(t);
    const raw = parsed.data as JsonObject;
    if (raw['apiVersion'] !== undefined && raw['apiVersion'] !== apiVersion) {
      throw badRequest(`the API version in the data (${String(raw['apiVersion'])}) does not match the expected API version (${apiVersion})`);
    }
    if (raw['kind'] !== undefined && raw['kind'] !== t.kind) {
      throw badRequest(`the kind in the data (${String(raw['kind'])}) does not match the expected kind (${t.kind})`);
    }
    const withType = { ...raw, apiVersion, kind: t.kind, metadata: { ...(parsed.data.metadata ?? {}) } };
    const obj = (t.codec ? t.codec.toStorage(withType) : withType) as KubeObject;
    const m = obj.metadata;
    for (const k of ['labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const) {
      if (m[k] === null) delete m[k];
    }
    if (t.namespaced) {
      if (m.namespace && namespace && m.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      m.namespace = namespace ?? m.namespace;
    } else {
      delete m.namespace;
    }
    return obj;
  }

  /** Drops fields the schema does not know; fieldValidation decides whether that fails or warns. */
  #pruneUnknown(t: ResourceType, obj: KubeObject, schema: StructuralSchema, ctx: WriteContext): void {
    const unknown = prune(obj, schema);
    if (unknown.length > 0 && ctx.fieldValidation === 'Strict') {
      throw badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
    }
    if (ctx.fieldValidation === 'Warn') ctx.warnings.push(...unknown.map((f) => `unknown field "${f}"`));
  }

  /** Defaulting, pruning and validation shared by every write. */
  #admit(t: ResourceType, obj: KubeObject, old: KubeObject | undefined, ctx: WriteContext): void {
    const causes: StatusCause[] = [];
    if (t.schema) {
      this.#pruneUnknown(t, obj, t.schema, ctx);
      applyDefaults(obj, t.schema);
      causes.push(...validateSchema(obj, t.schema, old));
    } else {
      // Built-in kinds: unknown fields go as in Go's decoder, and a wrong type fails decoding (400).
      const model = this.#builtinSchemas.get(t.storage);
      if (model) {
        this.#pruneUnknown(t, obj, model, ctx);
        const wrong = validateSchema(obj, model)[0];
        if (wrong) throw badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: ${wrong.field ?? ''}: ${wrong.message}`);
      }
    }
    builtinDefaults[t.storage]?.(obj);
    causes.push(...validateMetadata(t, obj));
    causes.push(...(builtinValidators[t.storage]?.(obj, old) ?? []));
    if (t.storage === CRD_STORAGE) causes.push(...validateCrd(obj));
    if (old?.metadata.deletionTimestamp) {
      const added = (obj.metadata.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
      if (added.length > 0) causes.push(cause.forbidden('metadata.finalizers', `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`));
    }
    if (causes.length > 0) throw invalid(t.group, t.kind, obj.metadata.name ?? '', causes);
    ctx.admission?.(t, obj, old);
  }

  // --- update -----------------------------------------------------------------------------------

  /**
   * PUT of the object or of its status subresource. The body's resourceVersion, when set, must
   * be the current one.
   */
  update(t: ResourceType, namespace: string | undefined, name: string, body: unknown, ctx: WriteContext, subresource?: 'status'): KubeObject {
    const incoming = this.#decode(t, namespace, body);
    if (incoming.metadata.name && incoming.metadata.name !== name) {
      throw badRequest(`the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`);
    }
    incoming.metadata.name = name;
    const old = this.store.get(t.storage, t.namespaced ? namespace : undefined, name);
    if (!old) {
      if (subresource || !createOnUpdate.has(t.storage)) throw notFound(gr(t), name);
      return this.create(t, namespace, body, ctx);
    }
    const rv = incoming.metadata.resourceVersion;
    if (rv === undefined || rv === '') {
      if (isCustom(t)) {
        throw invalid(t.group, t.kind, name, [cause.invalid('metadata.resourceVersion', 0, 'must be specified for an update')]);
      }
    } else if (rv !== old.metadata.resourceVersion) {
      throw conflict(gr(t), name);
    }
    return this.#replace(t, old, incoming, ctx, subresource);
  }

  /** The common tail of PUT and PATCH: merge what the request may change into a new object. */
  #replace(t: ResourceType, old: KubeObject, incoming: KubeObject, ctx: WriteContext, subresource?: 'status'): KubeObject {
    let next: KubeObject;
    if (subresource === 'status') {
      // A status write changes status only (and nothing of metadata but what the server keeps).
      next = { ...cloneJson(old), status: incoming['status'] };
      if (incoming['status'] === undefined) delete next['status'];
    } else {
      next = incoming;
      const m = next.metadata;
      const o = old.metadata;
      m.uid = o.uid;
      m.creationTimestamp = o.creationTimestamp;
      m.namespace = o.namespace;
      // Omitted managedFields keep the recorded ones, as on the real server.
      if (m.managedFields === undefined && o.managedFields) m.managedFields = o.managedFields;
      if (o.deletionTimestamp) m.deletionTimestamp = o.deletionTimestamp;
      else delete m.deletionTimestamp;
      if (o.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = o.deletionGracePeriodSeconds;
      else delete m.deletionGracePeriodSeconds;
      if (t.statusSubresource) {
        if (old['status'] === undefined) delete next['status'];
        else next['status'] = cloneJson(old['status']);
      }
      if (t.storage === '/services') this.#keepAllocatedIp(old, next);
    }
    next.metadata.generation = old.metadata.generation;
    if (next.metadata.generation === undefined) delete next.metadata.generation;
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    this.#admit(t, next, old, ctx);
    if (t.storage === CRD_STORAGE) next['status'] = establishedStatus(next, now());
    this.#recordManager(t, old, next, ctx, subresource);
    // Without a status subresource, status is part of what generation counts (custom resources).
    if (t.generation && !equalExcept(old, next, t.statusSubresource ? ['metadata', 'status'] : ['metadata'])) {
      next.metadata.generation = (old.metadata.generation ?? 0) + 1;
    }
    if (deepEqual(old, next)) return old; // a no-op write stores nothing, like the real server
    if (ctx.dryRun) return next;
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0 && !this.#removalBlocked(t, next)) {
      return this.store.remove(t.storage, next.metadata.namespace, next.metadata.name ?? '') ?? next;
    }
    return this.store.update(t.storage, next);
  }

  #recordManager(t: ResourceType, old: KubeObject | undefined, next: KubeObject, ctx: WriteContext, subresource: 'status' | undefined): void {
    if (ctx.applying || !ctx.fieldManager) return;
    const entries = recordUpdate(t, old, next, ctx.fieldManager, subresource);
    if (entries && entries.length > 0) next.metadata.managedFields = entries;
    else delete next.metadata.managedFields;
  }

  #keepAllocatedIp(old: KubeObject, next: KubeObject): void {
    const oldSpec = isObject(old['spec']) ? old['spec'] : {};
    if (!isObject(next['spec'])) next['spec'] = {};
    const spec = next['spec'] as JsonObject;
    for (const field of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy']) {
      if ((spec[field] === undefined || spec[field] === '') && oldSpec[field] !== undefined) spec[field] = oldSpec[field];
    }
  }

  /**
   * A write built from the live object by the server itself (garbage collector, namespace
   * cleanup, finalizer removal): no preconditions, same deletion rules.
   */
  mutate(storage: string, namespace: string | undefined, name: string, change: (obj: KubeObject) => void): KubeObject | undefined {
    const t = this.registry.byStorage(storage);
    const old = this.store.get(storage, namespace, name);
    if (!t || !old) return undefined;
    const next = cloneJson(old);
    change(next);
    if (deepEqual(old, next)) return old;
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0 && !this.#removalBlocked(t, next)) {
      return this.store.remove(storage, namespace, name);
    }
    return this.store.update(storage, next);
  }

  /** The live object in its API version, ready to patch (a private copy). */
  current(t: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.store.get(t.storage, t.namespaced ? namespace : undefined, name);
    return obj ? cloneJson(this.present(t, obj)) : undefined;
  }

  /**
   * The tail of PATCH: the patched document replaces the object. A resourceVersion the patch
   * itself sets acts as a precondition.
   */
  patched(t: ResourceType, namespace: string | undefined, name: string, doc: unknown, ctx: WriteContext, subresource?: 'status'): KubeObject {
    const old = this.store.get(t.storage, t.namespaced ? namespace : undefined, name);
    if (!old) throw notFound(gr(t), name);
    const incoming = this.#decode(t, namespace, doc);
    if (incoming.metadata.name !== name) {
      throw invalid(t.group, t.kind, name, [cause.invalid('metadata.name', incoming.metadata.name ?? '', 'field is immutable')]);
    }
    if (incoming.metadata.resourceVersion && incoming.metadata.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(gr(t), name);
    }
    if (incoming.metadata.uid && incoming.metadata.uid !== old.metadata.uid) {
      throw conflict(gr(t), name, `Precondition failed: UID in precondition: ${incoming.metadata.uid}, UID in object meta: ${old.metadata.uid ?? ''}`);
    }
    return this.#replace(t, old, incoming, ctx, subresource);
  }

  // --- delete -----------------------------------------------------------------------------------

  delete(t: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions, ctx: WriteContext): KubeObject {
    const old = this.store.get(t.storage, t.namespaced ? namespace : undefined, name);
    if (!old) throw notFound(gr(t), name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      throw conflict(gr(t), name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid ?? ''}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(gr(t), name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in meta: ${old.metadata.resourceVersion ?? ''}`);
    }
    const propagation: Propagation = options.propagationPolicy ?? (options.orphanDependents ? 'Orphan' : 'Background');
    const next = cloneJson(old);
    const m = next.metadata;
    const finalizers = [...(m.finalizers ?? [])];
    const add = (f: string) => {
      if (!finalizers.includes(f)) finalizers.push(f);
    };
    if (propagation === 'Foreground') add(FOREGROUND_FINALIZER);
    if (propagation === 'Orphan') add(ORPHAN_FINALIZER);
    if (t.storage === CRD_STORAGE) add(CRD_CLEANUP_FINALIZER);
    const grace = this.#gracePeriod(t, old, options);
    if (finalizers.length === 0 && grace === 0 && !(t.storage === '/namespaces')) {
      if (ctx.dryRun) return old;
      return this.store.remove(t.storage, m.namespace, m.name ?? '') ?? old;
    }
    if (finalizers.length > 0) m.finalizers = finalizers;
    const stamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (!m.deletionTimestamp || grace < (m.deletionGracePeriodSeconds ?? Infinity)) {
      m.deletionTimestamp = m.deletionTimestamp && grace > 0 ? m.deletionTimestamp : stamp;
      m.deletionGracePeriodSeconds = grace;
    }
    if (t.storage === '/namespaces') next['status'] = { ...(isObject(next['status']) ? next['status'] : {}), phase: 'Terminating' };
    if (ctx.dryRun) return next;
    if (deepEqual(old, next)) return old;
    return this.store.update(t.storage, next);
  }

  /**
   * Pods bound to a node terminate gracefully: deletion only marks them, and the kubelet removes
   * them (with a zero grace period) once the containers have stopped.
   */
  #gracePeriod(t: ResourceType, obj: KubeObject, options: DeleteOptions): number {
    if (t.storage !== '/pods') return 0;
    const spec = isObject(obj['spec']) ? obj['spec'] : {};
    const phase = isObject(obj['status']) ? obj['status']['phase'] : undefined;
    if (!spec['nodeName'] || phase === 'Succeeded' || phase === 'Failed') return 0;
    const requested = options.gracePeriodSeconds ?? (typeof spec['terminationGracePeriodSeconds'] === 'number' ? spec['terminationGracePeriodSeconds'] : 30);
    return Math.max(0, requested);
  }

  /**
   * What keeps an object without finalizers from going once it is marked deleted: a pod's
   * grace period (its kubelet removes it), a namespace's spec.finalizers (namespace cleanup).
   */
  #removalBlocked(t: ResourceType, obj: KubeObject): boolean {
    if (t.storage === '/pods') return (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0;
    if (t.storage === '/namespaces') {
      const spec = isObject(obj['spec']) ? obj['spec'] : {};
      return Array.isArray(spec['finalizers']) && spec['finalizers'].length > 0;
    }
    return false;
  }

  deleteCollection(t: ResourceType, namespace: string | undefined, list: ListOptions, options: DeleteOptions, ctx: WriteContext): KubeObject[] {
    const { items } = this.list(t, namespace, { labelSelector: list.labelSelector, fieldSelector: list.fieldSelector });
    const deleted: KubeObject[] = [];
    for (const obj of items) {
      try {
        deleted.push(this.delete(t, obj.metadata.namespace, obj.metadata.name ?? '', options, ctx));
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
    }
    return deleted;
  }
}
