// DESIGN "Threads from the CPU limit": what the image service should run with,
// derived from the container's CPU and memory budget, so Node does not
// over-subscribe a CPU quota (the GOMAXPROCS problem) nor grow past its memory limit.
import type { ImageServiceSpec } from "../api/image-service.ts";
import { cpuCores, mebibytes } from "../api/quantities.ts";

export interface Threads {
  /** IMAGE_SERVICE_WORKERS: images resized at once. */
  workers: number;
  /** UV_THREADPOOL_SIZE: libuv threads (sharp's work and file I/O). */
  threadpoolSize: number;
  /** --max-old-space-size in MiB; undefined without a memory limit. */
  maxOldSpaceMiB: number | undefined;
}

export function deriveThreads(spec: Pick<ImageServiceSpec, "resources" | "runtime">): Threads {
  const { requests, limits } = spec.resources;
  const cpu = limits?.cpu ?? requests?.cpu;
  // floor, like automaxprocs: never more workers than the quota allows; at least one
  const derived = cpu === undefined ? 1 : Math.max(1, Math.floor(cpuCores(cpu)));
  const workers = spec.runtime.workers ?? derived;
  const threadpoolSize = spec.runtime.threadpoolSize ?? workers + 1;
  const memory = limits?.memory;
  // half the limit leaves room for libvips' native memory, which the V8 heap does not count
  const maxOldSpaceMiB = memory === undefined ? undefined : Math.max(1, Math.floor(mebibytes(memory) / 2));
  return { workers, threadpoolSize, maxOldSpaceMiB };
}

/** The environment variables of DESIGN's table, in a fixed order. */
export function threadEnv(threads: Threads): { name: string; value: string }[] {
  return [
    { name: "IMAGE_SERVICE_WORKERS", value: String(threads.workers) },
    { name: "UV_THREADPOOL_SIZE", value: String(threads.threadpoolSize) },
    { name: "VIPS_CONCURRENCY", value: "1" },
    { name: "MALLOC_ARENA_MAX", value: mallocArenaMax(threads.workers) },
    ...(threads.maxOldSpaceMiB === undefined
      ? []
      : [{ name: "NODE_OPTIONS", value: `--max-old-space-size=${threads.maxOldSpaceMiB}` }]),
  ];
}

/**
 * glibc arenas: libvips' buffers fragment across them. One worker allocates from one thread at a
 * time, so a single arena costs no throughput and saves 20-30 MiB of peak RSS (docs/benchmarks.md,
 * "The thread defaults chosen"); with several workers two arenas keep them from contending.
 * DESIGN's table says 2 for all; the image service's own default is the same rule.
 */
export function mallocArenaMax(workers: number): string {
  return workers === 1 ? "1" : "2";
}
