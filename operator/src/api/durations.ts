// Durations in Go's time.ParseDuration form ("30s", "1m", "1h30m", "500ms"), the
// form Kubernetes and Flagger users write; longer than zero and at most a day here.
import { z } from 'zod';
import { withCrd } from './crd-meta.ts';

const UNIT_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** The CRD pattern: one or more number+unit pairs. */
export const DURATION_PATTERN = '^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$';
const WHOLE_RE = new RegExp(DURATION_PATTERN);
const PART_RE = /([0-9]+)(?:[.]([0-9]+))?(ns|us|µs|ms|s|m|h)/g;

/**
 * The longest duration a spec may hold. It bounds what the operator derives from one (a timer,
 * a VirtualService timeout) and keeps every value within Go's time.Duration, whose overflow
 * would make kube-apiserver's duration() fail rather than judge.
 */
export const MAX_DURATION = '24h';
const MAX_NS = 24n * UNIT_NS['h']!;
/** What the CRD rule and zod both say of a duration out of range. */
export const DURATION_RANGE_MESSAGE = `must be longer than zero and at most ${MAX_DURATION}`;

/**
 * Matches a duration with a part that alone exceeds MAX_DURATION (100h, 10000m, 100000s, ...),
 * read without parsing: each number has more digits than MAX_DURATION has in its unit. The
 * CEL rule refuses those before calling duration(), which then only sees values far inside Go's
 * time.Duration: beyond it, kube-apiserver would answer with a conversion error instead of the
 * rule's message.
 */
const PART_TOO_LONG = `(^|[^0-9.])0*(${Object.entries(UNIT_NS)
  .map(([unit, ns]) => `[1-9][0-9]{${String(MAX_NS / ns).length},}([.][0-9]+)?${unit}`)
  .join('|')})([0-9]|$)`;

export class DurationError extends Error {
  override name = 'DurationError';
}

/** Whole nanoseconds of a duration matching DURATION_PATTERN, fractions truncated as Go does. */
function nanoseconds(s: string): bigint {
  let ns = 0n;
  for (const [, whole, frac = '', unit] of s.matchAll(PART_RE)) {
    const u = UNIT_NS[unit as string] as bigint;
    ns += BigInt(whole as string) * u + (BigInt(frac || '0') * u) / 10n ** BigInt(frac.length);
  }
  return ns;
}

const inRange = (s: string) => {
  const ns = nanoseconds(s);
  return ns > 0n && ns <= MAX_NS;
};

function syntaxError(s: string): DurationError {
  return new DurationError(`"${s}" is not a duration: write a number and a unit (ns, us, ms, s, m, h), e.g. 30s, 1m, 1h30m, 500ms`);
}

/** Milliseconds of a Go duration string. Throws DurationError naming the fault. */
export function parseDuration(s: string): number {
  if (!WHOLE_RE.test(s)) throw syntaxError(s);
  if (!inRange(s)) throw new DurationError(`"${s}" ${DURATION_RANGE_MESSAGE}`);
  return Number(nanoseconds(s)) / 1e6;
}

/** A duration string in range, kept as written; the API server checks the range with CEL's duration(). */
export function duration() {
  const schema = z
    .string()
    .max(64)
    .superRefine((value, ctx) => {
      if (!WHOLE_RE.test(value)) ctx.addIssue({ code: 'custom', message: syntaxError(value).message });
      else if (!inRange(value)) ctx.addIssue({ code: 'custom', message: DURATION_RANGE_MESSAGE });
    });
  return withCrd(schema, {
    pattern: DURATION_PATTERN,
    validations: [
      {
        // the pattern guard keeps a malformed value to the pattern's own error
        rule: `!self.matches('${DURATION_PATTERN}') || (!self.matches('${PART_TOO_LONG}') && duration(self) > duration('0s') && duration(self) <= duration('${MAX_DURATION}'))`,
        message: DURATION_RANGE_MESSAGE,
      },
    ],
  });
}
