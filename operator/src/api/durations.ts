// Durations in Go's time.ParseDuration form ("30s", "1m", "1h30m", "500ms"), the
// form Kubernetes and Flagger users write; always positive here.
import { z } from "zod";
import { withCrd } from "./crd-meta.ts";

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** The CRD pattern: one or more number+unit pairs. */
export const DURATION_PATTERN = "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";
const WHOLE_RE = new RegExp(DURATION_PATTERN);
const PART_RE = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g;

export class DurationError extends Error {
  override name = "DurationError";
}

/** Milliseconds of a Go duration string. Throws DurationError naming the fault. */
export function parseDuration(s: string): number {
  if (!WHOLE_RE.test(s)) {
    throw new DurationError(
      `"${s}" is not a duration: write a number and a unit (ns, us, ms, s, m, h), e.g. 30s, 1m, 1h30m, 500ms`,
    );
  }
  let ms = 0;
  for (const [, n, unit] of s.matchAll(PART_RE)) ms += Number(n) * (UNIT_MS[unit as string] as number);
  if (ms <= 0) throw new DurationError(`"${s}" must be longer than zero`);
  return ms;
}

/** A positive duration string, kept as written. */
export function duration() {
  const schema = z.string().superRefine((value, ctx) => {
    try {
      parseDuration(value);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  });
  return withCrd(schema, { pattern: DURATION_PATTERN });
}
