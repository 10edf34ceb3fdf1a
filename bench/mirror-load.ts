// The mirror scenario's load generator (bench/mirror.ts), in a worker thread: a user's client is
// not the mesh's process, so its event loop must not wait on the mesh's (nor the mesh's on it),
// and its CPU is counted apart from the mesh's.
import { parentPort, workerData } from 'node:worker_threads';
import { z } from 'zod';
import { LoadGenerator } from '../sandbox/demo/load.ts';

export const LoadWindowSchema = z.object({
  target: z.string(),
  host: z.string(),
  paths: z.array(z.string()).min(1),
  concurrency: z.number().int().positive(),
  ratePerSecond: z.number().positive(),
  ms: z.number().positive(),
});
export type LoadWindow = z.infer<typeof LoadWindowSchema>;

if (parentPort !== null) {
  const port = parentPort;
  const w = LoadWindowSchema.parse(workerData);
  const load = new LoadGenerator({ target: w.target, host: w.host, paths: w.paths, concurrency: w.concurrency, ratePerSecond: w.ratePerSecond, maxDurationMs: w.ms + 10_000 });
  const before = process.threadCpuUsage();
  load.start();
  port.postMessage({ kind: 'started' });
  await new Promise((r) => setTimeout(r, w.ms));
  const counts = await load.stop();
  const cpu = process.threadCpuUsage(before);
  port.postMessage({ kind: 'done', counts, latenciesMs: load.latenciesMs(), cpuSeconds: (cpu.user + cpu.system) / 1e6 });
}
