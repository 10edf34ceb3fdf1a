import { describe, expect, it } from 'vitest';
import { type Bucket, histogramQuantile } from './quantile.ts';

const inf = Number.POSITIVE_INFINITY;
const h = (...pairs: [number, number][]): Bucket[] => pairs.map(([le, count]) => ({ le, count }));

describe('histogramQuantile (Prometheus semantics)', () => {
  it.each<[string, number, Bucket[], number]>([
    ['interpolates inside the bucket holding the rank', 0.99, h([0.05, 90], [0.1, 98], [0.25, 100], [inf, 100]), 0.175],
    ['the first bucket starts at 0', 0.5, h([1, 10], [2, 20], [inf, 20]), 1],
    ['the first bucket interpolates from 0', 0.25, h([1, 10], [2, 20], [inf, 20]), 0.5],
    ['a rank in +Inf answers the highest finite bound', 0.99, h([0.1, 50], [0.5, 90], [inf, 100]), 0.5],
    ['bucket order does not matter', 0.99, h([inf, 100], [0.25, 100], [0.05, 90], [0.1, 98]), 0.175],
    ['non-monotonic counts are evened out', 0.75, h([1, 10], [2, 8], [3, 20], [inf, 20]), 2.5],
    ['a first bound at or below 0 answers that bound', 0.1, h([0, 5], [1, 10], [inf, 10]), 0],
    ['the median of all-equal buckets', 0.5, h([1, 0], [2, 100], [inf, 100]), 1.5],
  ])('%s', (_what, q, buckets, expected) => {
    expect(histogramQuantile(q, buckets)).toBeCloseTo(expected, 12);
  });

  it.each<[string, number, Bucket[]]>([
    ['no observations', 0.99, h([0.1, 0], [inf, 0])],
    ['no +Inf bucket', 0.99, h([0.1, 5], [1, 10])],
    ['only the +Inf bucket', 0.99, h([inf, 10])],
    ['no buckets', 0.99, []],
    ['q above 1', 1.5, h([0.1, 5], [inf, 10])],
    ['q below 0', -0.1, h([0.1, 5], [inf, 10])],
  ])('NaN for %s', (_what, q, buckets) => {
    expect(histogramQuantile(q, buckets)).toBeNaN();
  });
});
