import { ApiError, badRequest } from './errors.ts';
import { cloneJson, deepEqual } from './json.ts';
import { builtinListStrategy, type ListStrategy, strategicMerge } from './patch.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import { schemaAt } from './schema.ts';
import { now } from './time.ts';
import { isObject, type JsonObject, type KubeObject, type ManagedFieldsEntry } from './types.ts';

// Server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/), in a
// pragmatic form: each Apply manager owns the leaf fields of its last applied configuration
// (recorded in managedFields as FieldsV1); applying merges the configuration into the live
// object, removes fields the manager owned before and no longer applies (unless another
// manager owns them), and refuses with 409 a change to a field another manager applied with a
// different value, unless force=true (which takes the field over). Every other write records
// its manager as an Update operation owning the fields it changed (taking them from others),
// so an apply conflicts with a controller's edits as on a real server. Limit: a keyed list's
// merge key is its first key.

type Segment = string; // f:<field> | k:<json of key fields> | v:<json value>

const skippedMeta = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink']);

function strategyFor(t: ResourceType): (path: string[]) => ListStrategy {
  if (!t.schema) return builtinListStrategy;
  const schema = t.schema;
  return (path) => {
    const s = schemaAt(schema, path);
    const type = s?.['x-kubernetes-list-type'];
    if (type === 'map') return { mergeKey: s?.['x-kubernetes-list-map-keys']?.[0] ?? 'name' };
    if (type === 'set') return 'union';
    return 'atomic';
  };
}

/** The leaf fields (and keyed list items) a configuration sets, as encoded paths. */
function fieldSet(value: unknown, strategyOf: (p: string[]) => ListStrategy, segs: Segment[] = [], names: string[] = [], out = new Set<string>()): Set<string> {
  if (isObject(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) {
      if (segs.length === 0 && (k === 'apiVersion' || k === 'kind')) continue;
      if (segs.length === 1 && segs[0] === 'f:metadata' && skippedMeta.has(k)) continue;
      fieldSet(v, strategyOf, [...segs, `f:${k}`], [...names, k], out);
    }
    return out;
  }
  if (Array.isArray(value)) {
    const strategy = strategyOf(names);
    if (typeof strategy === 'object') {
      for (const item of value) {
        if (!isObject(item)) continue;
        const itemSegs = [...segs, `k:${JSON.stringify({ [strategy.mergeKey]: item[strategy.mergeKey] })}`];
        out.add(JSON.stringify(itemSegs));
        fieldSet(item, strategyOf, itemSegs, names, out);
      }
      return out;
    }
    if (strategy === 'union') {
      for (const item of value) out.add(JSON.stringify([...segs, `v:${JSON.stringify(item)}`]));
      return out;
    }
  }
  if (segs.length > 0) out.add(JSON.stringify(segs));
  return out;
}

function step(node: unknown, seg: Segment): unknown {
  const body = seg.slice(2);
  if (seg.startsWith('f:')) return isObject(node) ? node[body] : undefined;
  if (!Array.isArray(node)) return undefined;
  if (seg.startsWith('k:')) {
    const key = JSON.parse(body) as JsonObject;
    return node.find((item) => isObject(item) && Object.entries(key).every(([k, v]) => item[k] === v));
  }
  const v: unknown = JSON.parse(body);
  return node.some((item) => deepEqual(item, v)) ? v : undefined;
}

function valueAt(obj: unknown, path: Segment[]): unknown {
  let node = obj;
  for (const seg of path) node = step(node, seg);
  return node;
}

function removeAt(obj: unknown, path: Segment[]): void {
  const parent = valueAt(obj, path.slice(0, -1));
  const last = path.at(-1) ?? '';
  if (last.startsWith('f:') && isObject(parent)) {
    delete parent[last.slice(2)];
    return;
  }
  if (!Array.isArray(parent)) return;
  const target = step(parent, last);
  const i = parent.findIndex((item) => item === target || deepEqual(item, target));
  if (i >= 0 && target !== undefined) parent.splice(i, 1);
}

/** FieldsV1: the nested-object form of a set of paths. */
function toFieldsV1(paths: Set<string>): JsonObject {
  const root: JsonObject = {};
  for (const p of paths) {
    const segs = JSON.parse(p) as Segment[];
    let node = root;
    for (const seg of segs) {
      if (!isObject(node[seg])) node[seg] = {};
      node = node[seg] as JsonObject;
    }
    if (segs.at(-1)?.startsWith('k:')) node['.'] = {};
  }
  return root;
}

function fromFieldsV1(fields: unknown, segs: Segment[] = [], out = new Set<string>()): Set<string> {
  if (!isObject(fields)) return out;
  const children = Object.keys(fields).filter((k) => k !== '.');
  if (Object.hasOwn(fields, '.') || (children.length === 0 && segs.length > 0)) out.add(JSON.stringify(segs));
  for (const k of children) fromFieldsV1(fields[k], [...segs, k], out);
  return out;
}

interface Conflict {
  manager: string;
  operation: string;
  apiVersion: string;
  subresource: string;
  field: string;
}

/** How kube-apiserver names a manager in a conflict: an applier by name, an updater with its apiVersion. */
function printManager(c: Conflict): string {
  const named = c.subresource === '' ? JSON.stringify(c.manager) : `${JSON.stringify(c.manager)} with subresource ${JSON.stringify(c.subresource)}`;
  return c.operation === 'Update' ? `${named} using ${c.apiVersion}` : named;
}

/** kube-apiserver's grouping: one conflict inline; several by manager, managers sorted by identity. */
function conflictError(conflicts: Conflict[]): ApiError {
  let message: string;
  if (conflicts.length === 1) {
    const [c] = conflicts as [Conflict];
    message = `Apply failed with 1 conflict: conflict with ${printManager(c)}: ${c.field}`;
  } else {
    // The identity kube-apiserver sorts by: the entry as JSON without time and fields.
    const identity = (c: Conflict) =>
      JSON.stringify({
        manager: c.manager,
        operation: c.operation,
        ...(c.operation === 'Update' ? { apiVersion: c.apiVersion } : {}),
        ...(c.subresource === '' ? {} : { subresource: c.subresource }),
      });
    const byManager = new Map<string, Conflict[]>();
    for (const c of conflicts) byManager.set(identity(c), [...(byManager.get(identity(c)) ?? []), c]);
    const lines = [...byManager.keys()].sort().flatMap((key) => {
      const group = byManager.get(key) ?? [];
      return [`conflicts with ${printManager(group[0] as Conflict)}:`, ...group.map((c) => `- ${c.field}`)];
    });
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError(409, 'Conflict', message, {
    causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${printManager(c)}`, field: c.field })),
  });
}

/** A path as structured-merge-diff prints it: .field, [key="value",...], [=value], [index]. */
function renderPath(segs: Segment[]): string {
  return segs
    .map((s) => {
      const rest = s.slice(2);
      if (s.startsWith('f:')) return `.${rest}`;
      if (s.startsWith('k:')) {
        const key = JSON.parse(rest) as Record<string, unknown>;
        return `[${Object.keys(key)
          .sort()
          .map((k) => `${k}=${JSON.stringify(key[k])}`)
          .join(',')}]`;
      }
      if (s.startsWith('v:')) return `[=${rest}]`;
      return `[${rest}]`;
    })
    .join('');
}

/** The part of an object a write to the resource (or its status) may set. */
function scopeOf(t: ResourceType, obj: JsonObject, subresource: 'status' | undefined): JsonObject {
  if (subresource === 'status') return { status: obj['status'] };
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !(t.statusSubresource && k === 'status')));
}

type Entry = ManagedFieldsEntry & { set: Set<string> };

function entriesOf(obj: KubeObject | undefined): Entry[] {
  return (obj?.metadata.managedFields ?? []).map((e) => ({ ...e, set: fromFieldsV1(e.fieldsV1) }));
}

/** kube-apiserver's order: Apply before Update, then by time (whole seconds), manager, apiVersion, subresource. */
function sorted(entries: ManagedFieldsEntry[]): ManagedFieldsEntry[] {
  const seconds = (e: ManagedFieldsEntry) => (e.time === undefined ? 0 : Math.floor(Date.parse(e.time) / 1000));
  const text = (a: string | undefined, b: string | undefined) => ((a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0);
  return [...entries].sort((p, q) => text(p.operation, q.operation) || seconds(p) - seconds(q) || text(p.manager, q.manager) || text(p.apiVersion, q.apiVersion) || text(p.subresource, q.subresource));
}

function serialise(entries: Entry[]): ManagedFieldsEntry[] {
  return entries.filter((e) => e.set.size > 0).map(({ set, ...rest }) => ({ ...rest, fieldsV1: toFieldsV1(set) }));
}

// Update recording works on FieldsV1 trees directly (one walk over the old and new objects),
// because it runs on every write: `{}` is a leaf, `'.'` marks a keyed list item itself.
type Tree = { [segment: string]: Tree };

/** The tree of every field of `value` (a whole subtree that appeared or disappeared). */
function allFields(value: unknown, names: string[], strategyOf: (p: string[]) => ListStrategy): Tree {
  return diff(undefined, value, names, strategyOf, false).changed ?? {};
}

const LEAF: Tree = Object.freeze({}) as Tree;
const skipped = (names: string[], k: string) => (names.length === 0 && (k === 'apiVersion' || k === 'kind')) || (names.length === 1 && names[0] === 'metadata' && skippedMeta.has(k));

/**
 * Walks the old value `a` and the new value `b` together: `changed` holds the fields of `b`
 * that are new or different, `removed` (when asked for) the fields of `a` that are gone.
 * Trees are only built where something changed.
 */
function diff(a: unknown, b: unknown, names: string[], strategyOf: (p: string[]) => ListStrategy, trackRemoved: boolean): { changed?: Tree; removed?: Tree } {
  let changed: Tree | undefined;
  let removed: Tree | undefined;
  const add = (seg: string, t: Tree | undefined) => {
    if (!t) return;
    changed ??= {};
    changed[seg] = t;
  };
  const drop = (seg: string, t: Tree | undefined) => {
    if (!t) return;
    removed ??= {};
    removed[seg] = t;
  };
  if (isObject(b) && Object.keys(b).length > 0) {
    const old = isObject(a) ? a : undefined;
    for (const k in b) {
      const v = b[k];
      if (v === undefined || skipped(names, k)) continue;
      const d = diff(old?.[k], v, [...names, k], strategyOf, trackRemoved);
      add(`f:${k}`, d.changed);
      drop(`f:${k}`, d.removed);
    }
    if (old && trackRemoved) {
      for (const k in old) {
        if (b[k] !== undefined || old[k] === undefined || skipped(names, k)) continue;
        drop(`f:${k}`, allFields(old[k], [...names, k], strategyOf));
      }
    }
    return { ...(changed ? { changed } : {}), ...(removed ? { removed } : {}) };
  }
  if (Array.isArray(b)) {
    const strategy = strategyOf(names);
    if (typeof strategy === 'object') {
      const key = strategy.mergeKey;
      const olds = new Map<string, unknown>();
      if (Array.isArray(a)) for (const item of a) if (isObject(item)) olds.set(`k:${JSON.stringify({ [key]: item[key] })}`, item);
      for (const item of b) {
        if (!isObject(item)) continue;
        const seg = `k:${JSON.stringify({ [key]: item[key] })}`;
        const before = olds.get(seg);
        olds.delete(seg);
        if (before === undefined) add(seg, { '.': LEAF, ...allFields(item, names, strategyOf) });
        else {
          const d = diff(before, item, names, strategyOf, trackRemoved);
          add(seg, d.changed);
          drop(seg, d.removed);
        }
      }
      if (trackRemoved) for (const [seg, item] of olds) drop(seg, { '.': LEAF, ...allFields(item, names, strategyOf) });
      return { ...(changed ? { changed } : {}), ...(removed ? { removed } : {}) };
    }
    if (strategy === 'union') {
      const before = Array.isArray(a) ? a : [];
      for (const v of b) if (!before.some((x) => deepEqual(x, v))) add(`v:${JSON.stringify(v)}`, LEAF);
      if (trackRemoved) for (const v of before) if (!b.some((x) => deepEqual(x, v))) drop(`v:${JSON.stringify(v)}`, LEAF);
      return { ...(changed ? { changed } : {}), ...(removed ? { removed } : {}) };
    }
  }
  // A leaf: a scalar, an atomic list or an empty map. Owned as a whole when it changed.
  return deepEqual(a, b) ? {} : { changed: LEAF };
}

function isEmpty(tree: Tree): boolean {
  for (const _ in tree) return false;
  return true;
}

// Stored managedFields are shared with earlier versions of the object, so the tree operations
// below copy on write: they return the input itself when nothing changes.

/** `tree` without the fields of `sub` (a leaf of `sub` takes the whole subtree). */
function subtract(tree: Tree, sub: Tree): Tree {
  let out: Tree | undefined;
  for (const seg in sub) {
    const t = tree[seg];
    const s = sub[seg];
    if (!t || !s) continue;
    const rest = isEmpty(s) || isEmpty(t) ? undefined : subtract(t, s);
    if (rest === t) continue;
    out ??= { ...tree };
    if (rest === undefined || isEmpty(rest)) delete out[seg];
    else out[seg] = rest;
  }
  return out ?? tree;
}

/** `tree` with the fields of `add`. */
function union(tree: Tree, add: Tree): Tree {
  let out: Tree | undefined;
  for (const seg in add) {
    const t = tree[seg];
    const a = add[seg] as Tree;
    const merged = !t || isEmpty(t) ? a : union(t, a);
    if (merged === t) continue;
    out ??= { ...tree };
    out[seg] = merged;
  }
  return out ?? tree;
}

/**
 * managedFields after a create, update or patch by `manager` (not an apply): the manager owns
 * the fields it set or changed, other managers lose those and any field that is gone. Returns
 * the existing entries untouched when no field changed.
 */
export function recordUpdate(t: ResourceType, old: KubeObject | undefined, next: KubeObject, manager: string, subresource: 'status' | undefined): ManagedFieldsEntry[] | undefined {
  const strategyOf = strategyFor(t);
  const before = old ? scopeOf(t, old, subresource) : undefined;
  const after = scopeOf(t, next, subresource);
  // Compare field by field below the root, so that an unchanged root is not a changed leaf.
  const d = diff(before ?? {}, after, [], strategyOf, true);
  const changed = d.changed ?? {};
  const removed = d.removed ?? {};
  const entries = next.metadata.managedFields ?? [];
  if (isEmpty(changed) && isEmpty(removed)) return entries.length > 0 ? entries : undefined;
  const sameEntry = (e: ManagedFieldsEntry) => e.manager === manager && e.operation === 'Update' && (e.subresource ?? '') === (subresource ?? '');
  const out: ManagedFieldsEntry[] = [];
  let mine: Tree = {};
  for (const e of entries) {
    const tree = subtract(subtract((e.fieldsV1 ?? {}) as Tree, changed), removed);
    if (sameEntry(e)) mine = tree;
    else if (tree === e.fieldsV1) out.push(e);
    else if (!isEmpty(tree)) out.push({ ...e, fieldsV1: tree });
  }
  mine = union(mine, changed);
  out.push({
    manager,
    operation: 'Update',
    apiVersion: apiVersionOf(t),
    time: now(),
    fieldsType: 'FieldsV1',
    fieldsV1: mine,
    ...(subresource ? { subresource } : {}),
  });
  return sorted(out);
}

/**
 * The object to store after an apply of `config` by `manager` onto `live` (undefined: create).
 * `live` is a private copy in the request's API version.
 */
export function applyConfiguration(t: ResourceType, live: KubeObject | undefined, config: unknown, manager: string, force: boolean, subresource: 'status' | undefined): KubeObject {
  if (!isObject(config)) throw badRequest('error decoding apply configuration: expected an object');
  const apiVersion = apiVersionOf(t);
  if (config['apiVersion'] !== apiVersion || config['kind'] !== t.kind) {
    throw badRequest(`apply configuration must set apiVersion "${apiVersion}" and kind "${t.kind}"`);
  }
  const strategyOf = strategyFor(t);
  const scoped = scopeOf(t, config, subresource);
  const applied = fieldSet(scoped, strategyOf);
  const entries = entriesOf(live);
  const mine = entries.find((e) => e.manager === manager && e.operation === 'Apply' && (e.subresource ?? '') === (subresource ?? ''));
  const others = entries.filter((e) => e !== mine);

  const conflicts: Conflict[] = [];
  for (const path of applied) {
    const segs = JSON.parse(path) as Segment[];
    for (const other of others) {
      if (!other.set.has(path)) continue;
      if (force) other.set.delete(path);
      // A keyed item's own path marks its existence; its fields conflict one by one, as in structured-merge-diff.
      else if (!segs.at(-1)?.startsWith('k:') && !deepEqual(valueAt(live, segs), valueAt(config, segs))) {
        conflicts.push({
          manager: other.manager ?? '',
          operation: other.operation ?? 'Update',
          apiVersion: other.apiVersion ?? apiVersion,
          subresource: other.subresource ?? '',
          field: renderPath(segs),
        });
      }
    }
  }
  if (conflicts.length > 0) throw conflictError(conflicts);

  const meta = isObject(config['metadata']) ? config['metadata'] : {};
  let result: KubeObject;
  if (!live) {
    result = cloneJson(config) as KubeObject;
    result.metadata = { ...meta };
  } else {
    result = strategicMerge(live, scoped, [], strategyOf) as KubeObject;
    const ownedByOthers = new Set(others.flatMap((o) => [...o.set]));
    for (const path of mine?.set ?? []) {
      if (!applied.has(path) && !ownedByOthers.has(path)) removeAt(result, JSON.parse(path) as Segment[]);
    }
  }
  const entry: ManagedFieldsEntry = {
    manager,
    operation: 'Apply',
    apiVersion,
    time: now(),
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(applied),
    ...(subresource ? { subresource } : {}),
  };
  result.metadata = { ...result.metadata, managedFields: sorted([...serialise(others), entry]) };
  return result;
}
