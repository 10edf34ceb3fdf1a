import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, errorOf, type Fixture, get, makeFixture, metric, type Running, SECRET, scrape, startService, until } from './service.testkit.ts';
import { DRIFT_HUE_DEGREES } from './transform.ts';

let fixture: Fixture;
let svc: Running;

beforeAll(async () => {
  fixture = await makeFixture();
  svc = await startService(fixture.root);
});

afterAll(async () => {
  await svc?.close();
  await fixture?.cleanup();
});

const image = (path: string, headers: Record<string, string> = {}) => get(svc.port, `/image/files/${path}`, headers);

async function size(answer: Answer): Promise<[number | undefined, number | undefined, string | undefined]> {
  const meta = await sharp(answer.body).metadata();
  return [meta.width, meta.height, meta.format];
}

function expectJsonError(answer: Answer, status: number, code: string): string {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toBe('application/json');
  const error = errorOf(answer);
  expect(error.code).toBe(code);
  expect(answer.body.toString()).not.toMatch(/\n\s+at /); // never a stack trace
  return error.message;
}

describe('GET /image/files/{key}', () => {
  it('answers the original bytes when there is no parameter', async () => {
    const answer = await image('photo.jpg');
    expect(answer.status).toBe(200);
    expect(answer.body.equals(await readFile(join(fixture.root, 'photo.jpg')))).toBe(true);
    expect(answer.headers['content-type']).toBe('image/jpeg');
    expect(answer.headers['cache-control']).toBe('public, max-age=3600');
    expect(answer.headers.etag).toMatch(/^"[\w-]+"$/);
    expect(answer.headers.vary).toBeUndefined();
    expect((await image('nested/photo%20copy.jpg')).status).toBe(200);
  });

  it.each([
    ['w=100', [100, 75, 'jpeg']],
    ['h=150', [200, 150, 'jpeg']],
    ['w=100&h=100&fit=cover', [100, 100, 'jpeg']],
    ['w=100&h=100&fit=fill', [100, 100, 'jpeg']],
    ['w=100&h=100&fit=contain', [100, 100, 'jpeg']],
    ['w=100&h=100&fit=inside', [100, 75, 'jpeg']],
    ['w=100&h=100&fit=outside', [133, 100, 'jpeg']],
    ['w=4000', [400, 300, 'jpeg']], // never enlarged
    ['w=50&fm=png', [50, 38, 'png']],
    ['w=50&fm=webp', [50, 38, 'webp']],
    ['w=50&fm=avif', [50, 38, 'heif']],
    ['w=50&fm=jpeg', [50, 38, 'jpeg']],
  ])('resizes photo.jpg?%s', async (query, expected) => {
    const answer = await image(`photo.jpg?${query}`);
    expect(answer.status).toBe(200);
    expect(await size(answer)).toEqual(expected);
    expect(Number(answer.headers['content-length'])).toBe(answer.body.length);
  });

  it('applies the quality', async () => {
    const low = await image('slow.jpg?w=300&q=10&fm=jpeg');
    const high = await image('slow.jpg?w=300&q=95&fm=jpeg');
    expect(low.body.length).toBeLessThan(high.body.length);
  });

  it('negotiates the format from Accept, says Vary: Accept only when it did', async () => {
    const plain = await image('photo.jpg?w=50');
    expect(plain.headers['content-type']).toBe('image/jpeg');
    expect(plain.headers.vary).toBe('Accept');
    const webp = await image('photo.jpg?w=50', { accept: 'image/avif,image/webp,*/*' });
    expect(webp.headers['content-type']).toBe('image/webp');
    expect((await size(webp))[2]).toBe('webp');
    expect(webp.headers.vary).toBe('Accept');
    expect(webp.headers.etag).not.toBe(plain.headers.etag);
    const alpha = await image('alpha.png?w=60');
    expect(alpha.headers['content-type']).toBe('image/png');
    expect((await sharp(alpha.body).metadata()).hasAlpha).toBe(true);
    const fixed = await image('photo.jpg?w=50&fm=png', { accept: 'image/webp' });
    expect(fixed.headers['content-type']).toBe('image/png');
    expect(fixed.headers.vary).toBeUndefined();
  });

  it('answers 304 to a matching If-None-Match without resizing again', async () => {
    const first = await image('photo.jpg?w=64');
    const etag = String(first.headers.etag);
    const before = metric(await scrape(svc.port), 'image_service_transforms_total');
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const again = await image('photo.jpg?w=64', { 'if-none-match': header });
      expect(again.status).toBe(304);
      expect(again.body.length).toBe(0);
      expect(again.headers.etag).toBe(etag);
      expect(again.headers['cache-control']).toBe('public, max-age=3600');
    }
    expect(metric(await scrape(svc.port), 'image_service_transforms_total')).toBe(before);
    expect((await image('photo.jpg?w=65', { 'if-none-match': etag })).status).toBe(200);
    expect((await image('photo.jpg?w=64&q=81', { 'if-none-match': etag })).status).toBe(200);
    const original = await image('photo.jpg');
    expect((await image('photo.jpg', { 'if-none-match': String(original.headers.etag) })).status).toBe(304);
  });

  it.each([
    ['w=0', 'w'],
    ['w=8193', 'w'],
    ['w=abc', 'w'],
    ['h=-1', 'h'],
    ['h=1.5', 'h'],
    ['q=0', 'q'],
    ['q=101', 'q'],
    ['fit=squash', 'fit'],
    ['fm=gif', 'fm'],
    ['w=1&w=2', 'w'],
    ['size=big', 'size'],
  ])('refuses ?%s with a 400 naming %s', async (query, name) => {
    expect(expectJsonError(await image(`photo.jpg?${query}`), 400, 'invalid_parameter')).toContain(name);
  });

  it.each([
    '../secret.txt',
    '..%2fsecret.txt',
    '%2e%2e/secret.txt',
    '%2E%2E%2Fsecret.txt',
    'nested/../../secret.txt',
    'nested%2f..%2f..%2fsecret.txt',
    '%2Fetc%2Fpasswd',
    '/etc/passwd',
    '%00photo.jpg',
    'photo.jpg%00.png',
    'escape.jpg',
    'escape.jpg?w=10',
    'a'.repeat(1025),
    '',
  ])('refuses the hostile key %j with a 400 and reads nothing outside the root', async (key) => {
    const answer = await get(svc.port, `/image/files/${key}`);
    expect(answer.status).toBe(400);
    expect(answer.body.toString()).not.toContain(SECRET);
    expect(['invalid_key', 'invalid_parameter']).toContain(errorOf(answer).code);
  });

  // With fm=auto the header is read before the resize (PNG or JPEG by alpha); with an explicit
  // format the resize opens the image itself. Both must refuse the same images the same way.
  describe.each([
    ['fm=auto', 'w=10'],
    ['an explicit format', 'w=10&fm=webp'],
  ])('with %s', (_name, query) => {
    it('answers hostile images with 4xx, never 5xx', async () => {
      expectJsonError(await image(`missing.jpg?${query}`), 404, 'not_found');
      expectJsonError(await image(`not-an-image.jpg?${query}`), 415, 'unsupported_image');
      expectJsonError(await image(`drawing.svg?${query}`), 415, 'unsupported_image');
      expectJsonError(await image(`truncated.jpg?${query}`), 422, 'undecodable_image');
    });

    it('refuses a PNG whose header claims 30000x30000 with 422, before decoding it', async () => {
      const before = await scrape(svc.port);
      const message = expectJsonError(await image(`huge-header.png?${query}`), 422, 'too_many_pixels');
      expect(message).toContain('30000x30000');
      const after = await scrape(svc.port);
      // Nothing was handed to libvips for decoding: no transform ran.
      expect(metric(after, 'image_service_transforms_total')).toBe(metric(before, 'image_service_transforms_total'));
    });
  });

  it('answers 415 for originals it does not serve', async () => {
    expectJsonError(await image('not-an-image.jpg'), 415, 'unsupported_image');
    expectJsonError(await image('drawing.svg'), 415, 'unsupported_image');
  });

  it('answers the rest of its routes', async () => {
    const health = await get(svc.port, '/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body.toString())).toEqual({ status: 'ok', version: '9.9.9-test' });
    expect((await get(svc.port, '/readyz')).status).toBe(200);
    expectJsonError(await get(svc.port, '/nope'), 404, 'not_found');
    const metrics = await scrape(svc.port);
    for (const name of [
      'image_service_http_requests_total',
      'image_service_http_request_duration_seconds_bucket',
      'image_service_inflight',
      'image_service_queue_length',
      'image_service_rejected_total',
      'image_service_cache_hits_total',
      'image_service_transforms_total',
      'image_service_vips_memory_bytes',
      'process_resident_memory_bytes',
    ]) {
      expect(metrics).toContain(name);
    }
    expect(metric(metrics, 'image_service_build_info', 'version="9.9.9-test"')).toBe(1);
    expect(metric(metrics, 'image_service_http_requests_total', 'route="image",code="415"')).toBeGreaterThan(0);
  });

  it('answers 405 to other methods on images', async () => {
    const answer = await new Promise<Answer>((resolve, reject) => {
      fetch(`${svc.base}/image/files/photo.jpg`, { method: 'POST' }).then(async (res) => {
        resolve({ status: res.status, headers: Object.fromEntries(res.headers), body: Buffer.from(await res.arrayBuffer()) });
      }, reject);
    });
    expectJsonError(answer, 405, 'method_not_allowed');
    expect(answer.headers.allow).toBe('GET, HEAD');
  });

  it('honours an incoming request id and makes one otherwise', async () => {
    expect((await image('photo.jpg?w=10', { 'x-request-id': 'abc-123' })).headers['x-request-id']).toBe('abc-123');
    expect((await image('photo.jpg?w=10', { 'x-request-id': 'bad id\twith spaces' })).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('limits and fault injection', () => {
  it('answers 413 over maxSourceBytes', async () => {
    const small = await startService(fixture.root, { maxSourceBytes: 100 });
    try {
      expectJsonError(await get(small.port, '/image/files/photo.jpg?w=10'), 413, 'too_large');
    } finally {
      await small.close();
    }
  });

  it('injects a delay on image routes, visible in the duration histogram', async () => {
    const slow = await startService(fixture.root, { injectDelayMs: 350 });
    try {
      expect((await get(slow.port, '/image/files/photo.jpg?w=10')).status).toBe(200);
      const metrics = await scrape(slow.port);
      expect(metric(metrics, 'image_service_http_request_duration_seconds_bucket', 'le="+Inf",route="image"')).toBe(1);
      expect(metric(metrics, 'image_service_http_request_duration_seconds_bucket', 'le="0.3",route="image"')).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('injects a colour drift: same size and type, lightness kept, the hue moved', async () => {
    const plain = await startService(fixture.root);
    const drifted = await startService(fixture.root, { injectDrift: true });
    try {
      const path = '/image/files/photo.jpg?w=64&fm=png';
      const [a, b] = await Promise.all([get(plain.port, path), get(drifted.port, path)]);
      expect([a.status, b.status, b.headers['content-type']]).toEqual([200, 200, a.headers['content-type']]);
      const stats = (body: Buffer) => sharp(body).toColourspace('lch').raw({ depth: 'float' }).toBuffer({ resolveWithObject: true });
      const [la, lb] = await Promise.all([stats(a.body), stats(b.body)]);
      expect(lb.info).toMatchObject({ width: la.info.width, height: la.info.height });
      const fa = new Float32Array(la.data.buffer, la.data.byteOffset, la.data.length / 4);
      const fb = new Float32Array(lb.data.buffer, lb.data.byteOffset, lb.data.length / 4);
      let lightness = 0;
      let hue = 0;
      let chromatic = 0;
      for (let i = 0; i < fa.length; i += 3) {
        lightness += Math.abs(fa[i]! - fb[i]!);
        if (fa[i + 1]! < 5) continue; // a grey pixel has no hue to move
        hue += Math.abs(((fb[i + 2]! - fa[i + 2]! + 540) % 360) - 180);
        chromatic += 1;
      }
      expect(lightness / (fa.length / 3)).toBeLessThan(2);
      expect(chromatic).toBeGreaterThan(0);
      expect(hue / chromatic).toBeGreaterThan(DRIFT_HUE_DEGREES / 2);
    } finally {
      await Promise.all([plain.close(), drifted.close()]);
    }
  });

  it('injects errors on image routes only, counted like any answer', async () => {
    const broken = await startService(fixture.root, { injectErrorPercent: 100 });
    try {
      expectJsonError(await get(broken.port, '/image/files/photo.jpg?w=10'), 500, 'injected_fault');
      expect((await get(broken.port, '/healthz')).status).toBe(200);
      expect(metric(await scrape(broken.port), 'image_service_http_requests_total', 'route="image",code="500"')).toBe(1);
    } finally {
      await broken.close();
    }
  });
});

describe('admission', () => {
  it('with 1 worker and a queue of 2, answers 20 concurrent requests with 200 or 503 and never holds more than 3', async () => {
    const lines: { level: number; msg: string; status: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string; status: number }) });
    const tight = await startService(fixture.root, { workers: 1, queueLimit: 2, queueTimeoutMs: 20_000 }, logger);
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => get(tight.port, `/image/files/slow.jpg?w=${600 + i}&fm=webp`)));
      const statuses = answers.map((a) => a.status);
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(3);
      const refused = answers.filter((a) => a.status === 503);
      expect(refused.length).toBeGreaterThan(0);
      for (const answer of refused) {
        expect(answer.headers['retry-after']).toMatch(/^\d+$/);
        expect(errorOf(answer).code).toBe('queue_full');
      }
      const metrics = await scrape(tight.port);
      expect(metric(metrics, 'image_service_inflight_peak')).toBe(1);
      expect(metric(metrics, 'image_service_queue_length_peak')).toBe(2);
      expect(metric(metrics, 'image_service_rejected_total', 'reason="queue_full"')).toBe(refused.length);
      expect(metric(metrics, 'image_service_transforms_total')).toBe(20 - refused.length);
      // Refusals are counted, not logged at info: a storm of them writes no storm of log lines.
      const served = statuses.filter((s) => s === 200);
      await until(async () => lines.filter((l) => l.msg === 'request').length >= served.length);
      expect(lines.filter((l) => l.msg === 'request').map((l) => l.status)).toEqual(served);
      expect(lines.some((l) => l.status === 503)).toBe(false);
    } finally {
      await tight.close();
    }
  });

  it('frees the place of a client that disconnects while queued', async () => {
    const tight = await startService(fixture.root, { workers: 1, queueLimit: 1, queueTimeoutMs: 20_000 });
    try {
      const busy = get(tight.port, '/image/files/slow.jpg?w=1900&fm=webp');
      await until(async () => metric(await scrape(tight.port), 'image_service_inflight') === 1);
      const leaving = new AbortController();
      const left = get(tight.port, '/image/files/slow.jpg?w=1800&fm=webp', {}, leaving.signal).catch((e: unknown) => e);
      await until(async () => metric(await scrape(tight.port), 'image_service_queue_length') === 1);
      leaving.abort();
      expect(await left).toBeInstanceOf(Error);
      await until(async () => metric(await scrape(tight.port), 'image_service_queue_length') === 0);
      // The freed place takes the next request instead of a 503.
      const next = await get(tight.port, '/image/files/photo.jpg?w=20');
      expect(next.status).toBe(200);
      expect((await busy).status).toBe(200);
      const metrics = await scrape(tight.port);
      expect(metric(metrics, 'image_service_http_requests_total', 'route="image",code="499"')).toBe(1);
      expect(metric(metrics, 'image_service_rejected_total', 'reason="queue_full"')).toBe(0);
      expect(metric(metrics, 'image_service_transforms_total')).toBe(2); // the abandoned one never ran
    } finally {
      await tight.close();
    }
  });

  it('answers 503 with Retry-After when a request waited past the queue timeout', async () => {
    const tight = await startService(fixture.root, { workers: 1, queueLimit: 4, queueTimeoutMs: 1 });
    try {
      const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => get(tight.port, `/image/files/slow.jpg?w=${1000 + i}&fm=webp`)));
      const timedOut = answers.filter((a) => a.status === 503);
      expect(timedOut.length).toBeGreaterThan(0);
      for (const answer of timedOut) {
        expect(errorOf(answer).code).toBe('queue_timeout');
        expect(answer.headers['retry-after']).toBe('1');
      }
      expect(answers.every((a) => a.status === 200 || a.status === 503)).toBe(true);
    } finally {
      await tight.close();
    }
  });
});
