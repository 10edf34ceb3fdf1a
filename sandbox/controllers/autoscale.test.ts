import { describe, expect, it } from 'vitest';
import { DEFAULT_HPA_BEHAVIOR } from '../../operator/src/build/hpa.ts';
import { applyBehavior, type Behavior, cpuReplicas, EMPTY_HISTORY, type History, type PodSample } from './autoscale.ts';

const pod = (usageMilli: number | undefined, ready = true, requestMilli = 100): PodSample => ({ requestMilli, usageMilli, ready });

describe('cpuReplicas (target 50%)', () => {
  it.each<[string, number, PodSample[], number]>([
    ['at the target: unchanged', 2, [pod(50), pod(50)], 2],
    ['within the 10% tolerance: unchanged', 2, [pod(54), pod(55)], 2],
    ['just outside it: up', 2, [pod(56), pod(56)], 3],
    ['twice the target: double', 2, [pod(100), pod(100)], 4],
    ['idle: down to one', 3, [pod(1), pod(0), pod(2)], 1],
    ['half the target: half', 4, [pod(25), pod(25), pod(25), pod(25)], 2],
    ['scale-up: a pod without metrics counts as idle', 2, [pod(150), pod(undefined)], 3],
    ['scale-down: a pod without metrics counts at its request, holding back the step', 3, [pod(10), pod(10), pod(undefined)], 3],
    ['scale-up: an unready pod counts as idle', 2, [pod(200), pod(200, false)], 4],
    ['scale-down: an unready pod is left out', 2, [pod(10), pod(200, false)], 1],
    ['scale-up that idle pods turn around: unchanged', 2, [pod(60), pod(undefined), pod(undefined, false)], 2],
  ])('%s', (_name, current, pods, want) => {
    const r = cpuReplicas(current, 50, pods);
    expect(r.ok && r.replicas).toBe(want);
  });

  it('reports utilisation and the average of the measured pods', () => {
    expect(cpuReplicas(2, 50, [pod(30), pod(90)])).toMatchObject({ ok: true, utilization: 60, averageMilli: 60 });
  });

  it.each<[string, PodSample[], RegExp]>([
    ['no metrics at all', [pod(undefined), pod(undefined)], /did not receive metrics/],
    ['only unready pods', [pod(100, false)], /did not receive metrics/],
    ['a pod without a CPU request', [pod(50), pod(50, true, 0)], /missing request for cpu/],
  ])('fails with a reason: %s', (_name, pods, message) => {
    const r = cpuReplicas(2, 50, pods);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(message);
  });
});

// The defaults with a short down window, so that tests need no 300 s of history.
const fast: Behavior = { ...DEFAULT_HPA_BEHAVIOR, scaleDown: { ...DEFAULT_HPA_BEHAVIOR.scaleDown, stabilizationWindowSeconds: 10 } };
const decide = (current: number, recommended: number, history: History = EMPTY_HISTORY, now = 100_000, behavior = fast, min = 1, max = 10) =>
  applyBehavior({ now, current, recommended, min, max, behavior, history });
const recs = (...pairs: [number, number][]): History => ({ ...EMPTY_HISTORY, recommendations: pairs.map(([s, replicas]) => ({ at: s * 1000, replicas })) });

describe('applyBehavior', () => {
  it.each<[string, ReturnType<typeof decide>, number, string | undefined]>([
    ['up at once with no up window', decide(2, 5), 5, undefined],
    ['down held by a higher recommendation inside the down window', decide(5, 1, recs([95, 4])), 4, undefined],
    ['down once the window has passed', decide(5, 1, recs([80, 4])), 1, undefined],
    ['up limited to +4 pods or +100% in 15 s, whichever is more', decide(2, 9), 6, 'ScaleUpLimit'],
    ['up limit counts the scale-ups already made in the period', decide(4, 9, { ...EMPTY_HISTORY, scaleUps: [{ at: 95_000, by: 2 }] }), 6, 'ScaleUpLimit'],
    ['min bounds a recommendation below it', decide(2, 0), 1, 'TooFewReplicas'],
    [
      'max bounds one above it',
      decide(8, 12, EMPTY_HISTORY, 100_000, { ...fast, scaleUp: { ...fast.scaleUp, policies: [{ type: 'Percent', value: 900, periodSeconds: 15 }] } }),
      10,
      'TooManyReplicas',
    ],
    ['scale-down Disabled: held', decide(5, 1, EMPTY_HISTORY, 100_000, { ...fast, scaleDown: { ...fast.scaleDown, selectPolicy: 'Disabled' } }), 5, 'ScaleDownLimit'],
    [
      'one pod a minute down',
      decide(5, 1, EMPTY_HISTORY, 100_000, { ...fast, scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } }),
      4,
      'ScaleDownLimit',
    ],
    ['the default down window (300 s) holds a recommendation of 4 minutes ago', decide(5, 1, recs([-140, 5]), 100_000, DEFAULT_HPA_BEHAVIOR), 5, undefined],
  ])('%s', (_name, d, replicas, limited) => {
    expect(d.replicas).toBe(replicas);
    expect(d.limited?.reason).toBe(limited);
  });

  it('remembers the recommendation and the change, and forgets what is past every window', () => {
    const d = decide(2, 5, recs([1, 3]));
    expect(d.history.recommendations).toEqual([{ at: 100_000, replicas: 5 }]);
    expect(d.history.scaleUps).toEqual([{ at: 100_000, by: 3 }]);
    expect(decide(5, 3, d.history, 101_000).history.recommendations.map((r) => r.replicas)).toEqual([5, 3]);
  });
});
