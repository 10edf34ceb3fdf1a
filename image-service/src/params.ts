import { z } from 'zod';
import { HttpError } from './errors.ts';

/**
 * The request's parameters and key, validated at the edge. Everything a client can send wrongly
 * becomes a 400 naming the parameter, before any I/O.
 */

/** Largest width or height a client may ask for (imgproxy's max result dimension, in spirit). */
export const MAX_DIMENSION = 8192;
/** Longest key in bytes (S3's own limit). */
export const MAX_KEY_BYTES = 1024;

export const FITS = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
export const FORMATS = ['auto', 'jpeg', 'png', 'webp', 'avif'] as const;

function integer(name: string, min: number, max: number) {
  const message = `${name} must be a whole number from ${min} to ${max}`;
  return z
    .string()
    .regex(/^\d{1,6}$/, message)
    .transform(Number)
    .pipe(z.number().min(min, message).max(max, message));
}

const schema = z.strictObject({
  w: integer('w', 1, MAX_DIMENSION).optional(),
  h: integer('h', 1, MAX_DIMENSION).optional(),
  fit: z.enum(FITS, { error: `fit must be one of ${FITS.join(', ')}` }).default('inside'),
  q: integer('q', 1, 100).default(80),
  fm: z.enum(FORMATS, { error: `fm must be one of ${FORMATS.join(', ')}` }).default('auto'),
});

export type ImageParams = z.infer<typeof schema>;
export type Fit = (typeof FITS)[number];
export type RequestedFormat = (typeof FORMATS)[number];

const KNOWN = new Set(Object.keys(schema.shape));

/**
 * The parameters of a query string (without "?"); null when there are none, which means "the
 * original bytes". Unknown and repeated parameters are refused, so that one image has one URL.
 */
export function parseParams(query: string): ImageParams | null {
  if (query === '') return null;
  const raw: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of new URLSearchParams(query)) {
    if (!KNOWN.has(name)) throw badParam(name, `unknown parameter ${JSON.stringify(name.slice(0, 64))}; known: ${[...KNOWN].join(', ')}`);
    if (Object.hasOwn(raw, name)) throw badParam(name, `${name} is given more than once`);
    raw[name] = value;
    count++;
  }
  if (count === 0) return null;
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw badParam(String(issue.path[0] ?? 'query'), issue.message);
}

function badParam(name: string, message: string): HttpError {
  return new HttpError(400, 'invalid_parameter', message.includes(name) ? message : `${name}: ${message}`);
}

/** A stable text of the parameters, for ETags and (later) the result cache key. */
export function normalizeParams(params: ImageParams): string {
  return `w=${params.w ?? ''}&h=${params.h ?? ''}&fit=${params.fit}&q=${params.q}`;
}

/** The parameters as a query string that parses back to them (the record of recent requests keeps it). */
export function paramsQuery(params: ImageParams): string {
  const size = `${params.w === undefined ? '' : `w=${params.w}&`}${params.h === undefined ? '' : `h=${params.h}&`}`;
  return `${size}fit=${params.fit}&q=${params.q}&fm=${params.fm}`;
}

/**
 * The source key from the raw (still percent-encoded) path after `/image/files/`. Refused with 400:
 * encoded slashes or backslashes, malformed escapes, NUL and control characters, empty, `.` or `..`
 * segments (also when encoded, `%2e%2e`), a leading slash (absolute) and more than 1024 bytes.
 */
export function parseKey(rawPath: string): string {
  if (/%(2f|5c)/i.test(rawPath) || rawPath.includes('\\')) throw badKey('must not contain encoded slashes or backslashes');
  let key: string;
  try {
    key = decodeURIComponent(rawPath);
  } catch {
    throw badKey('is not valid percent-encoded UTF-8');
  }
  if (key === '') throw badKey('is empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw badKey(`is longer than ${MAX_KEY_BYTES} bytes`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[\u0000-\u001f\u007f]/.test(key)) throw badKey('must not contain NUL or control characters');
  if (key.startsWith('/')) throw badKey('must be relative (no leading slash)');
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') throw badKey('must not contain empty, "." or ".." segments');
  }
  return key;
}

function badKey(reason: string): HttpError {
  return new HttpError(400, 'invalid_key', `key ${reason}`);
}
