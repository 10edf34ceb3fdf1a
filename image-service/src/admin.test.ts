import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readAdminToken } from './admin.ts';
import { type Answer, get, metric, pngClaiming, type Running, scrape, send as sendRaw, startService } from './service.testkit.ts';
import { createHttpSource, httpOptionsFrom } from './sources/http.ts';
import { closedPort } from './sources/sources.testkit.ts';

/** The management API through the real server, over a real file source. */

const TOKEN = 's3cr3t-admin-token';
const auth = { authorization: `Bearer ${TOKEN}` };

interface Sent extends Answer {
  json: Record<string, unknown>;
}

async function send(port: number, method: string, path: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<Sent> {
  const answer = await sendRaw(port, method, path, body, headers);
  return { ...answer, json: JSON.parse(answer.body.toString() || '{}') as Record<string, unknown> };
}

const message = (sent: Sent) => (sent.json.error as { message: string }).message;

let root: string;
let svc!: Running;
const running: Running[] = [];

async function start(...args: Parameters<typeof startService>): Promise<Running> {
  const started = await startService(...args);
  running.push(started);
  svc = started;
  return started;
}
let jpeg: Buffer;

async function stored(): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) if (entry.isFile()) out.push(join(entry.parentPath, entry.name).slice(root.length + 1));
  return out.sort();
}

beforeAll(async () => {
  jpeg = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#2a6' } })
    .jpeg()
    .toBuffer();
});
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'imageops-admin-'));
});
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
  await rm(root, { recursive: true, force: true });
});

describe('PUT /image/files/{key}', () => {
  beforeEach(async () => {
    await start(root, { adminToken: TOKEN, maxSourceBytes: 200_000, maxInputPixels: 1_000_000, cacheBytes: 1 << 20 });
  });

  it('stores a valid image that GET then serves, replacing any cached result', async () => {
    const put = await send(svc.port, 'PUT', '/image/files/shoes/red.jpg', jpeg, auth);
    expect(put.status).toBe(201);
    expect(put.json).toEqual({ key: 'shoes/red.jpg', bytes: jpeg.length, format: 'jpeg', width: 120, height: 80 });
    expect((await readFile(join(root, 'shoes/red.jpg'))).equals(jpeg)).toBe(true);
    expect((await sharp((await get(svc.port, '/image/files/shoes/red.jpg?w=60')).body).metadata()).width).toBe(60);

    const wider = await sharp({ create: { width: 300, height: 80, channels: 3, background: '#a26' } })
      .jpeg()
      .toBuffer();
    expect((await send(svc.port, 'PUT', '/image/files/shoes/red.jpg', wider, auth)).status).toBe(201);
    const after = await get(svc.port, '/image/files/shoes/red.jpg?w=60');
    expect((await sharp(after.body).metadata()).height).toBe(16); // the new image's aspect, not a cached result of the old one
    expect(await stored()).toEqual(['shoes/red.jpg']);
  });

  it.each([
    [{}, 401],
    [{ authorization: 'Basic YWRtaW46YWRtaW4=' }, 401],
    [{ authorization: 'Bearer wrong-token' }, 403],
    [{ authorization: `Bearer ${TOKEN}x` }, 403],
  ])('refuses %j with %i and stores nothing', async (headers, status) => {
    const res = await send(svc.port, 'PUT', '/image/files/a.jpg', jpeg, headers);
    expect(res.status).toBe(status);
    if (status === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(await stored()).toEqual([]);
  });

  it('refuses a non-image with 415', async () => {
    expect((await send(svc.port, 'PUT', '/image/files/a.jpg', 'this is not an image', auth)).status).toBe(415);
    expect(await stored()).toEqual([]);
  });

  it('refuses a decompression bomb from its header with 422', async () => {
    const res = await send(svc.port, 'PUT', '/image/files/bomb.png', await pngClaiming(30_000, 30_000), auth);
    expect(res.status).toBe(422);
    expect(message(res)).toMatch(/30000x30000/);
    expect(await stored()).toEqual([]);
  });

  it('refuses a real, highly compressible image over maxInputPixels with 422', async () => {
    const big = await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#fff' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(big.length).toBeLessThan(200_000); // small on the wire, 2 MP once decoded
    expect((await send(svc.port, 'PUT', '/image/files/flat.png', big, auth)).status).toBe(422);
    expect(await stored()).toEqual([]);
  });

  it('refuses a truncated image after the full decode with 422', async () => {
    const noise = Buffer.from(Array.from({ length: 400 * 300 * 3 }, (_, i) => (i * 7919) % 251));
    const photo = await sharp(noise, { raw: { width: 400, height: 300, channels: 3 } })
      .jpeg()
      .toBuffer();
    const res = await send(svc.port, 'PUT', '/image/files/cut.jpg', photo.subarray(0, Math.floor(photo.length / 2)), auth);
    expect(res.status).toBe(422);
    expect((res.json.error as { code: string }).code).toBe('undecodable_image');
    expect(await stored()).toEqual([]);
  });

  it('refuses an oversize body with 413, declared or streamed, and stores nothing', async () => {
    const oversize = Buffer.concat([jpeg, Buffer.alloc(300_000)]);
    expect((await send(svc.port, 'PUT', '/image/files/big.jpg', oversize, auth)).status).toBe(413);
    // Chunked: no Content-Length, so the limit can only be enforced while reading.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: svc.port, path: '/image/files/big.jpg', method: 'PUT', agent: false, headers: { ...auth, 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
      for (let i = 0; i < 10; i++) req.write(Buffer.alloc(50_000));
      req.end();
    });
    expect(chunked).toBe(413);
    expect(await stored()).toEqual([]);
  });

  it.each(['..%2Fescape.jpg', '%2e%2e/x.jpg', 'a//b.jpg', `${'k'.repeat(1025)}.jpg`])('refuses the key %s with 400', async (key) => {
    expect((await send(svc.port, 'PUT', `/image/files/${key}`, jpeg, auth)).status).toBe(400);
    expect(await stored()).toEqual([]);
  });

  it('refuses an empty body with 400 and other methods with 405', async () => {
    expect((await send(svc.port, 'PUT', '/image/files/a.jpg', '', auth)).status).toBe(400);
    expect((await send(svc.port, 'PUT', '/image/files', jpeg, auth)).status).toBe(405);
    expect((await send(svc.port, 'DELETE', '/image/files/a.jpg', '', auth)).status).toBe(405);
  });
});

describe('DELETE /image/files', () => {
  beforeEach(async () => {
    await mkdir(join(root, 'shoes'));
    for (const key of ['a.jpg', 'shoes/b.jpg', 'keep.jpg']) await writeFile(join(root, key), jpeg);
    await start(root, { adminToken: TOKEN, cacheBytes: 1 << 20 });
  });

  const del = (body: unknown, headers = auth) => send(svc.port, 'DELETE', '/image/files', typeof body === 'string' ? body : JSON.stringify(body), headers);

  it('answers 200 when every key was deleted, counting missing keys as deleted, and forgets cached results', async () => {
    expect((await get(svc.port, '/image/files/a.jpg?w=10')).status).toBe(200);
    const res = await del({ files: ['a.jpg', 'shoes/b.jpg', 'never-existed.jpg'] });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ succeeded_count: 3, succeeded_files: ['a.jpg', 'shoes/b.jpg', 'never-existed.jpg'], failed_count: 0, failed_files: [] });
    expect(await stored()).toEqual(['keep.jpg']);
    expect((await get(svc.port, '/image/files/a.jpg?w=10')).status).toBe(404);
  });

  it('answers 207 with exact counts when some keys are invalid', async () => {
    const files = ['a.jpg', 'missing.jpg', '../keep.jpg', '', 'x\u0000y', 'shoes/b.jpg', 'k'.repeat(1025)];
    const res = await del({ files });
    expect(res.status).toBe(207);
    expect(res.json.succeeded_count).toBe(3);
    expect(res.json.succeeded_files).toEqual(['a.jpg', 'missing.jpg', 'shoes/b.jpg']);
    expect(res.json.failed_count).toBe(4);
    const failed = res.json.failed_files as { file: string; reason: string }[];
    expect(failed.map((f) => f.file)).toEqual(['../keep.jpg', '', 'x\u0000y', 'k'.repeat(1025)]);
    for (const f of failed) expect(f.reason).toMatch(/^key /);
    expect(await stored()).toEqual(['keep.jpg']);
  });

  it.each([
    ['not json', /must be JSON/],
    ['{"files": []}', /at least one/],
    ['{"files": "a.jpg"}', /array of keys/],
    ['{"files": [1]}', /array of keys/],
    ['{"keys": ["a.jpg"]}', /./],
    [JSON.stringify({ files: Array.from({ length: 1001 }, (_, i) => `k${i}.jpg`) }), /at most 1000/],
  ])('refuses the body %s with 400 and deletes nothing', async (body, pattern) => {
    const res = await del(body);
    expect(res.status).toBe(400);
    expect(message(res)).toMatch(pattern);
    expect(await stored()).toEqual(['a.jpg', 'keep.jpg', 'shoes/b.jpg']);
  });

  it('accepts exactly 1000 keys', async () => {
    const res = await del({ files: Array.from({ length: 1000 }, (_, i) => (i === 0 ? 'a.jpg' : `k${i}.jpg`)) });
    expect(res.status).toBe(200);
    expect(res.json.succeeded_count).toBe(1000);
    expect(await stored()).toEqual(['keep.jpg', 'shoes/b.jpg']);
  });

  it('needs the token', async () => {
    expect((await del({ files: ['a.jpg'] }, {} as typeof auth)).status).toBe(401);
    expect(await stored()).toEqual(['a.jpg', 'keep.jpg', 'shoes/b.jpg']);
  });
});

describe('without IMAGE_SERVICE_ADMIN_TOKEN_FILE', () => {
  it('has no management routes: 404, even with a token', async () => {
    await writeFile(join(root, 'a.jpg'), jpeg);
    await start(root);
    expect((await send(svc.port, 'PUT', '/image/files/b.jpg', jpeg, auth)).status).toBe(404);
    expect((await send(svc.port, 'DELETE', '/image/files', JSON.stringify({ files: ['a.jpg'] }), auth)).status).toBe(404);
    expect(await stored()).toEqual(['a.jpg']);
    expect(metric(await scrape(svc.port), 'image_service_http_requests_total', 'route="image",code="404"')).toBe(2);
  });
});

describe('the HTTP origin source', () => {
  it('is read-only: 405 to uploads and deletes', async () => {
    const origin = createHttpSource(httpOptionsFrom(`http://127.0.0.1:${await closedPort()}/originals`, { HTTP_SOURCE_ALLOW_PRIVATE: 'true' }));
    await start(origin, { adminToken: TOKEN });
    expect((await send(svc.port, 'PUT', '/image/files/a.jpg', jpeg, auth)).status).toBe(405);
    expect((await send(svc.port, 'DELETE', '/image/files', JSON.stringify({ files: ['a.jpg'] }), auth)).status).toBe(405);
  });
});

describe('readAdminToken', () => {
  it('reads and trims the token, refusing an empty or missing file', async () => {
    await writeFile(join(root, 'token'), `${TOKEN}\n`);
    await writeFile(join(root, 'empty'), '\n');
    expect(readAdminToken(join(root, 'token'))).toBe(TOKEN);
    expect(() => readAdminToken(join(root, 'empty'))).toThrow(/IMAGE_SERVICE_ADMIN_TOKEN_FILE: .* is empty/);
    expect(() => readAdminToken(join(root, 'nope'))).toThrow(/IMAGE_SERVICE_ADMIN_TOKEN_FILE: cannot read .*ENOENT/);
  });
});
