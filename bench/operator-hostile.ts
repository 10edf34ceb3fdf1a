/**
 * The operator's memory while a tenant's Prometheus address streams an endless answer (issue 22,
 * finding 2). The sandbox's API server and the endless server run in this process; the operator
 * runs as its container starts it (`node --max-semi-space-size=1 --max-old-space-size=96
 * operator/src/main.ts`), allowed to query that address. One ImageService is brought to a canary
 * under analysis (interval 1s, a threshold no run reaches), so it queries the address every
 * second; the benchmark samples the operator's RSS for `--seconds` and prints its peak, the
 * checks made, the last check's reason and the bytes the server pushed.
 *
 *   npx node bench/operator-hostile.ts [--seconds 20] [--root DIR]
 *
 * `--root` runs the operator of another checkout (e.g. a worktree of an older commit) against
 * the same scenario. A run whose operator passes 2 GiB is stopped there and says so.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { endlessAnswer } from '../operator/src/canary/providers/testkit.ts';
import { KubeClient, resources } from '../operator/src/kube/client.ts';
import { startApiServer } from '../sandbox/apiserver/server.ts';
import { memoryOf } from './proc-stats.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, root: { type: 'string', default: join(import.meta.dirname, '..') } } });
const SECONDS = Number(values.seconds);
const MAIN = join(values.root, 'operator', 'src', 'main.ts');
const NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=96'];
const CEILING = 2 * 1024 ** 3;
const NS = 'tenant';

const answer = endlessAnswer();
const endless = createServer(answer.listener);
await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
const address = `http://127.0.0.1:${(endless.address() as AddressInfo).port}`;

const api = await startApiServer({});
const dir = await mkdtemp(join(tmpdir(), 'imageops-hostile-'));
let operator: ReturnType<typeof spawn> | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
try {
  const kubeconfig = await api.writeKubeconfig(join(dir, 'kubeconfig'));
  const client = await KubeClient.fromKubeconfig(await readFile(kubeconfig, 'utf8'));
  await client.create({ apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false }, { metadata: { name: NS } });
  operator = spawn(process.execPath, [...NODE_FLAGS, MAIN], {
    env: { PATH: process.env['PATH'], KUBECONFIG: kubeconfig, METRICS_ADDRESS: '127.0.0.1:0', LOG_LEVEL: 'error', PROMETHEUS_ALLOWED_URLS: address },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = operator.pid ?? 0;
  const status = async () => ((await client.get(resources.imageServices, NS, 'thumbs'))['status'] ?? {}) as Record<string, unknown>;
  const rolledOut = async (name: string) => {
    const d = await client.get(resources.deployments, NS, name);
    const replicas = (d['spec'] as { replicas: number }).replicas;
    await client.replaceStatus(resources.deployments, { ...d, status: { observedGeneration: d.metadata.generation, replicas, readyReplicas: replicas, updatedReplicas: replicas } });
  };
  await client.create(resources.imageServices, {
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name: 'thumbs', namespace: NS },
    spec: { image: 'imageops/image-service:1.0.0', replicas: 1, source: { file: {} }, canary: { interval: '1s', threshold: 1000, analysis: { prometheus: { address } } } },
  });
  await until(async () => (await status())['phase'] === 'Initialized', 'Initialized');
  await rolledOut('thumbs-primary');
  await client.mergePatch(resources.imageServices, NS, 'thumbs', { spec: { image: 'imageops/image-service:1.1.0' } });
  await until(async () => ((await client.get(resources.deployments, NS, 'thumbs-canary'))['spec'] as { replicas: number }).replicas === 1, 'the canary');
  await rolledOut('thumbs-canary');
  const before = memoryOf(pid)?.rss ?? 0;

  let peak = 0;
  let exceeded = false;
  const started = Date.now();
  while (Date.now() - started < SECONDS * 1000) {
    const mem = memoryOf(pid);
    if (mem === undefined) break;
    peak = Math.max(peak, mem.rss, mem.hwm);
    if (mem.rss > CEILING) {
      exceeded = true;
      break;
    }
    await sleep(100);
  }
  const alive = memoryOf(pid) !== undefined;
  const s = alive ? await status() : {};
  const mib = (b: number) => Math.round(b / 2 ** 20);
  console.log(
    JSON.stringify(
      {
        operator: values.root,
        seconds: Math.round((Date.now() - started) / 100) / 10,
        rssBeforeMiB: mib(before),
        peakRssMiB: mib(peak),
        stoppedAt2GiB: exceeded,
        operatorAlive: alive && !exceeded,
        checks: s['iterations'],
        lastReason: (s['lastAnalysis'] as { reason?: string } | undefined)?.reason,
        pushedMiB: mib(answer.sent()),
      },
      null,
      2,
    ),
  );
} finally {
  operator?.kill('SIGKILL');
  endless.closeAllConnections();
  endless.close();
  await api.stop();
  await rm(dir, { recursive: true, force: true });
}
