/**
 * Hostile-input attacks on the service (issue 22, items 6-9), one case each, every hostile input
 * made here: the in-process service for the answers, then the real process under a 512 MiB budget
 * for its peak RSS.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySampler, memoryOf, snapshotTree } from '../../bench/proc-stats.ts';
import { readAdminToken } from './admin.ts';
import { avifClaiming12Bit, grainyJpeg, interlaced16BitPng, manyScanJpeg, noisyJpeg, pngTextBomb } from './attacks.testkit.ts';
import { DEFAULT_CACHE_BYTES } from './config.ts';
import { AVIF_MAX_PIXELS, MAX_JPEG_SCANS, workerShare } from './cost.ts';
import { errorOf, get, metric, type Running, scrape, send, startService, until } from './service.testkit.ts';
import { createHttpSource, httpOptionsFrom } from './sources/http.ts';

const MiB = 1024 * 1024;
/** The pod the budget is derived from: 512 MiB, two workers, the default result cache. */
const LIMIT = 512 * MiB;
const WORKERS = 2;
const SHARE = workerShare(LIMIT, DEFAULT_CACHE_BYTES, WORKERS);
const TOKEN = 'attack-suite-token';

let dir: string;
let root: string;
let outside: string;
const inputs: Record<string, Buffer> = {};
const running: Running[] = [];

async function service(overrides: Parameters<typeof startService>[1] = {}): Promise<Running> {
  const svc = await startService(root, { workers: WORKERS, memoryPerWorker: SHARE, adminToken: TOKEN, ...overrides });
  running.push(svc);
  return svc;
}

const transforms = async (svc: Running) => metric(await scrape(svc.port), 'image_service_transforms_total');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attacks-'));
  root = join(dir, 'root');
  outside = join(dir, 'outside');
  await mkdir(root);
  await mkdir(outside);
  Object.assign(inputs, {
    'photo.jpg': await noisyJpeg(5120, 2880),
    'huge.jpg': await noisyJpeg(7000, 7000),
    'grain.jpg': await grainyJpeg(5120, 2880, 3.75),
    'scans.jpg': manyScanJpeg(2048, 2048),
    'text-bomb.png': await pngTextBomb(12, 7_900_000),
    'itxt-bomb.png': await pngTextBomb(12, 7_900_000, true),
    'deep.avif': await avifClaiming12Bit(7071, 7071),
    'interlaced16.png': await interlaced16BitPng(6000, 6000),
  });
  for (const [name, bytes] of Object.entries(inputs)) await writeFile(join(root, name), bytes);
  await symlink(outside, join(root, 'linked'));
}, 120_000);

afterAll(async () => {
  for (const svc of running) await svc.close();
  await rm(dir, { recursive: true, force: true });
});

describe('6: one request cannot take a worker for long', () => {
  it('refuses an AVIF answer over its pixel bound before encoding, whatever q, and makes smaller ones', async () => {
    const svc = await service();
    for (const q of [80, 81, 37]) {
      const answer = await get(svc.port, `/image/files/photo.jpg?fm=avif&q=${q}`);
      expect(answer.status).toBe(422);
      expect(errorOf(answer)).toMatchObject({ code: 'avif_too_large' });
      expect(errorOf(answer).message).toContain(String(AVIF_MAX_PIXELS));
    }
    expect(await transforms(svc)).toBe(0);
    const small = await get(svc.port, '/image/files/photo.jpg?w=1024&fm=avif');
    expect(small.status).toBe(200);
    expect(await sharp(small.body).metadata()).toMatchObject({ format: 'heif', width: 1024 });
  });

  it(`refuses a valid progressive JPEG of 2688 scans (over ${MAX_JPEG_SCANS}) from its markers`, async () => {
    const svc = await service();
    const answer = await get(svc.port, '/image/files/scans.jpg?w=200');
    expect(answer.status).toBe(422);
    expect(errorOf(answer)).toMatchObject({ code: 'too_many_scans' });
    expect(errorOf(answer).message).toContain('2688 scans');
    expect(await transforms(svc)).toBe(0);
    // The same file really decodes: the refusal is the bound, not a parse failure.
    expect((await sharp(inputs['scans.jpg']!).resize(16).toBuffer()).length).toBeGreaterThan(0);
  });

  it('stops libvips at the time limit, and abandoned work frees its worker then', async () => {
    // A full-size PNG of 49 MP of noise: zlib alone needs seconds for its 147 MB of samples.
    const svc = await service({ workers: 1, transformSeconds: 1, queueTimeoutMs: 20_000, memoryPerWorker: 1024 * MiB });
    const slow = await get(svc.port, '/image/files/huge.jpg?fm=png');
    expect(slow.status).toBe(422);
    expect(errorOf(slow)).toMatchObject({ code: 'too_slow' });
    // Two clients give up on slow work; the next request is still answered by the one worker.
    const gone = [new AbortController(), new AbortController()];
    const abandoned = gone.map((c) => get(svc.port, '/image/files/huge.jpg?fm=png&q=1', {}, c.signal).catch(() => undefined));
    await until(() => svc.service.admission.inflight === 1);
    for (const c of gone) c.abort();
    await Promise.all(abandoned);
    const next = await get(svc.port, '/image/files/photo.jpg?w=320');
    expect(next.status).toBe(200);
  });
});

describe('6: work stops when its client leaves', () => {
  /** CPU seconds of this test process and all its children, the killed ones included (cutime). */
  const cpuSeconds = () => snapshotTree(process.pid).cpuSeconds;
  const gauge = async (svc: Running, name: string) => metric(await scrape(svc.port), name);

  it.each(['costly', 'all'] as const)('isolate=%s: an AVIF answer abandoned after 200 ms frees its slot at once and its CPU stops', { timeout: 60_000 }, async (isolate) => {
    // One slot, no time limit in reach: only the client's leaving can stop this work (a 5120x2880
    // photograph of coarse grain to a megapixel of AVIF: about 2.8 s of CPU, libaom's frame in one call).
    const svc = await service({ workers: 1, isolate, transformSeconds: 60, queueTimeoutMs: 30_000 });
    const client = new AbortController();
    const abandoned = get(svc.port, '/image/files/grain.jpg?w=1365&fm=avif&q=90', {}, client.signal).catch(() => undefined);
    await until(() => svc.service.admission.inflight === 1);
    await sleep(200);
    client.abort();
    await abandoned;
    const left = performance.now();
    await until(async () => (await gauge(svc, 'image_service_inflight')) === 0, 10_000);
    const freedMs = performance.now() - left;
    const before = cpuSeconds();
    await sleep(1000);
    const spent = cpuSeconds() - before;
    // Generous bounds: the kill takes milliseconds, the work left would take seconds of CPU.
    expect(freedMs).toBeLessThan(1500);
    expect(spent).toBeLessThan(0.35);
    expect(await gauge(svc, 'image_service_transform_children_killed')).toBe(1);
    await until(async () => metric(await scrape(svc.port), 'image_service_http_requests_total', 'route="image",code="499"') === 1);
    expect(await gauge(svc, 'image_service_transform_children')).toBe(0);
    // The one slot takes the next requests, the AVIF answer in a new child.
    const next = await get(svc.port, '/image/files/photo.jpg?w=320');
    expect(next.status).toBe(200);
    const avif = await get(svc.port, '/image/files/photo.jpg?w=128&fm=avif');
    expect(avif.status).toBe(200);
    expect(await sharp(avif.body).metadata()).toMatchObject({ format: 'heif', width: 128 });
  });
});

describe('7: decompression bombs under the pixel limit', () => {
  it.each(['text-bomb.png', 'itxt-bomb.png'])('serves %s on the resize, original and upload paths without inflating its text', async (name) => {
    const svc = await service();
    const resized = await get(svc.port, `/image/files/${name}?w=32&fm=png`);
    expect(resized.status).toBe(200);
    expect(await sharp(resized.body).metadata()).toMatchObject({ width: 32 });
    const original = await get(svc.port, `/image/files/${name}`);
    expect(original.status).toBe(200);
    expect(original.body.equals(inputs[name]!)).toBe(true);
    const uploaded = await send(svc.port, 'PUT', `/image/files/uploaded-${name}`, inputs[name]!, { authorization: `Bearer ${TOKEN}` });
    expect(uploaded.status).toBe(201);
  });

  it('refuses a 12-bit AVIF with alpha whose header claims 7071x7071 for the memory its decode needs', async () => {
    const svc = await service();
    const answer = await get(svc.port, '/image/files/deep.avif?w=100');
    expect(answer.status).toBe(422);
    expect(errorOf(answer)).toMatchObject({ code: 'too_much_memory' });
    expect(errorOf(answer).message).toMatch(/7071x7071 heif, 4 channels of 16 bits/);
    const upload = await send(svc.port, 'PUT', '/image/files/deep-upload.avif', inputs['deep.avif']!, { authorization: `Bearer ${TOKEN}` });
    expect(upload.status).toBe(422);
    expect(existsSync(join(root, 'deep-upload.avif'))).toBe(false);
  });

  it('refuses a 16-bit interlaced PNG whose whole image does not fit a worker, and serves it where it does', async () => {
    const tight = await service();
    const refused = await get(tight.port, '/image/files/interlaced16.png?w=100');
    expect(refused.status).toBe(422);
    expect(errorOf(refused)).toMatchObject({ code: 'too_much_memory' });
    expect(await transforms(tight)).toBe(0);
    const roomy = await service({ memoryPerWorker: 1024 * MiB });
    expect((await get(roomy.port, '/image/files/interlaced16.png?w=100')).status).toBe(200);
  });
});

describe('8: slow readers', () => {
  it('drops an answer its client does not take within the send timeout', async () => {
    const svc = await service({ sendTimeoutMs: 300 });
    // The client never reads: the kernel's buffers take a few MB of the 9.7 MB and the write stalls.
    const req = request({ host: '127.0.0.1', port: svc.port, path: '/image/files/photo.jpg', agent: false }, (res) => res.pause());
    req.on('error', () => undefined);
    req.end();
    try {
      // The server gave up on it: the answer is counted as the client's (499), its buffer freed with the socket.
      await until(async () => metric(await scrape(svc.port), 'image_service_http_requests_total', 'route="image",code="499"') === 1);
      expect(metric(await scrape(svc.port), 'image_service_http_requests_total', 'route="image",code="200"')).toBe(0);
    } finally {
      req.destroy();
    }
  });
});

describe('9: small ones', () => {
  it('answers a key segment longer than the file system allows with 400', async () => {
    const svc = await service();
    const answer = await get(svc.port, `/image/files/${'a'.repeat(300)}.jpg?w=10`);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: 'invalid_key' });
  });

  it('creates no directory outside the root for an upload through a symlinked folder', async () => {
    const svc = await service();
    const answer = await send(svc.port, 'PUT', '/image/files/linked/new/deeper/x.png', inputs['text-bomb.png']!, { authorization: `Bearer ${TOKEN}` });
    expect(answer.status).toBe(400);
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses at start an admin token with whitespace, in one line', async () => {
    const file = join(dir, 'token');
    await writeFile(file, 'two words\n');
    expect(() => readAdminToken(file)).toThrow(/^IMAGE_SERVICE_ADMIN_TOKEN_FILE: the token in .* contains whitespace/);
  });

  it('names no internal origin URL in its answers', async () => {
    let origin: Server | undefined;
    try {
      origin = createServer((req, res) => {
        if (req.url?.includes('redirect')) res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
        else res.writeHead(req.url?.includes('broken') ? 500 : 404).end();
      });
      await new Promise<void>((resolve) => origin!.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/internal-base/`;
      const svc = await startService(createHttpSource(httpOptionsFrom(base, { HTTP_SOURCE_ALLOW_PRIVATE: 'true', HTTP_SOURCE_ALLOWED_HOSTS: '127.0.0.1,169.254.169.254' })));
      running.push(svc);
      for (const key of ['missing.jpg', 'broken.jpg', 'redirect.jpg']) {
        const answer = await get(svc.port, `/image/files/${key}?w=10`);
        expect(answer.status).toBeGreaterThanOrEqual(400);
        const text = answer.body.toString();
        expect(text).toContain(key);
        for (const secret of ['127.0.0.1', 'internal-base', '169.254', 'meta-data']) expect(text).not.toContain(secret);
      }
    } finally {
      origin?.close();
    }
  });
});

describe('the service process under a 512 MiB budget', () => {
  it('keeps its peak RSS within the limit through every attack, and still serves photographs', { timeout: 180_000 }, async () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const tokenFile = join(dir, 'admin-token');
    await writeFile(tokenFile, TOKEN);
    const vars: NodeJS.ProcessEnv = {
      ...process.env,
      IMAGE_SOURCE: pathToFileURL(root).href,
      IMAGE_SERVICE_HOST: '127.0.0.1',
      IMAGE_SERVICE_PORT: '0',
      IMAGE_SERVICE_WORKERS: String(WORKERS),
      IMAGE_SERVICE_MEMORY_LIMIT_BYTES: String(LIMIT),
      IMAGE_SERVICE_ADMIN_TOKEN_FILE: tokenFile,
      // Memory is what this test measures: no time limit or queue timeout may refuse a request on a busy machine.
      IMAGE_SERVICE_TRANSFORM_SECONDS: '120',
      IMAGE_SERVICE_QUEUE_TIMEOUT_MS: '120000',
    };
    for (const name of ['UV_THREADPOOL_SIZE', 'VIPS_CONCURRENCY', 'MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']) delete vars[name];
    const child = spawn(process.execPath, [main], { env: vars, stdio: ['ignore', 'pipe', 'inherit'] });
    // The service and its transform children: the sum of their RSS, polled (shared library pages
    // counted once per process, so an upper bound), and the service's own peak.
    const tree = new MemorySampler(child.pid!, 50);
    try {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const listening = () => out.split('\n').flatMap((line) => (line.includes('"msg":"listening"') ? [JSON.parse(line) as { port: number }] : []))[0];
      await until(() => listening() !== undefined, 15_000);
      const port = listening()!.port;
      const paths = [
        '/image/files/photo.jpg?fm=avif',
        '/image/files/photo.jpg?w=1280&fm=avif',
        '/image/files/scans.jpg?w=200',
        '/image/files/text-bomb.png?w=32',
        '/image/files/text-bomb.png',
        '/image/files/itxt-bomb.png?w=32&fm=webp',
        '/image/files/deep.avif?w=100',
        '/image/files/interlaced16.png?w=100',
        '/image/files/photo.jpg?w=640',
        '/image/files/photo.jpg?w=1280&fm=webp',
      ];
      // Two at a time, as many as the workers: every slot busy with hostile work at once.
      const statuses: number[] = [];
      for (let i = 0; i < paths.length; i += 2) {
        const answers = await Promise.all(paths.slice(i, i + 2).map((path) => get(port, path)));
        statuses.push(...answers.map((a) => a.status));
      }
      const uploads = await Promise.all(['text-bomb.png', 'itxt-bomb.png'].map((name) => send(port, 'PUT', `/image/files/up-${name}`, inputs[name]!, { authorization: `Bearer ${TOKEN}` })));
      expect(uploads.map((u) => u.status)).toEqual([201, 201]);
      expect(statuses).toEqual([422, 200, 422, 200, 200, 200, 422, 422, 200, 200]);
      const memory = memoryOf(child.pid!);
      expect(memory).toBeDefined();
      expect(memory!.hwm).toBeLessThanOrEqual(LIMIT);
      expect(tree.stop().peakRssBytes).toBeLessThanOrEqual(LIMIT);
    } finally {
      tree.stop();
      child.kill('SIGKILL');
    }
  });
});
