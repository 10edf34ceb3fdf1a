// The demo's live view: the rollout as the operator reports it (phase, weight, the last check's
// p99 and error rate) beside what the load generator itself saw. On a terminal it redraws in
// place; otherwise (CI, a pipe) it prints a line whenever something changed.
import type { ImageServiceStatus } from '../../operator/src/api/image-service.ts';
import type { LoadCounts } from './load.ts';

export interface ViewState {
  status: ImageServiceStatus;
  /** The load's counts over the last few seconds, and in total. */
  recent: LoadCounts;
  total: LoadCounts;
  elapsedMs: number;
}

const BAR = 20;

function fmt(v: number | null | undefined, unit: string, digits = 0): string {
  return v === undefined || v === null ? '-' : `${v.toFixed(digits)}${unit}`;
}

function weightBar(weight: number): string {
  const n = Math.round((weight / 100) * BAR);
  return `[${'#'.repeat(n)}${'.'.repeat(BAR - n)}]`;
}

function errorRate(c: LoadCounts): number | undefined {
  return c.requests === 0 ? undefined : (100 * c.failed) / c.requests;
}

/** The view as lines of text (pure, so it can be tested and printed either way). */
export function render(s: ViewState): string[] {
  const st = s.status;
  const weight = st.canaryWeight ?? 0;
  const a = st.lastAnalysis;
  const check =
    a === undefined
      ? 'no check yet'
      : `${a.passed ? 'passed' : a.noData ? 'no data' : 'failed'}: p99 ${fmt(a.latencyP99Ms, ' ms')}, errors ${fmt(a.errorRatePercent, '%', 2)}, ${fmt(a.requests, ' requests')}`;
  return [
    `t+${(s.elapsedMs / 1000).toFixed(0).padStart(3)}s  phase ${(st.phase ?? '-').padEnd(12)} canary ${weightBar(weight)} ${String(weight).padStart(3)}%`,
    `       primary ${st.primary?.image ?? '-'}   canary ${st.canary?.image ?? '-'}`,
    `       operator's last check (${st.iterations ?? 0} run, ${st.failedChecks ?? 0} failed) ${check}`,
    `       load, last 5 s: ${s.recent.requests} requests, p99 ${fmt(s.recent.p99Ms, ' ms')}, errors ${fmt(errorRate(s.recent), '%', 2)}   total: ${s.total.requests} requests, ${s.total.failed} failed`,
    `       ${st.message ?? ''}`,
  ];
}

/** A one-line form for logs: what changed between lines is what matters. */
export function renderLine(s: ViewState): string {
  const st = s.status;
  const a = st.lastAnalysis;
  return [
    `t+${(s.elapsedMs / 1000).toFixed(1)}s`,
    `phase=${st.phase ?? '-'}`,
    `weight=${st.canaryWeight ?? 0}`,
    `check=${a === undefined ? '-' : `${a.passed ? 'pass' : a.noData ? 'nodata' : 'fail'}(p99=${fmt(a.latencyP99Ms, 'ms')},err=${fmt(a.errorRatePercent, '%', 2)})`}`,
    `failed=${st.failedChecks ?? 0}`,
    `load: ${s.total.requests} sent, ${s.total.failed} failed`,
    JSON.stringify(st.message ?? ''),
  ].join(' ');
}

export class LiveView {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  #drawn = 0;
  #lastKey = '';

  constructor(out: NodeJS.WriteStream = process.stdout) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  update(s: ViewState): void {
    if (!this.#tty) {
      // Plain lines only when the rollout moved (not on every load tick).
      const st = s.status;
      const key = JSON.stringify([st.phase, st.canaryWeight, st.failedChecks, st.iterations, st.message]);
      if (key === this.#lastKey) return;
      this.#lastKey = key;
      this.#out.write(`${renderLine(s)}\n`);
      return;
    }
    // A pseudo-terminal without a size reports 0 columns.
    const columns = this.#out.columns;
    const width = columns !== undefined && columns > 0 ? Math.max(40, columns - 1) : 120;
    const lines = render(s).map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
    // Up to the first line we drew, then rewrite each line and clear what is left of it.
    let text = this.#drawn > 0 ? `\x1b[${this.#drawn}F` : '';
    for (const l of lines) text += `${l}\x1b[K\n`;
    this.#out.write(text);
    this.#drawn = lines.length;
  }

  /** Leaves the last frame on screen; later output starts below it. */
  done(): void {
    this.#drawn = 0;
    this.#lastKey = '';
  }

  /** Prints a line above the live frame (an event), keeping the frame below it. */
  note(line: string): void {
    if (this.#tty && this.#drawn > 0) {
      this.#out.write(`\x1b[${this.#drawn}F\x1b[J${line}\n`);
      this.#drawn = 0;
    } else {
      this.#out.write(`${line}\n`);
    }
  }
}
