// Turns a benchmark run into the markdown of docs/benchmarks.md: one table per workload with
// ratios against sharp's in-process ceiling, the image service against each baseline, and the
// targets of issues 2 and 10 with whether they are met. Pure: a run in, text out.

import { SLOW_DELAY_MS } from '../sandbox/kubelet/catalogue.ts';
import type { ServerCell } from './cell.ts';
import { MIRROR_CONFIGS, type MirrorConfig, type MirrorStudy, type Spread, summariseMirror } from './mirror.ts';
import type { OutputCheckStudy } from './output-check.ts';
import { defaultSettings, type QuotaCell, type QuotaStudy, quotaRatios } from './quota.ts';
import type { RecentRecordRow } from './recent-record.ts';
import type { BatchCell, BenchRun, RunMeta } from './results.ts';
import { RISE_MIB_PER_MINUTE, RISE_R2, type SoakResult } from './soak.ts';
import { ratio } from './stats.ts';
import { CONFIRM_CONNECTIONS, candidateLabel, choose, designDefault, type Measured, RSS_MARGIN, SCREEN_CONNECTIONS, sameCandidate, type ThreadCandidate, type ThreadStudy, TIE } from './threads.ts';
import { WORKLOADS } from './workloads.ts';

/** The contender id of the image service as the operator configures it. */
export const SERVICE = 'image-service';
export const TARGET_WORKLOAD = 'jpeg640';

const MiB = 1024 * 1024;

function num(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

/** "28.4" for one run, "28.4 (27.6-29.1)" for the median of several: the spread stays in view. */
function rate(value: number, runs: readonly number[] | undefined): string {
  if (runs === undefined || runs.length < 2) return num(value);
  return `${num(value)} (${num(Math.min(...runs))}-${num(Math.max(...runs))})`;
}

function times(value: number | undefined): string {
  return value === undefined ? '—' : `${value.toFixed(2)}x`;
}

/** "200: 350, 503: 1200" then connection errors: "timeout: 3". */
export function answers(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, n]) => `${key}: ${n}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

export function ceilingOf(run: BenchRun, budget: number, workload: string): BatchCell | undefined {
  return run.batches.find((b) => b.contender === 'sharp in-process' && b.budget === budget && b.workload === workload);
}

export function cellOf(run: BenchRun, contender: string, budget: number, workload: string, connections: number): ServerCell | undefined {
  return run.servers.find((s) => s.contender === contender && s.budget === budget && s.workload === workload && s.connections === connections);
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [row(header), row(header.map(() => '---')), ...rows.map(row)].join('\n');
}

export function workloadTable(run: BenchRun, workload: string): string {
  const header = ['contender', 'CPUs', 'conns', 'images/s (200)', 'of ceiling', 'p50 ms', 'p99 ms', 'answers', 'errors', 'peak RSS MiB', 'CPU s / 1000', 'other CPU'];
  const rows: string[][] = [];
  for (const b of run.batches.filter((b) => b.workload === workload)) {
    const ceiling = ceilingOf(run, b.budget, workload);
    rows.push([
      b.contender,
      String(b.budget),
      '—',
      rate(b.imagesPerSecond, b.runs),
      times(ratio(b.imagesPerSecond, ceiling?.imagesPerSecond)),
      '—',
      '—',
      '—',
      '—',
      num(b.peakRssBytes / MiB, 0),
      num(b.cpuSecondsPer1000),
      b.foreignCpu === undefined ? '—' : `${(b.foreignCpu * 100).toFixed(0)}%`,
    ]);
  }
  for (const s of run.servers.filter((s) => s.workload === workload)) {
    const ceiling = ceilingOf(run, s.budget, workload);
    rows.push([
      s.label,
      String(s.budget),
      String(s.connections),
      rate(s.okPerSecond, s.runs),
      times(ratio(s.okPerSecond, ceiling?.imagesPerSecond)),
      num(s.okP50Ms, 0),
      num(s.okP99Ms, 0),
      answers(s.statusCounts),
      answers(s.errors) === 'none' ? '0' : answers(s.errors),
      num(s.peakRssBytes / MiB, 0),
      num(s.cpuSecondsPer1000),
      `${(s.foreignCpu * 100).toFixed(0)}%`,
    ]);
  }
  return table(header, rows);
}

const BASELINES: readonly { id: string; label: string }[] = [
  { id: 'naive', label: 'naive' },
  { id: 'ipx', label: 'ipx' },
  { id: 'php-imagick', label: 'PHP+IM' },
  { id: 'php-imagick-hint', label: 'PHP+IM hint' },
];

/** The image service at 1 CPU against the ceiling and each baseline at the same cell. */
export function ratioTable(run: BenchRun): string {
  const header = ['workload', 'conns', 'service images/s', 'of ceiling', ...BASELINES.map((b) => `x ${b.label}`)];
  const rows: string[][] = [];
  for (const s of run.servers.filter((s) => s.contender === SERVICE && s.budget === 1)) {
    const ceiling = ceilingOf(run, 1, s.workload);
    rows.push([
      s.workload,
      String(s.connections),
      rate(s.okPerSecond, s.runs),
      times(ratio(s.okPerSecond, ceiling?.imagesPerSecond)),
      ...BASELINES.map((b) => times(ratio(s.okPerSecond, cellOf(run, b.id, 1, s.workload, s.connections)?.okPerSecond))),
    ]);
  }
  return table(header, rows);
}

export interface TargetCheck {
  target: string;
  measured: string;
  /** undefined: the cell was not measured in this run. */
  met: boolean | undefined;
}

function atLeast(target: string, value: number | undefined, bound: number, show: (v: number) => string): TargetCheck {
  return { target, measured: value === undefined ? 'not measured' : show(value), met: value === undefined ? undefined : value >= bound };
}

function atMost(target: string, value: number | undefined, bound: number, show: (v: number) => string): TargetCheck {
  return { target, measured: value === undefined ? 'not measured' : show(value), met: value === undefined ? undefined : value <= bound };
}

/** The targets of issues 2 and 10, at a 1-CPU budget on the JPEG 640 workload. */
export function checkTargets(run: BenchRun, queueTimeoutMs: number): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const service = (n: number): ServerCell | undefined => cellOf(run, SERVICE, 1, TARGET_WORKLOAD, n);
  const other = (id: string, n: number): number | undefined => cellOf(run, id, 1, TARGET_WORKLOAD, n)?.okPerSecond;
  const ceiling = ceilingOf(run, 1, TARGET_WORKLOAD)?.imagesPerSecond;
  for (const n of [16, 256, 1000]) {
    checks.push(atLeast(`>= 0.95 of the ceiling at ${n} connections`, ratio(service(n)?.okPerSecond, ceiling), 0.95, (v) => v.toFixed(2)));
  }
  for (const n of [16, 256, 1000]) {
    checks.push(atLeast(`>= 1.15x ipx at ${n} connections`, ratio(service(n)?.okPerSecond, other('ipx', n)), 1.15, times));
  }
  for (const n of [16, 256, 1000]) {
    checks.push(atLeast(`>= 3x PHP + ImageMagick at ${n} connections`, ratio(service(n)?.okPerSecond, other('php-imagick', n)), 3, times));
    checks.push(atLeast(`>= 3x PHP + ImageMagick (jpeg:size hint) at ${n} connections`, ratio(service(n)?.okPerSecond, other('php-imagick-hint', n)), 3, times));
  }
  checks.push(atMost('peak RSS <= 160 MiB at 256 connections', mibOf(service(256)), 160, (v) => `${v.toFixed(0)} MiB`));
  checks.push(atMost('peak RSS <= 200 MiB at 1000 connections', mibOf(service(1000)), 200, (v) => `${v.toFixed(0)} MiB`));
  for (const s of run.servers.filter((s) => s.contender === SERVICE && s.budget === 1 && s.workload === TARGET_WORKLOAD)) {
    checks.push(atMost(`p99 of admitted requests <= queue timeout (${queueTimeoutMs} ms) at ${s.connections} connections`, s.okP99Ms, queueTimeoutMs, (v) => `${v.toFixed(0)} ms`));
    const unexpected = { ...Object.fromEntries(Object.entries(s.statusCounts).filter(([code]) => code !== '200' && code !== '503')), ...s.errors };
    checks.push({
      target: `only 200 and 503 at ${s.connections} connections`,
      measured: answers(s.statusCounts) + (Object.keys(s.errors).length > 0 ? `; errors ${answers(s.errors)}` : ''),
      met: Object.keys(unexpected).length === 0,
    });
  }
  return checks;
}

function mibOf(cell: ServerCell | undefined): number | undefined {
  return cell === undefined ? undefined : cell.peakRssBytes / MiB;
}

export function targetsTable(checks: readonly TargetCheck[]): string {
  const verdict = (met: boolean | undefined): string => (met === undefined ? 'not measured' : met ? 'met' : '**not met**');
  return table(
    ['target (1 CPU, JPEG 640)', 'measured', 'verdict'],
    checks.map((c) => [c.target, c.measured, verdict(c.met)]),
  );
}

/** The heading and conditions of a run: when, the command, the machine, the corpus. */
export function renderMeta(run: RunMeta): string[] {
  const m = run.machine;
  return [
    `## Run of ${run.startedAt} (${run.scenario})`,
    '',
    `Command: \`${run.command}\`. Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}; load average at start ${m.loadAverage.map((l) => l.toFixed(2)).join(' ')}. ` +
      `Node ${m.node}, sharp ${m.sharp} (libvips ${m.libvips})${Object.entries(m.tools)
        .map(([k, v]) => `, ${k} ${v}`)
        .join('')}. ` +
      `Corpus: ${run.corpus.synthetic ? 'synthetic photographs' : 'photographs'} (${run.corpus.photographs} files).`,
  ];
}

export function renderReport(run: BenchRun, queueTimeoutMs: number): string {
  const parts = renderMeta(run);
  for (const w of WORKLOADS) {
    if (!run.batches.some((b) => b.workload === w.id) && !run.servers.some((s) => s.workload === w.id)) continue;
    parts.push('', `### ${w.label}`, '', workloadTable(run, w.id));
  }
  if (run.servers.some((s) => s.contender === SERVICE)) {
    parts.push('', '### The image service (1 CPU) against the others', '', ratioTable(run));
    parts.push('', '### Targets', '', targetsTable(checkTargets(run, queueTimeoutMs)));
  }
  if (run.skipped.length > 0) {
    parts.push('', 'Skipped:', ...run.skipped.map((s) => `- ${s.contender}: ${s.reason}`));
  }
  return `${parts.join('\n')}\n`;
}

function serverRow(m: Measured, design: ThreadCandidate): string[] {
  const c = m.cell;
  const mark = sameCandidate(m.candidate, design) ? ' (thread rule)' : '';
  return [
    `${candidateLabel(m.candidate)}${mark}`,
    num(c.okPerSecond),
    num(c.okP50Ms, 0),
    num(c.okP99Ms, 0),
    num(c.peakRssBytes / MiB, 0),
    num(c.cpuSecondsPer1000),
    answers(c.statusCounts),
    `${(c.foreignCpu * 100).toFixed(0)}%`,
  ];
}

/** The study's tables per budget and phase, and the verdict on the thread rule's derivation. */
export function renderThreadStudy(run: RunMeta & { study: ThreadStudy }): string {
  const parts = renderMeta(run);
  const header = ['settings', 'images/s (200)', 'p50 ms', 'p99 ms', 'peak RSS MiB', 'CPU s / 1000', 'answers', 'other CPU'];
  const threads = (list: readonly Measured[], budget: number): Measured[] =>
    list.filter((m) => m.candidate.budget === budget && m.candidate.allocator === undefined).sort((a, b) => b.cell.okPerSecond - a.cell.okPerSecond);
  for (const budget of [1, 2]) {
    const design = designDefault(budget);
    for (const [phase, list, connections] of [
      ['screen', run.study.screen, SCREEN_CONNECTIONS],
      ['confirm', run.study.confirm, CONFIRM_CONNECTIONS],
    ] as const) {
      const rows = threads(list, budget);
      if (rows.length === 0) continue;
      parts.push(
        '',
        `### ${budget} CPU, ${connections} connections (${phase})`,
        '',
        table(
          header,
          rows.map((m) => serverRow(m, design)),
        ),
      );
    }
    const confirmed = threads(run.study.confirm, budget);
    const winner = choose(confirmed, design);
    const ours = confirmed.find((m) => sameCandidate(m.candidate, design));
    if (winner === undefined || ours === undefined) continue;
    parts.push(
      '',
      sameCandidate(winner.candidate, design)
        ? `At ${budget} CPU the data keeps the thread rule's derivation (${candidateLabel(design)}): within ${TIE * 100}% of the best throughput at ${CONFIRM_CONNECTIONS} connections, and none of those is leaner by more than ${RSS_MARGIN * 100}%.`
        : `At ${budget} CPU the data prefers ${candidateLabel(winner.candidate)} to the thread rule's ${candidateLabel(design)}: ` +
            `${num(winner.cell.okPerSecond)} against ${num(ours.cell.okPerSecond)} images/s, peak RSS ${num(winner.cell.peakRssBytes / MiB, 0)} against ${num(ours.cell.peakRssBytes / MiB, 0)} MiB, ` +
            `p99 ${num(winner.cell.okP99Ms, 0)} against ${num(ours.cell.okP99Ms, 0)} ms (at ${CONFIRM_CONNECTIONS} connections).`,
    );
  }
  const allocators = run.study.confirm.filter((m) => m.candidate.allocator !== undefined || sameCandidate(m.candidate, designDefault(1)));
  if (allocators.length > 1) {
    parts.push(
      '',
      `### Allocators, 1 CPU, ${CONFIRM_CONNECTIONS} connections (the thread rule's threads)`,
      '',
      table(
        header,
        allocators.map((m) => serverRow(m, designDefault(1))),
      ),
    );
  }
  return `${parts.join('\n')}\n`;
}

/** The soak: load, answers, the RSS trend and the handles before, at peak and after. */
export function renderSoak(run: RunMeta & { soak: SoakResult }): string {
  const { soak } = run;
  const c = soak.cell;
  const t = soak.trend;
  const minutes = (c.elapsedSeconds / 60).toFixed(1);
  const types = Object.keys({ ...soak.handles.before?.resources, ...soak.handles.peak, ...soak.handles.after?.resources }).sort();
  const parts = [
    ...renderMeta(run),
    '',
    `Capacity at 1 CPU (16 connections): ${num(soak.capacity.okPerSecond)} images/s. Load: ${soak.connections} connections for ${minutes} minutes, ` +
      `offering ${num(soak.offeredPerSecond)} requests/s (${num(soak.offeredPerSecond / soak.capacity.okPerSecond, 2)}x the capacity).`,
    '',
    table(
      ['images/s (200)', 'answers', 'errors', 'p50 ms', 'p99 ms (200)', 'p99 ms (503)', 'CPU s / 1000', 'other CPU'],
      [
        [
          num(c.okPerSecond),
          answers(c.statusCounts),
          answers(c.errors) === 'none' ? '0' : answers(c.errors),
          num(c.okP50Ms, 0),
          num(c.okP99Ms, 0),
          num(c.otherP99Ms, 0),
          num(c.cpuSecondsPer1000),
          `${(c.foreignCpu * 100).toFixed(0)}%`,
        ],
      ],
    ),
    '',
    `RSS after the first minute: ${num(t.firstMinuteMiB, 0)} MiB in its first minute, ${num(t.lastMinuteMiB, 0)} MiB in its last, peak ${num(t.peakMiB, 0)} MiB; ` +
      `least-squares slope ${t.slopeMiBPerMinute.toFixed(2)} MiB/min (r2 ${t.r2.toFixed(2)}): ${t.upward ? '**an upward trend**' : 'no upward trend'} ` +
      `(upward means over ${RISE_MIB_PER_MINUTE} MiB/min with r2 over ${RISE_R2}).`,
    '',
    table(
      ['minute of load', 'RSS min MiB', 'mean', 'max'],
      soak.minutes.map((m) => [String(m.minute + 1), num(m.minMiB, 0), num(m.meanMiB, 0), num(m.maxMiB, 0)]),
    ),
    '',
    table(
      ['active resource', 'before the load', 'peak', 'after the load and a cooldown'],
      types.map((type) => [type, String(soak.handles.before?.resources[type] ?? 0), String(soak.handles.peak[type] ?? 0), String(soak.handles.after?.resources[type] ?? 0)]),
    ),
    '',
    soak.handles.before === undefined || soak.handles.after === undefined
      ? '**No handle baseline** was recorded (the probe wrote nothing before or after the load).'
      : soak.handles.leaked.length === 0
        ? 'No handle type has more active resources after the load than before it: nothing leaked.'
        : `**Leaked**: ${soak.handles.leaked.map((l) => `${l.type} ${l.before} -> ${l.after}`).join(', ')}.`,
  ];
  return `${parts.join('\n')}\n`;
}

function effectiveLabel(c: QuotaCell): string {
  const e = c.effective;
  if (e === undefined) return '—';
  return `w${e.workers} uv${e.threadpoolSize} vips${e.vipsConcurrency} arena${e.mallocArenaMax ?? '-'}${e.workersFrom === 'cgroup' ? ` (from quota ${num(e.cpuLimit ?? undefined, 1)})` : ''}`;
}

export function renderQuota(run: RunMeta & { quota: QuotaStudy }): string {
  const q = run.quota;
  const parts = renderMeta(run);
  const d = defaultSettings(q.hostCores);
  parts.push(
    '',
    `The service in a cgroup v${q.cgroupVersion} with a CPU quota, free to run on cores ${q.serverCpus} (the load generator on core 0): ` +
      `the threads it derives from the quota against Node's and libvips' defaults (w${d.workers} uv${d.threadpool} vips${d.vipsConcurrency} arena${d.arenaMax ?? '-'}: ` +
      `UV_THREADPOOL_SIZE 4, VIPS_CONCURRENCY and workers = host cores, glibc's arenas). JPEG 640; throttling over the measured window.`,
  );
  const header = ['quota', 'connections', 'settings', 'images/s (200)', 'p99 ms', 'peak RSS MiB', 'throttled periods', 'throttled s', 'CPU s used', 'answers', 'other CPU'];
  const rows = q.cells.map((c) => {
    const t = c.cell.cgroupCpu;
    return [
      `${c.budget} CPU`,
      String(c.connections),
      `${c.variant}: ${effectiveLabel(c)}`,
      num(c.cell.okPerSecond),
      num(c.cell.okP99Ms, 0),
      num(c.cell.peakRssBytes / MiB, 0),
      t === undefined ? '—' : `${t.throttledPeriods} / ${t.periods}`,
      num(t?.throttledSeconds, 2),
      num(t?.usageSeconds, 1),
      answers(c.cell.statusCounts),
      `${num(c.cell.foreignCpu * 100, 0)}%`,
    ];
  });
  parts.push('', table(header, rows));
  const ratioRows = quotaRatios(q).map((r) => [`${r.budget} CPU`, String(r.connections), times(r.throughput), times(r.p99), times(r.peakRss), times(r.throttledSeconds)]);
  parts.push('', 'Derived / defaults:', '', table(['quota', 'connections', 'images/s', 'p99', 'peak RSS', 'throttled s'], ratioRows));
  return `${parts.join('\n')}\n`;
}

function spread(s: Spread | undefined, digits: number, suffix = ''): string {
  return s === undefined ? '—' : `${s.median.toFixed(digits)}${suffix} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;
}

const MIRROR_LABELS: Record<MirrorConfig, string> = {
  none: 'no mirror',
  shared: '100% mirrored, canary sharing the CPU',
  weight: '100% mirrored, canary at the least CPU weight',
  idle: '100% mirrored, canary in SCHED_IDLE',
};

export function renderMirror(run: RunMeta & { mirror: MirrorStudy }): string {
  const m = run.mirror;
  const parts = renderMeta(run);
  parts.push(
    '',
    `Two one-replica ImageServices through the sandbox's mesh, ${m.load.ratePerSecond} requests/s over ${m.load.concurrency} connections (a worker thread), ` +
      `${m.rounds} rounds of ${MIRROR_CONFIGS.length} ${m.seconds} s windows in rotated order; the canary's cgroup (v${m.cgroupVersion}) set for each window.`,
  );
  const rows = m.windows.map((w) => [
    String(w.round),
    MIRROR_LABELS[w.config],
    String(w.counts.requests),
    num(w.counts.p50Ms, 2),
    num(w.counts.p99Ms, 1),
    String(w.counts.failed),
    `${w.mirrored} (${w.lateCopies})`,
    String(w.canaryWeight),
    num(w.cpu.sandbox, 2),
    num(w.cpu.load, 2),
    num(w.cpu.primary, 2),
    num(w.cpu.canary, 2),
  ]);
  parts.push(
    '',
    table(['round', 'window', 'requests', 'p50 ms', 'p99 ms', 'failed', 'mirrored (after 500 ms)', 'canary weight', 'sandbox CPU s', 'load CPU s', 'primary CPU s', 'canary CPU s'], rows),
  );
  const summary = summariseMirror(m).filter((s) => s.config !== 'none');
  const none = summariseMirror(m).find((s) => s.config === 'none');
  parts.push(
    '',
    'Against the same round\'s "no mirror" window, median (min-max) over the rounds; the sandbox thread (mesh, API server, kubelet) per user request, and its extra per mirrored copy:',
    '',
    table(
      ['window', 'p50 ratio', 'p99 ratio', 'sandbox CPU ms / request', 'extra sandbox CPU ms / copy', 'canary CPU s'],
      [
        [MIRROR_LABELS.none, '1', '1', spread(none?.sandboxMsPerRequest, 3), '—', spread(none?.canaryCpuSeconds, 2)],
        ...summary.map((s) => [
          MIRROR_LABELS[s.config],
          spread(s.p50Ratio, 2, 'x'),
          spread(s.p99Ratio, 2, 'x'),
          spread(s.sandboxMsPerRequest, 3),
          spread(s.sandboxMsPerCopy, 3),
          spread(s.canaryCpuSeconds, 2),
        ]),
      ],
    ),
  );
  const pooledNone = m.pooled.find((p) => p.config === 'none');
  parts.push(
    '',
    "Every window of a kind pooled, and the pooled percentiles against no mirror's:",
    '',
    table(
      ['window', 'requests', 'p50 ms', 'p99 ms', 'p99.9 ms', 'p50 ratio', 'p99 ratio', `slower than the canary's ${SLOW_DELAY_MS} ms`],
      m.pooled.map((p) => [
        MIRROR_LABELS[p.config],
        String(p.requests),
        num(p.p50Ms, 2),
        num(p.p99Ms, 1),
        num(p.p999Ms, 1),
        times(ratio(p.p50Ms, pooledNone?.p50Ms)),
        times(ratio(p.p99Ms, pooledNone?.p99Ms)),
        String(p.slowerThanCanary),
      ]),
    ),
  );
  return `${parts.join('\n')}\n`;
}

export function renderOutputCheck(run: RunMeta & { outputCheck: OutputCheckStudy }): string {
  const o = run.outputCheck;
  const parts = renderMeta(run);
  parts.push(
    '',
    `What the two metrics read for changes applied to each of the ${o.photographs} 2560x1600 photographs resized to 1280 wide, JPEG q80 as the reference; compared as the operator does (fitted inside 1024, CIELAB):`,
    '',
    table(
      ['change', 'lightness SSIM (worst / mean)', 'mean CIEDE2000 of 8x8 blocks (worst / mean)', 'size ratio (worst)'],
      o.metrics.map((r) => [r.change, `${r.ssimWorst.toFixed(4)} / ${r.ssimMean.toFixed(4)}`, `${r.deltaEWorst.toFixed(2)} / ${r.deltaEMean.toFixed(2)}`, r.sizeRatioWorst.toFixed(2)]),
    ),
    '',
    'One check of 20 samples between three image-service processes (caches warm from a first pass), the check running alone in the bench process as in the operator:',
    '',
    table(
      ['canary', 'duration', 'per sample', 'failures', 'worst SSIM', 'worst CIEDE2000', 'RSS of the checking process'],
      o.checks.map((c) => [
        c.canary,
        `${c.seconds.toFixed(2)} s`,
        `${((c.seconds * 1000) / Math.max(1, c.samples)).toFixed(0)} ms`,
        String(c.failures),
        num(c.worstSsim, 4),
        num(c.worstDeltaE, 2),
        `${num(c.rssBeforeBytes / MiB, 0)} -> peak ${num(c.rssPeakBytes / MiB, 0)} MiB (+${num((c.rssPeakBytes - c.rssBeforeBytes) / MiB, 0)})`,
      ]),
    ),
  );
  return `${parts.join('\n')}\n`;
}

export function renderRecentRecord(run: RunMeta & { recentRecord: RecentRecordRow[] }): string {
  const parts = renderMeta(run);
  parts.push(
    '',
    "CPU of one call of the image service's record of recent requests (on the hot path of every 200 render), measured alone after a warm-up:",
    '',
    table(
      ['case', 'CPU per request'],
      run.recentRecord.map((r) => [r.case, `${r.nsPerCall.toFixed(0)} ns`]),
    ),
  );
  return `${parts.join('\n')}\n`;
}
