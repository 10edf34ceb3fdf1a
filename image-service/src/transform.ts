import sharp, { type Metadata } from 'sharp';
import { HttpError } from './errors.ts';
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
 * encodes. Refuses, before decoding, an image over the pixel limit (422) or not a supported
 * image (415); a decoding failure, including a truncated input, is the image's fault: 422.
 */
export async function resize(bytes: Buffer, params: ImageParams, format: OutputFormat, maxInputPixels: number): Promise<Buffer> {
  // libvips checks the limit from the header as it opens the image, before decoding.
  const image = sharp(bytes, { limitInputPixels: maxInputPixels, failOn: 'truncated', autoOrient: true });
  if (params.w !== undefined || params.h !== undefined) {
    image.resize({ width: params.w, height: params.h, fit: params.fit, withoutEnlargement: true });
  }
  if (format === 'png') image.png();
  else image[format]({ quality: params.q });
  try {
    return await image.toBuffer();
  } catch (error) {
    // Only failures pay for a second look at the header, for an answer that names the problem.
    checkPixels(await inspect(bytes), maxInputPixels);
    throw new HttpError(422, 'undecodable_image', `the image could not be processed: ${(error as Error).message}`);
  }
}
