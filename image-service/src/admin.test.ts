import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Admin, readAdminToken, type AdminOptions } from './admin.ts';
import { Admission } from './admission.ts';
import { errorBody, HttpError } from './errors.ts';
import { openFileSource } from './sources/file.ts';
import type { Source } from './sources/source.ts';

const TOKEN = 's3cr3t-admin-token';
const auth = { authorization: `Bearer ${TOKEN}` };

/** A PNG whose IHDR claims width x height (CRC fixed up), with a tiny real payload. */
export async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).png().toBuffer());
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)) >>> 0, 29);
  return png;
}

let root: string;
let server: Server;
let base: string;
let jpeg: Buffer;

/** Mounts the two admin routes the way the service does, on a real HTTP server. */
async function serve(opts: Partial<AdminOptions> & { source: Source }): Promise<void> {
  const admin = new Admin({ token: TOKEN, maxBodyBytes: 200_000, maxInputPixels: 1_000_000, admission: new Admission({ slots: 1, queueLimit: 10, queueTimeoutMs: 5000 }), ...opts });
  server = createServer((req, res) => {
    const controller = new AbortController();
    res.on('close', () => controller.abort(new Error('client gone')));
    const path = (req.url ?? '').split('?')[0] ?? '';
    const answer =
      req.method === 'PUT' && path.startsWith('/image/files/')
        ? admin.put(req, path.slice('/image/files/'.length), controller.signal)
        : req.method === 'DELETE' && path === '/image/files'
          ? admin.bulkDelete(req, controller.signal)
          : Promise.reject(new HttpError(404, 'not_found', 'no such route'));
    answer.then(
      ({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
      (err: unknown) => {
        const e = err instanceof HttpError ? err : new HttpError(500, 'internal', 'internal error');
        res.writeHead(e.status, { 'content-type': 'application/json', ...e.headers }).end(errorBody(e));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw HTTP request (fetch refuses some of what these tests send, like a body on DELETE with odd keys). */
function send(method: string, path: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    // host/port/path, not a URL: a URL would resolve %2e%2e before sending.
    const { hostname, port } = new URL(base);
    const req = request({ hostname, port, path, method, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }));
    });
    // The server may answer (413) and close before the whole body is sent.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(body);
  });
}

async function stored(): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) if (entry.isFile()) out.push(join(entry.parentPath, entry.name).slice(root.length + 1));
  return out.sort();
}

beforeAll(async () => {
  jpeg = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#2a6' } }).jpeg().toBuffer();
});
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'imageops-admin-'));
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

describe('PUT /image/files/{key}', () => {
  beforeEach(async () => serve({ source: await openFileSource(root) }));

  it('stores a valid image and says what it stored', async () => {
    const res = await send('PUT', '/image/files/shoes/red.jpg', jpeg, auth);
    expect(res.status).toBe(201);
    expect(res.json).toEqual({ key: 'shoes/red.jpg', bytes: jpeg.length, format: 'jpeg', width: 120, height: 80 });
    expect((await readFile(join(root, 'shoes/red.jpg'))).equals(jpeg)).toBe(true);
    expect(await stored()).toEqual(['shoes/red.jpg']);
  });

  it.each([
    [{}, 401],
    [{ authorization: 'Basic YWRtaW46YWRtaW4=' }, 401],
    [{ authorization: 'Bearer wrong-token' }, 403],
    [{ authorization: `Bearer ${TOKEN}x` }, 403],
  ])('refuses %j with %i and stores nothing', async (headers, status) => {
    const res = await send('PUT', '/image/files/a.jpg', jpeg, headers);
    expect(res.status).toBe(status);
    if (status === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(await stored()).toEqual([]);
  });

  it('refuses a non-image with 415', async () => {
    const res = await send('PUT', '/image/files/a.jpg', 'this is not an image', auth);
    expect(res.status).toBe(415);
    expect(await stored()).toEqual([]);
  });

  it('refuses a decompression bomb from its header with 422', async () => {
    const res = await send('PUT', '/image/files/bomb.png', await pngClaiming(30_000, 30_000), auth);
    expect(res.status).toBe(422);
    expect((res.json.error as { message: string }).message).toMatch(/30000x30000/);
    expect(await stored()).toEqual([]);
  });

  it('refuses a real, highly compressible image over maxInputPixels with 422', async () => {
    const big = await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#fff' } }).png({ compressionLevel: 9 }).toBuffer();
    expect(big.length).toBeLessThan(200_000); // small on the wire, 2 MP once decoded
    const res = await send('PUT', '/image/files/flat.png', big, auth);
    expect(res.status).toBe(422);
    expect(await stored()).toEqual([]);
  });

  it('refuses a truncated image after the full decode with 422', async () => {
    const noise = Buffer.from(Array.from({ length: 400 * 300 * 3 }, (_, i) => (i * 7919) % 251));
    const photo = await sharp(noise, { raw: { width: 400, height: 300, channels: 3 } }).jpeg().toBuffer();
    const res = await send('PUT', '/image/files/cut.jpg', photo.subarray(0, Math.floor(photo.length / 2)), auth);
    expect(res.status).toBe(422);
    expect((res.json.error as { code: string }).code).toBe('undecodable_image');
    expect(await stored()).toEqual([]);
  });

  it('refuses an oversize body with 413, declared or streamed, and stores nothing', async () => {
    const oversize = Buffer.concat([jpeg, Buffer.alloc(300_000)]);
    expect((await send('PUT', '/image/files/big.jpg', oversize, auth)).status).toBe(413);
    // Chunked: no Content-Length, so the limit can only be enforced while reading.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/image/files/big.jpg`, { method: 'PUT', headers: { ...auth, 'transfer-encoding': 'chunked' } }, (res) => {
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
    const res = await send('PUT', `/image/files/${key}`, jpeg, auth);
    expect(res.status).toBe(400);
    expect(await stored()).toEqual([]);
  });

  it('refuses an empty body with 400', async () => {
    expect((await send('PUT', '/image/files/a.jpg', '', auth)).status).toBe(400);
  });
});

describe('DELETE /image/files', () => {
  beforeEach(async () => {
    await mkdir(join(root, 'shoes'));
    for (const key of ['a.jpg', 'shoes/b.jpg', 'keep.jpg']) await writeFile(join(root, key), jpeg);
    await serve({ source: await openFileSource(root) });
  });

  it('answers 200 when every key was deleted, counting missing keys as deleted', async () => {
    const res = await send('DELETE', '/image/files', JSON.stringify({ files: ['a.jpg', 'shoes/b.jpg', 'never-existed.jpg'] }), auth);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ succeeded_count: 3, succeeded_files: ['a.jpg', 'shoes/b.jpg', 'never-existed.jpg'], failed_count: 0, failed_files: [] });
    expect(await stored()).toEqual(['keep.jpg']);
  });

  it('answers 207 with exact counts when some keys are invalid', async () => {
    const files = ['a.jpg', 'missing.jpg', '../keep.jpg', '', 'x\u0000y', 'shoes/b.jpg', 'k'.repeat(1025)];
    const res = await send('DELETE', '/image/files', JSON.stringify({ files }), auth);
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
  ])('refuses the body %s with 400 and deletes nothing', async (body, message) => {
    const res = await send('DELETE', '/image/files', body, auth);
    expect(res.status).toBe(400);
    expect((res.json.error as { message: string }).message).toMatch(message);
    expect(await stored()).toEqual(['a.jpg', 'keep.jpg', 'shoes/b.jpg']);
  });

  it('accepts exactly 1000 keys', async () => {
    const res = await send('DELETE', '/image/files', JSON.stringify({ files: Array.from({ length: 1000 }, (_, i) => (i === 0 ? 'a.jpg' : `k${i}.jpg`)) }), auth);
    expect(res.status).toBe(200);
    expect(res.json.succeeded_count).toBe(1000);
  });

  it('needs the token', async () => {
    expect((await send('DELETE', '/image/files', JSON.stringify({ files: ['a.jpg'] }))).status).toBe(401);
    expect(await stored()).toEqual(['a.jpg', 'keep.jpg', 'shoes/b.jpg']);
  });
});

describe('a read-only source', () => {
  beforeEach(async () => serve({ source: { kind: 'http', get: () => Promise.reject(new Error('unused')) } }));
  it('answers 405 to uploads and deletes', async () => {
    expect((await send('PUT', '/image/files/a.jpg', jpeg, auth)).status).toBe(405);
    expect((await send('DELETE', '/image/files', JSON.stringify({ files: ['a.jpg'] }), auth)).status).toBe(405);
  });
});

describe('readAdminToken', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imageops-token-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('reads and trims the token, refusing an empty or missing file', async () => {
    await writeFile(join(dir, 'token'), `${TOKEN}\n`);
    await writeFile(join(dir, 'empty'), '\n');
    expect(readAdminToken(join(dir, 'token'))).toBe(TOKEN);
    expect(() => readAdminToken(join(dir, 'empty'))).toThrow(/IMAGE_SERVICE_ADMIN_TOKEN_FILE: .* is empty/);
    expect(() => readAdminToken(join(dir, 'nope'))).toThrow(/IMAGE_SERVICE_ADMIN_TOKEN_FILE: cannot read .*ENOENT/);
  });
});
