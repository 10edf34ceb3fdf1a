import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { Admission } from './admission.ts';
import { HttpError } from './errors.ts';
import { parseKey } from './params.ts';
import type { Source } from './sources/source.ts';
import { admitWork, decodable, inspect, verifyDecodes, type WorkLimits } from './transform.ts';

/**
 * The management API: `PUT /image/files/{key}` (upload) and `DELETE /image/files` (bulk delete),
 * both behind `Authorization: Bearer <token>`. The server mounts these routes only when
 * IMAGE_SERVICE_ADMIN_TOKEN_FILE is set; otherwise they do not exist (404).
 */

/** Longest list of keys one bulk delete may name. */
export const MAX_DELETE_KEYS = 1000;
/** 1000 keys of 1024 bytes, JSON-escaped, with room to spare. */
const MAX_DELETE_BODY_BYTES = 8 * 1024 * 1024;
/** Deletes sent to the source at once during a bulk delete. */
const DELETE_CONCURRENCY = 16;

export interface AdminOptions {
  token: string;
  source: Source;
  /** Largest upload (maxSourceBytes: what the service would agree to read back). */
  maxBodyBytes: number;
  limits: WorkLimits;
  /** Uploads are fully decoded to be verified: that is a transform's worth of work, so it takes a worker slot. */
  admission: Admission;
}

/** The answer a route handler produced; the server writes it as JSON. */
export interface AdminAnswer<B> {
  status: number;
  body: B;
}

export interface Uploaded {
  key: string;
  bytes: number;
  format: string;
  width: number;
  height: number;
}

export interface BulkDeleted {
  succeeded_count: number;
  succeeded_files: string[];
  failed_count: number;
  failed_files: FailedFile[];
}

/** Reads the bearer token from its file (a mounted Secret): trimmed, never empty, no whitespace (a Bearer header cannot carry it). */
export function readAdminToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`IMAGE_SERVICE_ADMIN_TOKEN_FILE: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.trim();
  if (token === '') throw new Error(`IMAGE_SERVICE_ADMIN_TOKEN_FILE: ${file} is empty`);
  if (/\s/.test(token))
    throw new Error(`IMAGE_SERVICE_ADMIN_TOKEN_FILE: the token in ${file} contains whitespace, which an Authorization: Bearer header cannot carry; use a token without spaces or line breaks`);
  return token;
}

const deleteBody = z.strictObject({
  files: z
    .array(z.string({ error: 'files must be an array of keys (strings)' }), { error: 'files must be an array of keys (strings)' })
    .min(1, 'files must name at least one key')
    .max(MAX_DELETE_KEYS, `files may name at most ${MAX_DELETE_KEYS} keys`),
});

export interface FailedFile {
  file: string;
  reason: string;
}

export class Admin {
  readonly #tokenDigest: Buffer;
  readonly #opts: AdminOptions;

  constructor(opts: AdminOptions) {
    this.#opts = opts;
    this.#tokenDigest = digest(opts.token);
  }

  /** 401 without a bearer token, 403 with a wrong one. Compared as digests, in constant time. */
  authorize(header: string | undefined): void {
    const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    if (match === null) {
      throw new HttpError(401, 'unauthorized', 'this route needs Authorization: Bearer <admin token>', { 'www-authenticate': 'Bearer realm="imageops"' });
    }
    if (!timingSafeEqual(digest(match[1] ?? ''), this.#tokenDigest)) throw new HttpError(403, 'forbidden', 'the admin token is not valid');
  }

  /**
   * Stores the body under the key from the raw path, once it is known to be a supported image
   * within the limits: header first (415, 422 before any decoding), then a full decode. Nothing
   * is written before that, and the source writes atomically.
   */
  async put(req: IncomingMessage, rawKey: string, signal: AbortSignal): Promise<AdminAnswer<Uploaded>> {
    this.authorize(req.headers.authorization);
    const key = parseKey(rawKey);
    const { source, maxBodyBytes, limits, admission } = this.#opts;
    if (source.put === undefined) throw readOnly(source);
    const bytes = await readBody(req, maxBodyBytes, signal);
    if (bytes.length === 0) throw new HttpError(400, 'empty_body', 'the upload is empty; send the image as the request body');
    // Checked as the service will read it back: a PNG's text chunks are never decoded.
    const checked = decodable(bytes);
    const info = await inspect(checked);
    admitWork(info, bytes.length, null, undefined, limits);
    const release = await admission.acquire(signal);
    try {
      await verifyDecodes(checked, limits);
    } finally {
      release();
    }
    await source.put(key, bytes, { signal });
    return { status: 201, body: { key, bytes: bytes.length, format: info.format, width: info.width, height: info.height } };
  }

  /**
   * Deletes up to 1000 keys: 200 when all succeeded, 207 when any failed. A key that does not
   * exist counts as deleted; an invalid key fails with its reason and the others go on.
   */
  async bulkDelete(req: IncomingMessage, signal: AbortSignal): Promise<AdminAnswer<BulkDeleted>> {
    this.authorize(req.headers.authorization);
    const { source } = this.#opts;
    if (source.delete === undefined) throw readOnly(source);
    const del = source.delete.bind(source);
    const files = parseDeleteBody(await readBody(req, MAX_DELETE_BODY_BYTES, signal));
    const outcomes: (FailedFile | null)[] = new Array(files.length).fill(null);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < files.length; i = next++) {
        const file = files[i] ?? '';
        try {
          await del(keyOf(file), { signal });
        } catch (err) {
          if (signal.aborted) throw err;
          outcomes[i] = { file, reason: err instanceof HttpError ? err.message : `the source failed: ${(err as Error).message}` };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, files.length) }, worker));
    const failed = outcomes.filter((o): o is FailedFile => o !== null);
    const succeeded = files.filter((_, i) => outcomes[i] === null);
    return {
      status: failed.length === 0 ? 200 : 207,
      body: { succeeded_count: succeeded.length, succeeded_files: succeeded, failed_count: failed.length, failed_files: failed },
    };
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function readOnly(source: Source): HttpError {
  return new HttpError(405, 'read_only_source', `the ${source.kind} source is read-only`, { allow: 'GET, HEAD' });
}

/** A key as JSON gives it (not percent-encoded), validated by the same rules as a URL's. */
function keyOf(file: string): string {
  return parseKey(file.split('/').map(encodeURIComponent).join('/'));
}

function parseDeleteBody(bytes: Buffer): string[] {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_body', 'the body must be JSON: {"files": ["key", ...]}');
  }
  const parsed = deleteBody.safeParse(json);
  if (!parsed.success) throw new HttpError(400, 'invalid_body', parsed.error.issues[0]?.message ?? 'invalid body');
  return parsed.data.files;
}

/**
 * The request body, refused with 413 as soon as it passes `maxBytes` (from Content-Length before
 * reading anything, else while reading). What follows is discarded unread, not destroyed, so the
 * client still gets the 413 before the connection closes.
 */
function readBody(req: IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, 'body_too_large', `the body is larger than the limit of ${maxBytes} bytes`, { connection: 'close' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (finish: () => void) => {
      req.off('data', onData).off('end', onEnd).off('error', onError);
      signal.removeEventListener('abort', onAbort);
      finish();
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) done(() => reject(tooLarge()));
      else chunks.push(chunk);
    };
    const onEnd = () => done(() => resolve(Buffer.concat(chunks, total)));
    const onError = (err: Error) => done(() => reject(err));
    const onAbort = () => done(() => reject(signal.reason));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
