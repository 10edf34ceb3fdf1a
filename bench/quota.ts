// The product's premise under real CPU quotas: the image service in a cgroup with a quota of 1 and
// 2 CPUs (the kubelet's cgroups, sandbox/kubelet/cgroup.ts), free to run on every core as a pod is,
// once with the thread settings it derives from the quota and once with Node's and libvips'
// defaults (what a service that cannot see the quota runs with), side by side under the same load.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createCgroup, detectCgroups, limitsOf, removeRecordedCgroups } from '../sandbox/kubelet/cgroup.ts';
import { cellLogFile, measureCell, type ServerCell, type Timing } from './cell.ts';
import { type Contender, type ImageServiceSettings, imageService } from './contenders.ts';
import type { Corpus } from './corpus.ts';
import type { Options } from './options.ts';
import { GLIBC_DEFAULT_ARENAS } from './threads.ts';
import { workloadById } from './workloads.ts';

export const QUOTA_BUDGETS = [1, 2] as const;
export const QUOTA_CONNECTIONS = [16, 256] as const;

/** Node's and libvips' defaults on this host, and as many workers as the host has cores. */
export function defaultSettings(hostCores: number): ImageServiceSettings {
  return { workers: hostCores, threadpool: 4, vipsConcurrency: hostCores, arenaMax: GLIBC_DEFAULT_ARENAS };
}

export type Variant = 'derived' | 'defaults';

export function contenderFor(variant: Variant, hostCores: number): Contender {
  const settings = defaultSettings(hostCores);
  if (variant === 'defaults') return imageService(settings, 'image-service defaults');
  const base = imageService(settings, 'image-service derived');
  return {
    ...base,
    label: 'image service (threads from the cgroup quota)',
    // Nothing set: the service reads its cgroup's quota and derives every thread setting itself.
    launch: (ctx, first) => {
      const launch = base.launch(ctx, first);
      return { ...launch, env: { ...launch.env, IMAGE_SERVICE_WORKERS: undefined, UV_THREADPOOL_SIZE: undefined, VIPS_CONCURRENCY: undefined, MALLOC_ARENA_MAX: undefined } };
    },
  };
}

/** What the service said it runs with ("effective settings" in its log). */
export interface Effective {
  workers: number;
  workersFrom: string;
  cpuLimit: number | null;
  threadpoolSize: number;
  vipsConcurrency: number;
  mallocArenaMax: string | undefined;
}

export function effectiveSettings(log: string): Effective | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes('"effective settings"')) continue;
    const s = JSON.parse(line) as Record<string, unknown>;
    return {
      workers: Number(s.workers),
      workersFrom: String(s.workersFrom),
      cpuLimit: typeof s.cpuLimit === 'number' ? s.cpuLimit : null,
      threadpoolSize: Number(s.threadpoolSize),
      vipsConcurrency: Number(s.vipsConcurrency),
      mallocArenaMax: typeof s.mallocArenaMax === 'string' ? s.mallocArenaMax : undefined,
    };
  }
  return undefined;
}

export interface QuotaCell {
  budget: number;
  variant: Variant;
  connections: number;
  effective: Effective | undefined;
  cell: ServerCell;
}

export interface QuotaStudy {
  hostCores: number;
  /** taskset's list for the servers: every core, the quota being the limit. */
  serverCpus: string;
  cgroupVersion: 1 | 2;
  cells: QuotaCell[];
}

export async function runQuotaStudy(options: Pick<Options, 'quick' | 'duration' | 'repoRoot' | 'out' | 'connections'>, corpus: Corpus, progress: (line: string) => void): Promise<QuotaStudy> {
  const support = detectCgroups();
  if (!support.ok) throw new Error(`the quota scenario runs the service in a cgroup: ${support.reason}`);
  const stateDir = join(options.out, 'cgroups-state');
  // A bench killed mid-cell leaves its cgroup recorded here.
  removeRecordedCgroups(stateDir);
  // The host's cores, not this process's affinity (the bench pins itself to the load's core).
  const hostCores = cpus().length;
  const serverCpus = Array.from({ length: hostCores }, (_, i) => i).join(',');
  const workload = workloadById('jpeg640');
  const timing: Timing = { warmupSeconds: 2, durationSeconds: options.duration ?? (options.quick ? 4 : 15), timeoutSeconds: 10 };
  const cells: QuotaCell[] = [];
  const connectionCounts = options.connections ?? [...QUOTA_CONNECTIONS];
  const total = QUOTA_BUDGETS.length * connectionCounts.length * 2;
  for (const budget of QUOTA_BUDGETS) {
    for (const connections of connectionCounts) {
      // Alternated, so that a change in the machine's load falls on both alike.
      for (const variant of ['derived', 'defaults'] as const) {
        const contender = contenderFor(variant, hostCores);
        const req = {
          contender,
          budget,
          workload,
          connections,
          timing,
          corpus,
          repoRoot: options.repoRoot,
          logDir: join(options.out, 'logs'),
          cgroup: { cpus: serverCpus, create: (name: string) => createCgroup(support.layout, name, limitsOf({ cpu: budget }), stateDir) },
        };
        const cell = await measureCell(req, options.quick ? 1 : 2);
        const effective = effectiveSettings(readFileSync(cellLogFile(req), 'utf8'));
        if (variant === 'derived' && effective?.workersFrom !== 'cgroup') {
          throw new Error(`the service did not derive its workers from the cgroup quota (${JSON.stringify(effective)}); see ${cellLogFile(req)}`);
        }
        cells.push({ budget, variant, connections, effective, cell });
        const t = cell.cgroupCpu;
        progress(
          `[${cells.length}/${total}] quota ${budget} CPU ${variant} ${connections} conns: ${cell.okPerSecond.toFixed(1)} images/s, p99 ${cell.okP99Ms?.toFixed(0) ?? '—'} ms, ` +
            `peak ${(cell.peakRssBytes / 2 ** 20).toFixed(0)} MiB, throttled ${t?.throttledPeriods ?? '—'}/${t?.periods ?? '—'} periods ${t?.throttledSeconds.toFixed(2) ?? '—'} s`,
        );
      }
    }
  }
  return { hostCores, serverCpus, cgroupVersion: support.layout.version, cells };
}

/** derived / defaults for each budget and connection count: >1 means the derived settings do more of it. */
export function quotaRatios(study: QuotaStudy): { budget: number; connections: number; throughput: number; p99: number | undefined; peakRss: number; throttledSeconds: number | undefined }[] {
  const out = [];
  for (const budget of QUOTA_BUDGETS) {
    for (const connections of [...new Set(study.cells.map((c) => c.connections))]) {
      const of = (variant: Variant): ServerCell | undefined => study.cells.find((c) => c.budget === budget && c.connections === connections && c.variant === variant)?.cell;
      const derived = of('derived');
      const defaults = of('defaults');
      if (derived === undefined || defaults === undefined) continue;
      const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
      out.push({
        budget,
        connections,
        throughput: derived.okPerSecond / defaults.okPerSecond,
        p99: ratio(derived.okP99Ms, defaults.okP99Ms),
        peakRss: derived.peakRssBytes / defaults.peakRssBytes,
        throttledSeconds: ratio(derived.cgroupCpu?.throttledSeconds, defaults.cgroupCpu?.throttledSeconds),
      });
    }
  }
  return out;
}
