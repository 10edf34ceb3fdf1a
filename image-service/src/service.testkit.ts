/**
 * What the image service's tests share: images generated with sharp (no binary fixtures), an
 * in-process server on 127.0.0.1 port 0, raw HTTP (so hostile paths reach the server unaltered)
 * and a /metrics reader.
 */

import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { type Logger, pino } from 'pino';
import sharp from 'sharp';
import { createImageService, type ImageService, type ServiceSettings } from './server.ts';
import { openFileSource } from './sources/file.ts';
import type { Source } from './sources/source.ts';

export interface Fixture {
  /** The parent folder: the source root is `root`, secrets lie beside it. */
  dir: string;
  root: string;
  cleanup(): Promise<void>;
}

export const SECRET = 'secret outside the root';

/** A source root with a photo, a PNG with alpha, a slow-to-resize image and hostile files. */
export async function makeFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'image-service-'));
  const root = join(dir, 'root');
  await mkdir(join(root, 'nested'), { recursive: true });
  const photo = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3a6ea5' } })
    .composite([{ input: { create: { width: 200, height: 150, channels: 3, background: '#f5c242' } }, left: 50, top: 40 }])
    .jpeg({ quality: 90 })
    .toBuffer();
  await writeFile(join(root, 'photo.jpg'), photo);
  await writeFile(join(root, 'nested', 'photo copy.jpg'), photo);
  await writeFile(
    join(root, 'alpha.png'),
    await sharp({ create: { width: 120, height: 80, channels: 4, background: { r: 0, g: 128, b: 0, alpha: 0.5 } } })
      .png()
      .toBuffer(),
  );
  // Noise does not compress: a resize of this takes long enough for requests to overlap.
  await writeFile(
    join(root, 'slow.jpg'),
    await sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
      .jpeg({ quality: 90 })
      .toBuffer(),
  );
  await writeFile(join(root, 'truncated.jpg'), photo.subarray(0, Math.floor(photo.length / 2)));
  await writeFile(join(root, 'not-an-image.jpg'), 'this is plain text, not a JPEG\n');
  // A valid SVG that libvips could render if its loader were not blocked (transform.ts).
  await writeFile(join(root, 'drawing.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30" fill="red"/></svg>');
  await writeFile(join(root, 'huge-header.png'), await pngClaiming(30000, 30000));
  await writeFile(join(dir, 'secret.txt'), SECRET);
  await symlink(join(dir, 'secret.txt'), join(root, 'escape.jpg'));
  return { dir, root, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A small valid PNG whose IHDR claims `width` x `height` (with a correct CRC): a decompression bomb's header. */
export async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#888' } })
      .png()
      .toBuffer(),
  );
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

export const DEFAULT_SETTINGS: ServiceSettings = {
  version: '9.9.9-test',
  workers: 2,
  queueLimit: 16,
  queueTimeoutMs: 10_000,
  maxInputPixels: 50_000_000,
  maxSourceBytes: 52_428_800,
  autoFormats: ['webp'],
  cacheMaxAgeSeconds: 3600,
  injectDelayMs: 0,
  injectErrorPercent: 0,
  memoryPerWorker: 512 * 1024 * 1024,
  // Far above any test image's work on a busy machine; the attack suite sets its own.
  transformSeconds: 60,
  sendTimeoutMs: 30_000,
};

export interface Running {
  base: string;
  port: number;
  /** The management port, listening when `recordRecent` is set; else 0. */
  managementPort: number;
  service: ImageService;
  close(): Promise<void>;
}

/** A random loopback address, so that a test can take a fixed port as a pod does. */
export function randomLoopback(): string {
  const byte = () => 1 + Math.floor(Math.random() * 254);
  return `127.${byte()}.${byte()}.${byte()}`;
}

/**
 * The service over a file source at `root`, or over any other source, on 127.0.0.1 and a free
 * port; `at` puts it where a pod would be (an address of its own, a fixed management port).
 */
export async function startService(
  root: string | Source,
  overrides: Partial<ServiceSettings> = {},
  logger: Logger = pino({ level: 'silent' }),
  at: { host?: string; managementPort?: number } = {},
): Promise<Running> {
  const source = typeof root === 'string' ? await openFileSource(root) : root;
  const service = createImageService({ ...DEFAULT_SETTINGS, ...overrides }, source, logger);
  const host = at.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => service.server.listen(0, host, resolve));
  const address = service.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  let managementPort = 0;
  if (overrides.recordRecent === true) {
    await new Promise<void>((resolve) => service.management.listen(at.managementPort ?? 0, host, resolve));
    managementPort = (service.management.address() as { port: number }).port;
  }
  return {
    base: `http://${host}:${address.port}`,
    port: address.port,
    managementPort,
    service,
    close: async () => {
      service.pool.close();
      service.server.closeAllConnections();
      service.management.closeAllConnections();
      if (service.management.listening) await new Promise((resolve) => service.management.close(resolve));
      await new Promise((resolve) => service.server.close(resolve));
    },
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A GET with the path sent exactly as given (fetch would normalize `..` and encodings away). */
export function get(port: number, path: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A request with a body, the path sent as given; tolerates the server closing early after a 413. */
export function send(port: number, method: string, path: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(body);
  });
}

/** The JSON error code of an answer. */
export function errorOf(answer: Answer): { code: string; message: string } {
  return (JSON.parse(answer.body.toString()) as { error: { code: string; message: string } }).error;
}

/** The value of one sample in Prometheus text, e.g. metric(text, 'x_total', 'code="200",route="image"'); 0 when absent. */
export function metric(text: string, name: string, labels = ''): number {
  const wanted = labels === '' ? name : `${name}{${labels}}`;
  for (const line of text.split('\n')) {
    const space = line.lastIndexOf(' ');
    if (line.slice(0, space) === wanted) return Number(line.slice(space + 1));
  }
  return 0;
}

export async function scrape(port: number): Promise<string> {
  return (await get(port, '/metrics')).body.toString();
}

/** Polls until `check` holds, for at most `ms` (a test never hangs). */
export async function until(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
