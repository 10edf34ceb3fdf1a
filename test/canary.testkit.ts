// The canary end-to-end scenarios that run against more than one lab (Prometheus, direct), with
// their assertions; the lab itself is sandbox/demo/lab.ts, shared with bench/canary.ts.
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { TRACK_LABEL } from '../operator/src/build/labels.ts';
import {
  changeImage,
  deploy,
  INTERVAL_MS,
  imageService,
  LATENCY_SLO_MS,
  type Lab,
  NEW_IMAGE,
  OLD_IMAGE,
  type Recorder,
  ROLLOUT_TIMEOUT_MS,
  STEPS,
  startLab,
  startLoad,
  THRESHOLD,
} from '../sandbox/demo/lab.ts';
import type { LoadGenerator } from '../sandbox/demo/load.ts';
import { eventsOf, type Ref, routeWeights, track, waitFor } from '../sandbox/demo/rollout.ts';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { PodSchema } from '../sandbox/kube/types.ts';
import type { ControlPlaneKind } from '../sandbox/sandbox.ts';

export * from '../sandbox/demo/lab.ts';

export interface LabFixture {
  /** The file's lab, started before its first test. */
  readonly lab: Lab;
  /** Load generators a test started: stopped after it, whatever its outcome. */
  readonly loads: LoadGenerator[];
}

/**
 * One lab for a describe block: started before its tests, each test's load and ImageServices
 * cleaned up after it, stopped after all. `operatorEnv` is read when the lab starts.
 */
export function useLab(prometheus: 'required' | 'off', controlPlane?: ControlPlaneKind, operatorEnv: () => NodeJS.ProcessEnv = () => ({})): LabFixture {
  let lab: Lab | undefined;
  const loads: LoadGenerator[] = [];
  beforeAll(async () => {
    lab = await startLab(prometheus, controlPlane, operatorEnv());
  });
  afterEach(async () => {
    for (const l of loads.splice(0)) await l.stop();
    await lab?.retire();
  });
  afterAll(async () => {
    await lab?.stop();
  });
  return {
    get lab(): Lab {
      if (lab === undefined) throw new Error('the lab did not start');
      return lab;
    },
    loads,
  };
}

/** Primary serves everything on `image`; the canary is scaled to 0 once the routes have settled. */
export async function expectIdleOn(lab: Lab, ref: Ref, image: string): Promise<void> {
  expect(await routeWeights(lab.sandbox.client, ref)).toEqual({ primary: 100, canary: 0 });
  expect((await track(lab.sandbox.client, ref, 'primary'))?.image).toBe(image);
  await waitFor('the canary to be scaled to 0', async () => (await track(lab.sandbox.client, ref, 'canary'))?.replicas === 0, 3 * INTERVAL_MS + 5_000);
}

/** Names of the primary's running pods: unchanged names mean primary was not touched. */
export async function primaryPods(lab: Lab, ref: Ref): Promise<string[]> {
  const { items } = await lab.sandbox.client.list(RESOURCES.pods, PodSchema, ref.namespace);
  return items
    .filter((p) => p.metadata.labels?.['app.kubernetes.io/instance'] === ref.name && p.metadata.labels?.[TRACK_LABEL] === 'primary' && p.metadata.deletionTimestamp === undefined)
    .map((p) => p.metadata.name)
    .sort();
}

/** The ImageService's Events, one a line, for assertion messages. */
export async function history(lab: Lab, ref: Ref): Promise<string> {
  return (await eventsOf(lab.sandbox.client, ref)).map((e) => `${e.type} ${e.reason}: ${e.message}`).join('\n');
}

/** Scenario (a): a healthy tag under steady load goes 10 -> 50 -> 100 -> Succeeded, primary on it, no request failed. */
export async function healthyPromotion(lab: Lab, name: string, loads: LoadGenerator[]): Promise<void> {
  await promotesHealthy(lab, await deploy(lab, imageService(name)), loads);
}

/** Scenario (a) on an ImageService already deployed; `started` looks at the rollout under load before it ends. */
export async function promotesHealthy(lab: Lab, ref: Ref, loads: LoadGenerator[], started?: (rollout: Recorder) => Promise<void>): Promise<void> {
  const load = startLoad(lab, ref);
  loads.push(load);
  load.mark('start');
  const rollout = await changeImage(lab, ref, NEW_IMAGE);
  await started?.(rollout);
  const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
  load.mark('end');
  await load.stop();

  expect(done.status.phase, await history(lab, ref)).toBe('Succeeded');
  const routed = rollout.routedWeights();
  expect(routed[0] === 0 ? routed.slice(1) : routed).toEqual([...STEPS, 0]);
  expect(rollout.phases()).toEqual(expect.arrayContaining(['Progressing', 'Promoting', 'Finalising', 'Succeeded']));
  expect(done.status.primary?.image).toBe(NEW_IMAGE);
  await expectIdleOn(lab, ref, NEW_IMAGE);
  const seen = load.counts('start', 'end');
  expect(seen.requests).toBeGreaterThan(100);
  expect(seen.failed, JSON.stringify(seen.byStatus)).toBe(0);
}

/** Scenario (b): a -slow tag is rolled back on p99: Failed, primary untouched at 100%, canary at 0, a Warning with the value. */
export async function slowRollback(lab: Lab, name: string, loads: LoadGenerator[]): Promise<void> {
  const ref = await deploy(lab, imageService(name));
  const load = startLoad(lab, ref);
  loads.push(load);
  const primaryBefore = await primaryPods(lab, ref);
  load.mark('start');
  const rollout = await changeImage(lab, ref, `${NEW_IMAGE}-slow`);
  const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
  load.mark('end');
  await load.stop();

  expect(done.status.phase, await history(lab, ref)).toBe('Failed');
  expect(rollout.phases()).not.toContain('Promoting');
  expect(Math.max(...rollout.routedWeights())).toBeLessThan(100);
  expect(done.status.primary?.image).toBe(OLD_IMAGE);
  await expectIdleOn(lab, ref, OLD_IMAGE);
  expect(await primaryPods(lab, ref)).toEqual(primaryBefore);
  expect(done.status.lastAnalysis?.latencyP99Ms).toBeGreaterThan(LATENCY_SLO_MS);
  const warnings = (await eventsOf(lab.sandbox.client, ref)).filter((e) => e.type === 'Warning');
  // The Warnings carry the number that broke the SLO.
  expect(warnings.map((e) => e.message).join('\n')).toMatch(new RegExp(`p99 latency \\d+(\\.\\d+)? ms is above the SLO of ${LATENCY_SLO_MS} ms`));
  expect(warnings.length).toBeGreaterThanOrEqual(THRESHOLD);
  // A slow canary slows requests down but fails none, and neither does the rollback.
  const seen = load.counts('start', 'end');
  expect(seen.failed, JSON.stringify(seen.byStatus)).toBe(0);
}
