import { describe, expect, it } from 'vitest';
import { MAX_ENV_VALUE_LENGTH } from '../api/image-service.ts';
import { asRead } from './image-services.testkit.ts';
import { ownerReference } from './labels.ts';
import { buildPodTemplate, imageVersion, templateSizeIssue } from './pod-template.ts';
import { buildVirtualService } from './virtual-service.ts';

const isvc = (spec: Record<string, unknown>) =>
  asRead({ apiVersion: 'imageops.dev/v1alpha1', kind: 'ImageService', metadata: { name: 'thumbs' }, spec: { image: 'imageops/image-service:1.0.0', source: { file: {} }, ...spec } });
const container = (spec: Record<string, unknown>) => buildPodTemplate(isvc(spec)).spec!.containers[0]!;
const envOf = (spec: Record<string, unknown>) => Object.fromEntries((container(spec).env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('imageVersion', () => {
  it.each([
    ['imageops/image-service:1.0.0', '1.0.0'],
    ['registry.example.com:5000/imageops/image-service:1.5.0-slow', '1.5.0-slow'],
    ['registry.example.com:5000/imageops/image-service', 'latest'],
    ['imageops/image-service@sha256:0123abcd', 'sha256:0123abcd'],
    ['imageops/image-service:1.2@sha256:0123abcd', 'sha256:0123abcd'],
  ])('%s -> %s', (image, version) => expect(imageVersion(image)).toBe(version));
});

describe('pod template', () => {
  it('drains within the route timeout and is killed only after the drain', () => {
    const t = buildPodTemplate(isvc({ traffic: { timeout: '1m30s' } }));
    expect(envOf({ traffic: { timeout: '1m30s' } }).IMAGE_SERVICE_DRAIN_SECONDS).toBe('90');
    expect(t.spec!.terminationGracePeriodSeconds).toBeGreaterThan(90);
  });

  it.each([
    [8080, 9091],
    [9091, 9092],
  ])('traffic on %i: the management port is %i, in the env and as a named container port, apart from the service port', (port, management) => {
    expect(envOf({ traffic: { port } }).IMAGE_SERVICE_MANAGEMENT_PORT).toBe(String(management));
    expect(container({ traffic: { port } }).ports).toEqual([
      { name: 'http', containerPort: port, protocol: 'TCP' },
      { name: 'management', containerPort: management, protocol: 'TCP' },
    ]);
  });

  it('mounts a hostPath read-only at the file path', () => {
    const t = buildPodTemplate(isvc({ source: { file: { path: '/data/originals', hostPath: '/mnt/images' } } }));
    expect(t.spec!.volumes).toContainEqual({ name: 'originals', hostPath: { path: '/mnt/images', type: 'Directory' } });
    expect(t.spec!.containers[0]!.volumeMounts).toContainEqual({ name: 'originals', mountPath: '/data/originals', readOnly: true });
    expect(envOf({ source: { file: { path: '/data/originals', hostPath: '/mnt/images' } } }).IMAGE_SOURCE).toBe('file:///data/originals');
  });

  it('a file source without a volume mounts nothing but /tmp', () => {
    expect(container({}).volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
  });

  it("S3 without a credentials Secret uses the pod's ambient credentials and the service's path-style default", () => {
    const env = envOf({ source: { s3: { bucket: 'originals', prefix: '/a/b/' } } });
    expect(env).toMatchObject({ IMAGE_SOURCE: 's3://originals/a/b/', S3_REGION: 'us-east-1' });
    expect(env).not.toHaveProperty('AWS_ACCESS_KEY_ID');
    expect(env).not.toHaveProperty('S3_FORCE_PATH_STYLE');
    expect(env).not.toHaveProperty('S3_ENDPOINT');
  });

  it("HTTP allows the base URL's host by default and refuses private addresses", () => {
    expect(envOf({ source: { http: { baseUrl: 'https://origin.example.com/media' } } })).toMatchObject({
      IMAGE_SOURCE: 'https://origin.example.com/media',
      HTTP_SOURCE_ALLOWED_HOSTS: 'origin.example.com',
      HTTP_SOURCE_ALLOW_PRIVATE: 'false',
    });
  });

  it('an empty autoFormats list is passed as an empty value (negotiate nothing); no presets, no variable', () => {
    const env = envOf({ serving: { autoFormats: [] } });
    expect(env.IMAGE_SERVICE_AUTO_FORMATS).toBe('');
    expect(env).not.toHaveProperty('IMAGE_SERVICE_PRESETS');
    expect(env).not.toHaveProperty('IMAGE_SERVICE_ADMIN_TOKEN_FILE');
  });

  it("user env comes after the operator's, a resourceFieldRef divisor as a string", () => {
    const env = container({ env: [{ name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } }] }).env!;
    expect(env.at(-1)).toEqual({ name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } });
  });

  it('passes quantities through as written', () => {
    expect(container({ resources: { requests: { cpu: '250m' }, limits: { memory: 536870912 } } }).resources).toEqual({
      requests: { cpu: '250m' },
      limits: { memory: '536870912' },
    });
    expect(container({}).resources).toEqual({});
  });
});

describe('guards', () => {
  it('a VirtualService weight outside 0..100 is refused', () => {
    expect(() => buildVirtualService(isvc({}), { weight: 101, canaryRunning: false, mirrorPercent: 0 })).toThrow(/0 to 100/);
    expect(() => buildVirtualService(isvc({}), { weight: 2.5, canaryRunning: false, mirrorPercent: 0 })).toThrow(/whole number/);
    const route = buildVirtualService(isvc({}), { weight: 35, canaryRunning: false, mirrorPercent: 0 }).spec.http[0]!.route;
    expect(route.map((r) => [r.destination.host, r.weight])).toEqual([
      ['thumbs-primary', 65],
      ['thumbs-canary', 35],
    ]);
  });
  it('an ImageService without a uid cannot own children', () => {
    const i = isvc({});
    expect(() => ownerReference({ ...i, metadata: { name: 'thumbs' } })).toThrow(/no metadata.uid/);
  });
});

describe("the pod template's size", () => {
  const env = (value: string) => Array.from({ length: 64 }, (_, i) => ({ name: `${'V'.repeat(250)}_${String(i).padStart(3, '0')}`, value }));
  const preset = { w: 16384, h: 16384, fit: 'outside', q: 100, fm: 'avif' };
  // every list, map and string of the spec at its bound (the largest source: an HTTP origin)
  const largest = {
    image: `registry.example.com/${'a'.repeat(980)}:1.0.0`,
    env: env('x'.repeat(MAX_ENV_VALUE_LENGTH)),
    source: { http: { baseUrl: `https://origin.example.com/${'p'.repeat(2000)}`, allowedHosts: Array.from({ length: 64 }, (_, i) => `${'h'.repeat(240)}${i}.example.com`.slice(-253)) } },
    serving: {
      presets: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`${'p'.repeat(60)}${String(i).padStart(4, '0')}`, preset])),
      signingKeysSecret: 's'.repeat(253),
      adminTokenSecret: 't'.repeat(253),
    },
  };

  it('of the largest spec the CRD admits, in plain text, fits in status', () => {
    const template = buildPodTemplate(isvc(largest));
    expect(templateSizeIssue(template)).toBeUndefined();
    expect(JSON.stringify(template).length).toBeGreaterThan(150_000); // the bounds were all reached
  });

  it('of a spec whose values JSON escapes is refused with the length, not written to fail', () => {
    const issue = templateSizeIssue(buildPodTemplate(isvc({ ...largest, env: env('"'.repeat(MAX_ENV_VALUE_LENGTH)) })));
    expect(issue).toMatch(/^spec: the pod template it makes is \d+ characters as JSON, more than the 262144 status keeps/);
  });
});
