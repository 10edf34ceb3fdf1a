// The workload controllers through the API with real pods: ownership and pod-template-hash,
// minReadySeconds, a rollout stuck past its deadline, Recreate, EndpointSlices, garbage collection.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { DeploymentSchema, EndpointSliceSchema, PodSchema, ReplicaSetSchema } from '../sandbox/kube/types.ts';
import { testServerEntry } from '../sandbox/kubelet/catalogue.ts';
import { REPO_ROOT, type Sandbox, startSandbox } from '../sandbox/sandbox.ts';
import { eventsAbout, waitFor } from './sandbox.testkit.ts';

const exec = promisify(execFile);
const NS = 'default';

function deployment(name: string, spec: Record<string, unknown> = {}, image = 'sandbox/test-server:1'): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      ...spec,
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [{ name: 'app', image, ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 } }],
        },
      },
    },
  };
}

describe('workload controllers', () => {
  let sb: Sandbox;
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-controllers-'));
    sb = await startSandbox({ stateDir: path.join(dir, 'state'), prometheus: 'off', extraImages: [testServerEntry(REPO_ROOT)] });
  });

  afterAll(async () => {
    await sb?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const getDeployment = (name: string) => sb.client.get(RESOURCES.deployments, DeploymentSchema, NS, name);
  const replicaSets = async (app: string) => (await sb.client.list(RESOURCES.replicasets, ReplicaSetSchema, NS)).items.filter((r) => r.metadata.labels?.app === app);
  const pods = async (app: string) => (await sb.client.list(RESOURCES.pods, PodSchema, NS)).items.filter((p) => p.metadata.labels?.app === app);

  it('owns its ReplicaSet and pods, honours minReadySeconds, and publishes EndpointSlices', { timeout: 60_000 }, async () => {
    await sb.client.create(RESOURCES.deployments, NS, deployment('web', { minReadySeconds: 2 }));
    await sb.client.create(RESOURCES.services, NS, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    });
    // Ready but not yet available: minReadySeconds holds availability back.
    const readyNotAvailable = await waitFor(
      'ready pods not yet available',
      async () => {
        const d = await getDeployment('web');
        return d?.status?.readyReplicas === 2 ? d : undefined;
      },
      20_000,
      50,
    );
    expect(readyNotAvailable.status?.availableReplicas ?? 0).toBeLessThan(2);
    const done = await waitFor(
      'available',
      async () => {
        const d = await getDeployment('web');
        return d?.status?.availableReplicas === 2 ? d : undefined;
      },
      20_000,
    );
    expect(done.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    expect(done.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');

    const [rs] = await replicaSets('web');
    const hash = rs?.metadata.labels?.['pod-template-hash'];
    expect(rs?.metadata.name).toBe(`web-${hash}`);
    expect(rs?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'web', uid: done.metadata.uid, controller: true });
    for (const p of await pods('web')) {
      expect(p.metadata.name.startsWith(`web-${hash}-`)).toBe(true);
      expect(p.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', name: rs?.metadata.name, controller: true });
    }
    const slices = await waitFor('an EndpointSlice with two ready endpoints', async () => {
      const list = (await sb.client.list(RESOURCES.endpointslices, EndpointSliceSchema, NS)).items.filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'web');
      return list[0]?.endpoints?.filter((e) => e.conditions?.ready === true).length === 2 ? list : undefined;
    });
    expect(slices[0]?.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    const { stdout } = await exec('kubectl', ['--kubeconfig', sb.kubeconfigPath, 'rollout', 'status', 'deployment/web', '--timeout=10s']);
    expect(stdout).toContain('successfully rolled out');
    expect(await eventsAbout(sb.client, NS, 'web')).toContainEqual(expect.objectContaining({ reason: 'ScalingReplicaSet', message: `Scaled up replica set ${rs?.metadata.name} from 0 to 2` }));
    expect((await eventsAbout(sb.client, NS, rs?.metadata.name ?? '')).filter((e) => e.reason === 'SuccessfulCreate')).toHaveLength(2);
  });

  it('reports ProgressDeadlineExceeded for a rollout that cannot progress, keeping the old pods serving', { timeout: 60_000 }, async () => {
    await sb.client.create(RESOURCES.deployments, NS, deployment('stuck', { progressDeadlineSeconds: 3, strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
    await waitFor('stuck available', async () => ((await getDeployment('stuck'))?.status?.availableReplicas === 2 ? true : undefined), 20_000);
    await sb.client.request(
      'PATCH',
      `/apis/apps/v1/namespaces/${NS}/deployments/stuck`,
      { spec: { template: { spec: { containers: [{ name: 'app', image: 'sandbox/not-there:2' }] } } } },
      'application/strategic-merge-patch+json',
    );
    const d = await waitFor(
      'ProgressDeadlineExceeded',
      async () => {
        const x = await getDeployment('stuck');
        return x?.status?.conditions?.find((c) => c.type === 'Progressing')?.reason === 'ProgressDeadlineExceeded' ? x : undefined;
      },
      20_000,
      200,
    );
    expect(d.status).toMatchObject({ availableReplicas: 2, updatedReplicas: 1, unavailableReplicas: 0 });
    expect(d.status?.conditions?.find((c) => c.type === 'Progressing')?.status).toBe('False');
    const waiting = (await pods('stuck')).map((p) => (p.status?.containerStatuses?.[0] as { state?: { waiting?: { reason?: string } } } | undefined)?.state?.waiting?.reason);
    expect(waiting.filter((r) => r === 'ErrImagePull' || r === 'ImagePullBackOff')).toHaveLength(1);
  });

  it('replaces every pod at once with Recreate', { timeout: 60_000 }, async () => {
    await sb.client.create(RESOURCES.deployments, NS, deployment('re', { strategy: { type: 'Recreate' } }));
    await waitFor('re available', async () => ((await getDeployment('re'))?.status?.availableReplicas === 2 ? true : undefined), 20_000);
    const before = new Set((await pods('re')).map((p) => p.metadata.name));
    await sb.client.request(
      'PATCH',
      `/apis/apps/v1/namespaces/${NS}/deployments/re`,
      { spec: { template: { metadata: { labels: { app: 're', v: '2' } } } } },
      'application/strategic-merge-patch+json',
    );
    await waitFor(
      're rolled over',
      async () => {
        const d = await getDeployment('re');
        const s = d?.status;
        return s?.observedGeneration === d?.metadata.generation && s?.updatedReplicas === 2 && s?.availableReplicas === 2 && s?.replicas === 2 ? true : undefined;
      },
      30_000,
    );
    const after = await pods('re');
    expect(after.filter((p) => before.has(p.metadata.name))).toEqual([]);
  });

  it('garbage-collects ReplicaSets and pods when the Deployment is deleted', async () => {
    const webPods = (await pods('web')).map((p) => p.metadata.name);
    expect(webPods.length).toBe(2);
    await sb.client.delete(RESOURCES.deployments, NS, 'web');
    await waitFor('web ReplicaSets and pods gone', async () => ((await replicaSets('web')).length === 0 && (await pods('web')).length === 0 ? true : undefined), 20_000);
  });
});
