import { describe, expect, it } from 'vitest';
import { defaultQueries, escapeLabelValue, promDuration, QueryTemplateError, renderQuery } from './queries.ts';

const scope = { namespace: 'shop', target: 'thumbs-canary', intervalMs: 60_000 };

describe('escapeLabelValue', () => {
  it.each([
    ['thumbs-canary', 'thumbs-canary'],
    ['a"b', 'a\\"b'],
    ['a\\b', 'a\\\\b'],
    ['a\nb', 'a\\nb'],
    ['"}[5m])) or vector(1) #', '\\"}[5m])) or vector(1) #'],
    ['', ''],
  ])('%j -> %j', (input, expected) => {
    expect(escapeLabelValue(input)).toBe(expected);
  });
});

describe('promDuration', () => {
  it.each([
    [60_000, '60s'],
    [2_000, '2s'],
    [1_500, '1500ms'],
    [90_000, '90s'],
    [250, '250ms'],
  ])('%d ms -> %s', (ms, expected) => {
    expect(promDuration(ms)).toBe(expected);
  });

  it.each([0, -1000, 1.5, Number.NaN])('rejects %d', (ms) => {
    expect(() => promDuration(ms)).toThrow(/positive whole number/);
  });
});

describe('renderQuery', () => {
  it.each([
    ['up{namespace="{{namespace}}"}', 'up{namespace="shop"}'],
    ['rate(x{pod=~"{{ target }}-.*"}[{{interval}}])', 'rate(x{pod=~"thumbs-canary-.*"}[60s])'],
    ['{{target}}{{target}}', 'thumbs-canarythumbs-canary'],
    ['vector(1)', 'vector(1)'],
  ])('%s', (template, expected) => {
    expect(renderQuery(template, scope)).toBe(expected);
  });

  it('escapes hostile names so they cannot leave the label value', () => {
    const q = renderQuery('x{w="{{target}}"}', { ...scope, target: 'a"} or vector(1) or x{w="' });
    expect(q).toBe('x{w="a\\"} or vector(1) or x{w=\\""}');
  });

  it('refuses an unknown placeholder with the allowed names', () => {
    expect(() => renderQuery('x{a="{{workload}}"}', scope)).toThrow(QueryTemplateError);
    expect(() => renderQuery('x{a="{{workload}}"}', scope)).toThrow(/\{\{workload\}\}.*\{\{namespace\}\}, \{\{target\}\}, \{\{interval\}\}/);
  });
});

describe('defaultQueries', () => {
  it('are the Istio queries of docs/canary.md for the canary workload', () => {
    const q = defaultQueries({ ...scope, intervalMs: 2_000 });
    const sel = 'reporter="destination",destination_workload_namespace="shop",destination_workload="thumbs-canary"';
    expect(q.latencyP99Ms).toBe(`histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{${sel}}[2s])) by (le))`);
    expect(q.errorRatePercent).toBe(
      `(sum(rate(istio_requests_total{${sel},response_code=~"5.*"}[2s])) or on() sum(0 * absent(istio_requests_total{${sel},response_code=~"5.*"}))) / sum(rate(istio_requests_total{${sel}}[2s])) * 100`,
    );
    expect(q.requests).toBe(`sum(increase(istio_requests_total{${sel}}[2s]))`);
  });
});
