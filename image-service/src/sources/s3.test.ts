import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from './local-s3.testkit.ts';
import { createS3Source, S3_DEFAULT_TIMEOUTS, type S3SourceOptions, s3OptionsFrom } from './s3.ts';
import { closedPort, failure, hangingPort } from './sources.testkit.ts';

const signal = new AbortController().signal;
let s3: LocalS3;
let jpeg: Buffer;

function source(overrides: Partial<S3SourceOptions> = {}) {
  return createS3Source({
    bucket: s3.bucket,
    prefix: 'products/',
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    ...S3_DEFAULT_TIMEOUTS,
    ...overrides,
  });
}

beforeAll(async () => {
  s3 = await startLocalS3();
  jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c33' } })
    .jpeg()
    .toBuffer();
});
afterAll(async () => {
  await s3.close();
});

describe('s3OptionsFrom', () => {
  it.each([
    ['s3://originals/products/', {}, { bucket: 'originals', prefix: 'products/', forcePathStyle: false }],
    ['s3://originals/products', {}, { bucket: 'originals', prefix: 'products/', forcePathStyle: false }],
    ['s3://originals', { S3_ENDPOINT: 'http://minio:9000' }, { bucket: 'originals', prefix: '', forcePathStyle: true }],
    ['s3://b/p/', { S3_ENDPOINT: 'http://minio:9000', S3_FORCE_PATH_STYLE: 'false' as const }, { forcePathStyle: false }],
    ['s3://b/p/', { S3_FORCE_PATH_STYLE: 'true' as const, S3_REGION: 'ap-northeast-2' }, { forcePathStyle: true, region: 'ap-northeast-2' }],
  ])('%s %j', (url, env, expected) => {
    expect(s3OptionsFrom(url, env)).toMatchObject(expected);
  });

  it('refuses a URL without a bucket', () => {
    expect(() => s3OptionsFrom('s3:///x', {})).toThrow(/s3:\/\/bucket\/prefix/);
  });
});

describe('S3 source against a local S3 server', () => {
  it('stores, reads back with a version, and deletes an object under its prefix', async () => {
    const src = source();
    await src.put?.('shoes/red.jpg', jpeg, { signal });
    const got = await src.get('shoes/red.jpg', { maxBytes: 1 << 20, signal });
    expect(got.bytes.equals(jpeg)).toBe(true);
    expect(got.version).toMatch(/^"[0-9a-f]{32}"$/);
    // The prefix is part of the object key: seen without it, the object is products/shoes/red.jpg.
    const raw = await source({ prefix: '' }).get('products/shoes/red.jpg', { maxBytes: 1 << 20, signal });
    expect(raw.bytes.equals(jpeg)).toBe(true);

    await src.delete?.('shoes/red.jpg', { signal });
    expect((await failure(src.get('shoes/red.jpg', { maxBytes: 1 << 20, signal }))).status).toBe(404);
  });

  it('answers 404 for a missing key and succeeds deleting one', async () => {
    const src = source();
    const err = await failure(src.get('no/such.jpg', { maxBytes: 1 << 20, signal }));
    expect(err.status).toBe(404);
    expect(err.message).toBe('no image at key "no/such.jpg"');
    expect(err.detail).toContain('s3://originals/products/no/such.jpg');
    await expect(src.delete?.('no/such.jpg', { signal })).resolves.toBeUndefined();
  });

  it('refuses an object over the byte limit with 413', async () => {
    const src = source();
    await src.put?.('big.bin', Buffer.alloc(200_000, 7), { signal });
    const err = await failure(src.get('big.bin', { maxBytes: 100_000, signal }));
    expect(err.status).toBe(413);
    expect((await src.get('big.bin', { maxBytes: 200_000, signal })).bytes.length).toBe(200_000);
  });

  it('answers 502 when the store is down', async () => {
    const src = source({ endpoint: `http://127.0.0.1:${await closedPort()}` });
    const err = await failure(src.get('shoes/red.jpg', { maxBytes: 1 << 20, signal }));
    expect(err.status).toBe(502);
    expect((await failure(src.put?.('x.jpg', jpeg, { signal }) ?? Promise.resolve())).status).toBe(502);
  });

  it('answers 504 when the store accepts but never answers', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const src = source({ endpoint: `http://127.0.0.1:${port}`, totalTimeoutMs: 300 });
      const err = await failure(src.get('shoes/red.jpg', { maxBytes: 1 << 20, signal }));
      expect(err.status).toBe(504);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('answers 504 when no connection to the store is made in time', async () => {
    const hanging = await hangingPort();
    try {
      const src = source({ endpoint: `http://127.0.0.1:${hanging.port}`, connectTimeoutMs: 200 });
      expect((await failure(src.get('shoes/red.jpg', { maxBytes: 1 << 20, signal }))).status).toBe(504);
    } finally {
      hanging.close();
    }
  });

  it('names no bucket, prefix or endpoint in what a client sees, and keeps them in detail for the log', async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    const cases = [
      { src: source({ bucket: 'internal-bucket-7', prefix: 'tenant-a/' }), status: 404 },
      { src: source({ endpoint: down, bucket: 'internal-bucket-7', prefix: 'tenant-a/' }), status: 502 },
    ];
    for (const { src, status } of cases) {
      const err = await failure(src.get('shoes/red.jpg', { maxBytes: 1 << 20, signal }));
      expect(err.status).toBe(status);
      expect(err.message).toContain('"shoes/red.jpg"');
      for (const secret of ['internal-bucket-7', 'tenant-a', '127.0.0.1', 's3://', 'NoSuchBucket', 'ECONNREFUSED']) expect(err.message).not.toContain(secret);
      expect(err.detail).toContain('s3://internal-bucket-7/tenant-a/shoes/red.jpg');
    }
    // Credentials the store does not know: 502, without the store's error code.
    const saved = process.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_ACCESS_KEY_ID = 'UNKNOWN-KEY';
    try {
      const err = await failure(source().get('shoes/red.jpg', { maxBytes: 1 << 20, signal }));
      expect(err.status).toBe(502);
      expect(err.message).toBe('key "shoes/red.jpg": the image store refused or failed the request');
      expect(err.detail).toMatch(/InvalidAccessKeyId.*HTTP 403/);
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved;
    }
  });

  it('gives a caller that went away its own abort reason', async () => {
    const src = source();
    const gone = new Error('client disconnected');
    await expect(src.get('shoes/red.jpg', { maxBytes: 1 << 20, signal: AbortSignal.abort(gone) })).rejects.toBe(gone);
  });
});
