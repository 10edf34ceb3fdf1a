// One check's verdict: the observations (or the reason there are none) held against the SLOs
// of spec.canary.analysis. Pure; both providers' answers are judged here, the same way.
import type { AnalysisResult, AnalysisSpec } from '../api/image-service.ts';
import type { AnalysisErrorKind, Observations } from './providers/provider.ts';

/** What the output check found (output.ts), as the verdict needs it: numbers and sentences, never bodies. */
export interface OutputVerdict {
  samples: number;
  /** Of `samples`, how many were taken from primary's record of recent requests. */
  fromTraffic: number;
  /** Why fewer than asked were taken from traffic. */
  note?: string;
  /** One sentence per failure, naming the sample, the metric and both values. */
  failures: string[];
  worstSsim: number | undefined;
  worstDeltaE: number | undefined;
  /** Where the failures' visual diffs can be read. */
  diffs: string[];
}

/** What the shell got when it ran an analysis: observations, or why there are none. */
export type AnalysisOutcome = { ok: true; observations: Observations } | { ok: false; kind: AnalysisErrorKind; message: string };

export interface Verdict {
  /** pass: every value within its SLO; fail: one is not (or could not be measured); no-data: too few requests to judge. */
  result: 'pass' | 'fail' | 'no-data';
  /** Why it failed or had no data, one sentence per broken check; empty on pass. */
  reasons: string[];
  /** The measurements as status.lastAnalysis records them (NaN and infinities as null). */
  record: AnalysisResult;
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** A number for messages: at most 3 significant decimals, no trailing zeros. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
  return String(Number(v.toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 1 ? 2 : 3)));
}

/** The output check's part of the record; its failures fail the check whatever the traffic says. */
function outputRecord(output: OutputVerdict | undefined): Pick<AnalysisResult, 'output'> {
  if (output === undefined) return {};
  const finiteOrNull = (v: number | undefined) => (v === undefined ? null : finite(v));
  return {
    output: {
      samples: output.samples,
      failed: output.failures.length,
      worstSsim: finiteOrNull(output.worstSsim),
      worstDeltaE: finiteOrNull(output.worstDeltaE),
      ...(output.fromTraffic > 0 ? { fromTraffic: output.fromTraffic } : {}),
      ...(output.note === undefined ? {} : { note: output.note }),
      ...(output.diffs.length > 0 ? { diffs: output.diffs } : {}),
    },
  };
}

export function judge(analysis: AnalysisSpec, outcome: AnalysisOutcome, intervalMs: number, at: Date, output?: OutputVerdict): Verdict {
  const outputFailures = output?.failures ?? [];
  if (!outcome.ok) {
    const reasons = [outcome.message, ...outputFailures];
    return { result: 'fail', reasons, record: { at: at.toISOString(), passed: false, ...outputRecord(output), reason: reasons.join('; ') } };
  }
  const o = outcome.observations;
  const metrics: Record<string, number | null> = {};
  for (const [name, value] of Object.entries(o.metrics)) metrics[name] = finite(value);
  const base = {
    at: at.toISOString(),
    latencyP99Ms: finite(o.latencyP99Ms),
    errorRatePercent: finite(o.errorRatePercent),
    requests: o.requests,
    ...(Object.keys(metrics).length > 0 ? { metrics } : {}),
    ...outputRecord(output),
  };
  if (outputFailures.length > 0 && o.requests < analysis.minRequests) {
    return { result: 'fail', reasons: outputFailures, record: { ...base, passed: false, reason: outputFailures.join('; ') } };
  }
  if (o.requests < analysis.minRequests) {
    const reason = `${o.requests} canary requests in the last ${formatDuration(intervalMs)}, fewer than minRequests ${analysis.minRequests}`;
    return { result: 'no-data', reasons: [reason], record: { ...base, passed: false, noData: true, reason } };
  }
  const reasons: string[] = [];
  const atMost = (what: string, value: number, max: number, unit: string): void => {
    if (Number.isNaN(value)) reasons.push(`${what} has no value (NaN)`);
    else if (!(value <= max)) reasons.push(`${what} ${formatNumber(value)}${unit} is above the SLO of ${formatNumber(max)}${unit}`);
  };
  atMost('p99 latency', o.latencyP99Ms, analysis.latencyP99Ms, ' ms');
  atMost('5xx rate', o.errorRatePercent, analysis.errorRatePercent, '%');
  for (const m of analysis.metrics) {
    const value = o.metrics[m.name] ?? Number.NaN;
    const { min, max } = m.thresholdRange;
    if (Number.isNaN(value)) reasons.push(`metric ${m.name} has no value`);
    else if (min !== undefined && value < min) reasons.push(`metric ${m.name} ${formatNumber(value)} is below its minimum ${formatNumber(min)}`);
    else if (max !== undefined && value > max) reasons.push(`metric ${m.name} ${formatNumber(value)} is above its maximum ${formatNumber(max)}`);
  }
  reasons.push(...outputFailures);
  if (reasons.length === 0) return { result: 'pass', reasons, record: { ...base, passed: true } };
  return { result: 'fail', reasons, record: { ...base, passed: false, reason: reasons.join('; ') } };
}

/**
 * The check before the first weight: the output alone (the canary has no traffic to judge).
 * Nothing to compare (no listed samples, primary's record empty or unreadable) is no data, which
 * onNoData judges as it judges a canary without requests.
 */
export function judgeOutput(output: OutputVerdict, at: Date): Verdict {
  const base = { at: at.toISOString(), ...outputRecord(output) };
  if (output.samples === 0 && output.failures.length === 0) {
    const reason = output.note ?? 'no output sample to compare';
    return { result: 'no-data', reasons: [reason], record: { ...base, passed: false, noData: true, reason } };
  }
  if (output.failures.length === 0) return { result: 'pass', reasons: [], record: { ...base, passed: true } };
  return { result: 'fail', reasons: output.failures, record: { ...base, passed: false, reason: output.failures.join('; ') } };
}

/** 90000 -> "1m30s", 2000 -> "2s", 1500 -> "1.5s". */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${formatNumber(ms / 1000)}s`;
  const m = Math.floor(ms / 60_000);
  const s = (ms % 60_000) / 1000;
  return s === 0 ? `${m}m` : `${m}m${formatNumber(s)}s`;
}
