import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultQueries } from '../queries.ts';
import { PrometheusProvider } from './prometheus.ts';
import { AnalysisError, type AnalysisRequest, type Observations } from './provider.ts';
import { endlessAnswer, eventually, istioExporter, type RunningPrometheus, type Served, serve, startPrometheus, times } from './testkit.ts';

// Per scrape interval: 100 requests, 50 at 5 ms, 40 at 30 ms, 8 at 80 ms, 2 at 200 ms that fail.
// Cumulative over Istio's buckets: le=50: 90, le=100: 98, le=250: 100, so Prometheus' p99
// (rank 99, linear within the bucket) is 100 + (250 - 100) * (99 - 98) / (100 - 98) = 175 ms.
const MIXED = [...times(50, { ms: 5, code: 200 }), ...times(40, { ms: 30, code: 200 }), ...times(8, { ms: 80, code: 200 }), ...times(2, { ms: 200, code: 503 })];
const CALM = times(30, { ms: 3, code: 200 });
// A canary that starts answering 5xx mid-test: its 5xx series is born then.
const YOUNG = [...CALM];

const target = (workload: string): AnalysisRequest['target'] => ({ namespace: 'shop', workload, service: workload });
const request = (workload: string, metrics: AnalysisRequest['metrics'] = []): AnalysisRequest => ({ target: target(workload), intervalMs: 5_000, metrics });

let exporter: Served;
let prometheus: RunningPrometheus;
let provider: PrometheusProvider;

beforeAll(async () => {
  exporter = await serve(istioExporter('shop', { 'thumbs-canary': MIXED, 'calm-canary': CALM, 'young-canary': YOUNG }));
  prometheus = await startPrometheus([exporter.url]);
  provider = new PrometheusProvider({ address: prometheus.url });
  // Wait for enough samples that a rate over the window has an answer.
  await eventually(async () => {
    const o = await provider.analyse(request('thumbs-canary'));
    return o.requests >= 300 && Number.isFinite(o.latencyP99Ms) ? o : undefined;
  }, 'Prometheus to have a few scrapes');
});

afterAll(async () => {
  await prometheus?.stop();
  await exporter?.close();
});

describe('PrometheusProvider against a real Prometheus', () => {
  it('measures p99 latency, 5xx share and requests of the canary workload', async () => {
    const o = await provider.analyse(request('thumbs-canary'));
    expect(o.latencyP99Ms).toBeCloseTo(175, 6);
    expect(o.errorRatePercent).toBeCloseTo(2, 6);
    // 100 requests a second over a 5 s window; increase() extrapolates, so only roughly.
    expect(o.requests).toBeGreaterThanOrEqual(300); // the bound beforeAll waited for
    expect(o.requests).toBeLessThan(800);
    expect(Number.isInteger(o.requests)).toBe(true);
  });

  it('reports a 0% error rate, not "no data", for a canary that never answered a 5xx', async () => {
    const o = await provider.analyse(request('calm-canary'));
    expect(o.errorRatePercent).toBe(0);
    expect(o.latencyP99Ms).toBeGreaterThan(1);
    expect(o.latencyP99Ms).toBeLessThanOrEqual(5);
  });

  it('has no error rate, not 0%, while a new 5xx series has one sample in the window', async () => {
    const api = async (query: string, time?: number): Promise<unknown[]> => {
      const params = new URLSearchParams({ query, ...(time === undefined ? {} : { time: String(time) }) });
      const body = (await (await fetch(`${prometheus.url}/api/v1/query?${params}`)).json()) as { data: { result: unknown[] } };
      return body.data.result;
    };
    const errors = 'istio_requests_total{destination_workload="young-canary",response_code="503"}';
    YOUNG.push(...times(10, { ms: 3, code: 503 }));
    // The scrape that first saw the 5xx series, and the three after it.
    const samples = await eventually(async () => {
      const [series] = (await api(`${errors}[1m]`)) as Array<{ values: Array<[number, string]> }>;
      return series && series.values.length >= 4 ? series.values.map(([t]) => t) : undefined;
    }, 'four scrapes of the new 5xx series');
    const born = samples[0] as number;
    const { errorRatePercent } = defaultQueries({ namespace: 'shop', target: 'young-canary', intervalMs: 5_000 });

    // Half a scrape after birth, rate() has one 5xx sample: Flagger-style `or vector(0)` reads
    // that as 0% and would pass a failing canary; the default query has no value (a failed check).
    expect(await api(errorRatePercent.replace(/or on\(\) sum\(0 \* absent\(.*?\)\)\)/, 'or on() vector(0))'), born + 0.5)).toMatchObject([{ value: [born + 0.5, '0'] }]);
    expect(await api(errorRatePercent, born + 0.5)).toEqual([]);
    // Three scrapes later the same query measures the errors.
    const [later] = (await api(errorRatePercent, born + 3.5)) as Array<{ value: [number, string] }>;
    expect(Number(later?.value[1])).toBeGreaterThan(0);
  });

  it('reports no requests and NaN values for a workload without traffic', async () => {
    const o: Observations = await provider.analyse(request('idle-canary'));
    expect(o.requests).toBe(0);
    expect(o.latencyP99Ms).toBeNaN();
    expect(o.errorRatePercent).toBeNaN();
  });

  it('evaluates custom metrics with the templated names and window', async () => {
    const o = await provider.analyse(
      request('thumbs-canary', [
        {
          name: 'slow-share',
          query:
            'sum(rate(istio_request_duration_milliseconds_bucket{destination_workload="{{target}}",destination_workload_namespace="{{namespace}}",le="100"}[{{interval}}])) / sum(rate(istio_request_duration_milliseconds_count{destination_workload="{{target}}"}[{{interval}}]))',
        },
        { name: 'scalar', query: 'scalar(vector(42))' },
        { name: 'nothing', query: 'absent_metric_that_does_not_exist' },
        { name: 'nan', query: 'vector(0) / 0' },
        { name: 'inf', query: 'vector(1) / 0' },
      ]),
    );
    expect(o.metrics['slow-share']).toBeCloseTo(0.98, 6);
    expect(o.metrics.scalar).toBe(42);
    expect(o.metrics.nothing).toBeNaN();
    expect(o.metrics.nan).toBeNaN();
    expect(o.metrics.inf).toBe(Number.POSITIVE_INFINITY);
  });

  it('fails with a query error naming the metric when Prometheus refuses the PromQL', async () => {
    const err = await provider.analyse(request('thumbs-canary', [{ name: 'typo', query: 'sum(rate(x[{{interval}}]' }])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnalysisError);
    expect((err as AnalysisError).kind).toBe('query');
    expect((err as AnalysisError).message).toMatch(/metric typo/);
  });

  it('fails with a query error when a custom query returns several series', async () => {
    const err = await provider.analyse(request('thumbs-canary', [{ name: 'many', query: 'istio_requests_total' }])).catch((e: unknown) => e);
    expect((err as AnalysisError).kind).toBe('query');
    expect((err as AnalysisError).message).toMatch(/returned \d+ series; it must return one value/);
  });

  it('fails with a query error for an unknown placeholder, before asking Prometheus', async () => {
    const err = await provider.analyse(request('thumbs-canary', [{ name: 'bad', query: 'up{job="{{job}}"}' }])).catch((e: unknown) => e);
    expect((err as AnalysisError).kind).toBe('query');
    expect((err as AnalysisError).message).toMatch(/metric bad: unknown placeholder \{\{job\}\}/);
  });
});

describe('PrometheusProvider when Prometheus misbehaves', () => {
  it('down: a typed "unreachable" error, at once', async () => {
    const closed = await serve((_q, r) => r.end());
    await closed.close();
    const p = new PrometheusProvider({ address: closed.url, timeoutMs: 10_000 });
    const err = await p.analyse(request('thumbs-canary')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnalysisError);
    expect((err as AnalysisError).kind).toBe('unreachable');
    expect((err as AnalysisError).message).toMatch(/unreachable.*ECONNREFUSED/);
  });

  it('slow: a typed "timeout" error after the configured timeout', async () => {
    const slow = await serve(() => {
      // never answers
    });
    try {
      const p = new PrometheusProvider({ address: slow.url, timeoutMs: 200 });
      const err = await p.analyse(request('thumbs-canary')).catch((e: unknown) => e);
      expect((err as AnalysisError).kind).toBe('timeout');
      expect((err as AnalysisError).message).toMatch(/\(requests query\) did not answer within 200 ms/);
    } finally {
      await slow.close();
    }
  });

  it.each([
    ['not JSON', 200, '<html>proxy error</html>', /HTTP 200 and no JSON/],
    ['JSON of another shape', 200, '{"status":"success","data":{"resultType":"vector","result":[{"value":"1"}]}}', /HTTP 200 and JSON that is not a query result/],
    ['a matrix', 200, '{"status":"success","data":{"resultType":"matrix","result":[]}}', /returned a matrix/],
    ['a sample that is no number', 200, '{"status":"success","data":{"resultType":"scalar","result":[1700000000,"many"]}}', /a sample value that is not a number/],
  ])('answering %s: a typed error', async (_what, status, body, message) => {
    const odd = await serve((_q, r) => {
      r.statusCode = status;
      r.end(body);
    });
    try {
      const err = await new PrometheusProvider({ address: odd.url }).analyse(request('thumbs-canary')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AnalysisError);
      expect((err as AnalysisError).message).toMatch(message);
    } finally {
      await odd.close();
    }
  });

  // The address is the tenant's choice: what it answers must never reach status or Events.
  it.each([
    ['a secret that is not JSON', 200, 'aws_secret_access_key=AKIA-SECRET-0123'],
    ['a secret in JSON of another shape', 200, '{"Code":"Success","SecretAccessKey":"AKIA-SECRET-0123"}'],
    ["a secret as Prometheus' error text", 400, '{"status":"error","errorType":"AKIA-SECRET-0123","error":"AKIA-SECRET-0123"}'],
    [
      'a secret as a metric label of several series',
      200,
      '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"k":"AKIA-SECRET-0123"},"value":[1,"1"]},{"metric":{},"value":[1,"2"]}]}}',
    ],
    ['a secret as a sample value', 200, '{"status":"success","data":{"resultType":"scalar","result":[1700000000,"AKIA-SECRET-0123"]}}'],
    ['a secret behind a redirect', 302, ''],
  ])('answering %s: the error says HTTP status and a fixed reason, never the body', async (_what, status, body) => {
    const secret = await serve((_q, r) => r.end('AKIA-SECRET-0123'));
    const odd = await serve((_q, r) => {
      r.statusCode = status;
      if (status === 302) r.setHeader('location', secret.url);
      r.end(body);
    });
    try {
      const err = await new PrometheusProvider({ address: odd.url }).analyse(request('thumbs-canary', [{ name: 'm', query: 'x' }])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AnalysisError);
      expect((err as AnalysisError).message).not.toContain('SECRET');
      expect((err as AnalysisError).message).toMatch(/HTTP \d{3}|not a number|series/);
    } finally {
      await odd.close();
      await secret.close();
    }
  });

  it('an endless answer: cut at the byte cap, long before the timeout', async () => {
    const answer = endlessAnswer();
    const endless = await serve(answer.listener);
    try {
      const p = new PrometheusProvider({ address: endless.url, timeoutMs: 20_000, maxBytes: 256 * 1024 });
      const err = await p.query('up', 'requests').catch((e: unknown) => e);
      expect((err as AnalysisError).kind).toBe('bad-answer');
      expect((err as AnalysisError).message).toMatch(/\(requests query\) answered with more than 262144 bytes/);
      // the server could write only what the sockets buffer before the operator hung up
      expect(answer.sent()).toBeLessThan(64 * 1024 * 1024);
    } finally {
      await endless.close();
    }
  });

  it('an answer that drips: cut at the timeout, body included', async () => {
    const drip = await serve((_q, r) => {
      r.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => r.write(' '), 20);
      r.on('close', () => clearInterval(timer));
    });
    try {
      const err = await new PrometheusProvider({ address: drip.url, timeoutMs: 300 }).query('up', 'requests').catch((e: unknown) => e);
      expect((err as AnalysisError).kind).toBe('timeout');
    } finally {
      await drip.close();
    }
  });

  it('refuses an address that is not an http(s) URL', () => {
    expect(() => new PrometheusProvider({ address: 'prometheus:9090/x y' })).toThrow(/must be http/);
    expect(() => new PrometheusProvider({ address: 'not a url' })).toThrow(/not a URL/);
  });
});
