// Whether a live child needs a write: only what the operator sets (the desired
// object) is compared, as a subset of the live object, so what the API server
// and other controllers add (defaults, status, extra labels and annotations)
// never causes a write, and a hand edit of an owned field does.
//
// Rules:
// - objects: every key of desired must match in live; extra live keys are ignored.
// - named lists (every element an object with a string `name`: containers, env,
//   ports, volumes, volumeMounts, ownerReferences, http routes) are matched by name,
//   order ignored, and must hold the same names: the operator owns the whole list,
//   so an element added or removed by hand is a difference.
// - other lists (hosts, gateways, route destinations, capabilities) are compared
//   element by element by position, with the same length.
// - an empty desired string, list or object matches an absent live value (the API
//   server's Go types omit empty values).
// - quantities under `requests`/`limits` compare by value ("1.5" equals "1500m",
//   as the API server canonicalises them).
import { parseQuantity } from '../api/quantities.ts';
import { isObject } from '../json.ts';

export interface Difference {
  /** Dotted path of the field, e.g. "spec.template.spec.containers[image-service].image". */
  path: string;
  desired: unknown;
  live: unknown;
}

const isEmpty = (v: unknown) => v === '' || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);
const isNamedList = (a: unknown[]) => a.length > 0 && a.every((e) => isObject(e) && typeof e.name === 'string');
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

const QUANTITY_PATH = /(^|\.)(requests|limits)\.[^.[\]]+$/;

function sameQuantity(desired: unknown, live: unknown): boolean {
  if ((typeof desired !== 'string' && typeof desired !== 'number') || (typeof live !== 'string' && typeof live !== 'number')) return false;
  try {
    return parseQuantity(desired) === parseQuantity(live);
  } catch {
    return false;
  }
}

function compare(desired: unknown, live: unknown, path: string, out: Difference[]): void {
  if (desired === undefined) return;
  if (live === undefined || live === null) {
    if (!isEmpty(desired) && desired !== null) out.push({ path, desired, live });
    return;
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) {
      out.push({ path, desired, live });
      return;
    }
    if (isNamedList(desired)) {
      compareNamed(desired as Record<string, unknown>[], live, path, out);
      return;
    }
    if (desired.length !== live.length) {
      out.push({ path, desired, live });
      return;
    }
    for (const [i, d] of desired.entries()) compare(d, live[i], `${path}[${i}]`, out);
    return;
  }
  if (isObject(desired)) {
    if (!isObject(live)) return void out.push({ path, desired, live });
    for (const [k, v] of Object.entries(desired)) compare(v, live[k], join(path, k), out);
    return;
  }
  if (desired === live) return;
  if (QUANTITY_PATH.test(path) && sameQuantity(desired, live)) return;
  out.push({ path, desired, live });
}

function compareNamed(desired: Record<string, unknown>[], live: unknown[], path: string, out: Difference[]): void {
  const byName = new Map<string, unknown>();
  for (const e of live) if (isObject(e) && typeof e.name === 'string') byName.set(e.name, e);
  for (const d of desired) {
    const name = d.name as string;
    const l = byName.get(name);
    if (l === undefined) out.push({ path: `${path}[${name}]`, desired: d, live: undefined });
    else compare(d, l, `${path}[${name}]`, out);
  }
  const wanted = new Set(desired.map((d) => d.name as string));
  for (const name of byName.keys()) {
    if (!wanted.has(name)) out.push({ path: `${path}[${name}]`, desired: undefined, live: byName.get(name) });
  }
  // elements without a name cannot be owned by name: their presence is a difference
  if (live.length !== byName.size) out.push({ path, desired, live });
}

/** The owned fields where live differs from desired; empty when no write is needed. */
export function ownedDifferences(desired: unknown, live: unknown): Difference[] {
  const out: Difference[] = [];
  compare(desired, live, '', out);
  return out;
}

/** Whether live already has every field the operator sets, with the same value. */
export function ownedEqual(desired: unknown, live: unknown): boolean {
  return ownedDifferences(desired, live).length === 0;
}
