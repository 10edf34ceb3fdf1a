// The README's install path on the real control plane, run for real: `helm install` as the README
// writes it puts two operator pods on the sandbox's kubelets, where the operator runs under the
// chart's ServiceAccount and RBAC with its pod's projected token (the in-cluster path of its config
// lookup); `kubectl apply -f examples/minimal.yaml`, then a changed image, goes to Succeeded
// through the canary under load through the mesh, while the leading pod is deleted mid-analysis.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { writeSampleImages } from '../sandbox/demo/images.ts';
import { CLAIM, hostOf, imageService, NEW_IMAGE, OLD_IMAGE, Recorder, ROLLOUT_TIMEOUT_MS, startLoad } from '../sandbox/demo/lab.ts';
import type { LoadGenerator } from '../sandbox/demo/load.ts';
import { IMAGE_SERVICES, patchSpec, readManifest, refOf, waitForReady, waitForRoute } from '../sandbox/demo/rollout.ts';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { type Pod, PodSchema } from '../sandbox/kube/types.ts';
import { REPO_ROOT, type Sandbox, startSandbox } from '../sandbox/sandbox.ts';
import { readmeCommand, runTool } from './readme-commands.testkit.ts';
import { waitFor } from './sandbox.testkit.ts';

const RELEASE_NS = 'imageops-system';
const OPERATOR_USER = `system:serviceaccount:${RELEASE_NS}:imageops`;
/** The README's Prometheus address, which the sandbox replaces with its own as pods reach it. */
const README_PROMETHEUS = 'http://prometheus.monitoring:9090';

let sb: Sandbox;
let dir: string;
const loads: LoadGenerator[] = [];
/** What the scenarios measured, printed at the end (docs/benchmarks.md records them). */
const measured: Record<string, number> = {};

// a released Lease may hold a null holder
const LeaseSchema = z.looseObject({ spec: z.looseObject({ holderIdentity: z.string().nullish() }) });

async function runReadme(prefix: string, substitute: Record<string, string> = {}): Promise<string> {
  const { tool, args } = readmeCommand(prefix, substitute);
  expect(['helm', 'kubectl']).toContain(tool);
  const r = await runTool(sb.kubeconfigPath, tool, args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** The release's operator pods that are not being deleted. */
async function operatorPods(): Promise<Pod[]> {
  const { items } = await sb.client.list(RESOURCES.pods, PodSchema, RELEASE_NS);
  return items.filter((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'imageops-operator' && p.metadata.deletionTimestamp === undefined);
}

const ready = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

async function leaseHolder(): Promise<string | undefined> {
  return (await sb.client.get(RESOURCES.leases, LeaseSchema, RELEASE_NS, 'imageops'))?.spec.holderIdentity ?? undefined;
}

/** The operator's own /readyz, asked at the pod's address as kubelet's probe does. */
async function readyz(pod: Pod): Promise<{ status: number; leader: boolean }> {
  const res = await fetch(`http://${pod.status?.podIP}:8080/readyz`, { signal: AbortSignal.timeout(2_000) });
  const body = z.looseObject({ leader: z.boolean() }).parse(await res.json());
  return { status: res.status, leader: body.leader };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imageops-helm-install-'));
  sb = await startSandbox({ stateDir: path.join(dir, 'sandbox'), controlPlane: 'real', prometheus: 'required' });
  // examples/minimal.yaml reads its originals from this claim in its namespace ("create it first").
  await writeSampleImages(await sb.claim('default', CLAIM));
}, 180_000);

afterAll(async () => {
  for (const l of loads.splice(0)) await l.stop();
  await sb?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`helm install e2e: ${JSON.stringify(measured)}\n`);
}, 60_000);

describe("the README's install path, run as a cluster runs it", () => {
  it("helm install: two operator pods start under the chart's ServiceAccount, one leads on the Lease, both answer /readyz", async () => {
    if (sb.podPrometheus === undefined) throw new Error('the sandbox runs no Prometheus');
    const t0 = Date.now();
    const out = await runReadme('helm install imageops', { REGISTRY: 'registry.test', [README_PROMETHEUS]: sb.podPrometheus });
    expect(out).toContain('STATUS: deployed');

    const pods = await waitFor(
      'two Ready operator pods, one of them holding the Lease',
      async () => {
        const list = await operatorPods();
        const holder = await leaseHolder();
        return list.length === 2 && list.every(ready) && list.some((p) => p.metadata.name === holder) ? list : undefined;
      },
      120_000,
      200,
    );
    measured['installToReadyMs'] = Date.now() - t0;
    expect(new Set(pods.map((p) => p.spec.nodeName)).size, 'the chart spreads the replicas over both nodes').toBe(2);

    const answers = await Promise.all(pods.map(readyz));
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(answers.filter((a) => a.leader)).toHaveLength(1);
    const leader = pods[answers.findIndex((a) => a.leader)];
    expect(await leaseHolder()).toBe(leader?.metadata.name);

    // The operator authenticated with its pod's projected token: kube-apiserver audited its
    // requests as the chart's ServiceAccount, and its RBAC allowed them.
    const decisions = sb.real?.decisions(OPERATOR_USER) ?? [];
    expect(decisions.some((d) => d.resource === 'imageservices' && d.verb === 'watch' && d.allowed)).toBe(true);
    expect(decisions.some((d) => d.resource === 'leases' && d.verb === 'update' && d.allowed)).toBe(true);
    expect(decisions.filter((d) => !d.allowed)).toEqual([]);
  }, 150_000);

  it('kubectl apply -f examples/minimal.yaml, then a changed image: Succeeded through the canary, no failed request, the leader deleted mid-analysis and another taking over', async () => {
    const example = readManifest(path.join(REPO_ROOT, 'examples', 'minimal.yaml'));
    expect(example.spec['image']).toBe(OLD_IMAGE);
    const ref = refOf(example);
    expect(await runReadme('kubectl apply -f examples/minimal.yaml')).toContain('imageservice.imageops.dev/thumbs created');
    await waitForReady(sb.client, ref, ['Initialized'], 120_000);
    await waitForRoute(sb.mesh, hostOf(ref), '/image/files/badge.png?w=32', 30_000);

    const load = startLoad({ sandbox: sb }, ref, 240_000);
    loads.push(load);
    // The default schedule (a check a minute, 10% more at each) would take ten minutes; the lab's
    // policy, with more steps than its own so that the handover falls mid-analysis.
    const canary = { ...(imageService(ref.name).spec['canary'] as Record<string, unknown>), stepWeights: [10, 20, 30, 50, 100] };
    const t0 = Date.now();
    await patchSpec(sb.client, ref, { image: NEW_IMAGE, canary });
    const rollout = new Recorder({ sandbox: sb }, ref);
    await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && (o.status.canaryWeight ?? 0) > 0);

    const before = await operatorPods();
    const leader = await leaseHolder();
    const follower = before.find((p) => p.metadata.name !== leader)?.metadata.name;
    expect(follower).toBeDefined();
    const deleted = await runTool(sb.kubeconfigPath, 'kubectl', ['delete', 'pod', leader ?? '', '-n', RELEASE_NS, '--wait=false']);
    expect(deleted.code, deleted.stderr).toBe(0);
    const handover = Date.now();
    // The deleted leader releases the Lease on SIGTERM; the standby, or the ReplicaSet's
    // replacement if it asks first, takes it, as leader election allows.
    const next = await waitFor(
      'another operator pod to lead',
      async () => {
        const holder = await leaseHolder();
        return holder !== undefined && holder !== '' && holder !== leader ? holder : undefined;
      },
      30_000,
    );
    measured['handoverMs'] = Date.now() - handover;
    measured['standbyTookOver'] = next === follower ? 1 : 0;
    expect((await operatorPods()).map((p) => p.metadata.name)).toContain(next);

    const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    measured['imageChangeToSucceededMs'] = Date.now() - t0;
    await load.stop();
    expect(done.status.phase, done.status.message).toBe('Succeeded');
    expect(done.status.primary?.image).toBe(NEW_IMAGE);
    expect(rollout.phases()).toEqual(expect.arrayContaining(['Progressing', 'Promoting', 'Succeeded']));
    const counts = load.counts();
    expect(counts.requests).toBeGreaterThan(100);
    expect(counts.failed, JSON.stringify(counts.byStatus)).toBe(0);
    // The ReplicaSet replaced the deleted pod; the release is back to two ready replicas.
    await waitFor('two Ready operator pods again', async () => ((await operatorPods()).filter(ready).length === 2 ? true : undefined), 60_000);
  }, 300_000);

  it('helm upgrade with changed values rolls both operator pods while a rollout runs; the rollout still ends Succeeded', async () => {
    const ref = { namespace: 'default', name: 'thumbs' };
    const load = startLoad({ sandbox: sb }, ref, 240_000);
    loads.push(load);
    const oldPods = new Set((await operatorPods()).map((p) => p.metadata.name));
    const t0 = Date.now();
    await patchSpec(sb.client, ref, { image: 'imageops/image-service:1.2.0' });
    const rollout = new Recorder({ sandbox: sb }, ref);
    await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && (o.status.canaryWeight ?? 0) > 0);

    const { tool, args } = readmeCommand('helm upgrade imageops');
    const upgraded = await runTool(sb.kubeconfigPath, tool, [...args, '--set', 'logLevel=debug']);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(upgraded.stdout).toContain('REVISION: 2');

    const done = await rollout.until(['Succeeded', 'Failed'], 2 * ROLLOUT_TIMEOUT_MS);
    measured['imageChangeToSucceededAcrossUpgradeMs'] = Date.now() - t0;
    await load.stop();
    expect(done.status.phase, done.status.message).toBe('Succeeded');
    expect(done.status.primary?.image).toBe('imageops/image-service:1.2.0');
    expect(load.counts().failed, JSON.stringify(load.counts().byStatus)).toBe(0);
    const pods = await waitFor(
      'two new Ready operator pods, one leading',
      async () => {
        const list = await operatorPods();
        const holder = await leaseHolder();
        return list.length === 2 && list.every(ready) && list.every((p) => !oldPods.has(p.metadata.name)) && list.some((p) => p.metadata.name === holder) ? list : undefined;
      },
      120_000,
      200,
    );
    const env = pods[0]?.spec.containers[0]?.env ?? [];
    expect(env.find((e) => e.name === 'LOG_LEVEL')?.value).toBe('debug');
    // --reuse-values kept the install's values
    expect(env.find((e) => e.name === 'PROMETHEUS_URL')?.value).toBe(sb.podPrometheus);
  }, 300_000);

  it('helm test runs its hook Pod, which finds the operator ready; with no operator pod ready it fails', async () => {
    const { tool, args } = readmeCommand('helm test imageops');
    const passed = await runTool(sb.kubeconfigPath, tool, [...args, '--logs']);
    expect(passed.code, passed.stderr + passed.stdout).toBe(0);
    expect(passed.stdout).toMatch(/TEST SUITE:\s+imageops-test[\s\S]*Phase:\s+Succeeded/);
    expect(passed.stdout).toMatch(/imageops-metrics: 2 ready, 1 leading/);

    const scaled = await runTool(sb.kubeconfigPath, 'kubectl', ['scale', 'deployment/imageops', '--replicas=0', '-n', RELEASE_NS]);
    expect(scaled.code, scaled.stderr).toBe(0);
    await waitFor('the operator pods gone', async () => ((await operatorPods()).length === 0 ? true : undefined), 60_000);
    const failed = await runTool(sb.kubeconfigPath, tool, [...args, '--logs']);
    expect(failed.code).not.toBe(0);
    expect(failed.stdout + failed.stderr).toMatch(/has no ready endpoint/);
  }, 180_000);

  it('helm uninstall removes the operator and keeps the CRD, the ImageService and what it owns, as the notes say', async () => {
    const notes = await runTool(sb.kubeconfigPath, 'helm', ['get', 'notes', 'imageops', '--namespace', RELEASE_NS]);
    expect(notes.stdout).toContain('helm uninstall removes the operator and its RBAC but keeps the CRD');
    expect(await runReadme('helm uninstall imageops')).toContain('release "imageops" uninstalled');
    await waitFor('the operator pods gone', async () => ((await operatorPods()).length === 0 ? true : undefined), 60_000);
    expect(await sb.client.get(IMAGE_SERVICES, z.unknown(), 'default', 'thumbs')).toBeDefined();
    expect(await sb.client.get(RESOURCES.deployments, z.unknown(), 'default', 'thumbs-primary')).toBeDefined();
    expect(await sb.client.get(RESOURCES.customresourcedefinitions, z.unknown(), undefined, 'imageservices.imageops.dev')).toBeDefined();
  }, 120_000);
});
