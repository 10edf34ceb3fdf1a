/**
 * The operator at scale: N ImageServices applied at once against the sandbox's API server.
 * Measures the time until every one is reconciled (status Initialized for its generation),
 * API requests and writes per ImageService, the operator process's peak RSS, and its CPU
 * while nothing changes.
 *
 *   npx node bench/operator.ts [--count 500] [--idle-seconds 10] [--workers 4]
 *
 * The API server runs in this process; the operator runs as its own process, started as its
 * container starts it (operator/Dockerfile): `node --max-semi-space-size=1
 * operator/src/main.ts` with a warm NODE_COMPILE_CACHE, so that its memory and CPU are its own.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient, resources } from '../operator/src/kube/client.ts';
import { startApiServer } from '../sandbox/apiserver/server.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '500' },
    'idle-seconds': { type: 'string', default: '10' },
    workers: { type: 'string', default: '4' },
    namespaces: { type: 'string', default: '10' },
  },
});
const COUNT = Number(values.count);
const IDLE_SECONDS = Number(values['idle-seconds']);
const NAMESPACES = Number(values.namespaces);
const TIMEOUT_MS = 300_000;
const MAIN = join(import.meta.dirname, '..', 'operator', 'src', 'main.ts');
/** As operator/Dockerfile and the chart's default NODE_OPTIONS (heapLimitMiB: 96) start it. */
const NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=96'];

const api = await startApiServer({ historyLimit: 20_000 });
const dir = await mkdtemp(join(tmpdir(), 'imageops-bench-'));
let operator: ReturnType<typeof spawn> | undefined;
try {
  const kubeconfig = await api.writeKubeconfig(join(dir, 'kubeconfig'));
  const client = await KubeClient.fromKubeconfig(await readFile(kubeconfig, 'utf8'));
  const nsType = { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `bench-${i}`);
  for (const name of namespaces) await client.create(nsType, { metadata: { name } });

  // the image warms the compile cache at build time (type stripping then costs no memory)
  const cache = join(dir, 'compile-cache');
  await new Promise((resolve) =>
    spawn(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(MAIN)})`], {
      env: { PATH: process.env['PATH'], NODE_COMPILE_CACHE: cache },
      stdio: 'ignore',
    }).once('exit', resolve),
  );
  operator = spawn(process.execPath, [...NODE_FLAGS, MAIN], {
    env: {
      PATH: process.env['PATH'],
      NODE_COMPILE_CACHE: cache,
      KUBECONFIG: kubeconfig,
      METRICS_ADDRESS: '127.0.0.1:0',
      LOG_LEVEL: 'error',
      WORKERS: values.workers,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = operator.pid ?? 0;
  // the operator is up once it has listed everything (an empty cluster) and watches
  await until(() => (api.faults.counts().byVerb['watch'] ?? 0) >= 4, 30_000, 'the operator to start');
  await sleep(500);

  api.faults.resetCounts();
  const own = { ...client.requests };
  const started = performance.now();
  const pending = Array.from({ length: COUNT }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
        await client.create(resources.imageServices, {
          apiVersion: 'imageops.dev/v1alpha1',
          kind: 'ImageService',
          metadata: { name: `svc-${i}`, namespace: namespaces[i % NAMESPACES] },
          spec: {
            image: 'imageops/image-service:1.0.0',
            source: { file: { claimName: 'image-originals' } },
            resources: { limits: { cpu: '1', memory: '512Mi' } },
          },
        });
      }
    }),
  );
  const applied = performance.now();
  let done = 0;
  await until(
    async () => {
      const list = await client.list(resources.imageServices);
      done = list.items.filter((o) => {
        const s = o['status'] as { phase?: string; observedGeneration?: number } | undefined;
        return s?.phase === 'Initialized' && s.observedGeneration === o.metadata.generation;
      }).length;
      return done === COUNT;
    },
    TIMEOUT_MS,
    'every ImageService to be Initialized',
  );
  const steady = performance.now();
  // the operator settles (its last status writes echo back) before we count
  await sleep(2000);
  const counts = api.faults.counts();
  const ownRequests = Object.entries(client.requests).reduce((n, [verb, c]) => n + c - (own[verb as keyof typeof own] ?? 0), 0);
  const ownWrites = COUNT; // the creates above
  const opRequests = counts.total - ownRequests;
  const opWrites = counts.writes - ownWrites;

  api.faults.resetCounts();
  const cpu0 = await cpuSeconds(pid);
  await sleep(IDLE_SECONDS * 1000);
  const cpu1 = await cpuSeconds(pid);
  const idle = api.faults.counts();
  const peakRss = await peakRssMiB(pid);

  const result = {
    imageServices: COUNT,
    namespaces: NAMESPACES,
    workers: Number(values.workers),
    applySeconds: round((applied - started) / 1000),
    steadyStateSeconds: round((steady - started) / 1000),
    operatorRequestsPerImageService: round(opRequests / COUNT),
    operatorWritesPerImageService: round(opWrites / COUNT),
    operatorWritesByResource: Object.fromEntries(
      Object.entries(counts.byResource)
        .filter(([k]) => /^(create|update|patch|delete) /.test(k))
        .map(([k, v]) => [k, k === 'create imageservices' ? v - ownWrites : v]),
    ),
    peakRssMiB: peakRss,
    idleCpuPercent: round(((cpu1 - cpu0) / IDLE_SECONDS) * 100),
    idleRequests: idle.total,
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  operator?.kill('SIGTERM');
  await new Promise((r) => (operator ? operator.once('exit', r) : r(undefined)));
  await api.stop();
  await rm(dir, { recursive: true, force: true });
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** utime + stime of a process, from /proc (Linux). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The process's peak resident set (VmHWM), from /proc (Linux). */
async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return round(kb / 1024);
}
