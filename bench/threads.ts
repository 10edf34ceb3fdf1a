// The thread-defaults study: at 1 and 2 CPUs, every combination of workers, libuv pool size,
// libvips concurrency and malloc arenas (and one process per core against one process with
// several workers), a short run each at 16 connections; then the best few and the thread rule's defaults
// again at 256 connections, where memory and tail latency tell them apart. The grid and the
// choice are pure; the runs reuse the comparison's cells.
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { measureCell, type ServerCell, type Timing } from './cell.ts';
import { type Contender, type ImageServiceSettings, imageService, imageServicePerCore, operatorSettings, settingsLabel } from './contenders.ts';
import type { Corpus } from './corpus.ts';
import type { Options } from './options.ts';
import { workloadById } from './workloads.ts';

/** glibc's own arena limit on 64-bit (8 per online CPU): "MALLOC_ARENA_MAX unset". The service
 *  sets 2 itself when the variable is absent, so "unset" has to be spelled out. */
export const GLIBC_DEFAULT_ARENAS = 8 * cpus().length;

export interface ThreadCandidate {
  budget: number;
  settings: ImageServiceSettings;
  /** 1: one process with `workers` workers; n: n processes, one per core, sharing the port. */
  processes: number;
  /** Beyond issue 10's grid: another allocator setting (see ALLOCATORS). */
  allocator?: Allocator | undefined;
}

export interface Allocator {
  label: string;
  env: Record<string, string>;
  /** Why it cannot run here (a package to install), or undefined. */
  missing?: string | undefined;
}

const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';

/** Allocator settings tried on the thread rule's 1-CPU derivation, at 256 connections, for peak RSS:
 *  one arena; a fixed mmap threshold (glibc otherwise raises it as large blocks are freed, and
 *  then keeps libvips' pixel buffers in the arenas); jemalloc, which sharp's docs suggest. */
export const ALLOCATORS: readonly Allocator[] = [
  { label: 'MALLOC_ARENA_MAX=1', env: { MALLOC_ARENA_MAX: '1' } },
  { label: 'MALLOC_MMAP_THRESHOLD_=131072', env: { MALLOC_MMAP_THRESHOLD_: '131072' } },
  {
    label: 'jemalloc',
    env: { LD_PRELOAD: JEMALLOC },
    missing: existsSync(JEMALLOC) ? undefined : `${JEMALLOC} is missing: apt-get install -y libjemalloc2`,
  },
];

export function candidateLabel(c: ThreadCandidate): string {
  const base = c.processes === 1 ? settingsLabel(c.settings) : `${c.processes}x(${settingsLabel(c.settings)}) reusePort`;
  return c.allocator === undefined ? base : `${base} ${c.allocator.label}`;
}

const unique = (values: readonly number[]): number[] => [...new Set(values)];

/** Issue 10's grid for a budget of `budget` CPUs. */
export function threadGrid(budget: number, glibcArenas = GLIBC_DEFAULT_ARENAS): ThreadCandidate[] {
  const out: ThreadCandidate[] = [];
  for (const workers of [1, 2, 4]) {
    for (const threadpool of unique([workers, workers + 1, 4])) {
      for (const vipsConcurrency of unique([1, budget])) {
        // glibc's default, issue 10's 2, and whatever the operator derives (1 for one worker).
        for (const arenaMax of unique([glibcArenas, 2, operatorSettings(workers).arenaMax ?? 2])) {
          out.push({ budget, settings: { workers, threadpool, vipsConcurrency, arenaMax }, processes: 1 });
        }
      }
    }
  }
  if (budget > 1) {
    // One single-worker process per core, against the one process with `budget` workers above.
    out.push({ budget, settings: operatorSettings(1), processes: budget });
  }
  return out;
}

export interface Measured {
  candidate: ThreadCandidate;
  cell: ServerCell;
}

/** Throughputs within this share of the best are a tie (the machine's noise is larger). */
export const TIE = 0.05;
/** Peak RSS of the same setting varies this much from run to run: smaller gaps are no gap. */
export const RSS_MARGIN = 0.1;

/**
 * The winner for a budget: among the candidates whose throughput is within TIE of the best, the
 * incumbent (the thread rule's derivation) unless another is leaner by more than RSS_MARGIN; without the
 * incumbent among them, the one with the lowest peak RSS, then the lowest p99.
 */
export function choose(measured: readonly Measured[], incumbent?: ThreadCandidate): Measured | undefined {
  if (measured.length === 0) return undefined;
  const best = Math.max(...measured.map((m) => m.cell.okPerSecond));
  const close = measured.filter((m) => m.cell.okPerSecond >= best * (1 - TIE));
  const leanest = [...close].sort((a, b) => a.cell.peakRssBytes - b.cell.peakRssBytes || (a.cell.okP99Ms ?? Infinity) - (b.cell.okP99Ms ?? Infinity))[0];
  const held = incumbent === undefined ? undefined : close.find((m) => sameCandidate(m.candidate, incumbent));
  if (held !== undefined && leanest !== undefined && leanest.cell.peakRssBytes >= held.cell.peakRssBytes * (1 - RSS_MARGIN)) return held;
  return leanest;
}

export function sameCandidate(a: ThreadCandidate, b: ThreadCandidate): boolean {
  return candidateLabel(a) === candidateLabel(b) && a.budget === b.budget;
}

/** The thread rule's derivation for a budget, as a candidate. */
export function designDefault(budget: number): ThreadCandidate {
  return { budget, settings: operatorSettings(budget), processes: 1 };
}

function contenderOf(c: ThreadCandidate): Contender {
  const base =
    c.processes === 1
      ? imageService(c.settings)
      : imageServicePerCore(
          c.settings,
          Array.from({ length: c.processes }, (_, i) => i),
        );
  const allocator = c.allocator;
  if (allocator === undefined) return base;
  return {
    ...base,
    id: `${base.id} ${allocator.label}`,
    label: `${base.label} ${allocator.label}`,
    launch: (ctx, first) => {
      const launch = base.launch(ctx, first);
      return { ...launch, env: { ...launch.env, ...allocator.env } };
    },
  };
}

export interface ThreadStudy {
  screen: Measured[];
  confirm: Measured[];
}

export const SCREEN_CONNECTIONS = 16;
export const CONFIRM_CONNECTIONS = 256;

export async function runThreadStudy(options: Pick<Options, 'quick' | 'duration' | 'repoRoot' | 'out'>, corpus: Corpus, progress: (line: string) => void): Promise<ThreadStudy> {
  const workload = workloadById('jpeg640');
  const screenTiming: Timing = { warmupSeconds: 1.5, durationSeconds: options.duration ?? (options.quick ? 2 : 6), timeoutSeconds: 10 };
  const confirmTiming: Timing = { warmupSeconds: 2, durationSeconds: options.duration ?? (options.quick ? 3 : 10), timeoutSeconds: 10 };
  const budgets = [1, 2];
  const grid = budgets.flatMap((b) => threadGrid(b));
  // --quick screens a slice of the grid: the defaults and their nearest neighbours.
  const screened = options.quick ? grid.filter((c) => c.settings.workers <= 2 && c.settings.vipsConcurrency === 1) : grid;
  const run = async (candidate: ThreadCandidate, connections: number, timing: Timing, step: string): Promise<Measured> => {
    const cell = await measureCell(
      {
        contender: contenderOf(candidate),
        budget: candidate.budget,
        workload,
        connections,
        timing,
        corpus,
        repoRoot: options.repoRoot,
        logDir: join(options.out, 'logs'),
      },
      options.quick ? 1 : 2,
    );
    progress(
      `${step} ${candidate.budget} CPU ${candidateLabel(candidate)} ${connections} conns: ${cell.okPerSecond.toFixed(1)} images/s, ` +
        `p99 ${cell.okP99Ms?.toFixed(0) ?? '—'} ms, peak ${(cell.peakRssBytes / 2 ** 20).toFixed(0)} MiB, other CPU ${(cell.foreignCpu * 100).toFixed(0)}%${cell.attempts > 1 ? ` (quietest of ${cell.attempts})` : ''}`,
    );
    return { candidate, cell };
  };
  const screen: Measured[] = [];
  for (const [i, candidate] of screened.entries()) {
    screen.push(await run(candidate, SCREEN_CONNECTIONS, screenTiming, `[screen ${i + 1}/${screened.length}]`));
  }
  const finalists: ThreadCandidate[] = [];
  for (const budget of budgets) {
    const ofBudget = screen.filter((m) => m.candidate.budget === budget);
    const ranked = [...ofBudget].sort((a, b) => b.cell.okPerSecond - a.cell.okPerSecond);
    for (const c of [designDefault(budget), choose(ofBudget, designDefault(budget))?.candidate, ...ranked.slice(0, 2).map((m) => m.candidate)]) {
      if (c !== undefined && !finalists.some((f) => sameCandidate(f, c))) finalists.push(c);
    }
  }
  for (const allocator of ALLOCATORS) {
    if (allocator.missing !== undefined) progress(`skipping the allocator ${allocator.label}: ${allocator.missing}`);
    else finalists.push({ ...designDefault(1), allocator });
  }
  const confirm: Measured[] = [];
  for (const [i, candidate] of finalists.entries()) {
    confirm.push(await run(candidate, CONFIRM_CONNECTIONS, confirmTiming, `[confirm ${i + 1}/${finalists.length}]`));
  }
  return { screen, confirm };
}
