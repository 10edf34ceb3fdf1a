// Pure statistics for the benchmark: percentiles of latency samples and the slope of a series.

/** The p-th percentile (0-100) of samples, nearest-rank; undefined when there are none. */
export function percentile(samples: readonly number[], p: number): number | undefined {
  if (samples.length === 0) return undefined;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0-100, got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export interface LatencySummary {
  count: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  maxMs: number | undefined;
}

export function summarizeLatencies(samples: readonly number[]): LatencySummary {
  return {
    count: samples.length,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    maxMs: samples.length === 0 ? undefined : samples.reduce((a, b) => Math.max(a, b), -Infinity),
  };
}

export interface Regression {
  /** Change of y per unit of x. */
  slope: number;
  intercept: number;
  /** Share of the variance of y the line explains (0-1); 0 for a flat series. */
  r2: number;
}

/** Ordinary least squares over (x, y) points; needs two distinct x values. */
export function linearRegression(points: readonly (readonly [number, number])[]): Regression {
  const n = points.length;
  if (n < 2) throw new RangeError(`a regression needs at least 2 points, got ${n}`);
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const [x, y] of points) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
    syy += (y - my) ** 2;
  }
  if (sxx === 0) throw new RangeError('a regression needs at least 2 distinct x values');
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 0 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept: my - slope * mx, r2 };
}

/** a / b, or undefined when either is missing or b is zero (a ratio against nothing is no ratio). */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || b === 0) return undefined;
  return a / b;
}
