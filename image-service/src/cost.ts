import type { OutputFormat } from './negotiate.ts';
import type { ImageParams } from './params.ts';

/**
 * What one image costs the worker that decodes it, estimated from its header before a pixel is
 * decoded, and the bounds a request must stay within. Pure: the numbers come from how each
 * libvips loader and saver holds pixels (docs/benchmarks.md, "Hostile images", has the
 * measurements behind the factors), the server refuses what does not fit.
 */

/** What a decode's memory follows from, read from the header. */
export interface Shape {
  format: string;
  width: number;
  height: number;
  channels: number;
  bytesPerSample: 1 | 2;
  /** Progressive JPEG or interlaced PNG. */
  progressive: boolean;
}

/**
 * Scans a progressive JPEG may have. libjpeg passes over the whole image once per scan, before
 * libvips can stop it, and the format allows 2688; real encoders write 10 or so (libjpeg's and
 * mozjpeg's progressive scripts), jpegtran's most thorough scripts a few dozen.
 */
export const MAX_JPEG_SCANS = 100;
/** AVIF encoder effort (sharp's default is 4): several times less CPU for slightly larger files (docs/benchmarks.md, "Image service: hostile images"). */
export const AVIF_EFFORT = 3;
/**
 * Largest AVIF answer in pixels. libaom encodes the whole frame in one call that libvips' time
 * limit cannot stop; at effort 3 a megapixel of noise (the worst content) takes seconds of CPU,
 * a photograph's a fraction of that (docs/benchmarks.md, "Image service: hostile images").
 */
export const AVIF_MAX_PIXELS = 1024 * 1024;
/**
 * Images above this many pixels are decoded in a child process that can be killed (see
 * `isolated`): decoding and encoding them takes long enough that a client who leaves must not
 * leave the work running. The normal workload's largest photograph is 5120x2880 (14.7 MP).
 */
export const ISOLATE_PIXELS = 4096 * 4096;
/**
 * Anonymous memory of a transform child at rest (Node and libvips, with room to spare over the
 * figure in docs/benchmarks.md, "The normal workload with children"; its file-backed pages are
 * the service's): reserved once per worker slot, since each slot may have
 * a child working or started ahead.
 */
export const CHILD_BYTES = 24 * 1024 * 1024;

/** Where libvips' work runs: `costly` isolates only what `isolated` names, `all` every resize, `none` nothing. */
export const ISOLATION_MODES = ['costly', 'all', 'none'] as const;
export type Isolation = (typeof ISOLATION_MODES)[number];

/**
 * Whether a resize must run where it can be stopped the moment its client leaves: libvips'
 * kill flag is reachable only through sharp's timeout, and some work cannot see it at all
 * (libaom encodes a frame, libheif decodes one, in one call). So work that runs for long is
 * given to a child process, killed when its client leaves or its time is up: any AVIF answer,
 * any HEIF/AVIF original, any image over ISOLATE_PIXELS. The rest ends within a fraction of a
 * second in process, where a child would only add a copy of its bytes each way.
 */
export function isolated(mode: Isolation, shape: Pick<Shape, 'format' | 'width' | 'height'>, output: OutputFormat): boolean {
  if (mode !== 'costly') return mode === 'all';
  return output === 'avif' || shape.format === 'heif' || shape.width * shape.height > ISOLATE_PIXELS;
}

/** Memory of the process that is neither the workers' nor the answers': Node and libvips at rest, sockets. */
export const RESERVED_BYTES = 96 * 1024 * 1024;
/**
 * Bytes of answers being written at once. A client that reads slowly keeps its answer in memory;
 * beyond this the oldest unfinished answers are dropped. Above the default largest original
 * (maxSourceBytes, 50 MiB), so one answer of any size is always sent.
 */
export const ANSWER_BYTES = 64 * 1024 * 1024;

/**
 * Bytes the loader holds at once beyond a streaming decode. Sequential JPEG, non-interlaced PNG
 * and TIFF strips stream through the pipeline a few rows at a time; a progressive JPEG keeps
 * every DCT coefficient (2 bytes per sample), an interlaced PNG the whole image, WebP and GIF
 * decode whole 8-bit RGBA frames, and HEIF/AVIF keep libheif's planes beside libvips' copy (the
 * factor is measured in docs/benchmarks.md, "Image service: hostile images").
 */
export function decodeBytes(shape: Shape): number {
  const samples = shape.width * shape.height * shape.channels;
  switch (shape.format) {
    case 'jpeg':
      return shape.progressive ? samples * 2 : 0;
    case 'png':
      return shape.progressive ? samples * shape.bytesPerSample : 0;
    case 'webp':
    case 'gif':
      return shape.width * shape.height * 4;
    case 'heif':
      return Math.ceil(samples * shape.bytesPerSample * 3.3);
    default:
      return samples * shape.bytesPerSample;
  }
}

/**
 * Bytes an encoder holds for an answer of `pixels` pixels: every one holds the whole frame. JPEG
 * keeps its coefficients to optimise its Huffman tables (2 bytes per sample), PNG its samples,
 * WebP its ARGB and YUV pictures, AVIF libaom's frames and a fixed 16 MiB.
 */
export function encodeBytes(format: OutputFormat, pixels: number, shape: Pick<Shape, 'channels' | 'bytesPerSample'>): number {
  switch (format) {
    case 'jpeg':
      return pixels * 3 * 2;
    case 'png':
      return pixels * shape.channels * shape.bytesPerSample;
    case 'webp':
      return pixels * 8;
    case 'avif':
      return 16 * 1024 * 1024 + pixels * 48;
  }
}

/** The size of the answer: sharp's fits, never enlarged. */
export function outputSize(width: number, height: number, params: Pick<ImageParams, 'w' | 'h' | 'fit'>): { width: number; height: number } {
  const { w, h, fit } = params;
  if (w === undefined && h === undefined) return { width, height };
  if (w !== undefined && h !== undefined && (fit === 'cover' || fit === 'contain' || fit === 'fill')) {
    return { width: Math.min(w, width), height: Math.min(h, height) };
  }
  const sx = w === undefined ? Infinity : w / width;
  const sy = h === undefined ? Infinity : h / height;
  const wanted = w === undefined || h === undefined ? Math.min(sx, sy) : fit === 'outside' ? Math.max(sx, sy) : Math.min(sx, sy);
  const scale = Math.min(1, wanted);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * The memory each worker may use: the limit less the reserve, the answers being written, the
 * result cache and a transform child's runtime per worker, shared by the workers. With every
 * slot held at its share, the service and its children stay within the limit.
 */
export function workerShare(memoryLimit: number, cacheBytes: number, workers: number): number {
  return Math.max(0, Math.floor((memoryLimit - RESERVED_BYTES - ANSWER_BYTES - cacheBytes) / workers - CHILD_BYTES));
}

export function mebibytes(bytes: number): string {
  return `${Math.ceil(bytes / 1024 / 1024)} MiB`;
}
