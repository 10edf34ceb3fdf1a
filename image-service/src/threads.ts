import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { threadDefaults, workersForLimit } from './thread-rule.ts';

/**
 * How many images the service resizes at once, and the thread settings that follow, from the
 * container's CPU limit by the thread rule (thread-rule.ts, which the operator applies too),
 * never above the CPUs the process may run on. The parsing and the decision are pure functions
 * of the cgroup files' contents; readCgroup() is the only I/O.
 */

/** The contents of the cgroup files that bound this process's CPU, as found on disk. */
export interface CgroupFiles {
  /** cgroup v2 `cpu.max` of the process's cgroup and of each ancestor (any order). */
  cpuMax: string[];
  /** cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` of the process's cpu cgroup and of each
   *  ancestor (any order), when a v1 cpu controller is mounted. */
  cfs?: { quotaUs: string; periodUs?: string | undefined }[];
  /** cgroup v2 `memory.max` of the process's cgroup and of each ancestor (any order). */
  memoryMax?: string[];
  /** cgroup v1 `memory.limit_in_bytes` of the process's memory cgroup and of each ancestor. */
  memoryLimitInBytes?: string[];
}

/** CPUs allowed by one v2 `cpu.max` ("max 100000" or "150000 100000"); null when unlimited or unreadable. */
export function parseCpuMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return null;
  return ratio(quota, period ?? '100000');
}

function ratio(quotaText: string, periodText: string): number | null {
  const quota = Number(quotaText.trim());
  const period = Number(periodText.trim());
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return null;
  return quota / period;
}

function tightest(limits: readonly (number | null)[]): number | null {
  let limit: number | null = null;
  for (const cpus of limits) if (cpus !== null && (limit === null || cpus < limit)) limit = cpus;
  return limit;
}

/** The CPU limit in (possibly fractional) CPUs: the tightest v2 quota on the path, else v1's; null when none. */
export function cpuLimit(files: CgroupFiles): number | null {
  return tightest(files.cpuMax.map(parseCpuMax)) ?? tightest((files.cfs ?? []).map((f) => ratio(f.quotaUs, f.periodUs ?? '100000')));
}

/** Bytes from a `memory.max` or `memory.limit_in_bytes`; null for "max" and for v1's "no limit" (a huge number). */
function bytesOf(text: string): number | null {
  const value = Number(text.trim());
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

/** The memory limit in bytes: the tightest v2 `memory.max` on the path, else v1's; null when none. */
export function memoryLimit(files: CgroupFiles): number | null {
  return tightest((files.memoryMax ?? []).map(bytesOf)) ?? tightest((files.memoryLimitInBytes ?? []).map(bytesOf));
}

/** Workers from a CPU limit (thread-rule.ts), at most the CPUs available; the CPUs when no limit. */
export function workersFor(limit: number | null, parallelism: number): number {
  const cpus = workersForLimit(parallelism);
  if (limit === null) return cpus;
  return Math.min(cpus, workersForLimit(limit));
}

export interface Threads {
  workers: number;
  /** Where `workers` came from, for the start-up log. */
  workersFrom: 'IMAGE_SERVICE_WORKERS' | 'cgroup' | 'cpus';
  /** The environment a process must start with (libuv, libvips and glibc read it once, at start). */
  env: { UV_THREADPOOL_SIZE: string; VIPS_CONCURRENCY: string; MALLOC_ARENA_MAX: string; MALLOC_MMAP_THRESHOLD_: string; MALLOC_TRIM_THRESHOLD_: string };
}

/**
 * glibc's largest mmap threshold (32 MiB on 64-bit), used for both of its thresholds: allocations
 * up to it come from the heap, and up to that much free heap stays mapped. By default glibc gives
 * back and maps again the buffers of every image, a page fault at a time (docs/benchmarks.md,
 * "Results: runs of 2026-12-06", has the counts); peak RSS stays the same, because a server's peak is its working set anyway, and
 * larger allocations (a huge decode) are still returned (docs/benchmarks.md).
 */
const MALLOC_THRESHOLD = String(32 * 1024 * 1024);

/**
 * Variables already set win (the operator's `runtime` overrides arrive that way); the rest
 * follow from the workers by the thread rule (thread-rule.ts), and glibc's thresholds are
 * MALLOC_THRESHOLD.
 */
export function resolveThreads(vars: NodeJS.ProcessEnv, workersEnv: number | undefined, limit: number | null, parallelism: number): Threads {
  const workers = workersEnv ?? workersFor(limit, parallelism);
  const workersFrom = workersEnv !== undefined ? 'IMAGE_SERVICE_WORKERS' : limit !== null ? 'cgroup' : 'cpus';
  const defaults = threadDefaults(workers);
  return {
    workers,
    workersFrom,
    env: {
      UV_THREADPOOL_SIZE: nonEmpty(vars.UV_THREADPOOL_SIZE) ?? String(defaults.threadpoolSize),
      VIPS_CONCURRENCY: nonEmpty(vars.VIPS_CONCURRENCY) ?? String(defaults.vipsConcurrency),
      MALLOC_ARENA_MAX: nonEmpty(vars.MALLOC_ARENA_MAX) ?? String(defaults.mallocArenaMax),
      MALLOC_MMAP_THRESHOLD_: nonEmpty(vars.MALLOC_MMAP_THRESHOLD_) ?? MALLOC_THRESHOLD,
      MALLOC_TRIM_THRESHOLD_: nonEmpty(vars.MALLOC_TRIM_THRESHOLD_) ?? MALLOC_THRESHOLD,
    },
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** A cgroup path, then each ancestor up to the root ("/a/b" -> "/a/b", "/a", ""). */
function upwards(cgroupPath: string): string[] {
  const parts = cgroupPath.split('/').filter(Boolean);
  return parts.map((_, i) => `/${parts.slice(0, parts.length - i).join('/')}`).concat('');
}

/**
 * The cgroup paths of this process from `/proc/self/cgroup`: the v2 entry (`0::/path`) and each
 * v1 controller's entry (`N:cpu,cpuacct:/path`), keyed by controller.
 */
export function parseProcCgroup(text: string): { v2?: string; v1: Record<string, { controllers: string; path: string }> } {
  const out: { v2?: string; v1: Record<string, { controllers: string; path: string }> } = { v1: {} };
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, id, controllers = '', path = '/'] = match;
    if (id === '0' && controllers === '') out.v2 = path;
    else for (const controller of controllers.split(',')) if (controller !== '') out.v1[controller] = { controllers, path };
  }
  return out;
}

/**
 * Reads the cgroup files of this process (synchronously: it runs once, before any thread pool
 * starts): its own cgroup's and every ancestor's, since the tightest quota on the way binds.
 * The v2 hierarchy is at the root, or at `unified/` beside the v1 controllers on a hybrid host.
 */
export function readCgroup(root = '/sys/fs/cgroup'): CgroupFiles {
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  };
  const self = parseProcCgroup(read('/proc/self/cgroup') ?? '');
  const files: CgroupFiles = { cpuMax: [], cfs: [], memoryMax: [], memoryLimitInBytes: [] };
  if (self.v2 !== undefined) {
    // Inside a cgroup namespace the path is "/" and the root's file is the container's own.
    for (const mount of [root, `${root}/unified`]) {
      for (const dir of upwards(self.v2)) {
        const text = read(`${mount}${dir}/cpu.max`);
        if (text !== undefined) files.cpuMax.push(text);
        const memory = read(`${mount}${dir}/memory.max`);
        if (memory !== undefined) files.memoryMax?.push(memory);
      }
    }
  }
  const v1Memory = self.v1.memory;
  if (v1Memory !== undefined) {
    for (const mount of [`${root}/${v1Memory.controllers}`, `${root}/memory`]) {
      for (const dir of upwards(v1Memory.path)) {
        const limit = read(`${mount}${dir}/memory.limit_in_bytes`);
        if (limit !== undefined) files.memoryLimitInBytes?.push(limit);
      }
      if (files.memoryLimitInBytes?.length) break;
    }
  }
  const v1 = self.v1.cpu;
  if (v1 !== undefined) {
    for (const mount of [`${root}/${v1.controllers}`, `${root}/cpu,cpuacct`, `${root}/cpu`]) {
      for (const dir of upwards(v1.path)) {
        const quotaUs = read(`${mount}${dir}/cpu.cfs_quota_us`);
        if (quotaUs !== undefined) files.cfs?.push({ quotaUs, periodUs: read(`${mount}${dir}/cpu.cfs_period_us`) });
      }
      if (files.cfs?.length) break;
    }
  }
  return files;
}

/** The process's own view: cgroup limit and available parallelism. */
export function detectCpu(): { limit: number | null; parallelism: number } {
  return { limit: cpuLimit(readCgroup()), parallelism: availableParallelism() };
}

/** The memory this process may use: its cgroup's limit, never more than the machine's memory. */
export function detectMemoryLimit(): number {
  return Math.min(memoryLimit(readCgroup()) ?? Infinity, totalmem());
}
