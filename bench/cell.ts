// One measured cell: start a server on its cores, warm it up, drive the load from core 0, and
// read what the server tree cost (peak RSS, CPU seconds) over exactly the measured window.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerCgroup, CpuCounters } from '../sandbox/kubelet/cgroup.ts';
import type { Contender } from './contenders.ts';
import type { Corpus } from './corpus.ts';
import { runLoad } from './load.ts';
import type { LoadResult } from './load-generator.ts';
import { cpuBusySeconds, MemorySampler, type MemorySeries, snapshotTree } from './proc-stats.ts';
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
  /** CPU time per second that other processes (anything but the server and the load generator:
   *  the rest of a shared machine, the hypervisor's steal) took on the server's cores during the
   *  measured window: the noise gauge. */
  foreignCpu: number;
  /** Wall clock (epoch ms) when the load, warm-up included, began. */
  loadStartedAt: number;
  /** Runs it took to get a quiet one (see measureCell). */
  attempts: number;
  /** Images per second (200) of every run when measured more than once (this cell is the median one). */
  runs?: number[];
  /** RSS every sample, for the soak's trend. */
  rssSamples: { atMs: number; rssBytes: number }[];
  /** The server's cgroup over the measured window, when it ran in one (CellRequest.cgroup). */
  cgroupCpu?: CpuCounters;
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
  sampleIntervalMs?: number | undefined;
  /** Seconds the server stays up, unloaded, before and after the load (the soak reads its
   *  handles then). */
  idleSeconds?: number | undefined;
  /** Run the server on these CPUs in a cgroup made for the cell (a CPU quota rather than
   *  pinned cores), as a kubelet runs a container; removed when the cell ends. */
  cgroup?: { cpus: string; create(name: string): ContainerCgroup } | undefined;
}

/** The server's log file of a cell. */
export function cellLogFile(req: Pick<CellRequest, 'contender' | 'budget' | 'workload' | 'connections' | 'logDir'>): string {
  const safeName = `${req.contender.id}-${req.budget}cpu-${req.workload.id}-${req.connections}`.replace(/[^\w.-]+/g, '_');
  return join(req.logDir, `${safeName}.log`);
}

function delta(end: CpuCounters, start: CpuCounters): CpuCounters {
  return {
    usageSeconds: end.usageSeconds - start.usageSeconds,
    periods: end.periods - start.periods,
    throttledPeriods: end.throttledPeriods - start.throttledPeriods,
    throttledSeconds: end.throttledSeconds - start.throttledSeconds,
  };
}

function keysFor(corpus: Corpus, workload: Workload): string[] {
  return workload.source === 'large' ? corpus.large : corpus.photos;
}

export async function runServerCell(req: CellRequest): Promise<ServerCell> {
  const host = '127.0.0.1';
  const port = await freePort(host);
  const cpus = req.cgroup?.cpus ?? serverCpus(req.budget);
  const paths = keysFor(req.corpus, req.workload).map((key) => req.contender.path(req.workload, key));
  const launch = req.contender.launch({ repoRoot: req.repoRoot, corpusRoot: req.corpus.root, host, port, cpus, cpuCount: req.budget }, paths[0] as string);
  const origin = `http://${host}:${port}`;
  const cgroup = req.cgroup?.create(`imageops-bench-${process.pid}-${port}`);
  const { command, args } = cgroup?.wrap(launch.command, launch.args) ?? launch;
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({ command, args, env: launch.env, cpus, logFile: cellLogFile(req) }, origin, launch.readyPath);
  } catch (error) {
    cgroup?.remove();
    throw error;
  }
  const sampler = new MemorySampler(server.pid, req.sampleIntervalMs ?? 200);
  const cpuList = cpuListOf(cpus);
  const sharesLoadCore = cpuList.includes(Number(LOAD_CPUS));
  // CPU seconds of the server, of the generator and of the server's cores, at both window edges.
  const read = (generatorPid: number) => ({
    at: performance.now(),
    server: snapshotTree(server.pid).cpuSeconds,
    generator: sharesLoadCore ? snapshotTree(generatorPid).cpuSeconds : 0,
    cores: cpuBusySeconds(cpuList),
    cgroup: cgroup?.cpu(),
  });
  let start: ReturnType<typeof read> | undefined;
  let end: ReturnType<typeof read> | undefined;
  let load: LoadResult;
  let memory: MemorySeries;
  let loadStartedAt = Date.now();
  try {
    if (req.idleSeconds !== undefined) {
      await sleep(req.idleSeconds * 1000);
      loadStartedAt = Date.now();
    }
    load = await runLoad(
      {
        origin,
        paths,
        connections: req.connections,
        durationSeconds: req.timing.durationSeconds,
        warmupSeconds: req.timing.warmupSeconds,
        timeoutSeconds: req.timing.timeoutSeconds,
      },
      LOAD_CPUS,
      { onMeasuring: (pid) => (start = read(pid)), onFinished: (pid) => (end = read(pid)) },
    );
    if (req.idleSeconds !== undefined) await sleep(req.idleSeconds * 1000);
  } finally {
    memory = sampler.stop();
    await server.stop();
    cgroup?.remove();
  }
  if (start === undefined || end === undefined) throw new Error('the load generator never reported its measured window');
  const serverCpu = end.server - start.server;
  const windowSeconds = Math.max((end.at - start.at) / 1000, 0.001);
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
    cpuSecondsPer1000: ok === 0 ? undefined : (serverCpu / ok) * 1000,
    foreignCpu: Math.max(0, end.cores - start.cores - serverCpu - (end.generator - start.generator)) / windowSeconds,
    loadStartedAt,
    attempts: 1,
    rssSamples: memory.samples,
    ...(end.cgroup !== undefined && start.cgroup !== undefined ? { cgroupCpu: delta(end.cgroup, start.cgroup) } : {}),
  };
}

/** Other processes' CPU on the server's cores (share of one core) above which a cell is noisy. */
export const NOISY = 0.15;

/**
 * Measures a cell up to `attempts` times until one run is quiet (other processes took at most
 * NOISY of a core from the server's cores), and keeps the quietest: on a shared machine this
 * trades time for numbers that describe the server rather than the neighbours.
 */
export async function measureCell(req: CellRequest, attempts: number): Promise<ServerCell> {
  let best: ServerCell | undefined;
  let tries = 0;
  while (tries < attempts) {
    tries++;
    const cell = await runServerCell(req);
    if (best === undefined || cell.foreignCpu < best.foreignCpu) best = cell;
    if (cell.foreignCpu <= NOISY) break;
  }
  return { ...(best as ServerCell), attempts: tries };
}

/**
 * The median of `repeats` measurements of a cell, by images per second, with every run's figure:
 * one run of a server on a shared machine varies by a few percent, as much as the targets'
 * margins, while the median of three moves far less.
 */
export async function measureRepeated(req: CellRequest, attempts: number, repeats: number): Promise<ServerCell> {
  const cells: ServerCell[] = [];
  for (let i = 0; i < repeats; i++) cells.push(await measureCell(req, attempts));
  return repeats === 1 ? (cells[0] as ServerCell) : { ...medianBy(cells, (c) => c.okPerSecond), runs: cells.map((c) => c.okPerSecond) };
}

/** The middle element by `key` (the upper middle of an even count). */
export function medianBy<T>(items: readonly T[], key: (item: T) => number): T {
  if (items.length === 0) throw new RangeError('the median of nothing');
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor(items.length / 2)] as T;
}
