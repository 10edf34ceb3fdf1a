// The direct provider end to end: a sandbox without Prometheus (a fresh machine), where the
// operator measures the canary pods' own /metrics. It must reach Prometheus's verdicts on the
// same scenarios: promote the healthy tag, roll the -slow one back on p99.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LoadGenerator } from '../sandbox/demo/load.ts';
import { healthyPromotion, type Lab, slowRollback, startLab } from './canary-harness.ts';

describe('canary with the direct provider (no Prometheus)', () => {
  let lab: Lab;
  const loads: LoadGenerator[] = [];

  beforeAll(async () => {
    lab = await startLab('off');
  });

  afterEach(async () => {
    for (const l of loads.splice(0)) await l.stop();
    await lab?.retire();
  });

  afterAll(async () => {
    await lab?.stop();
  });

  it('runs without Prometheus, so the operator can only use the direct provider', () => {
    expect(lab.sandbox.prometheus).toBeUndefined();
  });

  it('(f/a) promotes the healthy tag as Prometheus does, without a failed request', async () => {
    await healthyPromotion(lab, 'healthy-direct', loads);
  });

  it('(f/b) rolls the -slow tag back on p99 as Prometheus does', async () => {
    await slowRollback(lab, 'slow-direct', loads);
  });
});
