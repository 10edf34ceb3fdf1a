import { afterEach, describe, expect, it } from 'vitest';
import { ISTIO_DURATION_BUCKETS_MS } from '../../../../sandbox/mesh/telemetry.ts';
import { DirectProvider, delta, type PodCounters, type PodEndpoint, readCounters } from './direct.ts';
import { AnalysisError, type AnalysisRequest } from './provider.ts';
import { endlessAnswer, imageServiceMetrics, type SeenRequest, type Served, serve, times } from './testkit.ts';

// The mesh's buckets in seconds, so that the p99 here is the one Prometheus computes over the mesh.
const BUCKETS_S = ISTIO_DURATION_BUCKETS_MS.map((ms) => ms / 1000);
// 50 at 5 ms, 40 at 30 ms, 8 at 80 ms, 2 at 200 ms answered 503: p99 175 ms (see prometheus.test.ts), 2% errors.
const MIXED: SeenRequest[] = [...times(50, { ms: 5, code: 200 }), ...times(40, { ms: 30, code: 200 }), ...times(8, { ms: 80, code: 200 }), ...times(2, { ms: 200, code: 503 })];
const FAST: SeenRequest[] = times(40, { ms: 3, code: 200 });

const request: AnalysisRequest = { target: { namespace: 'shop', workload: 'thumbs-canary', service: 'thumbs-canary' }, intervalMs: 2_000, metrics: [] };

const started: Served[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

/** An image-service-like pod on its own loopback address, as the sandbox runs them. */
async function pod(name: string, host: string) {
  const metrics = imageServiceMetrics(BUCKETS_S);
  const served = await serve(metrics.listener, host);
  started.push(served);
  return { ...metrics, endpoint: { pod: name, url: served.url } satisfies PodEndpoint };
}

/** A provider on a hand-moved clock; `tick` moves it by an interval. */
function providerFor(list: () => PodEndpoint[]) {
  let now = 0;
  const provider = new DirectProvider({ endpoints: async () => list(), timeoutMs: 500, now: () => now });
  return Object.assign(provider, {
    tick(ms = request.intervalMs) {
      now += ms;
    },
  });
}

describe('DirectProvider against image-service-like /metrics pages (prom-client)', () => {
  it("measures p99, 5xx share and requests over all pods, first from each pod's start", async () => {
    const a = await pod('thumbs-canary-a', '127.0.0.21');
    const b = await pod('thumbs-canary-b', '127.0.0.22');
    a.record(MIXED.slice(0, 50));
    b.record(MIXED.slice(50));
    const o = await providerFor(() => [a.endpoint, b.endpoint]).analyse(request);
    expect(o).toEqual({ requests: 100, latencyP99Ms: expect.closeTo(175, 9), errorRatePercent: 2, metrics: {} });
  });

  it('then counts only what happened since the previous scrape', async () => {
    const a = await pod('thumbs-canary-a', '127.0.0.21');
    const provider = providerFor(() => [a.endpoint]);
    a.record(MIXED);
    await provider.analyse(request);
    a.record(FAST);
    provider.tick();
    const o = await provider.analyse(request);
    expect(o.requests).toBe(40);
    expect(o.errorRatePercent).toBe(0);
    expect(o.latencyP99Ms).toBeCloseTo(4.96, 9); // rank 39.6 of 40 in (1, 5] ms: 1 + 4 * 39.6 / 40
  });

  it('counts nothing when nothing was served (no data, not an error)', async () => {
    const a = await pod('thumbs-canary-a', '127.0.0.21');
    const provider = providerFor(() => [a.endpoint]);
    a.record(MIXED);
    await provider.analyse(request);
    provider.tick();
    const o = await provider.analyse(request);
    expect(o.requests).toBe(0);
    expect(o.latencyP99Ms).toBeNaN();
    expect(o.errorRatePercent).toBeNaN();
  });

  it('ignores routes that are not image traffic (probes, /metrics)', async () => {
    const a = await pod('thumbs-canary-a', '127.0.0.21');
    a.record(times(500, { ms: 900, code: 500 }), 'healthz');
    a.record(FAST);
    const o = await providerFor(() => [a.endpoint]).analyse(request);
    expect(o.requests).toBe(40);
    expect(o.errorRatePercent).toBe(0);
  });

  it('survives a counter reset (the pod restarted): counts from the restart', async () => {
    const a = await pod('thumbs-canary-a', '127.0.0.21');
    const provider = providerFor(() => [a.endpoint]);
    a.record(MIXED);
    a.record(MIXED);
    await provider.analyse(request);
    a.reset();
    a.record(FAST);
    provider.tick();
    const o = await provider.analyse(request);
    expect(o.requests).toBe(40);
    expect(o.errorRatePercent).toBe(0);
  });

  it('follows pods coming and going', async () => {
    const a = await pod('thumbs-canary-a', '127.0.0.21');
    const b = await pod('thumbs-canary-b', '127.0.0.22');
    let pods = [a.endpoint];
    const provider = providerFor(() => pods);
    a.record(FAST);
    expect((await provider.analyse(request)).requests).toBe(40);
    // a is replaced by b, which has already served MIXED since it started
    b.record(MIXED);
    pods = [b.endpoint];
    provider.tick();
    const o = await provider.analyse(request);
    expect(o.requests).toBe(100);
    expect(o.errorRatePercent).toBe(2);
    // a comes back under the same name: its counters are taken from its start again
    pods = [a.endpoint, b.endpoint];
    a.record(FAST);
    provider.tick();
    expect((await provider.analyse(request)).requests).toBe(80);
  });

  it('measures the same interval when a check is run again (its status write failed)', async () => {
    const a = await pod('thumbs-canary-a', '127.0.0.21');
    const provider = providerFor(() => [a.endpoint]);
    a.record(MIXED);
    await provider.analyse(request);
    provider.tick();
    a.record(FAST);
    expect((await provider.analyse(request)).requests).toBe(40);
    provider.tick(50);
    expect((await provider.analyse(request)).requests).toBe(40);
    // the next interval is measured from the check, not from the retry
    provider.tick(request.intervalMs - 50);
    a.record(times(10, { ms: 3, code: 200 }));
    expect((await provider.analyse(request)).requests).toBe(10);
  });

  it('keeps baselines apart per canary Service', async () => {
    const a = await pod('thumbs-canary-a', '127.0.0.21');
    const provider = providerFor(() => [a.endpoint]);
    a.record(FAST);
    await provider.analyse(request);
    const other = { ...request, target: { ...request.target, service: 'logos-canary' } };
    expect((await provider.analyse(other)).requests).toBe(40);
  });
});

describe('DirectProvider errors', () => {
  const kindOf = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AnalysisError);
    return err as AnalysisError;
  };

  it('no ready endpoint: no-targets, naming the Service', async () => {
    const err = await kindOf(providerFor(() => []).analyse(request));
    expect(err.kind).toBe('no-targets');
    expect(err.message).toMatch(/shop\/thumbs-canary has no ready endpoint/);
  });

  it('a pod that refuses connections: unreachable, naming the pod', async () => {
    const gone = await serve((_q, r) => r.end(), '127.0.0.23');
    await gone.close();
    const err = await kindOf(providerFor(() => [{ pod: 'thumbs-canary-x', url: gone.url }]).analyse(request));
    expect(err.kind).toBe('unreachable');
    expect(err.message).toMatch(/thumbs-canary-x at .* is unreachable: .*ECONNREFUSED/);
  });

  it('a pod that hangs: timeout', async () => {
    const hang = await serve(() => {}, '127.0.0.24');
    started.push(hang);
    const err = await kindOf(providerFor(() => [{ pod: 'thumbs-canary-h', url: hang.url }]).analyse(request));
    expect(err.kind).toBe('timeout');
  });

  it.each([
    ['a 500', 500, 'oops', /HTTP 500/],
    ['garbage', 200, 'image_service_http_requests_total{route="image",code="200" 12', /unreadable metrics.*line 1/],
    ['a bad value', 200, 'image_service_http_requests_total{route="image",code="200"} twelve', /unreadable metrics.*\(line 1\)$/],
    ['a secret', 200, '{"SecretAccessKey":"AKIA-SECRET-0123"}', /unreadable metrics.*\(line 1\)$/],
    ['a secret in a label', 200, 'image_service_http_request_duration_seconds_bucket{le="AKIA-SECRET-0123",route="image"} 1', /unreadable metrics/],
    ['a secret with an error status', 500, 'AKIA-SECRET-0123', /HTTP 500$/],
  ])('a pod serving %s: bad-answer', async (_what, status, body, message) => {
    const odd = await serve((_q, r) => {
      r.statusCode = status;
      r.end(body);
    }, '127.0.0.25');
    started.push(odd);
    const err = await kindOf(providerFor(() => [{ pod: 'p', url: odd.url }]).analyse(request));
    expect(err.kind).toBe('bad-answer');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('SECRET');
  });

  it('a pod serving an endless page: cut at the byte cap', async () => {
    const endless = await serve(endlessAnswer(Buffer.from(`${'# '.padEnd(64 * 1024, 'x')}\n`)).listener, '127.0.0.26');
    started.push(endless);
    const provider = new DirectProvider({ endpoints: async () => [{ pod: 'p', url: endless.url }], timeoutMs: 20_000, maxBytes: 512 * 1024 });
    const err = await kindOf(provider.analyse(request));
    expect(err.kind).toBe('bad-answer');
    expect(err.message).toMatch(/answered with more than 524288 bytes/);
  });

  it('endpoint lookup failing: unreachable, naming the Service', async () => {
    const p = new DirectProvider({ endpoints: async () => Promise.reject(new Error('GET /apis/discovery.k8s.io/v1: connect ECONNREFUSED')) });
    const err = await kindOf(p.analyse(request));
    expect(err.kind).toBe('unreachable');
    expect(err.message).toMatch(/endpoints of Service shop\/thumbs-canary.*ECONNREFUSED/);
  });

  it('custom PromQL metrics: unsupported, telling what to do', async () => {
    const err = await kindOf(providerFor(() => []).analyse({ ...request, metrics: [{ name: 'cache-hits', query: 'sum(x)' }] }));
    expect(err.kind).toBe('unsupported');
    expect(err.message).toMatch(/cache-hits.*need the prometheus provider/);
  });
});

describe('delta', () => {
  const counters = (startTime: number | undefined, requests: number, errors: number, buckets: [number, number][]): PodCounters => ({ startTime, requests, errors, buckets: new Map(buckets) });
  const inf = Number.POSITIVE_INFINITY;

  it.each([
    [
      'no previous scrape: everything since start',
      undefined,
      counters(1, 10, 1, [
        [0.1, 8],
        [inf, 10],
      ]),
      counters(1, 10, 1, [
        [0.1, 8],
        [inf, 10],
      ]),
    ],
    [
      'growth: the difference',
      counters(1, 10, 1, [
        [0.1, 8],
        [inf, 10],
      ]),
      counters(1, 25, 2, [
        [0.1, 20],
        [inf, 25],
      ]),
      counters(1, 15, 1, [
        [0.1, 12],
        [inf, 15],
      ]),
    ],
    [
      'new start time: from the restart',
      counters(1, 10, 1, [
        [0.1, 8],
        [inf, 10],
      ]),
      counters(2, 30, 0, [
        [0.1, 30],
        [inf, 30],
      ]),
      counters(2, 30, 0, [
        [0.1, 30],
        [inf, 30],
      ]),
    ],
    [
      'a bucket went down: restart',
      counters(undefined, 10, 0, [
        [0.1, 8],
        [inf, 10],
      ]),
      counters(undefined, 12, 0, [
        [0.1, 2],
        [inf, 12],
      ]),
      counters(undefined, 12, 0, [
        [0.1, 2],
        [inf, 12],
      ]),
    ],
    ['errors went down: restart', counters(undefined, 10, 5, [[inf, 10]]), counters(undefined, 12, 1, [[inf, 12]]), counters(undefined, 12, 1, [[inf, 12]])],
    [
      'a bucket appeared: counted from 0',
      counters(1, 10, 0, [[inf, 10]]),
      counters(1, 12, 0, [
        [0.5, 2],
        [inf, 12],
      ]),
      counters(1, 2, 0, [
        [0.5, 2],
        [inf, 2],
      ]),
    ],
  ])('%s', (_what, previous, current, expected) => {
    expect(delta(current, previous)).toEqual(expected);
  });
});

describe('readCounters', () => {
  it('sums the counted routes, splits 5xx, reads le="+Inf" and the start time', () => {
    const page = [
      '# HELP process_start_time_seconds Start time',
      '# TYPE process_start_time_seconds gauge',
      'process_start_time_seconds 1700000000',
      'image_service_http_requests_total{route="image",code="200"} 90',
      'image_service_http_requests_total{route="image",code="503"} 7',
      'image_service_http_requests_total{code="500",route="image"} 3',
      'image_service_http_requests_total{route="healthz",code="500"} 1000',
      'image_service_http_request_duration_seconds_bucket{le="0.1",route="image"} 95',
      'image_service_http_request_duration_seconds_bucket{le="+Inf",route="image"} 100',
      'image_service_http_request_duration_seconds_bucket{le="+Inf",route="healthz"} 1000',
      'image_service_http_request_duration_seconds_sum{route="image"} 4.2',
    ].join('\n');
    expect(readCounters(page, ['image'])).toEqual({
      startTime: 1700000000,
      requests: 100,
      errors: 10,
      buckets: new Map([
        [0.1, 95],
        [Number.POSITIVE_INFINITY, 100],
      ]),
    });
  });
});
