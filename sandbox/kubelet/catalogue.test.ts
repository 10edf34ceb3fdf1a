import { describe, expect, it } from 'vitest';
import { BROKEN_ERROR_PERCENT, imageServiceEntry, parseImage, pull, SLOW_DELAY_MS } from './catalogue.ts';

const entries = [imageServiceEntry('/repo')];
const c = { name: 'app' };

describe('image catalogue', () => {
  it.each([
    ['imageops/image-service:1.4.0', 'imageops/image-service', '1.4.0'],
    ['registry.example.com/imageops/image-service:1.5.0', 'imageops/image-service', '1.5.0'],
    ['localhost:5000/imageops/image-service:2-slow', 'imageops/image-service', '2-slow'],
    ['nginx', 'nginx', 'latest'],
    ['docker.io/library/nginx:1.27', 'nginx', '1.27'],
  ])('parses %s', (ref, repository, tag) => expect(parseImage(ref)).toEqual({ repository, tag }));

  it('runs the image service of this checkout with the tag as its version', () => {
    const p = pull(entries, 'registry.example.com/imageops/image-service:1.4.0', c);
    expect(p).toEqual({
      ok: true,
      launch: { command: '/repo/node_modules/.bin/node', args: ['/repo/image-service/src/main.ts'], env: { IMAGE_SERVICE_VERSION: '1.4.0' }, cwd: '/repo' },
    });
  });

  it('injects latency into -slow tags and errors into -broken tags', () => {
    const slow = pull(entries, 'imageops/image-service:1.5.0-slow', c);
    const broken = pull(entries, 'imageops/image-service:1.5.0-broken', c);
    expect(slow.ok && slow.launch.env).toEqual({ IMAGE_SERVICE_VERSION: '1.5.0-slow', IMAGE_SERVICE_INJECT_DELAY_MS: String(SLOW_DELAY_MS) });
    expect(broken.ok && broken.launch.env.IMAGE_SERVICE_INJECT_ERROR_PERCENT).toBe(String(BROKEN_ERROR_PERCENT));
    expect(SLOW_DELAY_MS).toBeGreaterThanOrEqual(300);
    expect(BROKEN_ERROR_PERCENT).toBeGreaterThanOrEqual(50);
  });

  it('refuses unknown and malformed images the way a runtime would', () => {
    expect(pull(entries, 'nginx:1.27', c)).toMatchObject({ ok: false, reason: 'ErrImagePull' });
    expect(pull(entries, 'imageops/image-service@sha256:abc', c)).toMatchObject({ ok: false, reason: 'InvalidImageName' });
    expect(pull(entries, undefined, c)).toMatchObject({ ok: false, reason: 'InvalidImageName' });
  });
});
