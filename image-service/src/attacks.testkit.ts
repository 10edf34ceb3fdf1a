/**
 * Hostile images for the attack suite (attacks.test.ts) and `npm run bench -- --scenario attacks`,
 * made with sharp or by writing bytes: nothing binary is checked in.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** A photograph-like JPEG (noise does not compress, so it costs what a photo costs). */
export function noisyJpeg(width: number, height: number, options: { progressive?: boolean } = {}): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg({ quality: 90, progressive: options.progressive ?? false })
    .toBuffer();
}

/**
 * A large JPEG whose noise is `grain` pixels coarse, so that it survives a downscale by that
 * factor: the costliest content an AVIF answer of a megapixel can be asked to encode.
 */
export async function grainyJpeg(width: number, height: number, grain: number): Promise<Buffer> {
  const noise = await sharp({ create: { width: Math.ceil(width / grain), height: Math.ceil(height / grain), channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .png()
    .toBuffer();
  return sharp(noise).resize(width, height, { kernel: 'nearest', fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))));
  return Buffer.concat([head, data, crc]);
}

/**
 * A small valid PNG with `chunks` compressed text chunks (zTXt, or iTXt when `international`)
 * before its image data, each inflating to `inflatedBytes`: the file is about a thousandth of
 * what a decoder that keeps the text inflates.
 */
export async function pngTextBomb(chunks: number, inflatedBytes: number, international = false): Promise<Buffer> {
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#6a5' } })
    .png()
    .toBuffer();
  const text = deflateSync(Buffer.alloc(inflatedBytes, 'a'), { level: 9 });
  const body = international ? Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\x01\x00\0\0', 'latin1'), text]) : Buffer.concat([Buffer.from('Comment\0\x00', 'latin1'), text]);
  const chunk = pngChunk(international ? 'iTXt' : 'zTXt', body);
  const ihdrEnd = 8 + 12 + 13;
  return Buffer.concat([png.subarray(0, ihdrEnd), ...Array.from({ length: chunks }, () => chunk), png.subarray(ihdrEnd)]);
}

/** A 16-bit RGBA interlaced (Adam7) PNG of flat colour: small on disk, the whole image in memory to decode. */
export function interlaced16BitPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 40, g: 90, b: 200, alpha: 0.5 } } })
    .toColourspace('rgb16')
    .png({ progressive: true, compressionLevel: 9 })
    .toBuffer();
}

/** Bits into bytes, MSB first, with JPEG's stuffing (0x00 after every 0xFF) and 1-bits to pad. */
class BitWriter {
  readonly bytes: number[] = [];
  #acc = 0;
  #count = 0;
  write(value: number, bits: number): void {
    for (let i = bits - 1; i >= 0; i--) {
      this.#acc = (this.#acc << 1) | ((value >> i) & 1);
      if (++this.#count === 8) this.#flush();
    }
  }
  #flush(): void {
    this.bytes.push(this.#acc);
    if (this.#acc === 0xff) this.bytes.push(0);
    this.#acc = 0;
    this.#count = 0;
  }
  end(): Buffer {
    if (this.#count > 0) this.write(0xff, 8 - this.#count);
    return Buffer.from(this.bytes);
  }
}

function segment(marker: number, data: number[]): Buffer {
  return Buffer.from([0xff, marker, (data.length + 2) >> 8, (data.length + 2) & 0xff, ...data]);
}

/**
 * A valid progressive JPEG of flat grey with the most scans the progression rules allow: for each
 * of 3 components and each of 64 coefficients, a first scan at bit 13 and a refinement for every
 * lower bit, 2688 scans in all. Each scan is a pass over every block of its component, so a
 * decoder's work is scans x blocks, from a file of a few hundred KB. Written by hand: no encoder
 * lets a caller choose such a scan script.
 */
export function manyScanJpeg(width: number, height: number): Buffer {
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const parts: Buffer[] = [Buffer.from([0xff, 0xd8])];
  parts.push(segment(0xdb, [0x00, ...new Array<number>(64).fill(1)]));
  parts.push(segment(0xc2, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]));
  // DC table 0: the one symbol 0 (no difference) as code "0". AC table 0: the 15 end-of-band-run
  // symbols (r << 4, r = 0..14) as the 4-bit codes 0000..1110.
  const dcCounts = [1, ...new Array<number>(15).fill(0)];
  const acCounts = [0, 0, 0, 15, ...new Array<number>(12).fill(0)];
  parts.push(segment(0xc4, [0x00, ...dcCounts, 0, 0x10, ...acCounts, ...Array.from({ length: 15 }, (_, r) => r << 4)]));
  const scan = (component: number, ss: number, se: number, ah: number, al: number, data: Buffer) => {
    parts.push(segment(0xda, [1, component, 0x00, ss, se, (ah << 4) | al]), data);
  };
  const dcFirst = () => {
    const bits = new BitWriter();
    for (let i = 0; i < blocks; i++) bits.write(0, 1);
    return bits.end();
  };
  // Every AC band is zero: one end-of-band run over all the blocks, in runs of at most 32767.
  const acEmpty = () => {
    const bits = new BitWriter();
    for (let left = blocks; left > 0; ) {
      const run = Math.min(left, 32767);
      const r = Math.floor(Math.log2(run));
      bits.write(r, 4);
      bits.write(run - (1 << r), r);
      left -= run;
    }
    return bits.end();
  };
  const dc = dcFirst();
  const dcRefine = dc; // one correction bit (0) per block: the same bytes
  const ac = acEmpty();
  for (let al = 13; al >= 0; al--) {
    const ah = al === 13 ? 0 : al + 1;
    for (let c = 1; c <= 3; c++) scan(c, 0, 0, ah, al, al === 13 ? dc : dcRefine);
    for (let c = 1; c <= 3; c++) for (let k = 1; k < 64; k++) scan(c, k, k, ah, al, ac);
  }
  parts.push(Buffer.from([0xff, 0xd9]));
  return Buffer.concat(parts);
}

/**
 * An AVIF whose header (`ispe`, `pixi`) claims `width` x `height` 12-bit samples with alpha, as a
 * 1.6 KB file of flat colour can: the header is all the service may look at before deciding.
 * Encoding such a file for real takes libaom many seconds and gigabytes (docs/benchmarks.md,
 * "Image service: hostile images"), so the claim is written over a small 12-bit image's header.
 */
export async function avifClaiming12Bit(width: number, height: number): Promise<Buffer> {
  const avif = Buffer.from(
    await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } })
      .avif({ bitdepth: 12 })
      .toBuffer(),
  );
  // Every `ispe` box (colour and alpha items): size, 'ispe', version/flags, width, height.
  for (let at = avif.indexOf('ispe'); at !== -1; at = avif.indexOf('ispe', at + 4)) {
    avif.writeUInt32BE(width, at + 8);
    avif.writeUInt32BE(height, at + 12);
  }
  return avif;
}
