import sharp, { type Metadata } from 'sharp';
import { HttpError } from './errors.ts';
import type { OutputFormat } from './negotiate.ts';
import type { ImageParams } from './params.ts';

/**
 * The libvips work, in two steps so that the expensive one only runs on images that passed the
 * cheap one: inspect() reads the header (format, size, alpha) without decoding a pixel, the server
 * checks the limits, then resize() decodes, resizes and encodes.
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

export interface ImageInfo {
  format: string;
  /** The original's media type, for answers that send the original bytes. */
  contentType: string;
  width: number;
  height: number;
  hasAlpha: boolean;
}

/** Once per process: no libvips operation cache (each request is a new image; the cache only holds memory), threads per image. */
export function configureSharp(vipsConcurrency: number): void {
  sharp.cache(false);
  sharp.concurrency(vipsConcurrency);
}

/** The header of an image, read without decoding; 415 when it is not a supported image. */
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
  return { format: meta.format, contentType, width: meta.width, height: meta.height, hasAlpha: meta.hasAlpha };
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
 * encodes. A decoding failure, including a truncated input, is the image's fault: 422.
 */
export async function resize(bytes: Buffer, params: ImageParams, format: OutputFormat, maxInputPixels: number): Promise<Buffer> {
  // libvips' own pixel limit is the second guard, should a header lie about its size.
  const image = sharp(bytes, { limitInputPixels: maxInputPixels, failOn: 'truncated', autoOrient: true });
  if (params.w !== undefined || params.h !== undefined) {
    image.resize({ width: params.w, height: params.h, fit: params.fit, withoutEnlargement: true });
  }
  if (format === 'png') image.png();
  else image[format]({ quality: params.q });
  try {
    return await image.toBuffer();
  } catch (error) {
    throw new HttpError(422, 'undecodable_image', `the image could not be processed: ${(error as Error).message}`);
  }
}
