import { isObject } from './types.ts';

// Structural equality of JSON values, independent of key order (objects built by patches and
// by clients list their keys in different orders).

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/** Equality of two objects ignoring some top-level fields. */
export function equalExcept(a: Record<string, unknown>, b: Record<string, unknown>, ignored: string[]): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (ignored.includes(k)) continue;
    if (!deepEqual(a[k], b[k])) return false;
  }
  return true;
}

/** A deep copy of a JSON value (faster than structuredClone for plain data). */
export function cloneJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
