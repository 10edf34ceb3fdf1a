import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed URLs: `sig` = base64url(HMAC-SHA256(key, canonical)), where canonical is the path, then
 * `?` and the query parameters other than `sig` sorted by name then value (omitted when there are
 * none). Sorting makes the signature independent of parameter order, so a CDN or client that
 * reorders the query does not break it. Several keys verify (rotation); the first one signs.
 */

const SIG_BYTES = 32;

/** Keys from IMAGE_SERVICE_SIGNING_KEYS: comma-separated, blanks ignored. */
export function parseSigningKeys(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k.length > 0);
}

/** The string that is signed, from a path and its query (the `sig` parameter is left out). */
export function canonicalize(path: string, query: URLSearchParams): string {
  const pairs = [...query].filter(([name]) => name !== 'sig');
  if (pairs.length === 0) return path;
  pairs.sort(([an, av], [bn, bv]) => compare(an, bn) || compare(av, bv));
  return `${path}?${new URLSearchParams(pairs).toString()}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function mac(key: string, canonical: string): Buffer {
  return createHmac('sha256', key).update(canonical).digest();
}

function splitPathAndQuery(pathAndQuery: string): { path: string; query: URLSearchParams } {
  // A fixed dummy origin only lets URL parse a relative reference; it never leaves this function.
  const url = new URL(pathAndQuery, 'http://signing.invalid');
  return { path: url.pathname, query: url.searchParams };
}

/**
 * Signs `/image/files/a.jpg?w=200` with `key` and returns it with `sig` appended (an existing
 * `sig` is replaced). The query keeps its order; only the signature is order-independent.
 */
export function signUrl(pathAndQuery: string, key: string): string {
  const { path, query } = splitPathAndQuery(pathAndQuery);
  query.delete('sig');
  const sig = mac(key, canonicalize(path, query)).toString('base64url');
  query.append('sig', sig);
  return `${path}?${query.toString()}`;
}

/**
 * True when `query` carries a `sig` that one of `keys` produced over `path` and the rest of the
 * query. Every key is tried (no early exit) and compared in constant time.
 */
export function verifySignature(path: string, query: URLSearchParams, keys: readonly string[]): boolean {
  const sigs = query.getAll('sig');
  if (sigs.length !== 1) return false;
  const given = Buffer.from(sigs[0] ?? '', 'base64url');
  // base64url decoding is lenient; re-encoding must give back the exact text that was sent.
  if (given.length !== SIG_BYTES || given.toString('base64url') !== sigs[0]) return false;
  const canonical = canonicalize(path, query);
  let ok = false;
  for (const key of keys) {
    if (timingSafeEqual(mac(key, canonical), given)) ok = true;
  }
  return ok;
}
