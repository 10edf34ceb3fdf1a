import { describe, expect, it } from 'vitest';
import { type ImageService, validateImageService } from '../api/image-service.ts';
import { buildPodTemplate } from './pod-template.ts';
import { canonicalJson, revisionOf } from './revision.ts';

const isvc = (spec: Record<string, unknown>): ImageService => {
  const r = validateImageService({
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name: 'thumbs', namespace: 'shop', uid: 'u-1' },
    spec: { image: 'imageops/image-service:1.0.0', source: { file: {} }, ...spec },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
};
const rev = (spec: Record<string, unknown>) => revisionOf(buildPodTemplate(isvc(spec)));

describe('revision', () => {
  it('is 10 hex digits and stable under key order', () => {
    const a = { metadata: { labels: { a: '1', b: '2' } }, spec: { containers: [{ name: 'c', image: 'i' }] } };
    const b = { spec: { containers: [{ image: 'i', name: 'c' }] }, metadata: { labels: { b: '2', a: '1' } } };
    expect(revisionOf(a)).toMatch(/^[0-9a-f]{10}$/);
    expect(revisionOf(a)).toBe(revisionOf(b));
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  it('keeps array order significant', () => {
    expect(revisionOf({ spec: { containers: [{ name: 'a' }, { name: 'b' }] } })).not.toBe(revisionOf({ spec: { containers: [{ name: 'b' }, { name: 'a' }] } }));
  });

  it('is the same for the same spec, however its keys are ordered', () => {
    expect(rev({ resources: { limits: { cpu: '1', memory: '1Gi' } }, serving: { presets: { a: { w: 1, h: 2 }, b: { w: 3 } } } })).toBe(
      rev({ serving: { presets: { b: { w: 3 }, a: { h: 2, w: 1 } } }, resources: { limits: { memory: '1Gi', cpu: '1' } } }),
    );
  });

  it('does not change with what is not in the pod template (canary policy, replicas, hosts)', () => {
    const r0 = rev({});
    expect(rev({ replicas: 5 })).toBe(r0);
    expect(rev({ canary: { stepWeight: 20, interval: '30s' } })).toBe(r0);
    expect(rev({ traffic: { hosts: ['img.example.com'] } })).toBe(r0);
  });

  it.each([
    ['image', { image: 'imageops/image-service:1.1.0' }],
    ['env', { env: [{ name: 'IMAGE_SERVICE_LOG_LEVEL', value: 'debug' }] }],
    ['cpu limit', { resources: { limits: { cpu: '2' } } }],
    ['memory limit', { resources: { limits: { memory: '1Gi' } } }],
    ['serving', { serving: { autoFormats: ['avif', 'webp'] } }],
    ['source', { source: { s3: { bucket: 'abc' } } }],
    ['timeout (drain time)', { traffic: { timeout: '60s' } }],
    ['workers', { runtime: { workers: 3 } }],
  ])('changes with the %s', (_what, spec) => {
    expect(rev(spec)).not.toBe(rev({}));
  });
});
