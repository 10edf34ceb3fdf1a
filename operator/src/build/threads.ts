// What the image service should run with, derived from the container's CPU and memory budget,
// so Node does not over-subscribe a CPU quota (the GOMAXPROCS problem) nor grow past its memory
// limit. The thread rule itself is the image service's (thread-rule.ts), applied here to the
// ImageService's resources instead of a cgroup.
import { threadDefaults, workersForLimit } from '../../../image-service/src/thread-rule.ts';
import type { ImageServiceSpec } from '../api/image-service.ts';
import { cpuCores, mebibytes } from '../api/quantities.ts';

export interface Threads {
  /** IMAGE_SERVICE_WORKERS: images resized at once. */
  workers: number;
  /** UV_THREADPOOL_SIZE: libuv threads (sharp's work and file I/O). */
  threadpoolSize: number;
  /** --max-old-space-size in MiB; undefined without a memory limit. */
  maxOldSpaceMiB: number | undefined;
}

export function deriveThreads(spec: Pick<ImageServiceSpec, 'resources' | 'runtime'>): Threads {
  const { requests, limits } = spec.resources;
  const cpu = limits?.cpu ?? requests?.cpu;
  const workers = spec.runtime.workers ?? (cpu === undefined ? 1 : workersForLimit(cpuCores(cpu)));
  const threadpoolSize = spec.runtime.threadpoolSize ?? threadDefaults(workers).threadpoolSize;
  const memory = limits?.memory;
  // half the limit leaves room for libvips' native memory, which the V8 heap does not count
  const maxOldSpaceMiB = memory === undefined ? undefined : Math.max(1, Math.floor(mebibytes(memory) / 2));
  return { workers, threadpoolSize, maxOldSpaceMiB };
}

/** The environment variables of the thread rule (docs/architecture.md), in a fixed order. */
export function threadEnv(threads: Threads): { name: string; value: string }[] {
  const defaults = threadDefaults(threads.workers);
  return [
    { name: 'IMAGE_SERVICE_WORKERS', value: String(threads.workers) },
    { name: 'UV_THREADPOOL_SIZE', value: String(threads.threadpoolSize) },
    { name: 'VIPS_CONCURRENCY', value: String(defaults.vipsConcurrency) },
    { name: 'MALLOC_ARENA_MAX', value: String(defaults.mallocArenaMax) },
    ...(threads.maxOldSpaceMiB === undefined ? [] : [{ name: 'NODE_OPTIONS', value: `--max-old-space-size=${threads.maxOldSpaceMiB}` }]),
  ];
}
