// The revision of a pod template: a hash of its canonical JSON, so key order does
// not matter and any change to the template (image, env, resources...) changes it.
import { createHash } from 'node:crypto';
import type { V1PodTemplateSpec } from '@kubernetes/client-node';

/** JSON with object keys sorted at every depth; array order is kept (it means something). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export const REVISION_LENGTH = 10;

/** The revision of a pod template: 10 hex digits of its SHA-256. */
export function revisionOf(template: V1PodTemplateSpec): string {
  return createHash('sha256').update(canonicalJson(template)).digest('hex').slice(0, REVISION_LENGTH);
}
