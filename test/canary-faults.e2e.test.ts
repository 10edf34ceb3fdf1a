// Canary end to end through faults: the operator killed mid-analysis, Prometheus gone mid-analysis.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LoadGenerator } from '../sandbox/demo/load.ts';
import { eventsOf, observe, routeWeights, track, waitFor } from '../sandbox/demo/rollout.ts';
import { changeImage, deploy, imageService, INTERVAL_MS, type Lab, ROLLOUT_TIMEOUT_MS, startLab, startLoad, STEPS } from './canary-harness.ts';

describe('canary through faults (Prometheus)', () => {
  let lab: Lab;
  const loads: LoadGenerator[] = [];

  beforeAll(async () => {
    lab = await startLab('required');
  });

  afterEach(async () => {
    for (const l of loads.splice(0)) await l.stop();
    await lab?.retire();
  });

  afterAll(async () => {
    await lab?.stop();
  });

  it('(d) an operator killed mid-analysis and started again resumes from status: no step is redone, none skipped', async () => {
    const ref = await deploy(lab, imageService('resume'));
    const load = startLoad(lab, ref);
    loads.push(load);
    const rollout = await changeImage(lab, ref, 'imageops/image-service:1.1.0');
    const before = await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && o.status.canaryWeight === STEPS[1]);
    await lab.killOperator();

    // While no operator runs, nothing moves: the rollout stays where the status says.
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    const frozen = await observe(lab.sandbox.client, ref);
    expect(frozen?.status.canaryWeight).toBe(STEPS[1]);
    expect(frozen?.status.iterations).toBe(before.status.iterations);
    expect(await routeWeights(lab.sandbox.client, ref)).toEqual({ primary: 100 - (STEPS[1] ?? 0), canary: STEPS[1] });

    await lab.startOperator();
    const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    await load.stop();

    expect(done.status.phase, done.status.message).toBe('Succeeded');
    // The route went 10, 50 (killed, restarted), 100, back to primary: the restart did not begin again at 10.
    const routed = rollout.routedWeights();
    expect(routed[0] === 0 ? routed.slice(1) : routed).toEqual([...STEPS, 0]);
    expect(done.status.primary?.image).toBe('imageops/image-service:1.1.0');
    expect(load.counts().failed, JSON.stringify(load.counts().byStatus)).toBe(0);
  });

  it('(e) Prometheus stopped mid-analysis: the checks fail, the canary is rolled back, never promoted', async () => {
    const ref = await deploy(lab, imageService('blind'));
    const load = startLoad(lab, ref);
    loads.push(load);
    const rollout = await changeImage(lab, ref, 'imageops/image-service:1.1.0');
    await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && (o.status.canaryWeight ?? 0) > 0);
    await lab.stopPrometheus();

    const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    await load.stop();

    expect(done.status.phase, done.status.message).toBe('Failed');
    expect(rollout.phases()).not.toContain('Promoting');
    expect(Math.max(...rollout.routedWeights())).toBeLessThan(100);
    expect(done.status.primary?.image).toBe('imageops/image-service:1.0.0');
    expect(await routeWeights(lab.sandbox.client, ref)).toEqual({ primary: 100, canary: 0 });
    await waitFor('the canary to be scaled to 0', async () => (await track(lab.sandbox.client, ref, 'canary'))?.replicas === 0, 3 * INTERVAL_MS + 5_000);
    // The failed checks say what went wrong: the metrics source, not the canary.
    const warnings = (await eventsOf(lab.sandbox.client, ref)).filter((e) => e.type === 'Warning').map((e) => e.message ?? '');
    expect(warnings.join('\n')).toMatch(/prometheus/i);
    // Primary kept serving: the outage of the metrics cost no request.
    expect(load.counts().failed, JSON.stringify(load.counts().byStatus)).toBe(0);
  });
});
