// The soak: the image service at a 1-CPU budget under twice its capacity for ten minutes, its
// RSS sampled every few seconds (a least-squares slope says whether it climbs) and its active
// handles written by a preload (bench/handles-probe.ts) before, during and after the load (none
// may be left behind). The analysis is pure; the run reuses the comparison's cells.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { measureCell, runServerCell, type ServerCell } from './cell.ts';
import { type Contender, imageService, operatorSettings, QUEUE_TIMEOUT_MS } from './contenders.ts';
import type { Corpus } from './corpus.ts';
import type { Options } from './options.ts';
import { linearRegression } from './stats.ts';
import { workloadById } from './workloads.ts';

const MiB = 2 ** 20;
/** An upward trend: RSS climbing faster than this, consistently (r2 over RISE_R2). */
export const RISE_MIB_PER_MINUTE = 0.5;
export const RISE_R2 = 0.5;

export interface RssTrend {
  slopeMiBPerMinute: number;
  r2: number;
  firstMinuteMiB: number;
  lastMinuteMiB: number;
  peakMiB: number;
  upward: boolean;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

/** The RSS trend over the samples after the first `skipMs` (heap and arenas grow to their working size first). */
export function rssTrend(samples: readonly { atMs: number; rssBytes: number }[], skipMs: number): RssTrend {
  const steady = samples.filter((s) => s.atMs >= skipMs);
  if (steady.length < 3) throw new Error(`a trend needs at least 3 samples after ${skipMs} ms, got ${steady.length}`);
  const fit = linearRegression(steady.map((s) => [s.atMs / 60_000, s.rssBytes / MiB] as const));
  const first = steady[0]?.atMs ?? 0;
  const last = steady.at(-1)?.atMs ?? 0;
  return {
    slopeMiBPerMinute: fit.slope,
    r2: fit.r2,
    firstMinuteMiB: mean(steady.filter((s) => s.atMs < first + 60_000).map((s) => s.rssBytes / MiB)),
    lastMinuteMiB: mean(steady.filter((s) => s.atMs > last - 60_000).map((s) => s.rssBytes / MiB)),
    peakMiB: Math.max(...samples.map((s) => s.rssBytes / MiB)),
    upward: fit.slope > RISE_MIB_PER_MINUTE && fit.r2 > RISE_R2,
  };
}

export interface MinuteOfRss {
  minute: number;
  minMiB: number;
  meanMiB: number;
  maxMiB: number;
}

/** RSS per minute of load: a leak lifts the floor (the minimum) minute after minute. */
export function rssByMinute(samples: readonly { atMs: number; rssBytes: number }[]): MinuteOfRss[] {
  const minutes = new Map<number, number[]>();
  for (const s of samples) {
    const minute = Math.floor(s.atMs / 60_000);
    minutes.set(minute, [...(minutes.get(minute) ?? []), s.rssBytes / MiB]);
  }
  return [...minutes.entries()].sort(([a], [b]) => a - b).map(([minute, values]) => ({ minute, minMiB: Math.min(...values), meanMiB: mean(values), maxMiB: Math.max(...values) }));
}

export const ProbeLineSchema = z.object({
  at: z.number(),
  pid: z.int(),
  resources: z.record(z.string(), z.int()),
  rss: z.number(),
  heapUsed: z.number(),
  external: z.number(),
});
export type ProbeLine = z.infer<typeof ProbeLineSchema>;

export interface HandleChange {
  type: string;
  before: number;
  after: number;
}

/** Resource types of which more are active after the load than before it: leaks. */
export function leakedHandles(before: ProbeLine['resources'], after: ProbeLine['resources']): HandleChange[] {
  return Object.keys({ ...before, ...after })
    .map((type) => ({ type, before: before[type] ?? 0, after: after[type] ?? 0 }))
    .filter((c) => c.after > c.before)
    .sort((a, b) => a.type.localeCompare(b.type));
}

export interface SoakResult {
  capacity: ServerCell;
  connections: number;
  /** Answers and failures per second: what the connections offered, against the capacity. */
  offeredPerSecond: number;
  cell: ServerCell;
  trend: RssTrend;
  minutes: MinuteOfRss[];
  handles: { before: ProbeLine | undefined; peak: ProbeLine['resources']; after: ProbeLine | undefined; leaked: HandleChange[] };
}

const PROBE = 'bench/handles-probe.ts';

/** The service with the probe preloaded, writing to `file`. */
function probed(base: Contender, file: string, intervalMs: number): Contender {
  return {
    ...base,
    launch: (ctx, first) => {
      const launch = base.launch(ctx, first);
      return {
        ...launch,
        args: ['--import', join(ctx.repoRoot, PROBE), ...launch.args],
        env: { ...launch.env, BENCH_HANDLES_FILE: file, BENCH_HANDLES_INTERVAL_MS: String(intervalMs) },
      };
    },
  };
}

function readProbe(file: string): ProbeLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => ProbeLineSchema.parse(JSON.parse(l)));
}

const SAMPLE_MS = 5_000;
/** Longer than Node's keep-alive timeout (5 s), so idle connections are gone when handles are read. */
const IDLE_SECONDS = 8;

/**
 * Connections that offer `factor` times the capacity to a saturated service: there every request
 * lasts about the queue timeout (it is served just before it, or refused at it), so each
 * connection offers 1 / timeout requests per second. Closed-loop, because autocannon's rate
 * limit is a whole number of requests per second per connection.
 */
export function soakConnections(capacityPerSecond: number, queueTimeoutMs: number, factor = 2): number {
  return Math.max(1, Math.round(factor * capacityPerSecond * (queueTimeoutMs / 1000)));
}

export async function runSoak(options: Pick<Options, 'quick' | 'duration' | 'repoRoot' | 'out'>, corpus: Corpus, progress: (line: string) => void): Promise<SoakResult> {
  const workload = workloadById('jpeg640');
  const service = imageService(operatorSettings(1), 'image-service');
  const common = { budget: 1, workload, corpus, repoRoot: options.repoRoot, logDir: join(options.out, 'logs') };
  const capacity = await measureCell({ ...common, contender: service, connections: 16, timing: { warmupSeconds: 2, durationSeconds: options.quick ? 5 : 15, timeoutSeconds: 10 } }, 2);
  const connections = soakConnections(capacity.okPerSecond, QUEUE_TIMEOUT_MS);
  const seconds = options.duration ?? (options.quick ? 60 : 600);
  progress(`capacity ${capacity.okPerSecond.toFixed(1)} images/s at 16 connections; soaking with ${connections} connections for ${seconds} s`);
  const warmupMs = 5_000;
  const file = join(options.out, 'soak-handles.jsonl');
  rmSync(file, { force: true });
  const cell = await runServerCell({
    ...common,
    contender: probed(service, file, 1_000),
    connections,
    timing: { warmupSeconds: warmupMs / 1000, durationSeconds: seconds, timeoutSeconds: 10 },
    sampleIntervalMs: SAMPLE_MS,
    idleSeconds: IDLE_SECONDS,
  });
  const lines = readProbe(file);
  const peak: ProbeLine['resources'] = {};
  for (const line of lines) for (const [type, n] of Object.entries(line.resources)) peak[type] = Math.max(peak[type] ?? 0, n);
  // The idle, listening server just before the load, and the same server after it and a cooldown.
  const before = lines.filter((l) => l.at < cell.loadStartedAt).at(-1);
  const after = lines.at(-1);
  // Sampler time starts at readiness: idle, warm-up, the measured load, idle again.
  const loadedFrom = IDLE_SECONDS * 1000 + warmupMs;
  const loaded = cell.rssSamples.filter((s) => s.atMs >= loadedFrom && s.atMs <= loadedFrom + seconds * 1000).map((s) => ({ ...s, atMs: s.atMs - loadedFrom }));
  const answered = Object.values(cell.statusCounts).reduce((a, b) => a + b, 0) + Object.values(cell.errors).reduce((a, b) => a + b, 0);
  return {
    capacity,
    connections,
    offeredPerSecond: answered / cell.elapsedSeconds,
    cell,
    trend: rssTrend(loaded, Math.min(60_000, (seconds * 1000) / 4)),
    minutes: rssByMinute(loaded),
    handles: { before, peak, after, leaked: before && after ? leakedHandles(before.resources, after.resources) : [] },
  };
}
