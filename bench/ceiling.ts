// sharp in-process, the ceiling: a loop that reads and resizes the corpus files as fast as the
// pinned cores allow, with no HTTP in the way. Runs as its own process (the harness pins it with
// taskset) and prints one JSON result.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { z } from 'zod';
import { resolveThreads } from '../image-service/src/threads.ts';
import { cpuBusySeconds } from './proc-stats.ts';

export const CeilingPlanSchema = z.object({
  root: z.string(),
  keys: z.array(z.string()).min(1),
  width: z.int().positive(),
  format: z.enum(['jpeg', 'webp', 'avif']),
  quality: z.int().min(1).max(100),
  warmupSeconds: z.number().nonnegative(),
  seconds: z.number().positive(),
  /** Resizes in flight at once. */
  inflight: z.int().positive(),
  /** The CPUs it is pinned to, for the noise gauge. */
  cpuList: z.array(z.int().nonnegative()).min(1),
});
export type CeilingPlan = z.infer<typeof CeilingPlanSchema>;

export const CeilingResultSchema = z.object({
  images: z.int(),
  elapsedSeconds: z.number(),
  imagesPerSecond: z.number(),
  cpuSecondsPer1000: z.number(),
  peakRssBytes: z.number(),
  /** CPU time per second other processes took from its cores while it measured. */
  foreignCpu: z.number(),
});
export type CeilingResult = z.infer<typeof CeilingResultSchema>;

async function loop(plan: CeilingPlan, seconds: number): Promise<{ images: number; elapsedSeconds: number }> {
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let next = 0;
  let images = 0;
  const lane = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const key = plan.keys[next++ % plan.keys.length] as string;
      const input = await readFile(join(plan.root, key));
      await sharp(input).resize({ width: plan.width }).toFormat(plan.format, { quality: plan.quality }).toBuffer();
      images++;
    }
  };
  await Promise.all(Array.from({ length: plan.inflight }, lane));
  return { images, elapsedSeconds: (performance.now() - started) / 1000 };
}

export async function runCeiling(plan: CeilingPlan): Promise<CeilingResult> {
  if (plan.warmupSeconds > 0) await loop(plan, plan.warmupSeconds);
  const cpu = process.cpuUsage();
  const busy = cpuBusySeconds(plan.cpuList);
  const { images, elapsedSeconds } = await loop(plan, plan.seconds);
  const used = process.cpuUsage(cpu);
  const ownSeconds = (used.user + used.system) / 1e6;
  return {
    images,
    elapsedSeconds,
    imagesPerSecond: images / elapsedSeconds,
    cpuSecondsPer1000: (ownSeconds / Math.max(images, 1)) * 1000,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    foreignCpu: Math.max(0, cpuBusySeconds(plan.cpuList) - busy - ownSeconds) / elapsedSeconds,
  };
}

if (import.meta.main) {
  const plan = CeilingPlanSchema.parse(JSON.parse(process.argv[2] ?? 'null'));
  process.stdout.write(`${JSON.stringify(await runCeiling(plan))}\n`);
}

/** Runs the loop as its own process pinned to cpus, one resize in flight per CPU. */
export async function measureCeiling(plan: Omit<CeilingPlan, 'inflight' | 'cpuList'>, cpus: string, cpuCount: number): Promise<CeilingResult> {
  const full: CeilingPlan = { ...plan, inflight: cpuCount, cpuList: cpus.split(',').map(Number) };
  // The thread and allocator settings the service gives itself for as many workers, so that the
  // gap between the two is what HTTP and admission cost, not a different malloc.
  const env = { ...process.env, ...resolveThreads({}, cpuCount, null, cpuCount).env };
  return new Promise((resolve, reject) => {
    execFile(
      'taskset',
      ['-c', cpus, process.execPath, fileURLToPath(import.meta.url), JSON.stringify(full)],
      { env, timeout: (plan.warmupSeconds + plan.seconds + 60) * 1000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`the in-process ceiling failed: ${stderr.trim() || error.message}`));
        else resolve(CeilingResultSchema.parse(JSON.parse(stdout)));
      },
    );
  });
}
