import { describe, expect, it } from 'vitest';
import { linearRegression, percentile, ratio, summarizeLatencies } from './stats.ts';

describe('percentile', () => {
  it.each([
    [[5], 50, 5],
    [[1, 2, 3, 4], 50, 2],
    [[4, 3, 2, 1], 99, 4],
    [Array.from({ length: 100 }, (_, i) => i + 1), 99, 99],
    [Array.from({ length: 100 }, (_, i) => i + 1), 100, 100],
    [[10, 20], 0, 10],
  ])('of %j at %d is %d (nearest rank, order-free)', (samples, p, expected) => {
    expect(percentile(samples, p)).toBe(expected);
  });

  it('is undefined without samples and refuses a percentile out of range', () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(() => percentile([1], 101)).toThrow(/0-100/);
  });

  it('summarizes count, p50, p99 and max', () => {
    expect(summarizeLatencies([3, 1, 2])).toEqual({ count: 3, p50Ms: 2, p99Ms: 3, maxMs: 3 });
    expect(summarizeLatencies([])).toEqual({ count: 0, p50Ms: undefined, p99Ms: undefined, maxMs: undefined });
  });
});

describe('linearRegression', () => {
  it('recovers the slope and intercept of a line exactly', () => {
    const r = linearRegression([0, 1, 2, 3].map((x) => [x, 2 * x + 5] as const));
    expect(r.slope).toBeCloseTo(2);
    expect(r.intercept).toBeCloseTo(5);
    expect(r.r2).toBeCloseTo(1);
  });

  it('finds no trend in a flat series and a weak one in noise around it', () => {
    expect(linearRegression([0, 1, 2].map((x) => [x, 7] as const))).toEqual({ slope: 0, intercept: 7, r2: 0 });
    const noisy = linearRegression([
      [0, 10],
      [1, 12],
      [2, 9],
      [3, 11],
      [4, 10],
    ]);
    expect(Math.abs(noisy.slope)).toBeLessThan(0.5);
    expect(noisy.r2).toBeLessThan(0.2);
  });

  it('needs two distinct x values', () => {
    expect(() => linearRegression([[1, 1]])).toThrow(/at least 2 points/);
    expect(() =>
      linearRegression([
        [1, 1],
        [1, 2],
      ]),
    ).toThrow(/distinct/);
  });
});

describe('ratio', () => {
  it('divides, and has no value against nothing', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(undefined, 2)).toBeUndefined();
    expect(ratio(3, undefined)).toBeUndefined();
    expect(ratio(3, 0)).toBeUndefined();
  });
});
