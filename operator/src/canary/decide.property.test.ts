// Invariants of the decision over random histories: whatever the checks say, the annotations,
// pauses, new templates and readiness flips, and whenever the operator restarts (status only).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AnalysisResult, type ImageServiceStatus, ImageServiceStatusSchema, validateSpec, weightSchedule } from '../api/image-service.ts';
import type { Observations, TrackObservation } from '../rollout.ts';
import { checkDue, decide } from './decide.ts';

const T0 = Date.parse('2026-11-22T00:00:00.000Z');

type Step =
  | { kind: 'wait'; seconds: number }
  | { kind: 'check'; result: 'pass' | 'fail' | 'no-data' }
  | { kind: 'template'; revision: 'r1' | 'r2' | 'r3' }
  | { kind: 'annotate'; key: 'promote' | 'abort' }
  | { kind: 'pause'; paused: boolean }
  | { kind: 'ready'; track: 'primary' | 'canary'; ready: boolean };

// Weighted so that histories get deep into analyses: mostly time passing and checks.
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('wait' as const), seconds: fc.integer({ min: 1, max: 40 }) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('check' as const), result: fc.constantFrom('pass' as const, 'pass' as const, 'fail' as const, 'no-data' as const) }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('template' as const), revision: fc.constantFrom('r1' as const, 'r2' as const, 'r3' as const) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('annotate' as const), key: fc.constantFrom('promote' as const, 'abort' as const) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('pause' as const), paused: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('ready' as const), track: fc.constantFrom('primary' as const, 'canary' as const), ready: fc.boolean() }), weight: 1 },
);

const result = (r: 'pass' | 'fail' | 'no-data', at: string): AnalysisResult =>
  r === 'pass'
    ? { at, latencyP99Ms: 100, errorRatePercent: 0, requests: 100, passed: true }
    : r === 'fail'
      ? { at, latencyP99Ms: 900, errorRatePercent: 0, requests: 100, passed: false, reason: 'p99 latency 900 ms is above the SLO of 500 ms' }
      : { at, requests: 1, passed: false, noData: true, reason: '1 canary requests, fewer than minRequests 20' };

describe('decide over random histories', () => {
  it('keeps its promises', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 20, maxLength: 80 }),
        fc.constantFrom('fail' as const, 'hold' as const),
        fc.boolean(),
        fc.constantFrom('none' as const, 'output' as const, 'mirror' as const, 'both' as const),
        fc.boolean(),
        (steps, onNoData, explicitSteps, gate, hooks) => {
          let desired = 'r1';
          let paused = false;
          const annotations = { promote: false, abort: false };
          const ready = { primary: true, canary: true };
          let primaryRevision = 'r1';
          let canaryRevision = 'r1';
          let canaryReplicas = 0;
          let now = 0;
          let status: ImageServiceStatus = {};
          /** Revisions that passed their last check at the top of the schedule, or were promoted by hand. */
          const cleared = new Set<string>(['r1']);
          for (const s of [{ kind: 'wait', seconds: 1 } as Step, ...steps]) {
            let pending: 'pass' | 'fail' | 'no-data' | undefined;
            if (s.kind === 'wait') now += s.seconds;
            if (s.kind === 'check') pending = s.result;
            if (s.kind === 'template') desired = s.revision;
            if (s.kind === 'annotate') annotations[s.key] = true;
            if (s.kind === 'pause') paused = s.paused;
            if (s.kind === 'ready') ready[s.track] = s.ready;
            const v = validateSpec({
              image: `img:${desired}`,
              source: { file: {} },
              canary: {
                interval: '10s',
                threshold: 3,
                progressDeadlineSeconds: 60,
                paused,
                ...(explicitSteps ? { stepWeights: [5, 30, 60] } : { stepWeight: 25 }),
                analysis: { onNoData, ...(gate === 'output' || gate === 'both' ? { output: { samples: [{ key: 'a.jpg' }] } } : {}) },
                ...(gate === 'mirror' || gate === 'both' ? { mirror: 10 } : {}),
                // the hooks that add waits: for a yes before the canary starts, and after the end
                webhooks: hooks
                  ? [
                      { name: 'approve', type: 'confirm-rollout', url: 'http://approve/' },
                      { name: 'notify', type: 'post-rollout', url: 'http://notify/' },
                    ]
                  : [],
              },
            });
            if (!v.ok) throw new Error(JSON.stringify(v.issues));
            const spec = v.value;
            const deploy = (revision: string, isReady: boolean, replicas: number): TrackObservation => ({
              exists: true,
              revision,
              image: `img:${revision}`,
              replicas,
              readyReplicas: isReady ? replicas : 0,
              updatedReplicas: replicas,
              rolledOut: isReady,
            });
            const at = new Date(T0 + now * 1000);
            const obs = (analysis?: AnalysisResult): Observations => ({
              generation: 1,
              revision: desired,
              image: `img:${desired}`,
              template: `{"spec":{"containers":[{"name":"image-service","image":"img:${desired}"}]}}`,
              primary: deploy(primaryRevision, ready.primary, 2),
              canary: deploy(canaryRevision, ready.canary, canaryReplicas),
              promote: annotations.promote,
              abort: annotations.abort,
              analysis,
            });
            const before = status;
            // A check is measured only when one is due, and decide passes no due check unmeasured.
            const due = checkDue(spec, status, obs(), at);
            if (due === undefined) pending = undefined;
            else expect(() => decide(spec, status, obs(), at)).toThrow(/is due and was not measured/);
            // A due check whose measurement is not in yet: this reconcile has not happened.
            if (due !== undefined && pending === undefined) continue;
            const plan = decide(spec, status, obs(pending && result(pending, at.toISOString())), at);
            const after = plan.status;
            // A waiting revision has no traffic, and no canary pods are started for it.
            if (after.phase === 'Waiting') {
              expect(after.canaryWeight).toBe(0);
              if (canaryReplicas === 0) expect(plan.canaryReplicas).toBe(0);
            }
            // The canary is scaled up only once its rollout was confirmed.
            if (hooks && plan.canaryReplicas > canaryReplicas && canaryReplicas === 0) expect(['Progressing', 'Promoting']).toContain(after.phase);
            // The post-rollout hooks of an ended rollout are asked once.
            if (due?.webhooks?.hooks.some((h) => h.type === 'post-rollout')) expect(checkDue(spec, after, obs(), at)?.webhooks?.hooks.some((h) => h.type === 'post-rollout') ?? false).toBe(false);

            // The status is always valid for the CRD, and all an operator needs after a restart.
            status = ImageServiceStatusSchema.parse(JSON.parse(JSON.stringify(after)));
            // Weights: 0 or a step of the schedule; primary's share is the rest.
            expect([0, ...weightSchedule(spec.canary)]).toContain(after.canaryWeight);
            // Mirroring only before the canary takes traffic, and only while it is analysed.
            if (plan.mirrorPercent > 0) expect([after.phase, after.canaryWeight]).toEqual(['Progressing', 0]);
            // Primary only ever takes a template that cleared the analysis (or the first one).
            if (after.phase === 'Promoting' && (before.phase === 'Progressing' || before.phase === 'Waiting')) {
              const wasLastStep = (before.canaryWeight ?? 0) >= Math.max(...weightSchedule(spec.canary));
              expect(annotations.promote || (pending === 'pass' && wasLastStep)).toBe(true);
              cleared.add(after.canary?.revision ?? '');
            }
            if (plan.primary.from === 'spec') expect(cleared.has(desired) || before.phase === undefined).toBe(true);
            if (before.phase === undefined) cleared.add(desired);
            // A rollback only for a reason: threshold, abort or deadline.
            if (after.phase === 'Failed' && before.phase !== 'Failed') {
              const byChecks = (after.failedChecks ?? 0) >= spec.canary.threshold;
              expect(byChecks || annotations.abort || /progressDeadlineSeconds/.test(after.message ?? '')).toBe(true);
            }
            expect(after.failedChecks ?? 0).toBeLessThanOrEqual(spec.canary.threshold);
            // Reaching the threshold ends the analysis at once.
            if (after.phase === 'Progressing') expect(after.failedChecks ?? 0).toBeLessThan(spec.canary.threshold);
            // While paused, an analysis does not move.
            if (paused && before.phase === 'Progressing' && after.phase === 'Progressing' && before.canary?.revision === desired && !annotations.abort && !annotations.promote) {
              expect(after.canaryWeight).toBe(before.canaryWeight);
              expect(after.failedChecks).toBe(before.failedChecks);
            }
            // Consumed annotations go away.
            for (const key of plan.removeAnnotations) annotations[key === 'imageops.dev/promote' ? 'promote' : 'abort'] = false;

            // The cluster follows the plan at once.
            if (plan.primary.from === 'spec') primaryRevision = desired;
            canaryRevision = desired;
            canaryReplicas = plan.canaryReplicas;
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
