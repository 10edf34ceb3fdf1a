import { HttpError } from '../errors.ts';

/**
 * Where originals come from. Every source (file, s3, http) implements this; the server never
 * knows which one it talks to. Keys reaching a source are already validated (see params.ts):
 * non-empty, at most 1024 bytes, no NUL, no `..` segment, not absolute.
 */
export interface Source {
  readonly kind: 'file' | 's3' | 'http';
  /**
   * The original's bytes, read with `maxBytes` enforced while reading (never buffer more).
   * `version` is a validator for ETags (file: size and mtime, S3: ETag, HTTP: ETag or
   * Last-Modified, else a hash of the bytes). Rejects with a SourceError.
   */
  get(key: string, opts: { maxBytes: number; signal: AbortSignal }): Promise<SourceObject>;
  /** Absent on read-only sources (the HTTP origin): the server answers 405. */
  put?(key: string, bytes: Buffer, opts: { signal: AbortSignal }): Promise<void>;
  /** Deleting a key that does not exist succeeds. */
  delete?(key: string, opts: { signal: AbortSignal }): Promise<void>;
}

export interface SourceObject {
  bytes: Buffer;
  version: string;
  /**
   * Optional (a source without it leaves its bytes to the GC): the server calls it once when it no longer
   * needs `bytes` (after the resize, or once the original has been written). A source whose bytes
   * nobody else holds may free them at once instead of leaving them to the GC, which lets tens of
   * MiB of dead originals pile up as external memory between collections. A source whose bytes may
   * be shared (a cache, a coalesced read) must not free them.
   */
  release?(): void;
}

/** How a message to a client names an original: by its key, never by where the source keeps it (a bucket, an origin's URL). */
export function keyName(key: string): string {
  return `key ${JSON.stringify(key)}`;
}

export type SourceErrorKind = 'not_found' | 'too_large' | 'timeout' | 'unavailable' | 'forbidden' | 'invalid_key';

const STATUS: Record<SourceErrorKind, number> = {
  not_found: 404,
  too_large: 413,
  timeout: 504,
  unavailable: 502,
  forbidden: 403,
  invalid_key: 400,
};

/**
 * A source failure, already mapped to the HTTP answer the client gets. `detail` is for the
 * service's log only (an origin's URLs and addresses): the client never sees it.
 */
export class SourceError extends HttpError {
  readonly kind: SourceErrorKind;
  readonly detail: string | undefined;

  constructor(kind: SourceErrorKind, message: string, detail?: string) {
    super(STATUS[kind], kind, message);
    this.name = 'SourceError';
    this.kind = kind;
    this.detail = detail;
  }
}
