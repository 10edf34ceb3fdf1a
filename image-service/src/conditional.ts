import { createHash } from 'node:crypto';

/** A strong ETag from the source's version and what was made of it. */
export function entityTag(version: string, variant: string): string {
  return `"${createHash('sha1').update(version).update('\0').update(variant).digest('base64url')}"`;
}

/** If-None-Match uses the weak comparison (RFC 9110 13.1.2): `W/` is ignored, `*` matches. */
export function matches(header: string | undefined, etag: string | number | undefined): boolean {
  if (header === undefined || etag === undefined) return false;
  for (const candidate of header.split(',')) {
    const tag = candidate.trim();
    if (tag === '*' || tag === etag || (tag.startsWith('W/') && tag.slice(2) === etag)) return true;
  }
  return false;
}
