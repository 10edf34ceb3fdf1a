/**
 * What a JPEG's or a PNG's own structure says before libvips decodes it: the numbers a decode's
 * cost follows from (size, samples, bit depth, progressive scans or interlacing) and the
 * ancillary chunks libpng would inflate. Pure functions over the bytes: they walk segment and
 * chunk headers, never decompress anything. libvips' own header reader tells neither the scan
 * count nor the compressed text, and it inflates that text as it reads the header.
 */

export interface RasterHeader {
  format: 'jpeg' | 'png';
  width: number;
  height: number;
  /** Samples per pixel as libvips decodes them (a palette PNG becomes RGB, with tRNS RGBA). */
  channels: number;
  bytesPerSample: 1 | 2;
  /** Progressive JPEG or interlaced (Adam7) PNG: the decoder holds the whole image. */
  progressive: boolean;
  /** JPEG: start-of-scan markers; every scan is a pass over the whole image. PNG: 1. */
  scans: number;
  /** PNG: bytes of tEXt, zTXt and iTXt chunks (compressed text may inflate ~1000-fold). */
  textBytes: number;
}

/** undefined when the bytes are not a JPEG or a PNG this walker understands (libvips decides then). */
export function readRasterHeader(bytes: Buffer): RasterHeader | undefined {
  if (bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return readJpeg(bytes);
  if (bytes.length > 33 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return readPng(bytes);
  return undefined;
}

/** Start-of-frame markers that carry the dimensions (C0-CF but DHT C4, JPG C8, DAC CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function readJpeg(bytes: Buffer): RasterHeader | undefined {
  let at = 2;
  let frame: { width: number; height: number; channels: number; bytesPerSample: 1 | 2; progressive: boolean } | undefined;
  let scans = 0;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return frame && { format: 'jpeg', ...frame, scans, textBytes: 0 };
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xd9) break; // EOI
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    const length = bytes.readUInt16BE(at + 2);
    if (isStartOfFrame(marker) && frame === undefined && at + 10 <= bytes.length) {
      const precision = bytes[at + 4]!;
      frame = {
        height: bytes.readUInt16BE(at + 5),
        width: bytes.readUInt16BE(at + 7),
        channels: bytes[at + 9]!,
        bytesPerSample: precision > 8 ? 2 : 1,
        // SOF2, SOF6, SOF10, SOF14: progressive; the coefficients of the whole image are kept.
        progressive: (marker & 0x03) === 0x02,
      };
      // A sequential JPEG is decoded as it streams, whatever its scans: stop reading here.
      if (!frame.progressive) return { format: 'jpeg', ...frame, scans: 1, textBytes: 0 };
    }
    at += 2 + length;
    if (marker === 0xda) {
      scans += 1;
      at = entropyEnd(bytes, at);
    }
  }
  return frame && { format: 'jpeg', ...frame, scans, textBytes: 0 };
}

/** The offset of the first marker after entropy-coded data (0xFF not followed by 0x00 or a restart marker). */
function entropyEnd(bytes: Buffer, from: number): number {
  let at = from;
  for (;;) {
    at = bytes.indexOf(0xff, at);
    if (at === -1 || at + 1 >= bytes.length) return bytes.length;
    const next = bytes[at + 1]!;
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) at += next === 0xff ? 1 : 2;
    else return at;
  }
}

const PNG_CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };
const TEXT_CHUNKS = new Set(['tEXt', 'zTXt', 'iTXt']);

function readPng(bytes: Buffer): RasterHeader | undefined {
  if (bytes.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  const colorType = bytes[25]!;
  const channels = PNG_CHANNELS[colorType];
  if (channels === undefined) return undefined;
  let transparency = false;
  let textBytes = 0;
  for (const chunk of pngChunks(bytes)) {
    if (chunk.type === 'tRNS') transparency = true;
    else if (TEXT_CHUNKS.has(chunk.type)) textBytes += chunk.length;
  }
  return {
    format: 'png',
    width: bytes.readUInt32BE(16),
    height: bytes.readUInt32BE(20),
    channels: channels + (transparency && (colorType === 0 || colorType === 2 || colorType === 3) ? 1 : 0),
    bytesPerSample: bytes[24]! > 8 ? 2 : 1,
    progressive: bytes[28] === 1,
    scans: 1,
    textBytes,
  };
}

interface Chunk {
  type: string;
  /** Offset of the chunk's length field; the chunk spans start .. start + 12 + length. */
  start: number;
  length: number;
}

function* pngChunks(bytes: Buffer): Generator<Chunk> {
  let at = 8;
  while (at + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    yield { type, start: at, length };
    if (type === 'IEND') return;
    at += 12 + length;
  }
}

/**
 * The PNG without its text chunks, which the service never uses (answers carry no metadata) and
 * which libpng would otherwise inflate, up to its per-chunk limit, for each of up to 1000 chunks.
 * The same buffer when there are none.
 */
export function withoutPngText(bytes: Buffer): Buffer {
  const kept: Buffer[] = [bytes.subarray(0, 8)];
  let dropped = false;
  for (const chunk of pngChunks(bytes)) {
    if (TEXT_CHUNKS.has(chunk.type)) dropped = true;
    else kept.push(bytes.subarray(chunk.start, chunk.start + 12 + chunk.length));
  }
  return dropped ? Buffer.concat(kept) : bytes;
}
