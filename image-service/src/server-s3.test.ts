import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, get, type Running, send, startService } from './service.testkit.ts';
import { type LocalS3, startLocalS3 } from './sources/local-s3.testkit.ts';
import { openSource } from './sources/open.ts';
import { closedPort } from './sources/sources.testkit.ts';

/** The service over an S3 source (IMAGE_SOURCE=s3://..., S3_ENDPOINT) against a real S3-protocol server. */

const TOKEN = 'admin-token-for-s3';
const auth = { authorization: `Bearer ${TOKEN}` };

let s3: LocalS3;
let svc: Running;
let photo: Buffer;

beforeAll(async () => {
  s3 = await startLocalS3('originals');
  photo = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3a6ea5' } })
    .jpeg()
    .toBuffer();
  const source = await openSource({ kind: 's3', url: `s3://originals/products/` }, { S3_ENDPOINT: s3.endpoint, S3_REGION: 'us-east-1' });
  svc = await startService(source, { adminToken: TOKEN, maxSourceBytes: 100_000, cacheBytes: 1 << 20 });
});

afterAll(async () => {
  await svc?.close();
  await s3?.close();
});

describe('S3-backed service', () => {
  it('uploads, serves (original and resized) and deletes through the API', async () => {
    expect((await send(svc.port, 'PUT', '/image/files/shoes/red.jpg', photo, auth)).status).toBe(201);
    const original = await get(svc.port, '/image/files/shoes/red.jpg');
    expect(original.status).toBe(200);
    expect(original.body.equals(photo)).toBe(true);
    const small = await get(svc.port, '/image/files/shoes/red.jpg?w=100&fm=webp');
    expect(small.status).toBe(200);
    expect(await sharp(small.body).metadata()).toMatchObject({ width: 100, height: 75, format: 'webp' });

    const deleted = await send(svc.port, 'DELETE', '/image/files', JSON.stringify({ files: ['shoes/red.jpg', 'never-there.jpg', '../x'] }), auth);
    expect(deleted.status).toBe(207);
    expect(JSON.parse(deleted.body.toString())).toMatchObject({ succeeded_count: 2, failed_count: 1 });
    expect((await get(svc.port, '/image/files/shoes/red.jpg?w=100&fm=webp')).status).toBe(404);
  });

  it('answers 404 for a missing key and 413 for an object over maxSourceBytes', async () => {
    const missing = await get(svc.port, '/image/files/no/such.jpg?w=10');
    expect(missing.status).toBe(404);
    expect(errorOf(missing).code).toBe('not_found');
    // Stored directly through the source (an upload this large would be refused by the API).
    const source = await openSource({ kind: 's3', url: `s3://originals/products/` }, { S3_ENDPOINT: s3.endpoint });
    const noisy = await sharp(randomBytes(300 * 300 * 3), { raw: { width: 300, height: 300, channels: 3 } })
      .png()
      .toBuffer();
    expect(noisy.length).toBeGreaterThan(100_000);
    await source.put?.('big.png', noisy, { signal: new AbortController().signal });
    const big = await get(svc.port, '/image/files/big.png?w=10');
    expect(big.status).toBe(413);
    expect(errorOf(big).code).toBe('too_large');
  });

  it('tells clients the key, never the bucket, prefix or endpoint; the log keeps them', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const endpoints = [s3.endpoint, `http://127.0.0.1:${await closedPort()}`];
    for (const endpoint of endpoints) {
      const hidden = await startService(await openSource({ kind: 's3', url: 's3://internal-bucket-7/tenant-a/' }, { S3_ENDPOINT: endpoint }), {}, logger);
      try {
        for (const path of ['/image/files/shoes/red.jpg?w=10', '/image/files/shoes/red.jpg']) {
          const answer = await get(hidden.port, path);
          expect([404, 502]).toContain(answer.status);
          const text = answer.body.toString();
          expect(text).toContain('shoes/red.jpg');
          for (const secret of ['internal-bucket-7', 'tenant-a', '127.0.0.1', new URL(endpoint).port, 's3://', 'NoSuchBucket', 'ECONNREFUSED']) expect(text).not.toContain(secret);
        }
      } finally {
        await hidden.close();
      }
    }
    const failures = lines.map((line) => JSON.parse(line) as { msg: string }).filter((entry) => entry.msg === 'source failure');
    expect(failures.length).toBe(4);
    for (const entry of failures) expect(entry).toMatchObject({ detail: expect.stringContaining('s3://internal-bucket-7/tenant-a/shoes/red.jpg') });
  });

  it('answers 502 when the store is down, never 500', async () => {
    const down = await startService(await openSource({ kind: 's3', url: 's3://originals/' }, { S3_ENDPOINT: `http://127.0.0.1:${await closedPort()}` }), { adminToken: TOKEN });
    try {
      const answer = await get(down.port, '/image/files/a.jpg?w=10');
      expect(answer.status).toBe(502);
      expect(errorOf(answer).code).toBe('unavailable');
      expect((await send(down.port, 'PUT', '/image/files/a.jpg', photo, auth)).status).toBe(502);
      const bulk = await send(down.port, 'DELETE', '/image/files', JSON.stringify({ files: ['a.jpg'] }), auth);
      expect(bulk.status).toBe(207);
      expect((JSON.parse(bulk.body.toString()) as { failed_files: { reason: string }[] }).failed_files[0]?.reason).toMatch(/unreachable/);
    } finally {
      await down.close();
    }
  });
});
