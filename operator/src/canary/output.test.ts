import { createServer, type Server } from 'node:http';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, makeFixture, type Running, startService } from '../../../image-service/src/service.testkit.ts';
import { OutputCheckSchema } from '../api/image-service.ts';
import { checkOutput, describeFailure, samplePath } from './output.ts';
import { deltaE2000, deltaE2000Map, type LabImage, ssimLightness } from './perceptual.ts';

// Real image services (this checkout's, in process): a primary, a rebuild of it, a -drift build;
// and a hostile server for the bounds.
let fixture: Fixture;
let primary: Running, rebuild: Running, drift: Running;
let hostile: Server;
let hostileBase: string;
const SECRET_BODY = 'secret body text';

beforeAll(async () => {
  fixture = await makeFixture();
  [primary, rebuild, drift] = await Promise.all([startService(fixture.root), startService(fixture.root), startService(fixture.root, { injectDrift: true })]);
  const png = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3a6ea5' } })
    .png()
    .toBuffer();
  hostile = createServer((req, res) => {
    if (req.url?.includes('photo.jpg?w=200')) res.writeHead(200, { 'content-type': 'text/html' }).end(SECRET_BODY);
    else if (req.url?.includes('endless')) {
      res.writeHead(200, { 'content-type': 'image/png' });
      const chunk = Buffer.alloc(64 * 1024);
      const pump = (): void => void (res.write(chunk) ? setImmediate(pump) : res.once('drain', pump));
      pump();
    } else if (req.url?.includes('slow')) setTimeout(() => res.writeHead(200, { 'content-type': 'image/png' }).end(png), 3000);
    else res.writeHead(200, { 'content-type': 'image/png' }).end(png);
  });
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
  const address = hostile.address();
  hostileBase = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
});

afterAll(async () => {
  hostile?.closeAllConnections();
  hostile?.close();
  await Promise.all([primary?.close(), rebuild?.close(), drift?.close()]);
  await fixture?.cleanup();
});

const spec = (samples: { key: string; params?: string; preset?: string }[], extra: Record<string, unknown> = {}) => OutputCheckSchema.parse({ samples, ...extra });
const signal = () => AbortSignal.timeout(30_000);

describe('perceptual metrics', () => {
  it("CIEDE2000 agrees with Sharma, Wu and Dalal's test data", () => {
    const pairs: [number[], number[], number][] = [
      [[50, 2.6772, -79.7751], [50, 0, -82.7485], 2.0425],
      [[50, 3.1571, -77.2803], [50, 0, -82.7485], 2.8615],
      [[50, 0, 0], [50, -1, 2], 2.3669],
      [[50, 2.5, 0], [73, 25, -18], 27.1492],
      [[60.2574, -34.0099, 36.2677], [60.4626, -34.1751, 39.4387], 1.2644],
    ];
    for (const [a, b, expected] of pairs) expect(deltaE2000(a[0]!, a[1]!, a[2]!, b[0]!, b[1]!, b[2]!)).toBeCloseTo(expected, 4);
  });

  it('SSIM is 1 for identical pictures and falls for a blurred one; a hue change leaves it high and moves CIEDE2000', async () => {
    const lab = async (image: Sharp): Promise<LabImage> => {
      const { data, info } = await image.toColourspace('lab').raw({ depth: 'float' }).toBuffer({ resolveWithObject: true });
      return { width: info.width, height: info.height, data: new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4) };
    };
    const noise = { create: { width: 96, height: 64, channels: 3 as const, background: '#808080', noise: { type: 'gaussian' as const, mean: 128, sigma: 40 } } };
    const source = await sharp(noise).png().toBuffer();
    const original = await lab(sharp(source));
    expect(ssimLightness(original, original)).toBe(1);
    expect(ssimLightness(original, await lab(sharp(source).blur(2)))).toBeLessThan(0.5);
    const tinted = await lab(sharp(source).modulate({ hue: 90 }));
    expect(deltaE2000Map(original, original).mean).toBe(0);
    expect(deltaE2000Map(original, tinted).mean).toBeGreaterThan(3 * deltaE2000Map(original, await lab(sharp(source).jpeg({ quality: 90 }))).mean);
  });
});

describe('checkOutput against real image services', () => {
  const samples = [
    { key: 'photo.jpg', params: 'w=200' },
    { key: 'nested/photo copy.jpg', params: 'w=120&fm=webp' },
    { key: 'alpha.png', params: 'w=60' },
  ];

  it('passes a rebuild of the same version, with the numbers', async () => {
    const result = await checkOutput(spec(samples), { primary: primary.base, canary: rebuild.base }, signal());
    expect(result).toEqual({ samples: 3, failures: [], worstSsim: 1, worstDeltaE: 0 });
  });

  it('fails a -drift build on colour, naming the sample, the metric and both values, with a diff PNG', async () => {
    const result = await checkOutput(spec(samples), { primary: primary.base, canary: drift.base }, signal());
    const colour = result.failures.filter((f) => f.metric === 'colour difference (mean CIEDE2000)');
    expect(colour.map((f) => f.sample)).toContain('photo.jpg?w=200');
    expect(result.worstDeltaE).toBeGreaterThan(1.5);
    const first = colour[0]!;
    expect(describeFailure(first)).toMatch(/^output of photo\.jpg\?w=200: colour difference \(mean CIEDE2000\) primary 0, canary [\d.]+ \(limit at most 1\.5\)$/);
    const png = await sharp(first.diff!).metadata();
    expect(png.format).toBe('png');
    expect(Math.max(png.width!, png.height!)).toBeLessThanOrEqual(256);
  });

  it('compares status, content type, dimensions and size, and names what differs', async () => {
    const other = await checkOutput(spec([{ key: 'photo.jpg', params: 'w=200' }, { key: 'missing.jpg' }]), { primary: primary.base, canary: hostileBase }, signal());
    expect(other.failures.map(describeFailure)).toEqual([
      'output of photo.jpg?w=200: content type primary image/webp, canary not an image',
      'output of missing.jpg: status primary 404, canary 200 (limit primary must answer 200: check the sample)',
    ]);
    expect(JSON.stringify(other.failures)).not.toContain(SECRET_BODY);
    const sizes = await checkOutput(spec([{ key: 'photo.jpg', params: 'w=300&fm=png' }]), { primary: primary.base, canary: hostileBase }, signal());
    expect(sizes.failures.map((f) => f.metric)).toContain('dimensions');
    expect(sizes.failures.find((f) => f.metric === 'dimensions')).toMatchObject({ primary: '300x225', canary: '400x300' });
  });

  it('bounds every fetch in bytes and in time', async () => {
    const big = await checkOutput(spec([{ key: 'endless.png' }], { maxBytes: 1024 * 1024 }), { primary: hostileBase, canary: hostileBase }, signal());
    expect(big.failures.map(describeFailure)).toEqual(['output of endless.png: status primary answer over maxBytes, canary answer over maxBytes']);
    const started = Date.now();
    const slow = await checkOutput(spec([{ key: 'slow.png' }], { timeoutSeconds: 1 }), { primary: primary.base, canary: hostileBase }, signal());
    expect(Date.now() - started).toBeLessThan(2900);
    expect(slow.failures.map(describeFailure)).toEqual(['output of slow.png: status primary 404, canary no answer in time']);
  });

  it('asks for presets by name and keys with spaces as paths', () => {
    expect(samplePath({ key: 'nested/photo copy.jpg', params: 'w=10', preset: 'thumb' })).toBe('/image/files/nested/photo%20copy.jpg?w=10&preset=thumb');
  });
});
