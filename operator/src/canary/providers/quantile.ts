// histogram_quantile as Prometheus computes it, so that the direct provider's p99 from a pod's
// own histogram equals what Prometheus would answer over the same counts. Pure.

export interface Bucket {
  /** Upper bound (Prometheus' `le`); the last bucket is +Inf. */
  le: number;
  /** Cumulative count of observations at or below le. */
  count: number;
}

/**
 * The q-quantile of a cumulative histogram: find the bucket holding rank q * total, and
 * interpolate linearly inside it (the lower bound of the first bucket is 0 when its upper
 * bound is positive). NaN without a +Inf bucket, without observations, or for q outside [0, 1]
 * (Prometheus answers ±Inf there; for an SLO either is a failed value). A rank in the +Inf
 * bucket answers the highest finite bound. Counts that decrease (scrape skew) are made
 * monotonic first, as Prometheus does.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number {
  if (!(q >= 0 && q <= 1)) return Number.NaN;
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const last = sorted.at(-1);
  if (!last || last.le !== Number.POSITIVE_INFINITY || sorted.length < 2) return Number.NaN;
  let max = 0;
  const counts = sorted.map((b) => (max = Math.max(max, b.count)));
  const total = counts.at(-1) as number;
  if (!(total > 0)) return Number.NaN;
  const rank = q * total;
  let i = counts.findIndex((c) => c >= rank);
  if (i < 0) i = counts.length - 1;
  if (i === sorted.length - 1) return (sorted[sorted.length - 2] as Bucket).le;
  const upper = (sorted[i] as Bucket).le;
  if (i === 0 && upper <= 0) return upper;
  const lower = i === 0 ? 0 : (sorted[i - 1] as Bucket).le;
  const below = i === 0 ? 0 : (counts[i - 1] as number);
  const inBucket = (counts[i] as number) - below;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}
