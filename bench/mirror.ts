// `npm run bench -- --scenario mirror`: what mirroring costs users (docs/benchmarks.md, "Canary:
// mirroring and user latency"). One sandbox (emulated control plane, no Prometheus), two
// one-replica ImageServices under the same steady load through its mesh, one window at a time:
//  - none: `plain`, no canary;
//  - shared: `mirrored`, whose -slow canary sits at 0% (a 10-minute interval keeps it there) and
//    receives a copy of every request, its pod competing for the cores like any other;
//  - weight: the same pods, the canary pod's cgroup at the least CPU weight (cpu.shares 2,
//    cpu.weight 1);
//  - idle: the same pods, the canary pod's cgroup in SCHED_IDLE (cpu.idle), so that it runs only
//    on CPU nothing else wants: on one machine, the nearest to a cluster where the canary's pod
//    has CPU of its own and cannot take primary's, the mesh's or the client's.
// Each round runs them in a rotated order; ratios are taken within a round.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { INSTANCE_LABEL, TRACK_LABEL } from '../operator/src/build/labels.ts';
import { samplePaths } from '../sandbox/demo/images.ts';
import { deploy, hostOf, imageService, type Lab, LOAD, NAMESPACE, NEW_IMAGE, startLab } from '../sandbox/demo/lab.ts';
import { type LoadCounts, quantile } from '../sandbox/demo/load.ts';
import { eventsOf, type Ref, routeWeights, setImage, track, waitFor } from '../sandbox/demo/rollout.ts';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { PodSchema } from '../sandbox/kube/types.ts';
import { SLOW_DELAY_MS } from '../sandbox/kubelet/catalogue.ts';
import { nodeCgroups } from '../sandbox/kubelet/cgroup.ts';
import type { LoadWindow } from './mirror-load.ts';
import type { Options } from './options.ts';

export const MIRROR_CONFIGS = ['none', 'shared', 'weight', 'idle'] as const;
export type MirrorConfig = (typeof MIRROR_CONFIGS)[number];

export interface MirrorWindow {
  round: number;
  config: MirrorConfig;
  counts: LoadCounts;
  /** Copies of user requests the canary answered in the window (the mesh's telemetry). */
  mirrored: number;
  /** Of those, the ones answered after more than 500 ms (the -slow canary holds each 400 ms). */
  lateCopies: number;
  /** The canary's weight in the route at the window's end: 0 means no user request went to it. */
  canaryWeight: number;
  /** CPU seconds in the window. */
  cpu: {
    /** The sandbox's main thread: the mesh, the emulated API server, the kubelet. */
    sandbox: number;
    /** The load generator's thread. */
    load: number;
    primary: number;
    canary: number;
  };
}

/** Every window of a config together: percentiles over all their requests. */
export interface Pooled {
  config: MirrorConfig;
  requests: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  p999Ms: number | undefined;
  /** Requests that took as long as the -slow canary holds each: none, if no user waited on it. */
  slowerThanCanary: number;
}

export interface MirrorStudy {
  seconds: number;
  rounds: number;
  load: { concurrency: number; ratePerSecond: number };
  cgroupVersion: 1 | 2;
  windows: MirrorWindow[];
  pooled: Pooled[];
}

export function pool(config: MirrorConfig, latenciesMs: readonly number[]): Pooled {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    config,
    requests: sorted.length,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    p999Ms: quantile(sorted, 0.999),
    slowerThanCanary: sorted.filter((ms) => ms >= SLOW_DELAY_MS).length,
  };
}

const DoneSchema = z.object({ kind: z.literal('done'), counts: z.custom<LoadCounts>(), latenciesMs: z.array(z.number()), cpuSeconds: z.number() });

/** The config order of a round: rotated, so that no config always follows another. */
export function roundOrder(round: number): MirrorConfig[] {
  return MIRROR_CONFIGS.map((_, i) => MIRROR_CONFIGS[(i + round) % MIRROR_CONFIGS.length] as MirrorConfig);
}

/** The sum of a metric's samples whose labels include every one of `labels`. */
export function sumSeries(exposition: string, name: string, labels: Readonly<Record<string, string>>): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The canary's cgroup CPU settings for a window (`config`) and back to the kubelet's defaults (undefined). */
export function canaryCpuWrites(version: 1 | 2, config: MirrorConfig | undefined): { file: string; value: string }[] {
  const weight = version === 2 ? { file: 'cpu.weight', least: '1', normal: '100' } : { file: 'cpu.shares', least: '2', normal: '1024' };
  // The kernel refuses a weight for an idle group (EINVAL): leave idle first, enter it last.
  return [{ file: 'cpu.idle', value: '0' }, { file: weight.file, value: config === 'weight' ? weight.least : weight.normal }, ...(config === 'idle' ? [{ file: 'cpu.idle', value: '1' }] : [])];
}

/** The directory of the cgroup (cpu controller) the kubelet made for the pod's container. */
function podCpuCgroup(podUid: string): { dir: string; version: 1 | 2 } {
  const support = nodeCgroups();
  if (!support.ok) throw new Error(`the mirror scenario puts the canary's pod in SCHED_IDLE through its cgroup: ${support.reason}`);
  const parent = support.layout.version === 2 ? support.layout.parent : support.layout.parent.cpu;
  const name = fs.readdirSync(parent).find((d) => d.startsWith(`imageops-${podUid}-`));
  if (name === undefined) throw new Error(`no cgroup for pod ${podUid} under ${parent}`);
  return { dir: path.join(parent, name), version: support.layout.version };
}

async function podUid(lab: Lab, instance: string, track: 'primary' | 'canary'): Promise<string> {
  const pods = await lab.sandbox.client.list(RESOURCES.pods, PodSchema, NAMESPACE);
  const pod = pods.items.find((p) => p.metadata.labels?.[INSTANCE_LABEL] === instance && p.metadata.labels?.[TRACK_LABEL] === track && p.metadata.deletionTimestamp === undefined);
  if (pod?.metadata.uid === undefined) throw new Error(`no ${track} pod of ${instance}`);
  return pod.metadata.uid;
}

function podCpuSeconds(lab: Lab, uid: string): number {
  const pod = lab.sandbox.kubelets.flatMap((k) => k.usage()).find((p) => p.uid === uid);
  return pod?.containers.reduce((s, c) => s + c.cpuSeconds, 0) ?? 0;
}

function threadSeconds(): number {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * The count once it has not moved for a second: the -slow canary holds each copy 400 ms, and one
 * in SCHED_IDLE may finish a backlog after the window, which must count in it and not the next.
 */
async function settledCount(read: () => Promise<number>): Promise<number> {
  let last = await read();
  for (let waited = 0; waited < 30_000; waited += 1_000) {
    await new Promise((r) => setTimeout(r, 1_000));
    const now = await read();
    if (now === last) return now;
    last = now;
  }
  throw new Error('the copies mirrored to the canary did not finish within 30 s of the window');
}

/** One window of load on `ref` in a worker thread; the CPU of each part measured over it. */
async function measureWindow(
  lab: Lab,
  ref: Ref,
  ms: number,
  pods: { primary: string; canary: string },
): Promise<Omit<MirrorWindow, 'round' | 'config' | 'mirrored' | 'lateCopies' | 'canaryWeight'> & { latenciesMs: number[] }> {
  const window: LoadWindow = { target: lab.sandbox.mesh, host: hostOf(ref), paths: samplePaths(), concurrency: LOAD.concurrency, ratePerSecond: LOAD.ratePerSecond, ms };
  const worker = new Worker(new URL('./mirror-load.ts', import.meta.url), { workerData: window });
  let before: { sandbox: number; primary: number; canary: number } | undefined;
  try {
    const done = await new Promise<unknown>((resolve, reject) => {
      worker.on('message', (m: { kind?: string }) => {
        if (m.kind === 'started') before = { sandbox: threadSeconds(), primary: podCpuSeconds(lab, pods.primary), canary: podCpuSeconds(lab, pods.canary) };
        else resolve(m);
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the load worker exited (${code}) before its results`)));
    });
    const after = { sandbox: threadSeconds(), primary: podCpuSeconds(lab, pods.primary), canary: podCpuSeconds(lab, pods.canary) };
    const result = DoneSchema.parse(done);
    if (before === undefined) throw new Error('the load worker finished without starting');
    return {
      counts: result.counts,
      latenciesMs: result.latenciesMs,
      cpu: { sandbox: after.sandbox - before.sandbox, load: result.cpuSeconds, primary: after.primary - before.primary, canary: after.canary - before.canary },
    };
  } finally {
    await worker.terminate();
  }
}

export async function runMirrorStudy(options: Options, progress: (line: string) => void): Promise<MirrorStudy> {
  const seconds = options.duration ?? (options.quick ? 5 : 10);
  const rounds = options.repeats ?? (options.quick ? 2 : 6);
  progress(`mirror: ${rounds} rounds of ${MIRROR_CONFIGS.length} windows of ${seconds} s, about ${Math.ceil((rounds * MIRROR_CONFIGS.length * (seconds + 2) + 60) / 60)} minutes`);
  const lab = await startLab('off', 'emulated');
  try {
    const plain = await deploy(lab, imageService('plain'));
    const mirrored = await deploy(lab, imageService('mirrored', { canary: { mirror: 100, interval: '10m', threshold: 100 } }));
    await setImage(lab.sandbox.client, mirrored, `${NEW_IMAGE}-slow`);
    await waitFor('mirroring to start', async () => (await eventsOf(lab.sandbox.client, mirrored)).some((e) => e.reason === 'Mirroring'), 60_000);
    const canaryUid = await podUid(lab, mirrored.name, 'canary');
    const podsOf = { plain: { primary: await podUid(lab, plain.name, 'primary'), canary: canaryUid }, mirrored: { primary: await podUid(lab, mirrored.name, 'primary'), canary: canaryUid } };
    const canaryLabels = { reporter: 'destination', destination_workload: `${mirrored.name}-canary` };
    const copiesSoFar = async (): Promise<{ all: number; late: number }> => {
      const text = await (await fetch(lab.sandbox.meshMetrics)).text();
      const all = sumSeries(text, 'istio_requests_total', canaryLabels);
      return { all, late: all - sumSeries(text, 'istio_request_duration_milliseconds_bucket', { ...canaryLabels, le: '500' }) };
    };
    const mirroredSoFar = async (): Promise<number> => (await copiesSoFar()).all;
    // Warm both primaries' and the canary's result caches, so that every window measures the same work.
    for (const ref of [plain, mirrored]) await measureWindow(lab, ref, 2_000, ref === plain ? podsOf.plain : podsOf.mirrored);
    await settledCount(mirroredSoFar);
    const windows: MirrorWindow[] = [];
    const latencies = new Map<MirrorConfig, number[]>(MIRROR_CONFIGS.map((c) => [c, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const config of roundOrder(round - 1)) {
        const ref = config === 'none' ? plain : mirrored;
        // A canary starved in SCHED_IDLE on a busy machine can miss its readiness probes, and the
        // mesh mirrors only to ready endpoints: start each window with it ready.
        await waitFor('the canary to be ready', async () => ((await track(lab.sandbox.client, mirrored, 'canary'))?.ready ?? 0) > 0, 60_000);
        const before = await copiesSoFar();
        // Looked up each time: a restarted container runs in a new cgroup.
        const cgroup = podCpuCgroup(canaryUid);
        const set = (c: MirrorConfig | undefined): void => {
          for (const w of canaryCpuWrites(cgroup.version, c)) fs.writeFileSync(path.join(cgroup.dir, w.file), w.value);
        };
        set(config);
        const { latenciesMs, ...measured } = await measureWindow(lab, ref, seconds * 1000, ref === plain ? podsOf.plain : podsOf.mirrored).finally(() => set(undefined));
        latencies.get(config)?.push(...latenciesMs);
        await settledCount(mirroredSoFar);
        const after = await copiesSoFar();
        const canaryWeight = (await routeWeights(lab.sandbox.client, mirrored))?.canary ?? 0;
        const w: MirrorWindow = { round, config, ...measured, mirrored: after.all - before.all, lateCopies: after.late - before.late, canaryWeight };
        windows.push(w);
        progress(
          `round ${round} ${config}: ${w.counts.requests} requests, p50 ${w.counts.p50Ms?.toFixed(1)} ms, p99 ${w.counts.p99Ms?.toFixed(1)} ms, ${w.mirrored} mirrored (${w.lateCopies} late), sandbox CPU ${w.cpu.sandbox.toFixed(2)} s`,
        );
      }
    }
    return {
      seconds,
      rounds,
      load: { concurrency: LOAD.concurrency, ratePerSecond: LOAD.ratePerSecond },
      cgroupVersion: podCpuCgroup(canaryUid).version,
      windows,
      pooled: MIRROR_CONFIGS.map((c) => pool(c, latencies.get(c) ?? [])),
    };
  } finally {
    await lab.retire();
    await lab.stop();
  }
}

/** The median and the spread of values. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spreadOf(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? (sorted[Math.floor(mid)] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

export interface ConfigSummary {
  config: MirrorConfig;
  /** Each against the same round's `none` window. */
  p50Ratio: Spread | undefined;
  p99Ratio: Spread | undefined;
  /** The sandbox thread's CPU per user request, and what it spent on top of `none` per mirrored copy. */
  sandboxMsPerRequest: Spread | undefined;
  sandboxMsPerCopy: Spread | undefined;
  canaryCpuSeconds: Spread | undefined;
}

/** Per config, the within-round ratios to `none`, with their spread over the rounds. */
export function summariseMirror(study: Pick<MirrorStudy, 'windows'>): ConfigSummary[] {
  return MIRROR_CONFIGS.map((config) => {
    const pairs = study.windows
      .filter((w) => w.config === config)
      .map((w) => ({ w, none: study.windows.find((n) => n.round === w.round && n.config === 'none') }))
      .filter((p): p is { w: MirrorWindow; none: MirrorWindow } => p.none !== undefined);
    const ratios = (pick: (c: LoadCounts) => number | undefined): number[] =>
      pairs.flatMap(({ w, none }) => {
        const [a, b] = [pick(w.counts), pick(none.counts)];
        return a === undefined || b === undefined || b === 0 ? [] : [a / b];
      });
    const perRequest = (w: MirrorWindow): number => (w.cpu.sandbox * 1000) / Math.max(1, w.counts.requests);
    return {
      config,
      p50Ratio: spreadOf(ratios((c) => c.p50Ms)),
      p99Ratio: spreadOf(ratios((c) => c.p99Ms)),
      sandboxMsPerRequest: spreadOf(pairs.map(({ w }) => perRequest(w))),
      sandboxMsPerCopy: config === 'none' ? undefined : spreadOf(pairs.filter(({ w }) => w.mirrored > 0).map(({ w, none }) => ((perRequest(w) - perRequest(none)) * w.counts.requests) / w.mirrored)),
      canaryCpuSeconds: spreadOf(pairs.map(({ w }) => w.cpu.canary)),
    };
  });
}
