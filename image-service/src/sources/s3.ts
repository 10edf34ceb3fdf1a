import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { readCapped, tooLarge } from './capped.ts';
import type { S3Env } from './env.ts';
import { keyName, type Source, SourceError, type SourceObject } from './source.ts';

/**
 * Originals in S3 or an S3-compatible store (`IMAGE_SOURCE=s3://bucket/prefix`), through the
 * AWS SDK v3 with its standard credential chain (env, shared files, web identity, ECS, IMDS).
 * Objects are streamed and the byte limit is enforced while reading: an object over it is
 * abandoned mid-stream, never buffered whole. Errors name the key only; the bucket, the
 * endpoint and what the store said travel in `SourceError.detail`, for the log.
 */

export interface S3SourceOptions {
  bucket: string;
  /** Prepended to every key; ends with `/` unless empty. */
  prefix: string;
  endpoint?: string | undefined;
  region?: string | undefined;
  forcePathStyle: boolean;
  /** Longest wait for a TCP connection to the store. */
  connectTimeoutMs: number;
  /** Longest time for a whole request, body included, retries included. */
  totalTimeoutMs: number;
}

export const S3_DEFAULT_TIMEOUTS = { connectTimeoutMs: 3_000, totalTimeoutMs: 15_000 };

/** `s3://bucket/prefix` plus the S3_* variables, as options. Throws on a malformed URL. */
export function s3OptionsFrom(source: string, env: S3Env): S3SourceOptions {
  const url = new URL(source);
  if (url.protocol !== 's3:' || url.hostname === '') throw new Error(`IMAGE_SOURCE: ${source} is not of the form s3://bucket/prefix`);
  const path = decodeURIComponent(url.pathname.replace(/^\//, ''));
  return {
    bucket: url.hostname,
    prefix: path === '' || path.endsWith('/') ? path : `${path}/`,
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION,
    // A custom endpoint is nearly always an S3-compatible store without virtual-host buckets.
    forcePathStyle: env.S3_FORCE_PATH_STYLE === undefined ? env.S3_ENDPOINT !== undefined : env.S3_FORCE_PATH_STYLE === 'true',
    ...S3_DEFAULT_TIMEOUTS,
  };
}

export function createS3Source(opts: S3SourceOptions): Source {
  const client = new S3Client({
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    // The SDK insists on a region even for stores that ignore it.
    region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: opts.forcePathStyle,
    requestHandler: { connectionTimeout: opts.connectTimeoutMs, requestTimeout: opts.totalTimeoutMs },
    // Checksums only where S3 requires them: several S3-compatible stores reject the newer ones.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 2,
  });
  const location = (key: string) => `s3://${opts.bucket}/${opts.prefix}${key}`;

  /** Runs one SDK call with the total timeout and the caller's signal, mapping failures. */
  async function call<T>(key: string, signal: AbortSignal, fn: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const deadline = AbortSignal.timeout(opts.totalTimeoutMs);
    const abortSignal = AbortSignal.any([signal, deadline]);
    try {
      return await fn(abortSignal);
    } catch (err) {
      throw toSourceError(err, key, location(key), signal, deadline);
    }
  }

  return {
    kind: 's3',
    async get(key, { maxBytes, signal }): Promise<SourceObject> {
      return call(key, signal, async (abortSignal) => {
        const out = await client.send(new GetObjectCommand({ Bucket: opts.bucket, Key: opts.prefix + key }), { abortSignal });
        const body = out.Body as Readable | undefined;
        if (body === undefined) throw new SourceError('unavailable', `${keyName(key)}: the image store sent no body`, location(key));
        if (out.ContentLength !== undefined && out.ContentLength > maxBytes) {
          body.destroy();
          throw tooLarge(keyName(key), maxBytes);
        }
        const bytes = await readCapped(body, maxBytes, abortSignal, keyName(key));
        return { bytes, version: out.ETag ?? `${out.LastModified?.getTime() ?? 0}-${bytes.length}` };
      });
    },
    async put(key, bytes, { signal }) {
      await call(key, signal, (abortSignal) => client.send(new PutObjectCommand({ Bucket: opts.bucket, Key: opts.prefix + key, Body: bytes }), { abortSignal }));
    },
    async delete(key, { signal }) {
      // S3 answers 204 for a key that does not exist: deleting it succeeds, as the contract says.
      await call(key, signal, (abortSignal) => client.send(new DeleteObjectCommand({ Bucket: opts.bucket, Key: opts.prefix + key }), { abortSignal }));
    },
  };
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket']);
const NETWORK_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/**
 * Maps whatever the SDK threw to the answer a client gets: 404 missing, 504 too slow, 502 store
 * unreachable or failing. The answer names the key; the object's location and the SDK's words
 * (endpoint addresses, bucket names, the store's error codes) go to `detail` only. A caller that
 * went away gets its own abort reason back untouched.
 */
function toSourceError(err: unknown, key: string, location: string, caller: AbortSignal, deadline: AbortSignal): unknown {
  if (err instanceof SourceError) return err;
  if (caller.aborted) return caller.reason;
  const e = err as { name?: string; code?: string; message?: string };
  const detail = `${location}: ${e.name ?? 'Error'}${e.code === undefined ? '' : ` ${e.code}`}: ${e.message ?? String(err)}`;
  if (deadline.aborted || e.name === 'TimeoutError' || e.code === 'ETIMEDOUT' || e.name === 'AbortError') {
    return new SourceError('timeout', `${keyName(key)}: the image store did not answer in time`, detail);
  }
  if (err instanceof S3ServiceException) {
    if (NOT_FOUND.has(err.name) || err.$metadata.httpStatusCode === 404) {
      return new SourceError('not_found', `no image at ${keyName(key)}`, detail);
    }
    // 403 on a missing key is also how S3 answers callers without s3:ListBucket.
    return new SourceError('unavailable', `${keyName(key)}: the image store refused or failed the request`, `${detail} (HTTP ${err.$metadata.httpStatusCode ?? '?'})`);
  }
  if (e.code !== undefined && NETWORK_DOWN.has(e.code)) {
    return new SourceError('unavailable', `${keyName(key)}: the image store is unreachable`, detail);
  }
  return new SourceError('unavailable', `${keyName(key)}: the image store failed`, detail);
}
