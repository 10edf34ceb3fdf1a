import { ApiError } from './errors.ts';
import { cloneJson } from './json.ts';
import { isObject, type JsonObject } from './types.ts';

// The three patch formats of PATCH requests. Each is a pure function of (live object, patch)
// that returns a new document and never mutates its inputs (stored objects are shared).

function patchError(message: string): ApiError {
  return new ApiError(422, 'Invalid', message, {});
}

// --- JSON patch (RFC 6902) -------------------------------------------------------------------

const jsonPatchOp = (v: unknown): v is { op: string; path: string; value?: unknown; from?: string } => isObject(v) && typeof v['op'] === 'string' && typeof v['path'] === 'string';

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw patchError(`invalid JSON pointer: "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function parentOf(doc: unknown, tokens: string[], path: string): [JsonObject | unknown[], string] {
  let node = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(t)];
    else if (isObject(node)) node = node[t];
    else node = undefined;
    if (node === undefined) throw patchError(`doc is missing path: "${path}": missing value`);
  }
  if (!Array.isArray(node) && !isObject(node)) throw patchError(`doc is missing path: "${path}": missing value`);
  return [node, tokens.at(-1) ?? ''];
}

function arrayIndex(arr: unknown[], token: string, path: string, allowEnd: boolean): number {
  if (token === '-' && allowEnd) return arr.length;
  const i = /^(0|[1-9][0-9]*)$/.test(token) ? Number(token) : Number.NaN;
  if (!Number.isInteger(i) || i < 0 || i > arr.length || (!allowEnd && i === arr.length)) {
    throw patchError(`Unable to access invalid index: ${token}: "${path}"`);
  }
  return i;
}

function getAt(doc: unknown, path: string): unknown {
  let node = doc;
  for (const t of pointer(path)) {
    if (Array.isArray(node)) node = node[Number(t)];
    else if (isObject(node)) node = node[t];
    else return undefined;
  }
  return node;
}

function removeAt(doc: unknown, path: string): unknown {
  const [parent, last] = parentOf(doc, pointer(path), path);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, path, false), 1)[0];
  if (!Object.hasOwn(parent, last)) throw patchError(`doc is missing path: "${path}": missing value`);
  const value = parent[last];
  delete parent[last];
  return value;
}

function addAt(doc: unknown, path: string, value: unknown): unknown {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const [parent, last] = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, path, true), 0, value);
  else parent[last] = value;
  return doc;
}

export function applyJsonPatch(doc: JsonObject, ops: unknown): JsonObject {
  if (!Array.isArray(ops)) throw new ApiError(400, 'BadRequest', 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let result: unknown = cloneJson(doc);
  for (const op of ops) {
    if (!jsonPatchOp(op)) throw patchError('Unexpected kind: invalid JSON patch operation');
    switch (op.op) {
      case 'add':
        result = addAt(result, op.path, cloneJson(op.value));
        break;
      case 'remove':
        removeAt(result, op.path);
        break;
      case 'replace': {
        if (op.path === '') {
          result = cloneJson(op.value);
          break;
        }
        const [parent, last] = parentOf(result, pointer(op.path), op.path);
        if (Array.isArray(parent)) parent[arrayIndex(parent, last, op.path, false)] = cloneJson(op.value);
        else if (!Object.hasOwn(parent, last)) throw patchError(`replace operation does not apply: doc is missing key: ${op.path}: missing value`);
        else parent[last] = cloneJson(op.value);
        break;
      }
      case 'move': {
        const value = removeAt(result, op.from ?? '');
        result = addAt(result, op.path, value);
        break;
      }
      case 'copy':
        result = addAt(result, op.path, cloneJson(getAt(result, op.from ?? '')));
        break;
      case 'test':
        if (JSON.stringify(getAt(result, op.path)) !== JSON.stringify(op.value)) {
          throw patchError(`testing value ${op.path} failed: test failed`);
        }
        break;
      default:
        throw patchError(`Unexpected kind: ${op.op}`);
    }
  }
  if (!isObject(result)) throw patchError('the patch produced a document that is not an object');
  return result;
}

// --- JSON merge patch (RFC 7386) -------------------------------------------------------------

export function applyMergePatch(doc: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return cloneJson(patch);
  const result: JsonObject = isObject(doc) ? { ...doc } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = applyMergePatch(result[k], v);
  }
  return result;
}

// --- Strategic merge patch (built-in kinds) ---------------------------------------------------

export type ListStrategy = { mergeKey: string } | 'union' | 'atomic';

const containerLists = new Set(['containers', 'initContainers', 'ephemeralContainers']);

/**
 * The patchStrategy/patchMergeKey of the built-in types' lists that kubectl patches, by path
 * (field names only). Lists not named here are atomic, as in the Go types.
 */
export function builtinListStrategy(path: string[]): ListStrategy {
  const field = path.at(-1) ?? '';
  const parent = path.at(-2) ?? '';
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
      return { mergeKey: 'name' };
    case 'ports':
      if (containerLists.has(parent)) return { mergeKey: 'containerPort' };
      if (parent === 'spec' && path.length === 2) return { mergeKey: 'port' };
      return 'atomic';
    case 'volumeMounts':
      return { mergeKey: 'mountPath' };
    case 'volumeDevices':
      return { mergeKey: 'devicePath' };
    case 'conditions':
      return { mergeKey: 'type' };
    case 'ownerReferences':
      return { mergeKey: 'uid' };
    case 'hostAliases':
      return { mergeKey: 'ip' };
    case 'topologySpreadConstraints':
      return { mergeKey: 'topologyKey' };
    case 'finalizers':
      return 'union';
    default:
      return 'atomic';
  }
}

const ORDER = '$setElementOrder/';
const DELETE_FROM = '$deleteFromPrimitiveList/';

function orderBy(items: unknown[], order: unknown[], mergeKey: string | undefined): unknown[] {
  const id = (v: unknown) => JSON.stringify(mergeKey && isObject(v) ? v[mergeKey] : v);
  const rank = new Map(order.map((o, i) => [id(o), i]));
  const known = items.filter((v) => rank.has(id(v))).sort((a, b) => (rank.get(id(a)) ?? 0) - (rank.get(id(b)) ?? 0));
  const rest = items.filter((v) => !rank.has(id(v)));
  return [...known, ...rest];
}

function mergeList(live: unknown, patch: unknown[], path: string[], strategyOf: (p: string[]) => ListStrategy): unknown[] {
  const strategy = strategyOf(path);
  if (patch.some((p) => isObject(p) && p['$patch'] === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p['$patch'] === 'replace')).map((p) => strategicMerge(undefined, p, path, strategyOf));
  }
  const base = Array.isArray(live) ? live : [];
  if (strategy === 'atomic') return cloneJson(patch);
  if (strategy === 'union') return [...base, ...patch.filter((p) => !base.some((b) => JSON.stringify(b) === JSON.stringify(p)))];
  const key = strategy.mergeKey;
  const result = [...base];
  for (const item of patch) {
    if (!isObject(item)) continue;
    const at = result.findIndex((r) => isObject(r) && r[key] === item[key]);
    if (item['$patch'] === 'delete') {
      if (at >= 0) result.splice(at, 1);
      continue;
    }
    if (at >= 0) result[at] = strategicMerge(result[at], item, path, strategyOf);
    else result.push(strategicMerge(undefined, item, path, strategyOf));
  }
  return result;
}

/**
 * Strategic merge patch: maps merge recursively, null deletes, lists merge by their merge key
 * (`strategyOf`), with the directives kubectl sends: `$patch` (replace, delete), `$retainKeys`,
 * `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.
 */
export function strategicMerge(live: unknown, patch: unknown, path: string[] = [], strategyOf: (p: string[]) => ListStrategy = builtinListStrategy): unknown {
  if (Array.isArray(patch)) return mergeList(live, patch, path, strategyOf);
  if (!isObject(patch)) return cloneJson(patch);
  const directive = patch['$patch'];
  if (directive === 'delete') return undefined;
  const replace = directive === 'replace';
  const result: JsonObject = !replace && isObject(live) ? { ...live } : {};
  const orders: [string, unknown[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith(ORDER)) {
      if (Array.isArray(v)) orders.push([k.slice(ORDER.length), v]);
      continue;
    }
    if (k.startsWith(DELETE_FROM)) {
      const field = k.slice(DELETE_FROM.length);
      const current = result[field];
      if (Array.isArray(current) && Array.isArray(v)) {
        result[field] = current.filter((c) => !v.some((d) => JSON.stringify(d) === JSON.stringify(c)));
      }
      continue;
    }
    if (v === null) {
      delete result[k];
      continue;
    }
    const merged = strategicMerge(result[k], v, [...path, k], strategyOf);
    if (merged === undefined) delete result[k];
    else result[k] = merged;
  }
  for (const [field, order] of orders) {
    const current = result[field];
    const strategy = strategyOf([...path, field]);
    if (Array.isArray(current)) result[field] = orderBy(current, order, typeof strategy === 'object' ? strategy.mergeKey : undefined);
  }
  const retain = patch['$retainKeys'];
  if (Array.isArray(retain)) {
    for (const k of Object.keys(result)) if (!retain.includes(k)) delete result[k];
  }
  return result;
}
