// Sample originals for the demo and the end-to-end tests, drawn with sharp: a landscape JPEG, a
// portrait WebP and a PNG with alpha, so that resizing, format negotiation and alpha all show.
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';

function scene(width: number, height: number, sky: string, ground: string): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${sky}"/><stop offset="1" stop-color="#fff"/></linearGradient></defs>
  <rect width="100%" height="100%" fill="url(#s)"/>
  <circle cx="${width * 0.75}" cy="${height * 0.25}" r="${height * 0.1}" fill="#ffd23f"/>
  <path d="M0 ${height * 0.7} Q ${width * 0.3} ${height * 0.45} ${width * 0.6} ${height * 0.68} T ${width} ${height * 0.6} V ${height} H 0 Z" fill="${ground}"/>
</svg>`);
}

const BADGE =
  '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600"><circle cx="300" cy="300" r="270" fill="#e53935" fill-opacity="0.85"/><circle cx="300" cy="300" r="150" fill="#fff"/></svg>';

export const SAMPLE_IMAGES = ['landscape.jpg', 'portrait.webp', 'badge.png'] as const;

/** Writes the sample images into `dir` (created if missing); returns their keys. */
export async function writeSampleImages(dir: string): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  await sharp(scene(1200, 800, '#4a90d9', '#2e7d32'))
    .jpeg({ quality: 85 })
    .toFile(path.join(dir, 'landscape.jpg'));
  await sharp(scene(800, 1200, '#f28c28', '#6d4c41'))
    .webp({ quality: 85 })
    .toFile(path.join(dir, 'portrait.webp'));
  await sharp(Buffer.from(BADGE)).png().toFile(path.join(dir, 'badge.png'));
  return [...SAMPLE_IMAGES];
}

/** Requests a client of the service would make for the samples: a few sizes and formats. */
export function samplePaths(): string[] {
  const sizes = ['w=160', 'w=320&h=320&fit=cover', 'w=480'];
  return SAMPLE_IMAGES.flatMap((key) => sizes.map((q) => `/image/files/${key}?${q}`));
}
