// One measured cell: start a server on its cores, warm it up, drive the load from core 0, and
// read what the server tree cost (peak RSS, CPU seconds) over exactly the measured window.
import { join } from 'node:path';
import type { Contender } from './contenders.ts';
import type { Corpus } from './corpus.ts';
import type { LoadResult } from './load-generator.ts';
import { runLoad } from './load.ts';
import { cpuBusySeconds, MemorySampler, snapshotTree, type MemorySeries } from './proc-stats.ts';
import { freePort, startServer } from './server.ts';
import type { Workload } from './workloads.ts';

/** The load generator's core; servers get core 1 (1 CPU) or cores 0 and 1 (2 CPUs, shared). */
export const LOAD_CPUS = '0';

export function serverCpus(budget: number): string {
  return budget === 1 ? '1' : '0,1';
}

function cpuListOf(cpus: string): number[] {
  return cpus.split(',').map(Number);
}

export interface Timing {
  warmupSeconds: number;
  durationSeconds: number;
  timeoutSeconds: number;
}

export interface ServerCell {
  contender: string;
  label: string;
  budget: number;
  workload: string;
  connections: number;
  elapsedSeconds: number;
  /** Answers with status 200 per second: the throughput that counts. */
  okPerSecond: number;
  statusCounts: Record<string, number>;
  errors: Record<string, number>;
  okP50Ms: number | undefined;
  okP99Ms: number | undefined;
  okMaxMs: number | undefined;
  /** p99 of the other answers (a shedding server's fast 503s). */
  otherP99Ms: number | undefined;
  peakRssBytes: number;
  cpuSecondsPer1000: number | undefined;
  /** CPU time per second that other processes (the load generator at 2 CPUs, anything else on a
   *  shared machine) took on the server's cores during the measured window: the noise gauge. */
  foreignCpu: number;
  /** RSS every sample, for the soak's trend. */
  rssSamples: { atMs: number; rssBytes: number }[];
}

export interface CellRequest {
  contender: Contender;
  budget: number;
  workload: Workload;
  connections: number;
  timing: Timing;
  corpus: Corpus;
  repoRoot: string;
  logDir: string;
  /** An open-loop rate over all connections (the soak); absent: as fast as answered. */
  overallRate?: number | undefined;
  sampleIntervalMs?: number | undefined;
}

function keysFor(corpus: Corpus, workload: Workload): string[] {
  return workload.source === 'large' ? corpus.large : corpus.photos;
}

export async function runServerCell(req: CellRequest): Promise<ServerCell> {
  const host = '127.0.0.1';
  const port = await freePort(host);
  const cpus = serverCpus(req.budget);
  const paths = keysFor(req.corpus, req.workload).map((key) => req.contender.path(req.workload, key));
  const launch = req.contender.launch(
    { repoRoot: req.repoRoot, corpusRoot: req.corpus.root, host, port, cpus, cpuCount: req.budget },
    paths[0] as string,
  );
  const safeName = `${req.contender.id}-${req.budget}cpu-${req.workload.id}-${req.connections}`.replace(/[^\w.-]+/g, '_');
  const origin = `http://${host}:${port}`;
  const server = await startServer(
    { command: launch.command, args: launch.args, env: launch.env, cpus, logFile: join(req.logDir, `${safeName}.log`) },
    origin,
    launch.readyPath,
  );
  const sampler = new MemorySampler(server.pid, req.sampleIntervalMs ?? 200);
  let cpuStart = 0;
  let busyStart = 0;
  let busyEnd = 0;
  let load: LoadResult;
  let cpuEnd: number;
  let memory: MemorySeries;
  try {
    load = await runLoad(
      {
        origin,
        paths,
        connections: req.connections,
        durationSeconds: req.timing.durationSeconds,
        warmupSeconds: req.timing.warmupSeconds,
        timeoutSeconds: req.timing.timeoutSeconds,
        ...(req.overallRate === undefined ? {} : { overallRate: req.overallRate }),
      },
      LOAD_CPUS,
      () => {
        cpuStart = snapshotTree(server.pid).cpuSeconds;
        busyStart = cpuBusySeconds(cpuListOf(cpus));
      },
    );
    cpuEnd = snapshotTree(server.pid).cpuSeconds;
    busyEnd = cpuBusySeconds(cpuListOf(cpus));
  } finally {
    memory = sampler.stop();
    await server.stop();
  }
  const ok = load.statusCounts['200'] ?? 0;
  return {
    contender: req.contender.id,
    label: req.contender.label,
    budget: req.budget,
    workload: req.workload.id,
    connections: req.connections,
    elapsedSeconds: load.elapsedSeconds,
    okPerSecond: ok / load.elapsedSeconds,
    statusCounts: load.statusCounts,
    errors: load.errors,
    okP50Ms: load.ok.p50Ms,
    okP99Ms: load.ok.p99Ms,
    okMaxMs: load.ok.maxMs,
    otherP99Ms: load.other.p99Ms,
    peakRssBytes: memory.peakRssBytes,
    cpuSecondsPer1000: ok === 0 ? undefined : ((cpuEnd - cpuStart) / ok) * 1000,
    foreignCpu: Math.max(0, busyEnd - busyStart - (cpuEnd - cpuStart)) / load.elapsedSeconds,
    rssSamples: memory.samples,
  };
}
