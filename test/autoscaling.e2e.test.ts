// spec.autoscaling end to end on both control planes: the operator's HorizontalPodAutoscaler, an
// HPA controller (kube-controller-manager's, or the emulated plane's sandbox/controllers/hpa.ts)
// reading the resource metrics API (pods' cgroup CPU; on the real plane through kube-apiserver's
// aggregation layer), and CPU-heavy load through the mesh. Load raises primary's replicas and
// they come back down after it, at rest and during a rollout, where the canary runs as many pods
// as primary.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SAMPLE_IMAGES } from '../sandbox/demo/images.ts';
import { LoadGenerator } from '../sandbox/demo/load.ts';
import { annotate, eventsOf, mergePatch, observe, type Ref, settledIn, track, waitFor } from '../sandbox/demo/rollout.ts';
import { CONTROL_PLANES } from '../sandbox/sandbox.ts';
import { changeImage, deploy, hostOf, imageService, NEW_IMAGE, useLab } from './canary.testkit.ts';

const run = promisify(execFile);

/** Scale-ups as fast as the controller syncs (5 s), scale-downs after a 5 s window: the test ends in bounded time. */
const AUTOSCALING = {
  minReplicas: 1,
  maxReplicas: 3,
  targetCPUUtilizationPercentage: 50,
  behavior: { scaleUp: { stabilizationWindowSeconds: 0 }, scaleDown: { stabilizationWindowSeconds: 5 } },
};
const SCALE_TIMEOUT_MS = 90_000;

/** Every resize a different width, so the service's result cache does not answer: each request costs CPU. */
const UNCACHED = Array.from({ length: 4000 }, (_, i) => `/image/files/${SAMPLE_IMAGES[i % SAMPLE_IMAGES.length] ?? ''}?w=${200 + (i % 1800)}&h=${200 + Math.floor(i / 1800)}`);

function autoscaled(name: string, canary: Record<string, unknown> = {}) {
  return mergePatch(imageService(name, { canary }), {
    spec: { resources: { requests: { cpu: '100m' }, limits: { cpu: '1' } }, autoscaling: AUTOSCALING },
  });
}

describe.each(CONTROL_PLANES)('autoscaling on the %s control plane', { timeout: 6 * SCALE_TIMEOUT_MS }, (controlPlane) => {
  const fixture = useLab('off', controlPlane);
  const replicas = async (ref: Ref, which: 'primary' | 'canary') => (await track(fixture.lab.sandbox.client, ref, which))?.replicas ?? 0;

  function cpuLoad(ref: Ref): LoadGenerator {
    const load = new LoadGenerator({ target: fixture.lab.sandbox.mesh, host: hostOf(ref), paths: UNCACHED, concurrency: 3, maxDurationMs: 2 * SCALE_TIMEOUT_MS });
    fixture.loads.push(load);
    load.start();
    return load;
  }

  it("load raises primary's replicas through the HPA and they come back down after it; kubectl top pods reads the metrics API", async () => {
    const ref = await deploy(fixture.lab, autoscaled('scaled'));
    expect(await replicas(ref, 'primary')).toBe(1);

    const top = await waitFor(
      "kubectl top pods to list primary's pod",
      async () => {
        const { stdout } = await run('kubectl', ['--kubeconfig', fixture.lab.sandbox.kubeconfigPath, 'top', 'pods', '-n', ref.namespace, '-l', `app.kubernetes.io/instance=${ref.name}`]).catch(
          (err: { stderr?: string }) => ({ stdout: String(err.stderr) }),
        );
        return /scaled-primary-\S+\s+\d+m\s+\d+Mi/.test(stdout) ? stdout : undefined;
      },
      30_000,
      1_000,
    );
    expect(top).toMatch(/NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)/);

    const load = cpuLoad(ref);
    await waitFor('the HPA to scale primary up', async () => (await replicas(ref, 'primary')) > 1, SCALE_TIMEOUT_MS, 1_000);
    await load.stop();
    // as the HPA controller reports it: the utilisation it measured above the target, and the rescale
    const hpa = (await fixture.lab.sandbox.client.request('GET', `/apis/autoscaling/v2/namespaces/${ref.namespace}/horizontalpodautoscalers/${ref.name}-primary`)) as {
      status?: { currentMetrics?: { resource?: { current?: { averageUtilization?: number } } }[]; lastScaleTime?: string };
    };
    expect(hpa.status?.lastScaleTime).toBeDefined();
    expect(hpa.status?.currentMetrics?.[0]?.resource?.current?.averageUtilization).toBeGreaterThanOrEqual(0);
    const rescaled = (await eventsOf(fixture.lab.sandbox.client, { namespace: ref.namespace, name: `${ref.name}-primary` }, 'HorizontalPodAutoscaler')).map((e) => e.message ?? '');
    expect(rescaled.join('\n')).toMatch(/New size: [23]; reason: cpu resource utilization \(percentage of request\) above target/);
    await waitFor('the HPA to scale primary back to 1', async () => (await replicas(ref, 'primary')) === 1, SCALE_TIMEOUT_MS, 1_000);
    const o = await observe(fixture.lab.sandbox.client, ref);
    expect(o?.status.phase).toBe('Initialized');
  });

  it("during a rollout the canary follows primary's count up and down, and the promotion completes", async () => {
    // a long interval: the rollout waits at its first step while the load comes and goes
    const ref = await deploy(fixture.lab, autoscaled('rolling', { interval: '10m', stepWeights: [50] }));
    const rollout = await changeImage(fixture.lab, ref, NEW_IMAGE);
    await waitFor('the canary to take traffic', async () => (await observe(fixture.lab.sandbox.client, ref))?.status.canaryWeight === 50, SCALE_TIMEOUT_MS, 500);
    expect(await replicas(ref, 'canary')).toBe(await replicas(ref, 'primary'));

    const load = cpuLoad(ref);
    const up = await waitFor(
      'the HPA to scale primary up, and the canary to follow',
      async () => {
        const [p, c] = [await replicas(ref, 'primary'), await replicas(ref, 'canary')];
        return p > 1 && c === p ? p : undefined;
      },
      SCALE_TIMEOUT_MS,
      1_000,
    );
    expect(up).toBeGreaterThan(1);
    await load.stop();
    await waitFor('primary and the canary back at 1', async () => (await replicas(ref, 'primary')) === 1 && (await replicas(ref, 'canary')) === 1, SCALE_TIMEOUT_MS, 1_000);

    await annotate(fixture.lab.sandbox.client, ref, 'imageops.dev/promote', 'true');
    const done = await rollout.until(['Succeeded', 'Failed'], SCALE_TIMEOUT_MS);
    expect(settledIn(done, ['Succeeded'])).toBe(true);
    expect((await track(fixture.lab.sandbox.client, ref, 'primary'))?.image).toBe(NEW_IMAGE);
    await waitFor('the canary to be scaled to 0', async () => (await replicas(ref, 'canary')) === 0, 30_000, 500);
  });
});
