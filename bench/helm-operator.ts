/**
 * The operator as the chart runs it, at scale: the README's `helm install` on the sandbox's real
 * control plane, the operator in its pods on the sandbox's kubelets (under the chart's cgroup
 * memory limit), then N ImageServices applied at once (replicas 0: the operator's objects without
 * N pods). Measures install to ready (two Ready pods, one holding the Lease), the time until every
 * ImageService is Initialized, and each operator pod's RSS (VmRSS, VmHWM) before and after, and
 * its restarts (an OOM kill would be one).
 *
 *   npx node bench/helm-operator.ts [--count 500] [--namespaces 10]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { buildControlPlane } from '../sandbox/control-plane/control-plane.ts';
import { IMAGE_SERVICES } from '../sandbox/demo/rollout.ts';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { PodSchema } from '../sandbox/kube/types.ts';
import { startSandbox } from '../sandbox/sandbox.ts';
import { readmeCommand, runTool } from '../test/readme-commands.testkit.ts';
import { memoryOf } from './proc-stats.ts';

const { values } = parseArgs({ options: { count: { type: 'string', default: '500' }, namespaces: { type: 'string', default: '10' } } });
const COUNT = Number(values.count);
const NAMESPACES = Number(values.namespaces);
const RELEASE_NS = 'imageops-system';
const MiB = 1024 * 1024;

// The control plane's own helm and kubectl, as the tests' global setup puts them on PATH.
const build = await buildControlPlane();
process.env['PATH'] = `${path.join(build.dir, 'bin')}${path.delimiter}${process.env['PATH'] ?? ''}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imageops-bench-helm-'));
const sb = await startSandbox({ stateDir: path.join(dir, 'sandbox'), controlPlane: 'real', prometheus: 'off' });
try {
  const client = sb.client;
  const { tool, args } = readmeCommand('helm install imageops', { REGISTRY: 'registry.test' });
  const t0 = performance.now();
  const installed = await runTool(sb.kubeconfigPath, tool, args);
  if (installed.code !== 0) throw new Error(`helm install failed: ${installed.stderr}`);
  const Lease = z.looseObject({ spec: z.looseObject({ holderIdentity: z.string().nullish() }) });
  const operatorPods = async () => (await client.list(RESOURCES.pods, PodSchema, RELEASE_NS)).items.filter((p) => p.metadata.labels?.['app.kubernetes.io/instance'] === 'imageops');
  await until('two Ready operator pods, one leading', 120_000, async () => {
    const pods = await operatorPods();
    const holder = (await client.get(RESOURCES.leases, Lease, RELEASE_NS, 'imageops'))?.spec.holderIdentity;
    return pods.length === 2 && pods.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) && pods.some((p) => p.metadata.name === holder);
  });
  const installToReadyS = (performance.now() - t0) / 1000;
  const holder = (await client.get(RESOURCES.leases, Lease, RELEASE_NS, 'imageops'))?.spec.holderIdentity;

  // Each operator pod's process, by the POD_NAME its container was given.
  const pidOf = new Map<string, number>();
  for (const pid of sb.kubelets.flatMap((k) => k.pids())) {
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const pod = env.find((e) => e.startsWith('POD_NAME='))?.slice('POD_NAME='.length);
    if (pod !== undefined && env.includes('LEASE_NAME=imageops')) pidOf.set(pod, pid);
  }
  const memory = () =>
    Object.fromEntries(
      [...pidOf].map(([pod, pid]) => {
        const m = memoryOf(pid);
        return [pod === holder ? 'leader' : 'follower', { rssMiB: round((m?.rss ?? 0) / MiB), peakMiB: round((m?.hwm ?? 0) / MiB) }];
      }),
    );
  const idle = memory();

  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `bench-${i}`);
  for (const name of namespaces) await client.create(RESOURCES.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const started = performance.now();
  const pending = Array.from({ length: COUNT }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
        const namespace = namespaces[i % NAMESPACES] ?? 'default';
        await client.create(IMAGE_SERVICES, namespace, {
          apiVersion: 'imageops.dev/v1alpha1',
          kind: 'ImageService',
          metadata: { name: `svc-${i}`, namespace },
          spec: { image: 'imageops/image-service:1.0.0', replicas: 0, source: { file: { claimName: 'image-originals' } } },
        });
      }
    }),
  );
  const Status = z.looseObject({
    metadata: z.looseObject({ generation: z.number().optional() }),
    status: z.looseObject({ phase: z.string().optional(), observedGeneration: z.number().optional() }).optional(),
  });
  await until(`${COUNT} ImageServices Initialized`, 900_000, async () => {
    const { items } = await client.list(IMAGE_SERVICES, Status);
    return items.filter((o) => o.status?.phase === 'Initialized' && o.status.observedGeneration === o.metadata.generation).length === COUNT;
  });
  const steadyS = (performance.now() - started) / 1000;
  await sleep(5_000);
  const pods = await operatorPods();
  const restarts = pods.map((p) => (p.status as { containerStatuses?: { restartCount?: number }[] } | undefined)?.containerStatuses?.[0]?.restartCount ?? 0);
  console.log(JSON.stringify({ imageServices: COUNT, installToReadyS: round(installToReadyS), steadyStateS: round(steadyS), idle, loaded: memory(), restarts }, null, 2));
} finally {
  await sb.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}
