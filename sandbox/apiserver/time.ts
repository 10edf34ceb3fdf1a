/** A timestamp as the API server writes them: RFC 3339 in UTC, whole seconds. */
export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}
