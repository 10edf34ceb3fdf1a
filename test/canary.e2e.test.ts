// Canary analysis end to end with real Prometheus: real image-service processes behind the mesh,
// steady load through it, the operator in its own process. One sandbox, scenarios in sequence.
import { describe, expect, it } from 'vitest';
import { parseExposition } from '../operator/src/canary/providers/exposition.ts';
import { dashboardTargets, RATE_INTERVAL } from '../operator/src/dashboard.ts';
import { annotate, eventsOf, observe, patchSpec, waitFor } from '../sandbox/demo/rollout.ts';
import { RESOURCES } from '../sandbox/kube/client.ts';
import { HTTPRouteSchema, VirtualServiceSchema } from '../sandbox/kube/types.ts';
import { getVia } from '../sandbox/mesh/mesh.testkit.ts';
import { CONTROL_PLANES } from '../sandbox/sandbox.ts';
import {
  changeImage,
  deploy,
  ERROR_SLO_PERCENT,
  expectIdleOn,
  healthyPromotion,
  history,
  hostOf,
  imageService,
  NEW_IMAGE,
  OLD_IMAGE,
  primaryPods,
  promotesHealthy,
  ROLLOUT_TIMEOUT_MS,
  STEPS,
  slowRollback,
  startLoad,
  useLab,
} from './canary.testkit.ts';

const PREVIEW = { header: 'x-imageops-preview', value: 'yes' };

describe.each(CONTROL_PLANES)('canary with Prometheus on the %s control plane', { timeout: ROLLOUT_TIMEOUT_MS + 30_000 }, (controlPlane) => {
  const ctx = useLab('required', controlPlane);

  it('(a) promotes a healthy tag 10 -> 50 -> 100 and ends Succeeded with primary on it, without a failed request', async () => {
    await healthyPromotion(ctx.lab, 'healthy', ctx.loads);
  });

  it('(j) a switch to router gatewayapi removes the VirtualService; through the HTTPRoute the preview header reaches the canary, mirroring precedes the first weight, and the rollout promotes', async () => {
    // an interval long enough to look at the canary while it is mirrored to at 0%
    const ref = await deploy(ctx.lab, imageService('gateway', { canary: { preview: PREVIEW, mirror: 50, interval: '6s' } }));
    const { client, mesh, meshMetrics } = ctx.lab.sandbox;
    await patchSpec(client, ref, { router: 'gatewayapi' });
    const route = () => client.get(RESOURCES.httproutes, HTTPRouteSchema, ref.namespace, ref.name);
    await waitFor(
      'the VirtualService to give way to an HTTPRoute',
      async () => (await route()) !== undefined && (await client.get(RESOURCES.virtualservices, VirtualServiceSchema, ref.namespace, ref.name)) === undefined,
      30_000,
      100,
    );
    /** Requests the mesh delivered to the canary's pods, routed or mirrored, as its proxies report them. */
    const canaryRequests = async () =>
      parseExposition(await (await fetch(meshMetrics)).text(), (n) => n === 'istio_requests_total')
        .filter((m) => m.labels['reporter'] === 'destination' && m.labels['destination_workload'] === 'gateway-canary')
        .reduce((sum, m) => sum + m.value, 0);
    /** The version of the pod that answers a mesh request, read from its build_info. */
    const versionVia = async (headers: Record<string, string>) => /image_service_build_info\{version="([^"]+)"\}/.exec((await getVia(`${mesh}/metrics`, hostOf(ref), undefined, headers)).body)?.[1];
    // Only the HTTPRoute carries the weights, the preview rule and the mirror: the canary's share, and so its analysis, comes through it.
    await promotesHealthy(ctx.lab, ref, ctx.loads, async (rollout) => {
      const atZero = await rollout.until(
        [],
        ROLLOUT_TIMEOUT_MS,
        (o) => o.status.phase === 'Failed' || (o.status.canaryWeight ?? 0) > 0 || (o.status.message ?? '').startsWith('Canary ready; mirroring'),
      );
      expect(atZero.status.message, await history(ctx.lab, ref)).toMatch(/^Canary ready; mirroring 50% of user requests/);
      const before = await canaryRequests();
      await waitFor('mirrored requests to reach the canary', async () => (await canaryRequests()) > before, 5_000, 100);
      // still at 0%, so they were copies: the weighted rule mirrors, the preview rule goes to the canary alone
      const rules = (await route())?.spec.rules ?? [];
      expect(
        rules.map((r) => [r.matches?.[0]?.headers ?? [], r.backendRefs?.map((b) => [b.name, b.weight]), r.filters?.map((f) => [f.type, f.requestMirror?.backendRef.name, f.requestMirror?.percent])]),
      ).toEqual([
        [[{ type: 'Exact', name: PREVIEW.header, value: PREVIEW.value }], [['gateway-canary', 100]], []],
        [
          [],
          [
            ['gateway-primary', 100],
            ['gateway-canary', 0],
          ],
          [['RequestMirror', 'gateway-canary', 50]],
        ],
      ]);
      expect(await versionVia({ [PREVIEW.header]: PREVIEW.value })).toBe(NEW_IMAGE.split(':')[1]);
      expect(await versionVia({})).toBe(OLD_IMAGE.split(':')[1]);
      expect(rollout.routedWeights().filter((w) => w > 0)).toEqual([]);
    });
    const rules = (await route())?.spec.rules;
    // at rest: no preview rule, no mirror
    expect(rules?.map((r) => [r.backendRefs?.map((b) => [b.name, b.weight]), r.filters ?? []])).toEqual([
      [
        [
          ['gateway-primary', 100],
          ['gateway-canary', 0],
        ],
        [],
      ],
    ]);
    expect((await eventsOf(client, ref)).map((e) => e.reason)).toContain('Mirroring');
  });

  it('(b) rolls a -slow tag back on p99: Failed, primary untouched at 100%, canary at 0, a Warning with the measured value', async () => {
    await slowRollback(ctx.lab, 'slow', ctx.loads);
  });

  it('(c) rolls a -broken tag back on its error rate; only the canary share failed, and nothing after the rollback', async () => {
    const ref = await deploy(ctx.lab, imageService('broken'));
    const load = startLoad(ctx.lab, ref);
    ctx.loads.push(load);
    const primaryBefore = await primaryPods(ctx.lab, ref);
    load.mark('start');
    const rollout = await changeImage(ctx.lab, ref, 'imageops/image-service:1.1.0-broken');
    const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    load.mark('rolled-back');

    expect(done.status.phase, done.status.message).toBe('Failed');
    expect(rollout.phases()).not.toContain('Promoting');
    // The broken canary never passes a check, so it never leaves the first step.
    expect(rollout.routedWeights().filter((w) => w > 0)).toEqual([STEPS[0]]);
    await expectIdleOn(ctx.lab, ref, OLD_IMAGE);
    expect(await primaryPods(ctx.lab, ref)).toEqual(primaryBefore);
    expect(done.status.lastAnalysis?.errorRatePercent).toBeGreaterThan(ERROR_SLO_PERCENT);
    const warnings = (await eventsOf(ctx.lab.sandbox.client, ref)).filter((e) => e.type === 'Warning').map((e) => e.message ?? '');
    expect(warnings.join('\n')).toMatch(/error rate|5xx/i);

    load.mark('idle');
    await new Promise((r) => setTimeout(r, 1_500));
    load.mark('after');
    await load.stop();
    // Users saw the broken version's 5xx only on its first step's share of the traffic (75% of
    // that share fails, and not all of the window is routed), and none once it was rolled back.
    const during = load.counts('start', 'rolled-back');
    expect(during.failed).toBeGreaterThan(0);
    expect(Object.keys(during.byStatus).every((code) => code.startsWith('2') || code.startsWith('5'))).toBe(true);
    expect(during.failed / during.requests).toBeLessThan((STEPS[0] as number) / 100);
    const after = load.counts('idle', 'after');
    expect(after.requests).toBeGreaterThan(0);
    expect(after.failed, JSON.stringify(after.byStatus)).toBe(0);
  });

  it('(g) the promote annotation skips the remaining analysis; the abort annotation rolls back now', async () => {
    const slowSteps = { canary: { stepWeights: [10, 20, 30, 40, 50, 100] } };
    const promoted = await deploy(ctx.lab, imageService('promote', slowSteps));
    const abort = await deploy(ctx.lab, imageService('abort', slowSteps));
    const loadA = startLoad(ctx.lab, promoted, 120_000, 20);
    const loadB = startLoad(ctx.lab, abort, 120_000, 20);
    ctx.loads.push(loadA, loadB);

    const a = await changeImage(ctx.lab, promoted, 'imageops/image-service:1.1.0');
    const b = await changeImage(ctx.lab, abort, 'imageops/image-service:1.1.0');
    // Mid-analysis: the canary has its first weight and more than four steps to go.
    await a.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && (o.status.canaryWeight ?? 0) > 0);
    await b.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && (o.status.canaryWeight ?? 0) > 0);
    await annotate(ctx.lab.sandbox.client, promoted, 'imageops.dev/promote', 'true');
    await annotate(ctx.lab.sandbox.client, abort, 'imageops.dev/abort', 'true');

    const aDone = await a.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    const bDone = await b.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    await loadA.stop();
    await loadB.stop();

    expect(aDone.status.phase, aDone.status.message).toBe('Succeeded');
    expect(Math.max(...a.routedWeights())).toBeLessThan(50);
    await expectIdleOn(ctx.lab, promoted, 'imageops/image-service:1.1.0');
    expect(bDone.status.phase, bDone.status.message).toBe('Failed');
    expect(b.phases()).not.toContain('Promoting');
    await expectIdleOn(ctx.lab, abort, OLD_IMAGE);
    // The operator consumed the annotations, so they do not act again on the next rollout.
    expect((await observe(ctx.lab.sandbox.client, promoted))?.annotations['imageops.dev/promote']).toBeUndefined();
    expect((await observe(ctx.lab.sandbox.client, abort))?.annotations['imageops.dev/abort']).toBeUndefined();
    expect(loadA.counts().failed + loadB.counts().failed).toBe(0);
  });

  it("(i) every panel of the chart's Grafana dashboard shows data during a rollout", async () => {
    const ref = await deploy(ctx.lab, imageService('panels', { canary: { stepWeights: [10, 20, 30, 40, 50, 100] } }));
    const load = startLoad(ctx.lab, ref);
    ctx.loads.push(load);
    const rollout = await changeImage(ctx.lab, ref, NEW_IMAGE);
    await rollout.until([], ROLLOUT_TIMEOUT_MS, (o) => o.status.phase === 'Progressing' && o.status.lastAnalysis !== undefined);
    const prometheus = ctx.lab.sandbox.prometheus ?? '';
    /** The series a target's query returns over the last minute, as Grafana asks for a panel (a range query). */
    const seriesOf = async (expr: string): Promise<number> => {
      const end = Date.now() / 1000;
      const query = new URLSearchParams({ query: expr.replaceAll(RATE_INTERVAL, '10s'), start: String(end - 60), end: String(end), step: '1' });
      const answer = (await (await fetch(`${prometheus}/api/v1/query_range?${query}`)).json()) as { status: string; error?: string; data?: { result: unknown[] } };
      if (answer.status !== 'success') throw new Error(`Prometheus refused ${expr}: ${answer.error ?? ''}`);
      return answer.data?.result.length ?? 0;
    };
    const empty = async () => {
      const out: string[] = [];
      for (const { panel, target } of dashboardTargets()) if ((await seriesOf(target.expr)) === 0) out.push(`${panel}: ${target.expr}`);
      return out;
    };
    let last: string[] = [];
    await waitFor(
      'every dashboard query to return data',
      async () => (last = await empty()).length === 0,
      30_000,
      1_000,
      () => `empty:\n${last.join('\n')}`,
    );
    expect(last).toEqual([]);
  });

  it('(h) with no traffic and onNoData: hold, the canary holds and says why, then proceeds when traffic comes', async () => {
    const ref = await deploy(ctx.lab, imageService('quiet', { analysis: { onNoData: 'hold' } }));
    const rollout = await changeImage(ctx.lab, ref, 'imageops/image-service:1.1.0');
    // Several intervals without a request: it holds at the first weight and never fails.
    const held = await rollout.until([], 60_000, (o) => (o.status.iterations ?? 0) >= 3 && o.status.lastAnalysis?.noData === true);
    expect(held.status.phase).toBe('Progressing');
    expect(held.status.canaryWeight).toBe(STEPS[0]);
    expect(held.status.failedChecks ?? 0).toBe(0);
    expect(held.status.message ?? '').toMatch(/no data|requests/i);
    expect(held.status.message ?? '').toMatch(/hold/i);

    const load = startLoad(ctx.lab, ref);
    ctx.loads.push(load);
    const done = await rollout.until(['Succeeded', 'Failed'], ROLLOUT_TIMEOUT_MS);
    await load.stop();
    expect(done.status.phase, done.status.message).toBe('Succeeded');
    expect(rollout.phases()).not.toContain('Failed');
    expect(load.counts().failed).toBe(0);
  });
});
