// The direct provider end to end: a sandbox without Prometheus (a fresh machine), where the
// operator measures the canary pods' own /metrics. It must reach Prometheus's verdicts on the
// same scenarios: promote the healthy tag, roll the -slow one back on p99.
import { describe, expect, it } from 'vitest';
import { CONTROL_PLANES } from '../sandbox/sandbox.ts';
import { healthyPromotion, ROLLOUT_TIMEOUT_MS, slowRollback, useLab } from './canary.testkit.ts';

describe.each(CONTROL_PLANES)('canary with the direct provider (no Prometheus) on the %s control plane', { timeout: ROLLOUT_TIMEOUT_MS + 30_000 }, (controlPlane) => {
  const ctx = useLab('off', controlPlane);

  it('runs without Prometheus, so the operator can only use the direct provider', () => {
    expect(ctx.lab.sandbox.prometheus).toBeUndefined();
  });

  it('(f/a) promotes the healthy tag as Prometheus does, without a failed request', async () => {
    await healthyPromotion(ctx.lab, 'healthy-direct', ctx.loads);
  });

  it('(f/b) rolls the -slow tag back on p99 as Prometheus does', async () => {
    await slowRollback(ctx.lab, 'slow-direct', ctx.loads);
  });
});
