// The side-by-side comparison: which cells a run measures (a pure plan, so that its length can
// be checked), and running them one after the other on the pinned cores.
import { join } from 'node:path';
import { measureCeiling } from './ceiling.ts';
import { measureRepeated, medianBy, NOISY, type ServerCell, serverCpus, type Timing } from './cell.ts';
import { type Contender, imageService, ipx, naive, operatorSettings, phpImagick, phpImagickHint } from './contenders.ts';
import type { Corpus } from './corpus.ts';
import type { Options } from './options.ts';
import { SERVICE, TARGET_WORKLOAD } from './report.ts';
import type { BatchCell, Skipped } from './results.ts';
import { runVipsthumbnail, vipsthumbnailMissing } from './vipsthumbnail.ts';
import { WORKLOADS, workloadById } from './workloads.ts';

export type Step =
  | { kind: 'sharp'; budget: number; workload: string }
  | { kind: 'vipsthumbnail'; budget: number; workload: string }
  | { kind: 'server'; contender: string; budget: number; workload: string; connections: number };

export interface Plan {
  steps: Step[];
  timing: Timing;
  /** Measured seconds of the in-process ceiling, and files per vipsthumbnail batch. */
  ceilingSeconds: number;
  batchFiles: { photos: number; large: number };
  /** Runs of a noisy server cell before the quietest is kept. */
  attempts: number;
  /** Medians of this many runs for the ceiling and the REPEATED contenders. */
  repeats: number;
}

/** The contenders whose ratios decide targets with margins of a few percent (at 1 CPU, on the
 *  target workload), besides the ceiling they are divided by. */
const REPEATED: ReadonlySet<string> = new Set([SERVICE, 'ipx']);

/** How many runs a step's median is taken over. */
export function runsOf(plan: Pick<Plan, 'repeats'>, step: Step): number {
  if (step.budget !== 1 || step.workload !== TARGET_WORKLOAD) return 1;
  if (step.kind === 'sharp' || (step.kind === 'server' && REPEATED.has(step.contender))) return plan.repeats;
  return 1;
}

export const SERVER_CONTENDERS = ['image-service', 'naive', 'ipx', 'php-imagick', 'php-imagick-hint'] as const;
/** The workload measured at every connection count; the others at the middle two, but the large
 *  photograph only at 16: 256 decodes of it at once in a server without admission control would
 *  take more memory than the machine has. */
const PRIMARY = 'jpeg640';
const ALL_CONNECTIONS = [2, 16, 256, 1000];
const SECONDARY_CONNECTIONS = [16, 256];
const LARGE_CONNECTIONS = [16];
/** Never more than this many at once on the large photograph, even when asked. */
export const LARGE_MAX_CONNECTIONS = 64;

function connectionsFor(workload: string, quick: boolean, asked: number[] | undefined): number[] {
  if (workload === 'large1280') return (asked ?? LARGE_CONNECTIONS).filter((n) => n <= LARGE_MAX_CONNECTIONS);
  if (asked !== undefined) return asked;
  if (quick || workload !== PRIMARY) return SECONDARY_CONNECTIONS;
  return ALL_CONNECTIONS;
}

export function serverContender(id: string, budget: number): Contender {
  switch (id) {
    case SERVICE:
      return imageService(operatorSettings(budget), SERVICE);
    case 'naive':
      return naive;
    case 'ipx':
      return ipx;
    case 'php-imagick':
      return phpImagick;
    case 'php-imagick-hint':
      return phpImagickHint;
    default:
      throw new Error(`unknown contender "${id}"; known: ${[...SERVER_CONTENDERS, 'sharp', 'vipsthumbnail'].join(', ')}`);
  }
}

type PlanOptions = Pick<Options, 'quick' | 'avif' | 'connections' | 'duration' | 'workloads' | 'contenders' | 'repeats'>;

export function planComparison(o: PlanOptions): Plan {
  const timing: Timing = {
    warmupSeconds: o.quick ? 1 : 2,
    durationSeconds: o.duration ?? (o.quick ? 4 : 10),
    timeoutSeconds: 10,
  };
  const workloads = o.workloads ?? (o.quick ? [PRIMARY] : WORKLOADS.filter((w) => !w.optIn || (w.id === 'avif640' && o.avif)).map((w) => w.id));
  const wanted = (id: string): boolean => o.contenders === undefined || o.contenders.includes(id);
  const steps: Step[] = [];
  for (const workload of workloads) {
    for (const budget of [1, 2]) {
      if (wanted('sharp')) steps.push({ kind: 'sharp', budget, workload });
      if (wanted('vipsthumbnail')) steps.push({ kind: 'vipsthumbnail', budget, workload });
    }
    const connections = connectionsFor(workload, o.quick, o.connections);
    // The service alone gets the 2-CPU budget too: the others are compared at one CPU.
    const cells: [string, number][] = [...SERVER_CONTENDERS.map((c): [string, number] => [c, 1]), [SERVICE, 2]];
    for (const [contender, budget] of cells) {
      if (!wanted(contender)) continue;
      for (const n of connections) steps.push({ kind: 'server', contender, budget, workload, connections: n });
    }
  }
  return {
    steps,
    timing,
    ceilingSeconds: o.quick ? 4 : 8,
    batchFiles: o.quick ? { photos: 24, large: 6 } : { photos: 64, large: 16 },
    attempts: o.quick ? 1 : 2,
    repeats: o.repeats ?? (o.quick ? 1 : 3),
  };
}

/** Seconds the plan takes, roughly: measured time plus start, warm-up and stop per cell. */
export function estimateSeconds(plan: Plan): number {
  let seconds = 0;
  for (const step of plan.steps) {
    const runs = runsOf(plan, step);
    if (step.kind === 'server') seconds += runs * (plan.timing.warmupSeconds + plan.timing.durationSeconds * workloadById(step.workload).durationScale + 3);
    else if (step.kind === 'sharp') seconds += runs * (plan.timing.warmupSeconds + plan.ceilingSeconds + 1);
    else seconds += 6;
  }
  return seconds;
}

export interface ComparisonResults {
  batches: BatchCell[];
  servers: ServerCell[];
  skipped: Skipped[];
}

export async function runComparison(plan: Plan, corpus: Corpus, options: Pick<Options, 'repoRoot' | 'out'>, progress: (line: string) => void): Promise<ComparisonResults> {
  const results: ComparisonResults = { batches: [], servers: [], skipped: [] };
  const missing = new Map<string, string | undefined>();
  const skip = (contender: string, reason: string | undefined): boolean => {
    if (reason === undefined) return false;
    if (!results.skipped.some((s) => s.contender === contender)) {
      results.skipped.push({ contender, reason });
      progress(`skipping ${contender}: ${reason}`);
    }
    return true;
  };
  for (const [i, step] of plan.steps.entries()) {
    const workload = workloadById(step.workload);
    const keys = workload.source === 'large' ? corpus.large : corpus.photos;
    const at = `[${i + 1}/${plan.steps.length}]`;
    if (step.kind === 'sharp') {
      const ceilingPlan = {
        root: corpus.root,
        keys,
        width: workload.width,
        format: workload.format,
        quality: workload.quality,
        warmupSeconds: plan.timing.warmupSeconds,
        seconds: plan.ceilingSeconds,
      };
      const quiet = async () => {
        let r = await measureCeiling(ceilingPlan, serverCpus(step.budget), step.budget);
        // As for the servers: a noisy measurement is taken again and the quieter kept.
        for (let attempt = 1; attempt < plan.attempts && r.foreignCpu > NOISY; attempt++) {
          const again = await measureCeiling(ceilingPlan, serverCpus(step.budget), step.budget);
          if (again.foreignCpu < r.foreignCpu) r = again;
        }
        return r;
      };
      const all = [];
      for (let i = 0; i < runsOf(plan, step); i++) all.push(await quiet());
      const r = medianBy(all, (x) => x.imagesPerSecond);
      const runs = all.length > 1 ? { runs: all.map((x) => x.imagesPerSecond) } : {};
      results.batches.push({
        contender: 'sharp in-process',
        budget: step.budget,
        workload: step.workload,
        imagesPerSecond: r.imagesPerSecond,
        cpuSecondsPer1000: r.cpuSecondsPer1000,
        peakRssBytes: r.peakRssBytes,
        foreignCpu: r.foreignCpu,
        ...runs,
      });
      progress(`${at} sharp in-process ${step.workload} ${step.budget} CPU: ${r.imagesPerSecond.toFixed(1)} images/s${spread(runs.runs)}, other CPU ${(r.foreignCpu * 100).toFixed(0)}%`);
    } else if (step.kind === 'vipsthumbnail') {
      if (!missing.has('vipsthumbnail')) missing.set('vipsthumbnail', vipsthumbnailMissing());
      if (skip('vipsthumbnail', missing.get('vipsthumbnail'))) continue;
      const files = keys.slice(0, workload.source === 'large' ? plan.batchFiles.large : plan.batchFiles.photos);
      const cpuList = step.budget === 1 ? [1] : [0, 1];
      const r = await runVipsthumbnail(corpus.root, files, workload, cpuList, join(options.out, 'vipsthumbnail-out'));
      results.batches.push({
        contender: 'vipsthumbnail',
        budget: step.budget,
        workload: step.workload,
        imagesPerSecond: r.imagesPerSecond,
        cpuSecondsPer1000: r.cpuSecondsPer1000,
        peakRssBytes: r.peakRssBytes,
        foreignCpu: undefined,
      });
      progress(`${at} vipsthumbnail (${r.version}) ${step.workload} ${step.budget} CPU: ${r.imagesPerSecond.toFixed(1)} images/s`);
    } else {
      const contender = serverContender(step.contender, step.budget);
      if (!missing.has(step.contender)) missing.set(step.contender, contender.missing(options.repoRoot));
      if (skip(step.contender, missing.get(step.contender))) continue;
      const cell = await measureRepeated(
        {
          contender,
          budget: step.budget,
          workload,
          connections: step.connections,
          timing: { ...plan.timing, durationSeconds: plan.timing.durationSeconds * workload.durationScale },
          corpus,
          repoRoot: options.repoRoot,
          logDir: join(options.out, 'logs'),
        },
        plan.attempts,
        runsOf(plan, step),
      );
      results.servers.push(cell);
      progress(
        `${at} ${step.contender} ${step.workload} ${step.budget} CPU ${step.connections} conns: ${cell.okPerSecond.toFixed(1)} images/s${spread(cell.runs)}, ` +
          `p99 ${cell.okP99Ms?.toFixed(0) ?? '—'} ms, peak ${(cell.peakRssBytes / 2 ** 20).toFixed(0)} MiB, ${JSON.stringify(cell.statusCounts)} ${JSON.stringify(cell.errors)}, ` +
          `other CPU ${(cell.foreignCpu * 100).toFixed(0)}%${cell.attempts > 1 ? ` (quietest of ${cell.attempts})` : ''}`,
      );
    }
  }
  return results;
}

/** " (median of 27.9, 28.4, 29.1)" for a repeated measurement, "" for a single one. */
export function spread(runs: readonly number[] | undefined): string {
  return runs === undefined ? '' : ` (median of ${runs.map((r) => r.toFixed(1)).join(', ')})`;
}
