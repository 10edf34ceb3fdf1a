import { describe, expect, it } from 'vitest';
import { exampleImageServices } from './examples.ts';
import { type ImageServiceSpec, ImageServiceStatusSchema, validateImageService, validateSpec, weightSchedule } from './image-service.ts';

const minimal = { image: 'imageops/image-service:1.0.0', source: { file: {} } };
const ok = (spec: unknown): ImageServiceSpec => {
  const r = validateSpec(spec);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
};

describe('examples', () => {
  const examples = exampleImageServices();
  it('covers minimal.yaml and complete.yaml', () => {
    expect([...examples.keys()]).toEqual(expect.arrayContaining(['minimal.yaml', 'complete.yaml']));
  });
  for (const [file, obj] of examples) {
    it(`accepts examples/${file}`, () => {
      const r = validateImageService(obj);
      expect(r.ok ? [] : r.issues).toEqual([]);
    });
  }
  it('complete.yaml sets every spec field the schema knows', () => {
    const raw = (examples.get('complete.yaml') as { spec: Record<string, unknown> }).spec;
    const defaults = ok({ ...minimal });
    const missing: string[] = [];
    const walk = (d: unknown, r: unknown, path: string) => {
      if (d === null || typeof d !== 'object' || Array.isArray(d)) return;
      for (const key of Object.keys(d)) {
        const rv = (r as Record<string, unknown> | undefined)?.[key];
        if (rv === undefined) missing.push(`${path}.${key}`);
        else walk((d as Record<string, unknown>)[key], rv, `${path}.${key}`);
      }
    };
    walk({ ...defaults, source: undefined }, raw, 'spec');
    expect(missing).toEqual([]);
  });
});

describe('defaults', () => {
  it("fill every nested object, as the API server's defaulting does", () => {
    const spec = ok(minimal);
    expect(spec.replicas).toBe(2);
    expect(spec.source.file?.path).toBe('/srv/images');
    expect(spec.serving).toMatchObject({ maxInputPixels: 50_000_000, maxSourceBytes: 52_428_800, autoFormats: ['webp'], cacheMaxAgeSeconds: 86_400 });
    expect(spec.router).toBe('istio');
    expect(spec.traffic).toEqual({ port: 8080, hosts: [], gateways: [], parentRefs: [], timeout: '30s' });
    expect(spec.canary).toMatchObject({ maxWeight: 100, interval: '1m', threshold: 5, progressDeadlineSeconds: 600, paused: false });
    expect(spec.canary.analysis).toEqual({
      latencyP99Ms: 500,
      errorRatePercent: 1,
      minRequests: 20,
      onNoData: 'fail',
      metrics: [],
      output: { samples: [], fromTraffic: 0, minSsim: 0.92, maxDeltaE: 1.5, maxSizeRatio: 1.5, timeoutSeconds: 10, maxBytes: 16 * 1024 * 1024 },
    });
    expect(spec.canary.analysis.provider).toBeUndefined();
  });
  it('keep quantities as written', () => {
    const spec = ok({ ...minimal, resources: { limits: { cpu: '1500m', memory: 536870912 } } });
    expect(spec.resources.limits).toEqual({ cpu: '1500m', memory: 536870912 });
  });
});

describe('invalid specs', () => {
  const s3 = { s3: { bucket: 'originals' } };
  const cases: [string, unknown, string, RegExp][] = [
    ['no image', { source: s3 }, 'spec.image', /expected string/],
    ['no source', { image: 'x' }, 'spec.source', /expected object/],
    ['two sources', { image: 'x', source: { ...s3, http: { baseUrl: 'https://o.example.com' } } }, 'spec.source', /exactly one of file, s3, http/],
    ['empty source', { image: 'x', source: {} }, 'spec.source', /exactly one/],
    ['image with spaces', { ...minimal, image: 'a b' }, 'spec.image', /without spaces/],
    ['negative replicas', { ...minimal, replicas: -1 }, 'spec.replicas', />=0/],
    ['bad cpu quantity', { ...minimal, resources: { limits: { cpu: '1.5 cores' } } }, 'spec.resources.limits.cpu', /unknown suffix/],
    ['memory in GB', { ...minimal, resources: { requests: { memory: '1GB' } } }, 'spec.resources.requests.memory', /case-sensitive/],
    ['negative memory', { ...minimal, resources: { limits: { memory: '-1Gi' } } }, 'spec.resources.limits.memory', /negative/],
    ['requests above limits', { ...minimal, resources: { requests: { cpu: '2' }, limits: { cpu: '1500m' } } }, 'spec.resources.requests.cpu', /must not exceed limits.cpu/],
    ['zero workers', { ...minimal, runtime: { workers: 0 } }, 'spec.runtime.workers', />=1/],
    ['operator-owned env', { ...minimal, env: [{ name: 'UV_THREADPOOL_SIZE', value: '8' }] }, 'spec.env', /derives from the spec/],
    [
      'duplicate env',
      {
        ...minimal,
        env: [
          { name: 'A', value: '1' },
          { name: 'A', value: '2' },
        ],
      },
      'spec.env',
      /unique/,
    ],
    ['env value and valueFrom', { ...minimal, env: [{ name: 'A', value: '1', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }, 'spec.env[0].valueFrom', /not both/],
    ['file path not absolute', { ...minimal, source: { file: { path: 'srv/images' } } }, 'spec.source.file.path', /absolute/],
    ['claim and hostPath', { ...minimal, source: { file: { claimName: 'c', hostPath: '/mnt' } } }, 'spec.source.file.hostPath', /not both/],
    ['bad bucket', { ...minimal, source: { s3: { bucket: 'Originals_1' } } }, 'spec.source.s3.bucket', /bucket name/],
    ['bad s3 endpoint', { ...minimal, source: { s3: { bucket: 'abc', endpoint: 'minio:9000' } } }, 'spec.source.s3.endpoint', /http\(s\) URL/],
    ['http baseUrl with query', { ...minimal, source: { http: { baseUrl: 'https://o.example.com/x?a=1' } } }, 'spec.source.http.baseUrl', /without query/],
    ['unknown auto format', { ...minimal, serving: { autoFormats: ['jxl'] } }, 'spec.serving.autoFormats[0]', /avif|webp/],
    ['repeated auto format', { ...minimal, serving: { autoFormats: ['webp', 'webp'] } }, 'spec.serving.autoFormats', /repeat/],
    ['preset quality 0', { ...minimal, serving: { presets: { thumb: { q: 0 } } } }, 'spec.serving.presets.thumb.q', />=1/],
    ['bad signing secret name', { ...minimal, serving: { signingKeysSecret: 'Keys!' } }, 'spec.serving.signingKeysSecret', /Secret name/],
    ['port 0', { ...minimal, traffic: { port: 0 } }, 'spec.traffic.port', />=1/],
    ['timeout without unit', { ...minimal, traffic: { timeout: '30' } }, 'spec.traffic.timeout', /not a duration/],
    ['bad host', { ...minimal, traffic: { hosts: ['Images Example'] } }, 'spec.traffic.hosts[0]', /host names/],
    ['stepWeight and stepWeights', { ...minimal, canary: { stepWeight: 10, stepWeights: [10, 20] } }, 'spec.canary.stepWeights', /not both/],
    ['stepWeights not ascending', { ...minimal, canary: { stepWeights: [10, 30, 20] } }, 'spec.canary.stepWeights', /strictly ascending/],
    ['stepWeights repeating', { ...minimal, canary: { stepWeights: [10, 10] } }, 'spec.canary.stepWeights', /strictly ascending/],
    ['stepWeights above maxWeight', { ...minimal, canary: { stepWeights: [10, 60], maxWeight: 50 } }, 'spec.canary.stepWeights', /at most maxWeight/],
    ['stepWeight above maxWeight', { ...minimal, canary: { stepWeight: 60, maxWeight: 50 } }, 'spec.canary.stepWeight', /at most maxWeight/],
    ['weight 0', { ...minimal, canary: { stepWeight: 0 } }, 'spec.canary.stepWeight', />=1/],
    ['maxWeight 101', { ...minimal, canary: { maxWeight: 101 } }, 'spec.canary.maxWeight', /<=100/],
    ['threshold 0', { ...minimal, canary: { threshold: 0 } }, 'spec.canary.threshold', />=1/],
    ['interval 0s', { ...minimal, canary: { interval: '0s' } }, 'spec.canary.interval', /longer than zero/],
    ['interval in days', { ...minimal, canary: { interval: '1d' } }, 'spec.canary.interval', /not a duration/],
    ['unknown provider', { ...minimal, canary: { analysis: { provider: 'datadog' } } }, 'spec.canary.analysis.provider', /prometheus|direct/],
    ['unknown onNoData', { ...minimal, canary: { analysis: { onNoData: 'skip' } } }, 'spec.canary.analysis.onNoData', /fail|hold/],
    ['error rate above 100', { ...minimal, canary: { analysis: { errorRatePercent: 150 } } }, 'spec.canary.analysis.errorRatePercent', /<=100/],
    ['metric without range', { ...minimal, canary: { analysis: { metrics: [{ name: 'm', query: 'up', thresholdRange: {} }] } } }, 'spec.canary.analysis.metrics[0].thresholdRange', /min, max or both/],
    [
      'metric min above max',
      { ...minimal, canary: { analysis: { metrics: [{ name: 'm', query: 'up', thresholdRange: { min: 2, max: 1 } }] } } },
      'spec.canary.analysis.metrics[0].thresholdRange',
      /must not exceed/,
    ],
    [
      'output samples and fromTraffic over 20',
      { ...minimal, canary: { analysis: { output: { samples: [{ key: 'a.jpg' }, { key: 'b.jpg' }], fromTraffic: 19 } } } },
      'spec.canary.analysis.output.fromTraffic',
      /at most 20 requests/,
    ],
    ['fromTraffic over 20', { ...minimal, canary: { analysis: { output: { fromTraffic: 21 } } } }, 'spec.canary.analysis.output.fromTraffic', /<=20/],
    ['typo in a field', { ...minimal, canary: { stepweight: 10 } }, 'spec.canary', /stepweight/],
  ];

  it('has at least 15 distinct cases', () => expect(new Set(cases.map((c) => c[2])).size).toBeGreaterThanOrEqual(15));

  it.each(cases)('%s', (_name, spec, path, message) => {
    const r = validateSpec(spec);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.issues.find((i) => i.path === path);
    expect(issue, `no issue at ${path}; got ${JSON.stringify(r.issues)}`).toBeDefined();
    expect(issue?.message).toMatch(message);
    // the message a user sees names the field
    expect(issue?.message.startsWith(`${path}:`)).toBe(true);
  });

  it.each([
    ['unparsable request beside a limit', { ...minimal, resources: { requests: { cpu: 'abc' }, limits: { cpu: '1' } } }, 'spec.resources.requests.cpu'],
    ['stepWeights of the wrong type', { ...minimal, canary: { stepWeights: '10,20' } }, 'spec.canary.stepWeights'],
    ['env of the wrong type', { ...minimal, env: 'A=1' }, 'spec.env'],
    ['null env entry', { ...minimal, env: [null] }, 'spec.env[0]'],
    ['thresholdRange of the wrong type', { ...minimal, canary: { analysis: { metrics: [{ name: 'm', query: 'q', thresholdRange: 1 }] } } }, 'spec.canary.analysis.metrics[0].thresholdRange'],
  ])('a malformed value never throws: %s', (_name, spec, path) => {
    const r = validateSpec(spec);
    expect(r.ok ? [] : r.issues.map((i) => i.path)).toContain(path);
  });

  it('a non-object is an issue, not an exception', () => {
    expect(validateImageService(null)).toEqual({ ok: false, issues: [{ path: '(object)', message: expect.stringMatching(/^\(object\): .*expected object/) }] });
    expect(validateSpec('spec')).toMatchObject({ ok: false, issues: [{ path: 'spec' }] });
  });

  it('rejects a whole object of another kind', () => {
    const r = validateImageService({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: minimal });
    expect(r.ok ? [] : r.issues.map((i) => i.path)).toEqual(['apiVersion', 'kind']);
  });
});

describe('weightSchedule', () => {
  it.each([
    [{}, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]],
    [{ stepWeight: 30 }, [30, 60, 90, 100]],
    [{ stepWeight: 25, maxWeight: 50 }, [25, 50]],
    [{ stepWeights: [5, 10, 25, 50], maxWeight: 50 }, [5, 10, 25, 50]],
    [{ stepWeights: [10, 40], maxWeight: 50 }, [10, 40]],
    [{ stepWeight: 100 }, [100]],
  ])('%j -> %j', (canary, schedule) => {
    expect(weightSchedule(ok({ ...minimal, canary }).canary)).toEqual(schedule);
  });
});

describe('status', () => {
  it('parses what the operator writes and rejects an unknown phase', () => {
    const status = {
      phase: 'Progressing',
      observedGeneration: 3,
      primary: { image: 'i:1', revision: 'abc' },
      canary: { image: 'i:2', revision: 'def' },
      canaryWeight: 30,
      failedChecks: 1,
      iterations: 3,
      lastTransitionTime: '2026-11-22T00:00:00Z',
      lastCheckTime: '2026-11-22T00:03:00Z',
      lastAnalysis: { at: '2026-11-22T00:03:00Z', latencyP99Ms: 212, errorRatePercent: 0.1, requests: 1840, passed: true },
      conditions: [{ type: 'Ready', status: 'True', reason: 'Promoted', lastTransitionTime: '2026-11-22T00:00:00Z' }],
      message: 'Advanced canary weight to 30',
    };
    expect(ImageServiceStatusSchema.parse(status)).toEqual(status);
    expect(ImageServiceStatusSchema.safeParse({ ...status, phase: 'Running' }).success).toBe(false);
  });
});
