import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { interlaced16BitPng, manyScanJpeg, noisyJpeg, pngTextBomb } from './attacks.testkit.ts';
import { readRasterHeader, withoutPngText } from './headers.ts';

describe('readRasterHeader', () => {
  it('reads a sequential JPEG without walking its scans', async () => {
    expect(readRasterHeader(await noisyJpeg(300, 200))).toEqual({ format: 'jpeg', width: 300, height: 200, channels: 3, bytesPerSample: 1, progressive: false, scans: 1, textBytes: 0 });
  });

  it('counts the scans of progressive JPEGs, as an encoder writes them and as an attacker does', async () => {
    const progressive = readRasterHeader(await noisyJpeg(300, 200, { progressive: true }));
    expect(progressive).toMatchObject({ progressive: true, width: 300, height: 200 });
    expect(progressive!.scans).toBeGreaterThan(1);
    expect(progressive!.scans).toBeLessThan(20);
    expect(readRasterHeader(manyScanJpeg(64, 48))).toMatchObject({ width: 64, height: 48, progressive: true, scans: 2688 });
  });

  it.each([
    ['grey', 1, (image: Sharp) => image.toColourspace('b-w')],
    ['RGB', 3, (image: Sharp) => image],
    ['RGBA', 4, (image: Sharp) => image.ensureAlpha()],
  ])('reads a %s PNG', async (_, channels, shape) => {
    const png = await shape(sharp({ create: { width: 20, height: 10, channels: 3, background: '#123456' } }))
      .png()
      .toBuffer();
    expect(readRasterHeader(png)).toMatchObject({ format: 'png', width: 20, height: 10, channels, bytesPerSample: 1, progressive: false });
  });

  it('reads a 16-bit interlaced PNG and the text a bomb carries', async () => {
    expect(readRasterHeader(await interlaced16BitPng(40, 30))).toMatchObject({ width: 40, height: 30, channels: 4, bytesPerSample: 2, progressive: true });
    const bomb = await pngTextBomb(3, 100_000);
    expect(readRasterHeader(bomb)!.textBytes).toBeGreaterThan(3 * 50);
    expect(readRasterHeader(bomb)!.textBytes).toBeLessThan(bomb.length);
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['text', Buffer.from('not an image at all, not even close')],
    ['a JPEG signature only', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 2])],
    ['a PNG signature only', Buffer.from('89504e470d0a1a0a', 'hex')],
  ])('gives up on %s (libvips decides then)', (_, bytes) => {
    expect(readRasterHeader(bytes)).toBeUndefined();
  });
});

describe('withoutPngText', () => {
  it('drops every text chunk and leaves a PNG that decodes to the same pixels', async () => {
    const bomb = await pngTextBomb(4, 1_000_000, true);
    const stripped = withoutPngText(bomb);
    expect(readRasterHeader(stripped)!.textBytes).toBe(0);
    const [a, b] = await Promise.all([sharp(bomb).raw().toBuffer(), sharp(stripped).raw().toBuffer()]);
    expect(a.equals(b)).toBe(true);
  });

  it('returns the same buffer when there is nothing to drop', async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    expect(withoutPngText(png)).toBe(png);
  });
});
