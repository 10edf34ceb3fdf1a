import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePresets } from './presets.ts';
import { errorOf, type Fixture, get, makeFixture, type Running, startService } from './service.testkit.ts';
import { signUrl } from './signing.ts';

/** Signed URLs and presets through the real server. */

let fixture: Fixture;
let svc: Running;

beforeAll(async () => {
  fixture = await makeFixture();
  svc = await startService(fixture.root, {
    signingKeys: ['new-key', 'old-key'],
    presets: parsePresets('{"thumb": {"w": 50, "h": 50, "fit": "cover"}, "small": {"w": 80}}'),
  });
});
afterAll(async () => {
  await svc?.close();
  await fixture?.cleanup();
});

const fetchSigned = (path: string, key = 'new-key') => get(svc.port, signUrl(path, key));

describe('signed URLs', () => {
  it('serves URLs signed with any configured key', async () => {
    expect((await fetchSigned('/image/files/photo.jpg?w=100')).status).toBe(200);
    expect((await fetchSigned('/image/files/photo.jpg?w=100', 'old-key')).status).toBe(200);
    expect((await fetchSigned('/image/files/photo.jpg')).status).toBe(200);
    expect((await fetchSigned('/image/files/nested/photo copy.jpg?h=20')).status).toBe(200);
  });

  it.each([
    ['/image/files/photo.jpg?w=100', /missing/],
    ['/image/files/photo.jpg?w=100&sig=AAAA', /not valid/],
    [signUrl('/image/files/photo.jpg?w=100', 'unknown-key'), /not valid/],
    [signUrl('/image/files/photo.jpg?w=100', 'new-key').replace('w=100', 'w=2000'), /not valid/],
    [signUrl('/image/files/photo.jpg?w=100', 'new-key').replace('photo.jpg', 'alpha.png'), /not valid/],
    [`${signUrl('/image/files/photo.jpg?w=100', 'new-key')}&q=10`, /not valid/],
    // Checked before anything else: an unsigned hostile key is a 403, not a 400.
    ['/image/files/..%2f..%2fetc%2fpasswd', /missing/],
  ])('refuses %s with 403', async (path, message) => {
    const answer = await get(svc.port, path);
    expect(answer.status).toBe(403);
    expect(errorOf(answer).code).toBe('invalid_signature');
    expect(errorOf(answer).message).toMatch(message);
  });
});

describe('presets', () => {
  it('applies a preset, with URL parameters taking precedence', async () => {
    const thumb = await fetchSigned('/image/files/photo.jpg?preset=thumb');
    expect(await sharp(thumb.body).metadata()).toMatchObject({ width: 50, height: 50 });
    const png = await fetchSigned('/image/files/photo.jpg?preset=small&fm=png');
    expect(await sharp(png.body).metadata()).toMatchObject({ width: 80, format: 'png' });
    const override = await fetchSigned('/image/files/photo.jpg?preset=thumb&w=30');
    expect(await sharp(override.body).metadata()).toMatchObject({ width: 30, height: 50 });
  });

  it('answers an unknown preset with 400 naming the known ones', async () => {
    const answer = await fetchSigned('/image/files/photo.jpg?preset=huge');
    expect(answer.status).toBe(400);
    expect(errorOf(answer).message).toMatch(/unknown preset "huge"; known: thumb, small/);
  });
});
