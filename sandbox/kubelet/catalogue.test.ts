import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BROKEN_ERROR_PERCENT, imageServiceEntry, operatorEntry, parseImage, pull, SERVICE_ACCOUNT_MOUNT, SLOW_DELAY_MS } from './catalogue.ts';

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

  it('injects latency into -slow tags, errors into -broken tags, colour drift into -drift tags', () => {
    const slow = pull(entries, 'imageops/image-service:1.5.0-slow', c);
    const broken = pull(entries, 'imageops/image-service:1.5.0-broken', c);
    expect(slow.ok && slow.launch.env).toEqual({ IMAGE_SERVICE_VERSION: '1.5.0-slow', IMAGE_SERVICE_INJECT_DELAY_MS: String(SLOW_DELAY_MS) });
    expect(broken.ok && broken.launch.env.IMAGE_SERVICE_INJECT_ERROR_PERCENT).toBe(String(BROKEN_ERROR_PERCENT));
    const drift = pull(entries, 'imageops/image-service:1.5.0-drift', c);
    expect(drift.ok && drift.launch.env).toEqual({ IMAGE_SERVICE_VERSION: '1.5.0-drift', IMAGE_SERVICE_INJECT_DRIFT: 'true' });
    expect(SLOW_DELAY_MS).toBeGreaterThanOrEqual(300);
    expect(BROKEN_ERROR_PERCENT).toBeGreaterThanOrEqual(50);
  });

  it('refuses unknown and malformed images the way a runtime would', () => {
    expect(pull(entries, 'nginx:1.27', c)).toMatchObject({ ok: false, reason: 'ErrImagePull' });
    expect(pull(entries, 'imageops/image-service@sha256:abc', c)).toMatchObject({ ok: false, reason: 'InvalidImageName' });
    expect(pull(entries, undefined, c)).toMatchObject({ ok: false, reason: 'InvalidImageName' });
  });

  it("runs the operator as operator/Dockerfile's ENTRYPOINT does, finding its service account where the pod mounts it", () => {
    const p = pull([operatorEntry('/repo')], 'registry.example.com/imageops/operator:0.1.0', c);
    if (!p.ok) throw new Error(p.message);
    const dockerfile = fs.readFileSync(path.join(import.meta.dirname, '../../operator/Dockerfile'), 'utf8');
    const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    expect(['node', ...p.launch.args.map((a) => a.replace('/repo/', ''))]).toEqual(entrypoint);
    expect(dockerfile).toMatch(/NODE_ENV=production/);
    expect(dockerfile).toMatch(/NODE_COMPILE_CACHE=/);
    expect(p.launch.env).toMatchObject({ NODE_ENV: 'production', NODE_COMPILE_CACHE: '/repo/node_modules/.cache/imageops-operator', HOME: '/', SERVICE_ACCOUNT_DIR: SERVICE_ACCOUNT_MOUNT });
    // the container's args follow the ENTRYPOINT
    const check = pull([operatorEntry('/repo')], 'imageops/operator:0.1.0', { name: 'check', args: ['check-ready', 'ops/imageops-metrics'] });
    expect(check.ok && check.launch.args.slice(-2)).toEqual(['check-ready', 'ops/imageops-metrics']);
  });
});
