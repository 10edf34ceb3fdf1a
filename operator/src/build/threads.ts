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
    { name: "MALLOC_ARENA_MAX", value: "2" },
    ...(threads.maxOldSpaceMiB === undefined
      ? []
      : [{ name: "NODE_OPTIONS", value: `--max-old-space-size=${threads.maxOldSpaceMiB}` }]),
  ];
}
