/**
 * The interim `npm start` (until the sandbox replaces it): generates a few sample images with
 * sharp under .sandbox/demo-images, prints example URLs and becomes the image service over them.
 */
import { mkdirSync, writeSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';

const root = fileURLToPath(new URL('../../.sandbox/demo-images/', import.meta.url));
const main = fileURLToPath(new URL('./main.ts', import.meta.url));
mkdirSync(root, { recursive: true });

function scene(width: number, height: number, sky: string, ground: string): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${sky}"/><stop offset="1" stop-color="#fff"/></linearGradient></defs>
  <rect width="100%" height="100%" fill="url(#s)"/>
  <circle cx="${width * 0.75}" cy="${height * 0.25}" r="${height * 0.1}" fill="#ffd23f"/>
  <path d="M0 ${height * 0.7} Q ${width * 0.3} ${height * 0.45} ${width * 0.6} ${height * 0.68} T ${width} ${height * 0.6} V ${height} H 0 Z" fill="${ground}"/>
</svg>`);
}

await sharp(scene(2560, 1600, '#4a90d9', '#2e7d32')).jpeg({ quality: 88 }).toFile(`${root}/landscape.jpg`);
await sharp(scene(1600, 2400, '#f28c28', '#6d4c41')).webp({ quality: 85 }).toFile(`${root}/portrait.webp`);
await sharp(
  Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800"><circle cx="400" cy="400" r="360" fill="#e53935" fill-opacity="0.85"/><circle cx="400" cy="400" r="200" fill="#fff"/></svg>'),
)
  .png()
  .toFile(`${root}/badge.png`);

const port = process.env.IMAGE_SERVICE_PORT ?? '8080';
const base = `http://127.0.0.1:${port}`;
writeSync(
  1,
  [
    `Sample images in ${root}`,
    'The image service will listen on ' + base + ' (the sandbox replaces this demo later). Try:',
    `  ${base}/image/files/landscape.jpg                     the original bytes`,
    `  ${base}/image/files/landscape.jpg?w=640               640 wide, JPEG (WebP if your browser asks)`,
    `  ${base}/image/files/portrait.webp?w=300&h=300&fit=cover&fm=avif`,
    `  ${base}/image/files/badge.png?w=200                   keeps its alpha: PNG or WebP`,
    `  ${base}/metrics   ${base}/healthz   ${base}/readyz`,
    'Ctrl-C stops it.',
    '',
  ].join('\n'),
);

const env = { ...process.env, IMAGE_SOURCE: pathToFileURL(root).href, IMAGE_SERVICE_HOST: process.env.IMAGE_SERVICE_HOST ?? '127.0.0.1', IMAGE_SERVICE_PORT: port };
// Become the service (same PID, so Ctrl-C and SIGTERM reach it directly); without execve, run it here.
if (typeof process.execve === 'function') process.execve(process.execPath, [process.execPath, main], env);
Object.assign(process.env, env);
await import('./main.ts');
