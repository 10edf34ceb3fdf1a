// The thread rule, one definition for both deployables: the image service applies it to the CPU
// limit it finds in its cgroup (threads.ts), the operator to the ImageService's resources when it
// writes the pod template (operator/src/build/threads.ts). No imports, so the operator's image
// takes this file alone and nothing of the service's dependencies.

/** Workers from a CPU limit in (possibly fractional) CPUs: the floor, like automaxprocs, at least one. */
export function workersForLimit(cpus: number): number {
  return Math.max(1, Math.floor(cpus));
}

/** What follows from the workers; each is an environment variable read once at process start. */
export interface ThreadDefaults {
  /** UV_THREADPOOL_SIZE: a spare libuv thread keeps file I/O from queueing behind resizes. */
  threadpoolSize: number;
  /** VIPS_CONCURRENCY: one libvips thread per image; the workers are the parallelism. */
  vipsConcurrency: number;
  /** MALLOC_ARENA_MAX: glibc arenas, which libvips' buffers fragment across. */
  mallocArenaMax: number;
}

export function threadDefaults(workers: number): ThreadDefaults {
  return { threadpoolSize: workers + 1, vipsConcurrency: 1, mallocArenaMax: mallocArenaMax(workers) };
}

/**
 * One worker allocates from one thread at a time, so a single arena costs no throughput and
 * saves peak RSS (docs/benchmarks.md, "The thread defaults chosen"); with several workers two
 * arenas keep them from contending.
 */
export function mallocArenaMax(workers: number): number {
  return workers === 1 ? 1 : 2;
}
