// The benchmark corpus: real photographs from a directory, or synthetic ones made with sharp,
// laid out under .bench/ with many hard-linked names per photograph. Distinct names keep
// concurrent requests distinct, so a server's coalescing or result cache cannot answer them
// (every contender must resize every request), while the page cache serves the same bytes.
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import sharp from 'sharp';

export interface Corpus {
  /** The directory every server serves, holding the linked names. */
  root: string;
  /** Where the photographs came from, for the report. */
  origin: string;
  synthetic: boolean;
  /** Keys (file names under root) of the 2560x1600-class photographs and of the large one. */
  photos: string[];
  large: string[];
}

/** Megapixels from which a photograph counts as the large one (5120x2880 is 14.7). */
const LARGE_MEGAPIXELS = 10;

const SYNTHETIC: readonly { name: string; width: number; height: number; hue: number }[] = [
  ...Array.from({ length: 8 }, (_, i) => ({ name: `synthetic-${i + 1}-2560x1600.jpg`, width: 2560, height: 1600, hue: i * 45 })),
  { name: 'synthetic-large-5120x2880.jpg', width: 5120, height: 2880, hue: 200 },
];

/** A photograph-like JPEG: colour gradients for the large shapes, soft noise for texture, so that
 *  it compresses (and decodes) like a photograph rather than like a flat or a random image. */
export async function syntheticPhotograph(width: number, height: number, hue: number): Promise<Buffer> {
  const colour = (shift: number, light: number): string => `hsl(${(hue + shift) % 360}, 65%, ${light}%)`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="${colour(0, 25)}"/><stop offset="0.5" stop-color="${colour(60, 55)}"/>
      <stop offset="1" stop-color="${colour(150, 35)}"/></linearGradient>
      <radialGradient id="r" cx="0.3" cy="0.4" r="0.5"><stop offset="0" stop-color="${colour(90, 80)}" stop-opacity="0.8"/>
      <stop offset="1" stop-color="${colour(90, 80)}" stop-opacity="0"/></radialGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/><rect width="100%" height="100%" fill="url(#r)"/></svg>`;
  const noise = await sharp({ create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .blur(1.2)
    .png({ compressionLevel: 1 })
    .toBuffer();
  return sharp(Buffer.from(svg))
    .composite([{ input: noise, blend: 'overlay' }])
    .flatten()
    .jpeg({ quality: 88 })
    .toBuffer();
}

async function generateSynthetic(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const spec of SYNTHETIC) {
    const file = join(dir, spec.name);
    if (existsSync(file)) continue;
    // Written aside and renamed, so an interrupted run never leaves a half photograph behind.
    writeFileSync(`${file}.tmp`, await syntheticPhotograph(spec.width, spec.height, spec.hue));
    renameSync(`${file}.tmp`, file);
  }
}

export interface CorpusOptions {
  /** The photographs' directory; undefined: generate synthetic ones. */
  source: string | undefined;
  /** The harness's working directory (.bench). */
  workDir: string;
  /** Linked names per photograph. */
  copies: number;
}

export async function prepareCorpus(options: CorpusOptions): Promise<Corpus> {
  const synthetic = options.source === undefined;
  const sourceDir = options.source ?? join(options.workDir, 'synthetic');
  if (synthetic) await generateSynthetic(sourceDir);
  const jpegs = readdirSync(sourceDir)
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort();
  if (jpegs.length === 0) throw new Error(`no JPEG photographs in ${sourceDir}`);

  const root = join(options.workDir, 'corpus');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const photos: string[] = [];
  const large: string[] = [];
  for (const name of jpegs) {
    const from = join(sourceDir, name);
    const meta = await sharp(from).metadata();
    const isLarge = (meta.width * meta.height) / 1e6 >= LARGE_MEGAPIXELS;
    const stem = basename(name, extname(name));
    const first = join(root, name);
    copyFileSync(from, first);
    const keys = [name];
    for (let i = 1; i < options.copies; i++) {
      const key = `${stem}_${String(i).padStart(3, '0')}.jpg`;
      linkSync(first, join(root, key));
      keys.push(key);
    }
    (isLarge ? large : photos).push(...keys);
  }
  if (photos.length === 0 || large.length === 0) {
    throw new Error(`${sourceDir} needs both photographs under ${LARGE_MEGAPIXELS} MP and at least one at or over it`);
  }
  return { root, origin: sourceDir, synthetic, photos: interleave(photos, options.copies), large };
}

/** Orders keys so that consecutive requests visit different photographs (a_000, b_000, ..., a_001). */
function interleave(keys: string[], copies: number): string[] {
  const groups = keys.length / copies;
  const out: string[] = [];
  for (let copy = 0; copy < copies; copy++) {
    for (let group = 0; group < groups; group++) {
      const key = keys[group * copies + copy];
      if (key !== undefined) out.push(key);
    }
  }
  return out;
}
