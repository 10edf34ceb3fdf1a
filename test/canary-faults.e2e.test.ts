// Canary end to end through faults: the operator killed mid-analysis, primary deleted mid-analysis,
// Prometheus gone mid-analysis.
import { describe, expect, it } from 'vitest';
import { eventsOf, observe, routeWeights, track, waitFor } from '../sandbox/demo/rollout.ts';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { CONTROL_PLANES } from '../sandbox/sandbox.ts';
import { changeImage, deploy, INTERVAL_MS, imageService, ROLLOUT_TIMEOUT_MS, STEPS, startLoad, useLab } from './canary.testkit.ts';

describe.each(CONTROL_PLANES)('canary through faults (Prometheus) on the %s control plane', { timeout: ROLLOUT_TIMEOUT_MS + 30_000 }, (controlPlane) => {
  const ctx = useLab('required', controlPlane);

  it('(d) an operator killed mid-analysis and started again resumes from status: no step is redone, none skipped', async () => {
    const ref = await deploy(ctx.lab, imageService('resume'));
    const load = startLoad(ctx.lab, ref);
    ctx.loads.push(load);
    const rollout = await changeImage(ctx.lab, ref, 'imageops/image-service:1.1.0');
    await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && o.status.canaryWeight === STEPS[1]);
    await ctx.lab.killOperator();
    const atKill = await observe(ctx.lab.sandbox.client, ref);

    // While no operator runs, nothing moves: the rollout stays where the status says.
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    const frozen = await observe(ctx.lab.sandbox.client, ref);
    expect(frozen?.status).toEqual(atKill?.status);
    expect(frozen?.status.canaryWeight).toBe(STEPS[1]);
    expect(await routeWeights(ctx.lab.sandbox.client, ref)).toEqual({ primary: 100 - (STEPS[1] ?? 0), canary: STEPS[1] });

    await ctx.lab.startOperator();
    const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    await load.stop();

    expect(done.status.phase, done.status.message).toBe('Succeeded');
    // The route went 10, 50 (killed, restarted), 100, back to primary: the restart did not begin again at 10.
    const routed = rollout.routedWeights();
    expect(routed[0] === 0 ? routed.slice(1) : routed).toEqual([...STEPS, 0]);
    expect(done.status.primary?.image).toBe('imageops/image-service:1.1.0');
    expect(load.counts().failed, JSON.stringify(load.counts().byStatus)).toBe(0);
  });

  it("(i) primary deleted mid-analysis comes back on the promoted revision, never the canary's; the rollout goes on to Succeeded", async () => {
    const client = ctx.lab.sandbox.client;
    const ref = await deploy(ctx.lab, imageService('orphan'));
    const load = startLoad(ctx.lab, ref);
    ctx.loads.push(load);
    const rollout = await changeImage(ctx.lab, ref, 'imageops/image-service:1.1.0');
    await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && (o.status.canaryWeight ?? 0) > 0);
    await client.delete(RESOURCES.deployments, ref.namespace, `${ref.name}-primary`);

    // Until promotion, whenever primary exists it runs the promoted image.
    const seen = new Set<string>();
    const back = await waitFor(
      'primary to be recreated and ready',
      async () => {
        const primary = await track(client, ref, 'primary');
        if (primary?.image !== undefined) seen.add(primary.image);
        return primary !== undefined && primary.ready > 0 ? primary : undefined;
      },
      ROLLOUT_TIMEOUT_MS,
      100,
    );
    expect(back.image).toBe('imageops/image-service:1.0.0');
    expect([...seen]).toEqual(['imageops/image-service:1.0.0']);
    const warnings = (await eventsOf(client, ref)).filter((e) => e.type === 'Warning');
    expect(warnings.map((e) => e.reason)).toContain('PrimaryRecreated');

    const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    await load.stop();
    expect(done.status.phase, done.status.message).toBe('Succeeded');
    expect(done.status.primary?.image).toBe('imageops/image-service:1.1.0');
    // The promotion went through every step after primary came back.
    expect(Math.max(...rollout.routedWeights())).toBe(100);
  });

  it('(e) Prometheus stopped mid-analysis: the checks fail, the canary is rolled back, never promoted', async () => {
    const ref = await deploy(ctx.lab, imageService('blind'));
    const load = startLoad(ctx.lab, ref);
    ctx.loads.push(load);
    const rollout = await changeImage(ctx.lab, ref, 'imageops/image-service:1.1.0');
    await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && (o.status.canaryWeight ?? 0) > 0);
    await ctx.lab.stopPrometheus();

    const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    await load.stop();

    expect(done.status.phase, done.status.message).toBe('Failed');
    expect(rollout.phases()).not.toContain('Promoting');
    expect(Math.max(...rollout.routedWeights())).toBeLessThan(100);
    expect(done.status.primary?.image).toBe('imageops/image-service:1.0.0');
    expect(await routeWeights(ctx.lab.sandbox.client, ref)).toEqual({ primary: 100, canary: 0 });
    await waitFor('the canary to be scaled to 0', async () => (await track(ctx.lab.sandbox.client, ref, 'canary'))?.replicas === 0, 3 * INTERVAL_MS + 5_000);
    // The failed checks say what went wrong: the metrics source, not the canary.
    const warnings = (await eventsOf(ctx.lab.sandbox.client, ref)).filter((e) => e.type === 'Warning').map((e) => e.message ?? '');
    expect(warnings.join('\n')).toMatch(/prometheus/i);
    // Primary kept serving: the outage of the metrics cost no request.
    expect(load.counts().failed, JSON.stringify(load.counts().byStatus)).toBe(0);
  });
});
