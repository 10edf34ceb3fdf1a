import sharp, { type Metadata } from 'sharp';
import { AVIF_EFFORT, AVIF_MAX_PIXELS, decodeBytes, encodeBytes, MAX_JPEG_SCANS, mebibytes, outputSize, type Shape } from './cost.ts';
import { HttpError } from './errors.ts';
import { readRasterHeader, withoutPngText } from './headers.ts';
import type { OutputFormat } from './negotiate.ts';
import type { ImageParams } from './params.ts';

/**
 * The libvips work. resize() opens the image, checks its pixel count from the header (libvips'
 * own limit, before a pixel is decoded), decodes, resizes and encodes. inspect() reads only the
 * header (format, size, alpha): the server calls it when the answer depends on the header (an
 * original's media type, PNG or JPEG by alpha) and resize() calls it when it fails, to say
 * precisely why. Opening each image once is a third of a millisecond per request less work.
 */

/** Raster formats the service decodes; anything else (SVG, PDF, raw, ...) is a 415. */
const INPUT_TYPES: Readonly<Record<string, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  heif: 'image/heif',
  tiff: 'image/tiff',
};

// libvips may open only these formats, from memory: every other loader (SVG and its XML parser,
// PDF, libvips' own and matrix formats, files by name) is blocked process-wide, so a hostile
// upload is refused before any parser other than these six sees it. Set on import, so that no
// path to sharp in this service runs without it.
sharp.block({ operation: ['VipsForeignLoad'] });
sharp.unblock({
  operation: ['VipsForeignLoadJpegBuffer', 'VipsForeignLoadPngBuffer', 'VipsForeignLoadWebpBuffer', 'VipsForeignLoadNsgifBuffer', 'VipsForeignLoadHeifBuffer', 'VipsForeignLoadTiffBuffer'],
});

export interface ImageInfo extends Shape {
  /** The original's media type, for answers that send the original bytes. */
  contentType: string;
  hasAlpha: boolean;
  /** Progressive JPEG: its scans (each a pass over the image); otherwise 1. */
  scans: number;
}

/** The `-drift` fault's hue rotation: visible on skin and sky, invisible to a luminance metric. */
export const DRIFT_HUE_DEGREES = 20;

/** What bounds one request's work: the pixel limit, the worker's memory share, libvips' time. */
export interface WorkLimits {
  maxInputPixels: number;
  /** Bytes one worker may hold (cost.ts, workerShare). */
  memoryPerWorker: number;
  /** libvips stops a pipeline that runs longer (sharp's timeout, whole seconds). */
  timeoutSeconds: number;
}

/** Once per process: no libvips operation cache (each request is a new image; the cache only holds memory), threads per image. */
export function configureSharp(vipsConcurrency: number): void {
  sharp.cache(false);
  sharp.concurrency(vipsConcurrency);
}

/**
 * The bytes libvips may be given: a PNG loses its text chunks (libpng inflates every one as it
 * reads the header, gigabytes from a few hundred KB), which no answer carries anyway.
 */
export function decodable(bytes: Buffer): Buffer {
  return withoutPngText(bytes);
}

/**
 * The header of an image, read without decoding; 415 when it is not a supported image. Give it
 * `decodable()` bytes: libvips reads the header.
 */
export async function inspect(bytes: Buffer): Promise<ImageInfo> {
  let meta: Metadata;
  try {
    // The pixel limit is ours to check (422 with the numbers), so libvips' own is off here.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw unsupported();
  }
  const type = INPUT_TYPES[meta.format];
  if (type === undefined || meta.width === undefined || meta.height === undefined) throw unsupported();
  const contentType = meta.format === 'heif' && meta.compression === 'av1' ? 'image/avif' : type;
  const raster = meta.format === 'jpeg' || meta.format === 'png' ? readRasterHeader(bytes) : undefined;
  return {
    format: meta.format,
    contentType,
    width: meta.width,
    height: meta.height,
    hasAlpha: meta.hasAlpha,
    channels: meta.channels,
    bytesPerSample: (meta.bitsPerSample ?? 8) > 8 || meta.depth === 'ushort' ? 2 : 1,
    progressive: meta.isProgressive,
    scans: raster?.scans ?? 1,
  };
}

/**
 * The header a resize needs: JPEG and PNG from their own structure (microseconds: no libvips
 * call, so the common resize still opens its image once), other formats from libvips.
 */
export async function header(bytes: Buffer): Promise<ImageInfo> {
  const raster = readRasterHeader(bytes);
  if (raster === undefined) return inspect(bytes);
  const { textBytes: _text, ...shape } = raster;
  return { ...shape, contentType: INPUT_TYPES[raster.format]!, hasAlpha: raster.channels === 2 || raster.channels === 4 };
}

/**
 * Refuses, from the header alone, work a worker cannot afford: more pixels than allowed, a
 * progressive JPEG with more scans than any encoder writes, an AVIF answer over its pixel bound,
 * a decode and encode that need more memory than the worker's share (with `sourceBytes`, the
 * original it holds). `format` undefined: only a decode (an upload's check). `inChild`: the work
 * runs in a transform child, which holds a copy of the original (its runtime is in the share).
 */
export function admitWork(info: ImageInfo, sourceBytes: number, params: ImageParams | null, format: OutputFormat | undefined, limits: WorkLimits, inChild = false): void {
  checkPixels(info, limits.maxInputPixels);
  if (info.format === 'jpeg' && info.scans > MAX_JPEG_SCANS) {
    throw new HttpError(422, 'too_many_scans', `the progressive JPEG has ${info.scans} scans, over the limit of ${MAX_JPEG_SCANS}; each scan is another pass over the image`);
  }
  let encode = 0;
  if (format !== undefined) {
    const out = outputSize(info.width, info.height, params ?? { fit: 'inside' });
    const pixels = out.width * out.height;
    if (format === 'avif' && pixels > AVIF_MAX_PIXELS) {
      throw new HttpError(422, 'avif_too_large', `an AVIF answer may have at most ${AVIF_MAX_PIXELS} pixels; this one would be ${out.width}x${out.height}: ask for a smaller w or h`);
    }
    encode = encodeBytes(format, pixels, info);
  }
  const needed = sourceBytes + decodeBytes(info) + encode + (inChild ? sourceBytes : 0);
  if (needed > limits.memoryPerWorker) {
    const what = `${info.width}x${info.height}${info.progressive ? ' progressive' : ''} ${info.format}, ${info.channels} channels of ${info.bytesPerSample * 8} bits`;
    throw new HttpError(422, 'too_much_memory', `processing this image (${what}) needs about ${mebibytes(needed)}, over the ${mebibytes(limits.memoryPerWorker)} each worker of this service may use`);
  }
}

function unsupported(): HttpError {
  return new HttpError(415, 'unsupported_image', `not a supported image; supported: ${Object.keys(INPUT_TYPES).join(', ')} (AVIF as heif)`);
}

/** 422 when the header claims more pixels than allowed: checked before anything is decoded. */
export function checkPixels(info: ImageInfo, maxInputPixels: number): void {
  const pixels = info.width * info.height;
  if (pixels > maxInputPixels) {
    throw new HttpError(422, 'too_many_pixels', `the image is ${info.width}x${info.height} (${pixels} pixels), over the limit of ${maxInputPixels} pixels`);
  }
}

/**
 * Decodes, resizes (never enlarging: an upscaled image holds more memory and no more detail) and
 * encodes `decodable()` bytes that admitWork() accepted. A decoding failure, including a
 * truncated input, is the image's fault: 422; so is a pipeline libvips stopped at the time limit.
 */
export async function resize(bytes: Buffer, params: ImageParams, format: OutputFormat, limits: WorkLimits, drift = false): Promise<Buffer> {
  // libvips checks the pixel limit again from the header as it opens the image.
  const image = sharp(bytes, { limitInputPixels: limits.maxInputPixels, failOn: 'truncated', autoOrient: true });
  if (params.w !== undefined || params.h !== undefined) {
    image.resize({ width: params.w, height: params.h, fit: params.fit, withoutEnlargement: true });
  }
  // A fault drill: what a changed colour default does (a hue rotation in LCh keeps lightness, so
  // a luminance-only metric misses it); as fast as a plain resize and just as valid an image.
  if (drift) image.modulate({ hue: DRIFT_HUE_DEGREES });
  if (format === 'png') image.png();
  else if (format === 'avif') image.avif({ quality: params.q, effort: AVIF_EFFORT });
  else image[format]({ quality: params.q });
  try {
    return await image.timeout({ seconds: limits.timeoutSeconds }).toBuffer();
  } catch (error) {
    throw failed(error, limits);
  }
}

/** Decodes every pixel's data (a thumbnail is made and dropped): a truncated or corrupt image fails here, with 422. */
export async function verifyDecodes(bytes: Buffer, limits: WorkLimits): Promise<void> {
  try {
    await sharp(bytes, { limitInputPixels: limits.maxInputPixels, failOn: 'error' }).resize(64, 64, { fit: 'inside' }).raw().timeout({ seconds: limits.timeoutSeconds }).toBuffer();
  } catch (error) {
    throw failed(error, limits);
  }
}

function failed(error: unknown, limits: WorkLimits): HttpError {
  const message = (error as Error).message;
  // sharp's timeout: libvips' progress callback set the image's kill flag.
  if (/^timeout/m.test(message)) {
    return new HttpError(422, 'too_slow', `processing this image took longer than ${limits.timeoutSeconds} s (the service's limit), so it was stopped`);
  }
  return new HttpError(422, 'undecodable_image', `the image could not be processed: ${message}`);
}
