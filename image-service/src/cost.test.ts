import { describe, expect, it } from 'vitest';
import { ANSWER_BYTES, CHILD_BYTES, decodeBytes, encodeBytes, ISOLATE_PIXELS, isolated, outputSize, RESERVED_BYTES, type Shape, workerShare } from './cost.ts';

const MiB = 1024 * 1024;
const shape = (over: Partial<Shape>): Shape => ({ format: 'jpeg', width: 1000, height: 1000, channels: 3, bytesPerSample: 1, progressive: false, ...over });

describe('decodeBytes', () => {
  it.each([
    ['sequential JPEG streams', shape({}), 0],
    ['progressive JPEG keeps 16-bit coefficients', shape({ progressive: true }), 6_000_000],
    ['PNG streams', shape({ format: 'png', channels: 4, bytesPerSample: 2 }), 0],
    ['interlaced 16-bit PNG holds the image', shape({ format: 'png', channels: 4, bytesPerSample: 2, progressive: true }), 8_000_000],
    ['WebP decodes RGBA frames', shape({ format: 'webp' }), 4_000_000],
    ['GIF decodes RGBA frames', shape({ format: 'gif', channels: 4 }), 4_000_000],
    ['HEIF keeps libheif planes and libvips copy', shape({ format: 'heif', channels: 4, bytesPerSample: 2 }), 26_400_000],
    ['TIFF is counted whole', shape({ format: 'tiff', channels: 4 }), 4_000_000],
  ])('%s', (_, input, bytes) => {
    expect(decodeBytes(input)).toBe(bytes);
  });

  it('puts the red team 12-bit 7071x7071 AVIF with alpha at about the 1.3 GiB it took', () => {
    const bytes = decodeBytes(shape({ format: 'heif', width: 7071, height: 7071, channels: 4, bytesPerSample: 2 }));
    expect(bytes / 1024 ** 3).toBeCloseTo(1.23, 1);
  });
});

describe('encodeBytes', () => {
  it.each([
    ['jpeg', 6_000_000],
    ['png', 8_000_000],
    ['webp', 8_000_000],
    ['avif', 16 * MiB + 48_000_000],
  ] as const)('%s of a megapixel from 16-bit RGBA', (format, bytes) => {
    expect(encodeBytes(format, 1_000_000, { channels: 4, bytesPerSample: 2 })).toBe(bytes);
  });
});

describe('outputSize', () => {
  it.each([
    [{ fit: 'inside' as const }, { width: 4000, height: 3000 }],
    [
      { w: 400, fit: 'inside' as const },
      { width: 400, height: 300 },
    ],
    [
      { h: 300, fit: 'inside' as const },
      { width: 400, height: 300 },
    ],
    [
      { w: 400, h: 400, fit: 'inside' as const },
      { width: 400, height: 300 },
    ],
    [
      { w: 400, h: 400, fit: 'outside' as const },
      { width: 533, height: 400 },
    ],
    [
      { w: 400, h: 400, fit: 'cover' as const },
      { width: 400, height: 400 },
    ],
    [
      { w: 8000, fit: 'inside' as const },
      { width: 4000, height: 3000 },
    ], // never enlarged
    [
      { w: 8000, h: 8000, fit: 'fill' as const },
      { width: 4000, height: 3000 },
    ],
  ])('of a 4000x3000 image with %j', (params, size) => {
    expect(outputSize(4000, 3000, params)).toEqual(size);
  });
});

describe('workerShare', () => {
  it.each([
    [512 * MiB, 64 * MiB, 2, (512 * MiB - RESERVED_BYTES - ANSWER_BYTES - 64 * MiB) / 2 - CHILD_BYTES],
    [512 * MiB, 0, 1, 512 * MiB - RESERVED_BYTES - ANSWER_BYTES - CHILD_BYTES],
    [128 * MiB, 64 * MiB, 1, 0],
  ])('of %d bytes, a cache of %d, %d workers', (limit, cache, workers, share) => {
    expect(workerShare(limit, cache, workers)).toBe(share);
  });
});

describe('isolated', () => {
  const photo = { format: 'jpeg', width: 5120, height: 2880 };
  it.each([
    ['a JPEG photograph to JPEG stays in process', 'costly', photo, 'jpeg', false],
    ['a JPEG photograph to WebP stays in process', 'costly', photo, 'webp', false],
    ['any AVIF answer goes to a child', 'costly', { ...photo, width: 64, height: 64 }, 'avif', true],
    ['any HEIF/AVIF original goes to a child', 'costly', { format: 'heif', width: 64, height: 64 }, 'jpeg', true],
    ['a PNG at the pixel bound stays in process', 'costly', { format: 'png', width: 4096, height: 4096 }, 'png', false],
    ['one pixel more goes to a child', 'costly', { format: 'png', width: 4096, height: 4097 }, 'png', true],
    ['all: everything goes to a child', 'all', photo, 'jpeg', true],
    ['none: nothing does', 'none', { format: 'heif', width: 8000, height: 6000 }, 'avif', false],
  ] as const)('%s', (_, mode, shape, format, expected) => {
    expect(isolated(mode, shape, format)).toBe(expected);
  });

  it('puts the bound above the normal workload largest photograph', () => {
    expect(ISOLATE_PIXELS).toBeGreaterThan(5120 * 2880);
  });
});
