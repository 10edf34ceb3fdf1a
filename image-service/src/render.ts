import type { Admission } from './admission.ts';
import { entityTag, matches } from './conditional.ts';
import { type Isolation, isolated } from './cost.ts';
import type { Metrics } from './metrics.ts';
import { CONTENT_TYPES, type OutputFormat } from './negotiate.ts';
import { type ImageParams, normalizeParams } from './params.ts';
import type { TransformPool } from './pool.ts';
import type { Source, SourceObject } from './sources/source.ts';
import type { ImageResult } from './stampede.ts';
import { admitWork, decodable, header, inspect, resize, type WorkLimits } from './transform.ts';

/**
 * A rendered answer. It owns its body: `release`, when present, frees the original the body is
 * (an original sent as it is, which no cache or other request shares); the sender calls it once
 * the body is written. A resized body is plain memory, freed with the answer.
 */
export type Rendered = ImageResult & { release?: () => void };

/** The output format for an opaque and for an alpha image. */
export type Formats = { opaque: OutputFormat; alpha: OutputFormat };

export interface RenderParts {
  admission: Admission;
  source: Source;
  maxSourceBytes: number;
  limits: WorkLimits;
  isolation: Isolation;
  pool: TransformPool;
  metrics: Metrics;
  /** The `-drift` fault (IMAGE_SERVICE_INJECT_DRIFT). */
  drift: boolean;
}

/**
 * One linear pipeline: a worker slot, the source read, the header checks, the resize; no body
 * when `ifNoneMatch` matches. The queue timeout runs from the request's arrival (`arrivedAt`,
 * performance.now()). The original belongs to the pipeline until it hands it on as the body:
 * whatever it does not hand on, it frees.
 */
export async function render(
  parts: RenderParts,
  key: string,
  params: ImageParams | null,
  formats: Formats | undefined,
  ifNoneMatch: string | undefined,
  signal: AbortSignal,
  arrivedAt: number,
): Promise<Rendered> {
  const release = await parts.admission.acquire(signal, arrivedAt);
  let original: SourceObject | undefined;
  let handedOn = false;
  try {
    original = await parts.source.get(key, { maxBytes: parts.maxSourceBytes, signal });
    // What libvips sees: a PNG without its text chunks, however the original is sent.
    const bytes = decodable(original.bytes);
    if (params === null || formats === undefined) {
      const info = await inspect(bytes);
      const etag = entityTag(original.version, 'original');
      if (matches(ifNoneMatch, etag)) return { etag, contentType: info.contentType, body: undefined };
      handedOn = true;
      return { etag, contentType: info.contentType, body: original.bytes, ...(original.release ? { release: original.release.bind(original) } : {}) };
    }
    // The header decides what the work may cost before anything is decoded; JPEG's and PNG's
    // are read without libvips.
    const info = await header(bytes);
    const format = info.hasAlpha ? formats.alpha : formats.opaque;
    const etag = entityTag(original.version, `${normalizeParams(params)}&fm=${format}`);
    if (matches(ifNoneMatch, etag)) return { etag, contentType: CONTENT_TYPES[format], body: undefined };
    const inChild = isolated(parts.isolation, info, format);
    admitWork(info, original.bytes.length, params, format, parts.limits, inChild);
    // A client gone by now has nobody to answer. In process, libvips once started stops only at
    // its time limit; a child is killed as soon as the client leaves.
    signal.throwIfAborted();
    const body = inChild ? await parts.pool.run({ bytes, params, format, limits: parts.limits, drift: parts.drift }, signal) : await resize(bytes, params, format, parts.limits, parts.drift);
    parts.metrics.transformed();
    return { etag, contentType: CONTENT_TYPES[format], body };
  } finally {
    release();
    if (!handedOn) original?.release?.();
  }
}
