// Both providers on the same traffic reach the same verdict: Prometheus over Istio's telemetry
// (a real Prometheus scraping a mesh-like exporter) and direct over the image service's own
// /metrics (the service's real Metrics class). Run through the reconciler's Measure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admission } from '../../../image-service/src/admission.ts';
import { Metrics } from '../../../image-service/src/metrics.ts';
import { type ImageService, validateImageService } from '../api/image-service.ts';
import type { CheckDue } from '../rollout.ts';
import { canaryMeasure } from './measure.ts';
import type { PodEndpoint } from './providers/direct.ts';
import { Providers } from './providers/select.ts';
import { eventually, istioExporter, noSigningKey, type RunningPrometheus, type SeenRequest, type Served, serve, startPrometheus, times } from './providers/testkit.ts';

// One scrape interval's traffic per canary (SLOs: p99 <= 500 ms, 5xx <= 1%).
const TRAFFIC: Record<string, { requests: SeenRequest[]; passes: boolean }> = {
  healthy: { requests: [...times(60, { ms: 20, code: 200 }), ...times(39, { ms: 60, code: 200 }), { ms: 120, code: 200 }], passes: true },
  slow: { requests: times(100, { ms: 800, code: 200 }), passes: false },
  broken: { requests: [...times(50, { ms: 10, code: 200 }), ...times(50, { ms: 10, code: 503 })], passes: false },
  // 2 errors in 300: 0.67%, under the 1% SLO
  'few-errors': { requests: [...times(298, { ms: 30, code: 200 }), ...times(2, { ms: 30, code: 500 })], passes: true },
};

const started: Served[] = [];
let prometheus: RunningPrometheus;
const pods = new Map<string, PodEndpoint>();

function imageService(name: string, provider: 'prometheus' | 'direct'): ImageService {
  const v = validateImageService({
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name, namespace: 'shop' },
    spec: { image: 'img:2', source: { file: {} }, canary: { interval: '5s', analysis: { provider, ...(provider === 'prometheus' ? { prometheus: { address: prometheus.url } } : {}) } } },
  });
  if (!v.ok) throw new Error(JSON.stringify(v.issues));
  return v.value;
}

// The check of an ImageService with interval 5s and no custom metrics.
const due: CheckDue = { intervalMs: 5_000, metrics: [], measures: 'traffic' };
const now = new Date();

beforeAll(async () => {
  const batches = Object.fromEntries(Object.entries(TRAFFIC).map(([name, t]) => [`${name}-canary`, t.requests]));
  const mesh = await serve(istioExporter('shop', batches));
  started.push(mesh);
  let host = 30;
  for (const [name, t] of Object.entries(TRAFFIC)) {
    const metrics = new Metrics('2', new Admission({ slots: 1, queueLimit: 1, queueTimeoutMs: 1000 }));
    for (let i = 0; i < 5; i++) for (const r of t.requests) metrics.observe('image', r.code, r.ms / 1000);
    const pod = await serve((_req, res) => {
      void metrics.registry.metrics().then((text) => res.end(text));
    }, `127.0.0.${host++}`);
    started.push(pod);
    pods.set(`${name}-canary`, { pod: `${name}-canary-0`, url: pod.url });
  }
  prometheus = await startPrometheus([mesh.url]);
  const probe = new Providers({ prometheusUrl: prometheus.url, endpoints: async () => [], signingKey: noSigningKey }).for(imageService('healthy', 'prometheus').spec.canary.analysis);
  await eventually(async () => {
    const o = await probe.analyse({ target: { namespace: 'shop', workload: 'healthy-canary', service: 'healthy-canary' }, intervalMs: 5_000, metrics: [] });
    return o.requests >= 300 && Number.isFinite(o.latencyP99Ms) ? o : undefined;
  }, 'a few scrapes in Prometheus');
});

afterAll(async () => {
  await prometheus?.stop();
  await Promise.all(started.map((s) => s.close()));
});

describe('Prometheus and direct providers on the same traffic', () => {
  it.each(Object.keys(TRAFFIC))('%s canary: same verdict', async (name) => {
    const measure = canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints: async (target) => [pods.get(target.service) as PodEndpoint], signingKey: noSigningKey }));
    const signal = new AbortController().signal;
    const viaPrometheus = await measure(imageService(name, 'prometheus'), due, now, signal);
    const viaDirect = await measure(imageService(name, 'direct'), due, now, signal);
    const expected = TRAFFIC[name]?.passes;
    expect({ prometheus: viaPrometheus.passed, direct: viaDirect.passed }).toEqual({ prometheus: expected, direct: expected });
    expect(viaPrometheus.requests).toBeGreaterThanOrEqual(20);
    expect(viaDirect.requests).toBe(5 * (TRAFFIC[name]?.requests.length ?? 0));
    // Same error share exactly; p99 on either side of the same SLO bound (the buckets differ).
    expect(viaDirect.errorRatePercent).toBeCloseTo(viaPrometheus.errorRatePercent ?? Number.NaN, 6);
  });

  it('Prometheus stopped: the check fails with the reason, never passes', async () => {
    const gone = await serve((_q, r) => r.end());
    await gone.close();
    const measure = canaryMeasure(new Providers({ prometheusUrl: gone.url, endpoints: async () => [], signingKey: noSigningKey }));
    const spec = imageService('healthy', 'direct');
    spec.spec.canary.analysis.provider = undefined; // unset: the operator's PROMETHEUS_URL is used
    const result = await measure(spec, due, now, new AbortController().signal);
    expect(result).toMatchObject({ passed: false, reason: expect.stringMatching(/Prometheus at .* is unreachable/) });
  });
});
