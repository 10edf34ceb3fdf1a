import { describe, expect, it } from 'vitest';
import { type AnalysisSpec, validateSpec } from '../api/image-service.ts';
import type { Observations } from './providers/provider.ts';
import { type AnalysisOutcome, formatDuration, formatNumber, judge, judgeOutput, type OutputVerdict } from './verdict.ts';

function analysis(overrides: Record<string, unknown> = {}): AnalysisSpec {
  const v = validateSpec({ image: 'img:1', source: { file: {} }, canary: { analysis: { latencyP99Ms: 500, errorRatePercent: 1, minRequests: 20, ...overrides } } });
  if (!v.ok) throw new Error(JSON.stringify(v.issues));
  return v.value.canary.analysis;
}

const at = new Date('2026-11-22T00:00:00.000Z');
const seen = (o: Partial<Observations>): AnalysisOutcome => ({ ok: true, observations: { requests: 400, latencyP99Ms: 120, errorRatePercent: 0.2, metrics: {}, ...o } });
const hits = [{ name: 'hit-ratio', query: 'x', thresholdRange: { min: 0.8 } }];

describe('judge: the output check joins the verdict', () => {
  const sentence = 'output of photo.jpg?w=640: colour difference (mean CIEDE2000) primary 0, canary 6.9 (limit at most 1.5)';
  const differ: OutputVerdict = { samples: 2, fromTraffic: 0, failures: [sentence], worstSsim: 0.99, worstDeltaE: 6.9, diffs: ['/canary/diffs/ns/thumbs/0.png'] };
  const alike: OutputVerdict = { samples: 2, fromTraffic: 0, failures: [], worstSsim: 1, worstDeltaE: 0, diffs: [] };

  it.each<[string, AnalysisOutcome, OutputVerdict, 'pass' | 'fail' | 'no-data']>([
    ['perfect latency and errors, pictures differ: fail', seen({}), differ, 'fail'],
    ['pictures differ and too few requests: fail, not no data', seen({ requests: 3 }), differ, 'fail'],
    ['the provider failed and pictures differ: both said', { ok: false, kind: 'timeout', message: 'Prometheus did not answer' }, differ, 'fail'],
    ['pictures alike and SLOs met: pass', seen({}), alike, 'pass'],
    ['pictures alike, p99 broken: fail', seen({ latencyP99Ms: 900 }), alike, 'fail'],
  ])('%s', (_what, outcome, output, result) => {
    const v = judge(analysis(), outcome, 60_000, at, output);
    expect(v.result).toBe(result);
    expect(v.record.output).toEqual({
      samples: 2,
      failed: output.failures.length,
      worstSsim: output.worstSsim,
      worstDeltaE: output.worstDeltaE,
      ...(output.diffs.length > 0 ? { diffs: output.diffs } : {}),
    });
    if (output.failures.length > 0) expect(v.record.reason).toContain(sentence);
  });

  it('before the first weight, judges the output alone', () => {
    expect(judgeOutput(alike, at)).toMatchObject({ result: 'pass', record: { passed: true, output: { samples: 2, failed: 0 } } });
    expect(judgeOutput(differ, at)).toMatchObject({ result: 'fail', record: { passed: false, reason: sentence } });
    expect(judgeOutput(differ, at).record).not.toHaveProperty('requests');
  });

  const note = "primary's record of recent requests: empty: listed samples only";
  it('says how many samples came from traffic, and why fewer than asked', () => {
    expect(judgeOutput({ ...alike, fromTraffic: 1, note }, at).record).toMatchObject({ passed: true, output: { samples: 2, fromTraffic: 1, note } });
    expect(judge(analysis(), seen({}), 60_000, at, { ...alike, note }).record).toMatchObject({ passed: true, output: { samples: 2, note } });
  });

  it('nothing to compare before the first weight is no data, with the reason', () => {
    const empty: OutputVerdict = {
      samples: 0,
      fromTraffic: 0,
      failures: [],
      worstSsim: undefined,
      worstDeltaE: undefined,
      diffs: [],
      note: "primary's record of recent requests: empty: nothing to compare",
    };
    expect(judgeOutput(empty, at)).toMatchObject({ result: 'no-data', record: { passed: false, noData: true, reason: empty.note } });
    // At a later check the traffic decides alone.
    expect(judge(analysis(), seen({}), 60_000, at, empty).result).toBe('pass');
  });
});

describe('judge', () => {
  it.each<[string, AnalysisSpec, AnalysisOutcome, 'pass' | 'fail' | 'no-data', RegExp | undefined]>([
    ['within both SLOs', analysis(), seen({}), 'pass', undefined],
    ['exactly at the SLOs (bounds included)', analysis(), seen({ latencyP99Ms: 500, errorRatePercent: 1 }), 'pass', undefined],
    ['p99 above the SLO', analysis(), seen({ latencyP99Ms: 812.4 }), 'fail', /^p99 latency 812 ms is above the SLO of 500 ms$/],
    ['5xx above the SLO', analysis(), seen({ errorRatePercent: 12.5 }), 'fail', /^5xx rate 12.5% is above the SLO of 1%$/],
    ['both broken: both said', analysis(), seen({ latencyP99Ms: 900, errorRatePercent: 50 }), 'fail', /p99 latency 900 ms .*; 5xx rate 50%/],
    ['p99 NaN with traffic', analysis(), seen({ latencyP99Ms: Number.NaN }), 'fail', /p99 latency has no value \(NaN\)/],
    ['p99 +Inf', analysis(), seen({ latencyP99Ms: Number.POSITIVE_INFINITY }), 'fail', /p99 latency \+Inf ms is above/],
    ['too few requests', analysis(), seen({ requests: 19, latencyP99Ms: Number.NaN }), 'no-data', /^19 canary requests in the last 1m, fewer than minRequests 20$/],
    [
      'no requests at all, even with minRequests 0: values missing fail',
      analysis({ minRequests: 0 }),
      seen({ requests: 0, latencyP99Ms: Number.NaN, errorRatePercent: Number.NaN }),
      'fail',
      /no value/,
    ],
    ['the provider failed', analysis(), { ok: false, kind: 'timeout', message: 'Prometheus at http://p did not answer' }, 'fail', /^Prometheus at http:\/\/p did not answer$/],
    ['custom metric within range', analysis({ metrics: hits }), seen({ metrics: { 'hit-ratio': 0.9 } }), 'pass', undefined],
    ['custom metric below min', analysis({ metrics: hits }), seen({ metrics: { 'hit-ratio': 0.5 } }), 'fail', /metric hit-ratio 0.5 is below its minimum 0.8/],
    ['custom metric above max', analysis({ metrics: [{ name: 'q', query: 'x', thresholdRange: { max: 3 } }] }), seen({ metrics: { q: 4 } }), 'fail', /metric q 4 is above its maximum 3/],
    ['custom metric missing', analysis({ metrics: hits }), seen({}), 'fail', /metric hit-ratio has no value/],
  ])('%s', (_what, spec, outcome, result, reason) => {
    const v = judge(spec, outcome, 60_000, at);
    expect(v.result).toBe(result);
    expect(v.record.passed).toBe(result === 'pass');
    if (reason) expect(v.record.reason).toMatch(reason);
    else expect(v.record.reason).toBeUndefined();
  });

  it('records values for status: NaN and infinities as null, custom metrics by name', () => {
    const v = judge(analysis({ metrics: hits }), seen({ latencyP99Ms: Number.NaN, errorRatePercent: 0, metrics: { 'hit-ratio': Number.POSITIVE_INFINITY } }), 60_000, at);
    expect(v.record).toMatchObject({ at: '2026-11-22T00:00:00.000Z', latencyP99Ms: null, errorRatePercent: 0, requests: 400, metrics: { 'hit-ratio': null }, passed: false });
    expect(JSON.parse(JSON.stringify(v.record))).toEqual(v.record);
  });

  it('marks no data as such', () => {
    expect(judge(analysis(), seen({ requests: 3 }), 2_000, at).record).toMatchObject({ noData: true, passed: false });
  });
});

describe('formatting', () => {
  it.each([
    [812.44, '812'],
    [12.345, '12.35'],
    [0.1234, '0.123'],
    [0, '0'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, '+Inf'],
  ])('formatNumber(%d) = %s', (v, text) => expect(formatNumber(v)).toBe(text));

  it.each([
    [2_000, '2s'],
    [1_500, '1.5s'],
    [60_000, '1m'],
    [90_000, '1m30s'],
  ])('formatDuration(%d) = %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});
