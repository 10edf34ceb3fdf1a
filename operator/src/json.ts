/** A decoded JSON object (not an array, not null): what an API object or a values file is made of. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
