import { describe, expect, it } from 'vitest';
import { type AnalysisResult, type ImageServiceSpec, type ImageServiceStatus, ImageServiceStatusSchema, validateSpec } from '../api/image-service.ts';
import { revisionOf } from '../build/revision.ts';
import type { CheckDue, Observations, RolloutPlan, TrackObservation } from '../rollout.ts';
import { ABORT_ANNOTATION, checkDue, decide, PROMOTE_ANNOTATION } from './decide.ts';

// Time in seconds from T0; statuses store RFC 3339.
const T0 = Date.parse('2026-11-22T00:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000);
const iso = (s: number) => at(s).toISOString();

// interval 10s, threshold 3, deadline 60s, stepWeight 20 up to maxWeight 60: weights 20, 40, 60.
const CANARY = { interval: '10s', threshold: 3, progressDeadlineSeconds: 60, stepWeight: 20, maxWeight: 60 };

function spec(canary: Record<string, unknown> = {}, image = 'img:2'): ImageServiceSpec {
  const v = validateSpec({ image, replicas: 2, source: { file: { claimName: 'originals' } }, canary: { ...CANARY, ...canary } });
  if (!v.ok) throw new Error(JSON.stringify(v.issues));
  return v.value;
}

const image = (revision: string) => `img:${revision.slice(1)}`;
const track = (revision: string) => ({ image: image(revision), revision });
/** The pod template of a revision, as JSON (what observations and status carry). */
const templateOf = (revision: string) => JSON.stringify({ metadata: { labels: { app: 'thumbs' } }, spec: { containers: [{ name: 'image-service', image: image(revision) }] } });

/** A live Deployment on a revision, rolled out (ready) or not. */
function deploy(revision: string | undefined, ready = true, replicas = 2): TrackObservation {
  return { exists: revision !== undefined, revision, image: revision && image(revision), replicas, readyReplicas: ready ? replicas : 0, updatedReplicas: replicas, rolledOut: ready };
}

interface World {
  desired?: string;
  primary?: TrackObservation;
  canary?: TrackObservation;
  promote?: boolean;
  abort?: boolean;
  analysis?: AnalysisResult;
}

/** By default: the spec asks for r2, primary runs r1, the canary runs r2, both ready. */
function obs(w: World = {}): Observations {
  const desired = w.desired ?? 'r2';
  return {
    generation: 7,
    revision: desired,
    image: image(desired),
    template: templateOf(desired),
    primary: w.primary ?? deploy('r1'),
    canary: w.canary ?? deploy(desired),
    promote: w.promote ?? false,
    abort: w.abort ?? false,
    analysis: w.analysis,
  };
}

const idle = (phase: 'Initialized' | 'Succeeded' = 'Succeeded'): ImageServiceStatus => ({
  phase,
  primary: track('r1'),
  canaryWeight: 0,
  failedChecks: 0,
  iterations: 0,
  lastTransitionTime: iso(-1000),
});

interface Analysing {
  weight: number;
  failedChecks?: number;
  iterations?: number;
  /** When the phase started (s). */
  since?: number;
  /** When the last check ran (s); unset before traffic. */
  lastCheck?: number;
  reason?: string;
}

function progressing(a: Analysing): ImageServiceStatus {
  return {
    phase: 'Progressing',
    primary: track('r1'),
    canary: track('r2'),
    canaryWeight: a.weight,
    failedChecks: a.failedChecks ?? 0,
    iterations: a.iterations ?? 0,
    lastTransitionTime: iso(a.since ?? -100),
    ...(a.lastCheck === undefined ? {} : { lastCheckTime: iso(a.lastCheck) }),
    conditions: [{ type: 'Progressing', status: a.reason === 'Paused' ? 'Unknown' : 'True', reason: a.reason ?? 'Analysing', lastTransitionTime: iso(-100) }],
  };
}

const later = (phase: 'Promoting' | 'Finalising' | 'Failed', since: number, weight: number): ImageServiceStatus => ({
  ...progressing({ weight, failedChecks: phase === 'Failed' ? 3 : 0, iterations: 4, lastCheck: since }),
  phase,
  lastTransitionTime: iso(since),
});

const passed: AnalysisResult = { at: iso(0), latencyP99Ms: 120, errorRatePercent: 0.2, requests: 400, passed: true };
const slow: AnalysisResult = { at: iso(0), latencyP99Ms: 812, errorRatePercent: 0, requests: 400, passed: false, reason: 'p99 latency 812 ms is above the SLO of 500 ms' };
const quiet: AnalysisResult = {
  at: iso(0),
  latencyP99Ms: null,
  errorRatePercent: null,
  requests: 3,
  passed: false,
  noData: true,
  reason: '3 canary requests in the last 10s, fewer than minRequests 20',
};
const down: AnalysisResult = { at: iso(0), passed: false, reason: 'Prometheus at http://prom:9090 is unreachable (latency p99 query): fetch failed (ECONNREFUSED)' };

interface Row {
  when: string;
  spec?: ImageServiceSpec;
  status: ImageServiceStatus;
  world?: World;
  now?: number;
  then: {
    phase: string;
    weight: number;
    canaryReplicas: number;
    /** Where primary's template comes from (default: the live Deployment's). */
    primary?: RolloutPlan['primary']['from'];
    events?: string[];
    /** Plan fields that must be absent (no requeue). */
    absent?: (keyof RolloutPlan)[];
    /** Any other fields of the plan or its status that must match. */
    plan?: Record<string, unknown>;
    status?: Record<string, unknown>;
    message?: RegExp;
  };
}

function check(row: Row): void {
  const plan = decide(row.spec ?? spec(), row.status, obs(row.world), at(row.now ?? 0));
  const t = row.then;
  expect(plan.status.phase).toBe(t.phase);
  expect(plan.status.canaryWeight).toBe(t.weight);
  expect(plan.canaryReplicas).toBe(t.canaryReplicas);
  expect(plan.primary.from).toBe(t.primary ?? 'live');
  expect(plan.events.map((e) => e.reason)).toEqual(t.events ?? []);
  if (t.plan) expect(plan).toMatchObject(t.plan);
  for (const key of t.absent ?? []) expect(plan).not.toHaveProperty(key);
  if (t.status) expect(plan.status).toMatchObject(t.status);
  if (t.message) expect(plan.status.message).toMatch(t.message);
  // Whatever the decision, its status is valid for the CRD.
  expect(ImageServiceStatusSchema.safeParse(JSON.parse(JSON.stringify(plan.status))).success).toBe(true);
}

describe('decide: Initializing', () => {
  it.each<Row>([
    {
      when: 'a new ImageService: primary gets the spec and all traffic at once, no canary',
      status: {},
      world: { primary: deploy(undefined), canary: deploy(undefined) },
      then: { phase: 'Initialized', weight: 0, canaryReplicas: 0, primary: 'spec', events: ['Initialized'], status: { primary: track('r2'), lastTransitionTime: iso(0) }, absent: ['requeueAfterMs'] },
    },
    {
      when: 'a status that lost its primary: initialised again from the spec',
      status: { phase: 'Succeeded' },
      then: { phase: 'Initialized', weight: 0, canaryReplicas: 0, primary: 'spec', events: ['Initialized'], status: { primary: track('r2') } },
    },
  ])('$when', check);
});

describe('decide: idle (Initialized, Succeeded)', () => {
  it.each<Row>([
    {
      when: 'steady: primary runs the spec, nothing to do, no requeue',
      status: idle(),
      world: { desired: 'r1', canary: deploy('r1', true, 0) },
      then: { phase: 'Succeeded', weight: 0, canaryReplicas: 0, primary: 'spec', plan: { removeAnnotations: [] }, absent: ['requeueAfterMs'] },
    },
    {
      when: 'a new template: Progressing, canary scaled up, no traffic yet',
      status: idle(),
      world: { canary: deploy('r2', false, 0) },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, events: ['NewRevision'], status: { canary: track('r2'), failedChecks: 0, iterations: 0, lastTransitionTime: iso(0) } },
    },
    {
      when: 'a new template while paused: waits, primary untouched',
      spec: spec({ paused: true }),
      status: idle('Initialized'),
      then: { phase: 'Initialized', weight: 0, canaryReplicas: 0, events: ['Paused'], message: /waits: spec.canary.paused/ },
    },
    {
      when: 'a promote annotation with nothing to promote: removed, and said why',
      status: idle(),
      world: { desired: 'r1', promote: true },
      then: { phase: 'Succeeded', weight: 0, canaryReplicas: 0, primary: 'spec', events: ['AnnotationIgnored'], plan: { removeAnnotations: [PROMOTE_ANNOTATION] } },
    },
  ])('$when', check);
});

describe('decide: Progressing', () => {
  it.each<Row>([
    {
      when: 'canary not ready yet: waits within the deadline',
      status: progressing({ weight: 0, since: -20 }),
      world: { canary: deploy('r2', false) },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, plan: { requeueAfterMs: 10_000 }, message: /Waiting for canary .* \(deadline in 40s\)/ },
    },
    {
      when: 'canary still on the old template counts as not ready',
      status: progressing({ weight: 0, since: -20 }),
      world: { canary: deploy('r1') },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, message: /Waiting for canary/ },
    },
    {
      when: 'canary not ready past progressDeadlineSeconds: rolled back',
      status: progressing({ weight: 0, since: -60 }),
      world: { canary: deploy('r2', false) },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 2, events: ['ProgressDeadlineExceeded'], message: /not ready within progressDeadlineSeconds \(60s\)/ },
    },
    {
      when: 'canary taking traffic and adding pods (following an autoscaled primary) past the deadline: analysed on',
      status: progressing({ weight: 20, lastCheck: -65 }),
      world: { canary: { ...deploy('r2', true, 4), readyReplicas: 2, rolledOut: false }, analysis: passed },
      then: { phase: 'Progressing', weight: 40, canaryReplicas: 2, events: ['Advanced'] },
    },
    {
      when: 'canary taking traffic with no pod ready past the deadline: rolled back',
      status: progressing({ weight: 20, lastCheck: -65 }),
      world: { canary: { ...deploy('r2', false, 4), updatedReplicas: 4 } },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 2, events: ['ProgressDeadlineExceeded'] },
    },
    {
      when: 'canary ready: routes stepWeight and starts the interval',
      status: progressing({ weight: 0, since: -20 }),
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, events: ['CanaryReady'], status: { lastCheckTime: iso(0) }, plan: { requeueAfterMs: 10_000 } },
    },
    {
      when: 'canary ready with stepWeights: routes the first of them',
      spec: spec({ stepWeight: undefined, stepWeights: [5, 30, 60] }),
      status: progressing({ weight: 0, since: -20 }),
      then: { phase: 'Progressing', weight: 5, canaryReplicas: 2, events: ['CanaryReady'] },
    },
    {
      when: 'check not due yet: holds, requeues for the rest of the interval',
      status: progressing({ weight: 20, lastCheck: -4 }),
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, plan: { requeueAfterMs: 6_000 } },
    },
    {
      when: 'check passes: advances by stepWeight',
      status: progressing({ weight: 20, lastCheck: -10, iterations: 1 }),
      world: { analysis: passed },
      then: {
        phase: 'Progressing',
        weight: 40,
        canaryReplicas: 2,
        events: ['Advanced'],
        status: { iterations: 2, failedChecks: 0, lastCheckTime: iso(0), lastAnalysis: passed },
        message: /Advanced canary weight to 40%/,
      },
    },
    {
      when: 'check passes with stepWeights: the next of them',
      spec: spec({ stepWeight: undefined, stepWeights: [5, 30, 60] }),
      status: progressing({ weight: 5, lastCheck: -10 }),
      world: { analysis: passed },
      then: { phase: 'Progressing', weight: 30, canaryReplicas: 2, events: ['Advanced'] },
    },
    {
      when: 'check passes at maxWeight: Promoting, primary gets the canary template',
      status: progressing({ weight: 60, lastCheck: -10, iterations: 3 }),
      world: { analysis: passed },
      then: { phase: 'Promoting', weight: 60, canaryReplicas: 2, primary: 'spec', events: ['Promoting'], status: { lastTransitionTime: iso(0) } },
    },
    {
      when: 'check passes at the last of stepWeights below maxWeight: Promoting',
      spec: spec({ stepWeight: undefined, stepWeights: [5, 30], maxWeight: 60 }),
      status: progressing({ weight: 30, lastCheck: -10 }),
      world: { analysis: passed },
      then: { phase: 'Promoting', weight: 30, canaryReplicas: 2, primary: 'spec', events: ['Promoting'] },
    },
    {
      when: 'check fails below threshold: counts it, weight stays, Warning with the numbers',
      status: progressing({ weight: 40, lastCheck: -10, failedChecks: 1 }),
      world: { analysis: slow },
      then: {
        phase: 'Progressing',
        weight: 40,
        canaryReplicas: 2,
        events: ['CheckFailed'],
        status: { failedChecks: 2, lastAnalysis: slow },
        message: /Check failed \(2\/3\) at 40%: p99 latency 812 ms is above the SLO of 500 ms/,
      },
    },
    {
      when: 'check fails at threshold: rolled back, all traffic to primary, canary kept until routes settle',
      status: progressing({ weight: 40, lastCheck: -10, failedChecks: 2 }),
      world: { analysis: slow },
      then: {
        phase: 'Failed',
        weight: 0,
        canaryReplicas: 2,
        events: ['RolledBack'],
        status: { failedChecks: 3, primary: track('r1') },
        plan: { requeueAfterMs: 5_000 },
        message: /Rolled back img:2 \(revision r2\) at 40% after 3 failed checks \(threshold 3\); last: p99 latency 812 ms/,
      },
    },
    {
      when: 'Prometheus down: a failed check, never a pass',
      status: progressing({ weight: 20, lastCheck: -10 }),
      world: { analysis: down },
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, events: ['CheckFailed'], status: { failedChecks: 1 }, message: /unreachable/ },
    },
    {
      when: 'no data with onNoData fail: a failed check that says no data',
      status: progressing({ weight: 20, lastCheck: -10 }),
      world: { analysis: quiet },
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, events: ['CheckFailed'], status: { failedChecks: 1 }, message: /no data: 3 canary requests .* \(onNoData: fail\)/ },
    },
    {
      when: 'no data with onNoData hold: weight and failures stay, says why',
      spec: spec({ analysis: { onNoData: 'hold' } }),
      status: progressing({ weight: 20, lastCheck: -10, iterations: 2 }),
      world: { analysis: quiet },
      then: {
        phase: 'Progressing',
        weight: 20,
        canaryReplicas: 2,
        events: ['Holding'],
        status: { failedChecks: 0, iterations: 3, lastCheckTime: iso(0), conditions: [expect.objectContaining({ type: 'Progressing', reason: 'Holding' })] },
        message: /Holding at 20%: 3 canary requests .* \(onNoData: hold\)/,
      },
    },
    {
      when: 'still no data while holding: no repeated event',
      spec: spec({ analysis: { onNoData: 'hold' } }),
      status: progressing({ weight: 20, lastCheck: -10, reason: 'Holding' }),
      world: { analysis: quiet },
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, message: /Holding at 20%/ },
    },
    {
      when: 'traffic again after holding: advances',
      spec: spec({ analysis: { onNoData: 'hold' } }),
      status: progressing({ weight: 20, lastCheck: -10, reason: 'Holding' }),
      world: { analysis: passed },
      then: { phase: 'Progressing', weight: 40, canaryReplicas: 2, events: ['Advanced'], status: { conditions: [expect.objectContaining({ reason: 'Analysing' })] } },
    },
    {
      when: 'a newer template: analysis restarts from 0 for it',
      status: progressing({ weight: 40, lastCheck: -3, failedChecks: 2, iterations: 5 }),
      world: { desired: 'r3', canary: deploy('r2') },
      then: {
        phase: 'Progressing',
        weight: 0,
        canaryReplicas: 2,
        events: ['NewRevision'],
        status: { canary: track('r3'), failedChecks: 0, iterations: 0, lastTransitionTime: iso(0), primary: track('r1') },
        message: /Newer revision img:3 \(revision r3\) replaces img:2 \(revision r2\)/,
      },
    },
    {
      when: "the template is back to primary's: canary stopped, nothing rolled back",
      status: progressing({ weight: 40, lastCheck: -3 }),
      world: { desired: 'r1', canary: deploy('r2') },
      then: { phase: 'Initialized', weight: 0, canaryReplicas: 2, primary: 'spec', events: ['Reverted'], plan: { requeueAfterMs: 5_000 } },
    },
    {
      when: 'abort annotation: rolled back now, annotation removed',
      status: progressing({ weight: 40, lastCheck: -3 }),
      world: { abort: true },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 2, events: ['Aborted'], plan: { removeAnnotations: [ABORT_ANNOTATION] }, message: /aborted by annotation imageops.dev\/abort at 40%/ },
    },
    {
      when: 'promote annotation: remaining analysis skipped, annotation removed',
      status: progressing({ weight: 20, lastCheck: -3 }),
      world: { promote: true },
      then: {
        phase: 'Promoting',
        weight: 20,
        canaryReplicas: 2,
        primary: 'spec',
        events: ['Promoting'],
        plan: { removeAnnotations: [PROMOTE_ANNOTATION] },
        message: /requested by annotation imageops.dev\/promote at 20%/,
      },
    },
    {
      when: 'both annotations: abort wins, both removed',
      status: progressing({ weight: 20, lastCheck: -3 }),
      world: { promote: true, abort: true },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 2, events: ['Aborted'], plan: { removeAnnotations: [ABORT_ANNOTATION, PROMOTE_ANNOTATION] } },
    },
    {
      when: 'paused: no check even when due, weight frozen, said once',
      spec: spec({ paused: true }),
      status: progressing({ weight: 40, lastCheck: -30 }),
      world: { analysis: slow },
      then: { phase: 'Progressing', weight: 40, canaryReplicas: 2, events: ['Paused'], status: { failedChecks: 0 }, absent: ['requeueAfterMs'], message: /Paused at 40%/ },
    },
    {
      when: 'paused and canary not ready past the deadline: no rollback while paused',
      spec: spec({ paused: true }),
      status: progressing({ weight: 0, since: -600, reason: 'Paused' }),
      world: { canary: deploy('r2', false) },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2 },
    },
    {
      when: 'resumed: waits and the interval start again from now',
      status: progressing({ weight: 40, since: -600, lastCheck: -300, reason: 'Paused' }),
      then: { phase: 'Progressing', weight: 40, canaryReplicas: 2, events: ['Resumed'], status: { lastTransitionTime: iso(0), lastCheckTime: iso(0) }, plan: { requeueAfterMs: 10_000 } },
    },
    {
      when: 'canary unready mid-analysis: no check, waits from the last check',
      status: progressing({ weight: 40, lastCheck: -30 }),
      world: { canary: deploy('r2', false) },
      then: { phase: 'Progressing', weight: 40, canaryReplicas: 2, message: /deadline in 30s/ },
    },
    {
      when: 'canary unready mid-analysis past the deadline: rolled back',
      status: progressing({ weight: 40, lastCheck: -61 }),
      world: { canary: deploy('r2', false) },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 2, events: ['ProgressDeadlineExceeded'] },
    },
  ])('$when', check);
});

describe('decide: Promoting', () => {
  it.each<Row>([
    {
      when: 'primary rolling out the canary template: canary keeps its share',
      status: later('Promoting', -5, 60),
      world: { primary: deploy('r2', false) },
      then: { phase: 'Promoting', weight: 60, canaryReplicas: 2, primary: 'spec', message: /Waiting for primary to roll out img:2/ },
    },
    {
      when: 'primary rolled out: Finalising, all traffic back to primary, canary kept until routes settle',
      status: later('Promoting', -5, 60),
      world: { primary: deploy('r2') },
      then: { phase: 'Finalising', weight: 0, canaryReplicas: 2, primary: 'spec', events: ['Finalising'], status: { primary: track('r2') }, plan: { requeueAfterMs: 5_000 } },
    },
    {
      when: 'primary stuck past the deadline: canary keeps serving, Warning once',
      status: later('Promoting', -61, 60),
      world: { primary: deploy('r2', false) },
      then: { phase: 'Promoting', weight: 60, canaryReplicas: 2, primary: 'spec', events: ['ProgressDeadlineExceeded'], message: /the canary keeps its share/ },
    },
    {
      when: 'a newer template after primary took the promoted one: analysed against it',
      status: later('Promoting', -5, 60),
      world: { desired: 'r3', primary: deploy('r2', false), canary: deploy('r2') },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, events: ['NewRevision'], status: { primary: track('r2'), canary: track('r3') } },
    },
    {
      when: 'a newer template before primary took the promoted one: primary unchanged',
      status: later('Promoting', -5, 60),
      world: { desired: 'r3', primary: deploy('r1'), canary: deploy('r2') },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, events: ['NewRevision'], status: { primary: track('r1'), canary: track('r3') } },
    },
    {
      when: 'abort annotation during the promotion: too late, removed, said why',
      status: later('Promoting', -5, 60),
      world: { primary: deploy('r2', false), abort: true },
      then: { phase: 'Promoting', weight: 60, canaryReplicas: 2, primary: 'spec', events: ['AnnotationIgnored'], plan: { removeAnnotations: [ABORT_ANNOTATION] } },
    },
  ])('$when', check);
});

describe('decide: Finalising', () => {
  it.each<Row>([
    {
      when: 'routes settling: canary still up, no traffic',
      status: { ...later('Finalising', -2, 0), primary: track('r2') },
      world: { primary: deploy('r2') },
      then: { phase: 'Finalising', weight: 0, canaryReplicas: 2, primary: 'spec', plan: { requeueAfterMs: 3_000 } },
    },
    {
      when: 'routes settled: canary to 0, Succeeded',
      status: { ...later('Finalising', -5, 0), primary: track('r2') },
      world: { primary: deploy('r2') },
      then: {
        phase: 'Succeeded',
        weight: 0,
        canaryReplicas: 0,
        primary: 'spec',
        events: ['Succeeded'],
        status: { conditions: expect.arrayContaining([expect.objectContaining({ type: 'Promoted', status: 'True', reason: 'Succeeded' })]) },
      },
    },
    {
      when: 'then steady: nothing more',
      status: { ...later('Finalising', -5, 0), primary: track('r2'), phase: 'Succeeded' },
      world: { primary: deploy('r2'), canary: deploy('r2', true, 0) },
      then: { phase: 'Succeeded', weight: 0, canaryReplicas: 0, primary: 'spec', absent: ['requeueAfterMs'] },
    },
  ])('$when', check);
});

describe('decide: Failed', () => {
  it.each<Row>([
    {
      when: 'routes settling: canary still up, no traffic',
      status: later('Failed', -1, 0),
      then: { phase: 'Failed', weight: 0, canaryReplicas: 2, plan: { requeueAfterMs: 4_000 } },
    },
    {
      when: 'routes settled: canary to 0, primary untouched, stays Failed',
      status: later('Failed', -3600, 0),
      then: { phase: 'Failed', weight: 0, canaryReplicas: 0, status: { primary: track('r1') }, absent: ['requeueAfterMs'] },
    },
    {
      when: 'an abort or promote annotation on a failed canary: removed, said why',
      status: later('Failed', -3600, 0),
      world: { promote: true },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 0, events: ['AnnotationIgnored'], plan: { removeAnnotations: [PROMOTE_ANNOTATION] } },
    },
    {
      when: 'a new template: a new analysis',
      status: later('Failed', -3600, 0),
      world: { desired: 'r3', canary: deploy('r2', true, 0) },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, events: ['NewRevision'], status: { canary: track('r3'), failedChecks: 0 } },
    },
    {
      when: "the template back to primary's: idle again, no canary pods started to drain",
      status: later('Failed', -3600, 0),
      world: { desired: 'r1', canary: deploy('r2', true, 0) },
      then: { phase: 'Initialized', weight: 0, canaryReplicas: 0, primary: 'spec', events: ['Reverted'] },
    },
  ])('$when', check);

  it('after a revert, the canary goes to 0 once the routes have settled', () => {
    const reverted = decide(spec({}, 'img:1'), later('Failed', -3600, 0), obs({ desired: 'r1' }), at(0)).status;
    expect(decide(spec({}, 'img:1'), reverted, obs({ desired: 'r1' }), at(2)).canaryReplicas).toBe(2);
    const settled = decide(spec({}, 'img:1'), reverted, obs({ desired: 'r1' }), at(6));
    expect(settled.canaryReplicas).toBe(0);
    expect(settled.events).toEqual([]);
  });
});

describe('decide: the output check before the first weight', () => {
  const gated = spec({ analysis: { output: { samples: [{ key: 'photo.jpg', params: 'w=640' }] } } });
  const fromTraffic = (onNoData: 'fail' | 'hold') => spec({ analysis: { onNoData, output: { fromTraffic: 3 } } });
  const nothingToCompare: AnalysisResult = {
    at: iso(0),
    passed: false,
    noData: true,
    output: { samples: 0, failed: 0, note: "primary's record of recent requests: empty: nothing to compare" },
    reason: "primary's record of recent requests: empty: nothing to compare",
  };
  const alike: AnalysisResult = { at: iso(0), passed: true, output: { samples: 1, failed: 0, worstSsim: 1, worstDeltaE: 0 } };
  const drifted: AnalysisResult = {
    at: iso(0),
    passed: false,
    output: { samples: 1, failed: 1, worstSsim: 0.99, worstDeltaE: 6.9, diffs: ['/canary/diffs/default/thumbs/0.png'] },
    reason: 'output of photo.jpg?w=640: colour difference (mean CIEDE2000) primary 0, canary 6.9 (limit at most 1.5)',
  };
  it.each<Row>([
    {
      when: 'pictures alike: the first weight',
      spec: gated,
      status: progressing({ weight: 0, since: -20 }),
      world: { analysis: alike },
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, events: ['Advanced'], status: { iterations: 1, lastAnalysis: alike, lastCheckTime: iso(0) } },
    },
    {
      when: 'pictures differ: no traffic, a failed check naming the image and metric',
      spec: gated,
      status: progressing({ weight: 0, since: -20 }),
      world: { analysis: drifted },
      then: {
        phase: 'Progressing',
        weight: 0,
        canaryReplicas: 2,
        events: ['CheckFailed'],
        status: { failedChecks: 1 },
        message: /photo\.jpg\?w=640: colour difference \(mean CIEDE2000\) primary 0, canary 6\.9/,
      },
    },
    {
      when: 'pictures differ at the threshold: rolled back without ever taking traffic',
      spec: gated,
      status: progressing({ weight: 0, since: -40, lastCheck: -10, failedChecks: 2 }),
      world: { analysis: drifted },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 2, events: ['RolledBack'], message: /colour difference/ },
    },
    {
      when: 'within the interval after a failed output check: waits at 0%',
      spec: gated,
      status: progressing({ weight: 0, since: -20, lastCheck: -5, failedChecks: 1 }),
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, plan: { requeueAfterMs: 5_000 } },
    },
    {
      when: "samples from primary's traffic only, pictures alike: the first weight",
      spec: fromTraffic('fail'),
      status: progressing({ weight: 0, since: -20 }),
      world: { analysis: { ...alike, output: { samples: 3, failed: 0, fromTraffic: 3 } } },
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, events: ['Advanced'] },
    },
    {
      when: "samples from traffic only, primary's record empty, onNoData fail: a failed check saying no data",
      spec: fromTraffic('fail'),
      status: progressing({ weight: 0, since: -20 }),
      world: { analysis: nothingToCompare },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, events: ['CheckFailed'], status: { failedChecks: 1 }, message: /no data: primary's record of recent requests: empty/ },
    },
    {
      when: "samples from traffic only, primary's record empty, onNoData hold: holds at 0%",
      spec: fromTraffic('hold'),
      status: progressing({ weight: 0, since: -20 }),
      world: { analysis: nothingToCompare },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, events: ['Holding'], message: /Holding at 0%: primary's record of recent requests: empty/ },
    },
  ])('$when', check);
});

describe('decide: mirroring before the first weight', () => {
  const mirroring = spec({ mirror: 10 });
  it.each<Row>([
    {
      when: 'canary ready: mirrors 10% at 0%, the interval clock starts',
      spec: mirroring,
      status: progressing({ weight: 0, since: -20 }),
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, events: ['Mirroring'], plan: { mirrorPercent: 10, requeueAfterMs: 10_000 }, status: { lastCheckTime: iso(0) } },
    },
    {
      when: 'within the interval: keeps mirroring',
      spec: mirroring,
      status: progressing({ weight: 0, since: -20, lastCheck: -5 }),
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, plan: { mirrorPercent: 10, requeueAfterMs: 5_000 } },
    },
    {
      when: 'the check on mirrored requests passes: the first weight, mirroring ends',
      spec: mirroring,
      status: progressing({ weight: 0, since: -20, lastCheck: -10 }),
      world: { analysis: passed },
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, events: ['Advanced'], plan: { mirrorPercent: 0 } },
    },
    {
      when: 'the check on mirrored requests fails: still 0%, still mirroring',
      spec: mirroring,
      status: progressing({ weight: 0, since: -20, lastCheck: -10 }),
      world: { analysis: slow },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, events: ['CheckFailed'], plan: { mirrorPercent: 10 }, status: { failedChecks: 1 } },
    },
    {
      when: 'failed at the threshold: rolled back without a user request, mirroring ends',
      spec: mirroring,
      status: progressing({ weight: 0, since: -40, lastCheck: -10, failedChecks: 2 }),
      world: { analysis: slow },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 2, events: ['RolledBack'], plan: { mirrorPercent: 0 }, message: /p99 latency 812 ms/ },
    },
    {
      when: 'no mirror set: no mirroring at any weight',
      status: progressing({ weight: 20, lastCheck: -5 }),
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, plan: { mirrorPercent: 0 } },
    },
  ])('$when', check);
});

describe('decide: confirm-rollout (Waiting)', () => {
  const confirming = spec({ webhooks: [{ name: 'approve', type: 'confirm-rollout', url: 'http://approve.shop/' }] });
  const none = deploy('r2', true, 0);
  const no: AnalysisResult = { at: iso(0), passed: false, reason: 'confirm-rollout webhook approve did not say yes: HTTP 403', webhooks: { approve: 'HTTP 403' } };
  const yes: AnalysisResult = { at: iso(0), passed: true, webhooks: { approve: 'HTTP 200' } };
  const said = 'Waiting for img:2 (revision r2): confirm-rollout webhook approve did not say yes: HTTP 403';
  const waitingFor = (w: { since?: number; lastCheck?: number; reason?: string; message?: string } = {}): ImageServiceStatus => ({
    ...progressing({ weight: 0, since: w.since ?? -100, ...(w.lastCheck === undefined ? {} : { lastCheck: w.lastCheck }), reason: w.reason ?? 'Waiting' }),
    phase: 'Waiting',
    ...(w.message === undefined ? {} : { message: w.message }),
  });
  it.each<Row>([
    {
      when: 'a new revision waits with its canary at 0 replicas',
      spec: confirming,
      status: idle(),
      world: { canary: deploy('r1', true, 0) },
      then: {
        phase: 'Waiting',
        weight: 0,
        canaryReplicas: 0,
        events: ['NewRevision'],
        status: { canary: track('r2'), lastTransitionTime: iso(0) },
        message: /waiting for the confirm-rollout webhooks to say yes$/,
      },
    },
    {
      when: 'a newer revision during an analysis waits; the old canary keeps its pods while the routes settle',
      spec: confirming,
      status: progressing({ weight: 40, lastCheck: -5 }),
      world: { desired: 'r3', canary: deploy('r2') },
      then: { phase: 'Waiting', weight: 0, canaryReplicas: 2, events: ['NewRevision'], status: { canary: track('r3'), failedChecks: 0 }, plan: { requeueAfterMs: 5_000 } },
    },
    {
      when: 'asked at once; a no keeps waiting, names the hook and its answer',
      spec: confirming,
      status: waitingFor(),
      world: { canary: none, analysis: no },
      then: { phase: 'Waiting', weight: 0, canaryReplicas: 0, events: ['Waiting'], status: { lastCheckTime: iso(0), failedChecks: 0, message: said }, plan: { requeueAfterMs: 10_000 } },
    },
    {
      when: 'the same no again: no second Event',
      spec: confirming,
      status: waitingFor({ lastCheck: -10, message: said }),
      world: { canary: none, analysis: no },
      then: { phase: 'Waiting', weight: 0, canaryReplicas: 0 },
    },
    {
      when: 'within the interval: not asked',
      spec: confirming,
      status: waitingFor({ lastCheck: -4, message: said }),
      world: { canary: none },
      then: { phase: 'Waiting', weight: 0, canaryReplicas: 0, plan: { requeueAfterMs: 6_000 } },
    },
    {
      when: 'the pods of the replaced analysis go once the routes settled, whatever the hook says',
      spec: confirming,
      status: waitingFor({ since: -2 }),
      world: { canary: deploy('r2'), analysis: no },
      then: { phase: 'Waiting', weight: 0, canaryReplicas: 2, events: ['Waiting'], plan: { requeueAfterMs: 3_000 } },
    },
    {
      when: 'the yes: the canary is scaled up and analysed from 0%',
      spec: confirming,
      status: waitingFor({ lastCheck: -10, message: said }),
      world: { canary: none, analysis: yes },
      then: {
        phase: 'Progressing',
        weight: 0,
        canaryReplicas: 2,
        events: ['RolloutConfirmed'],
        status: { lastTransitionTime: iso(0) },
        message: /^Rollout of img:2 \(revision r2\) confirmed \(webhook approve HTTP 200\); starting canary analysis$/,
      },
    },
    {
      when: 'paused: not asked, no pods',
      spec: spec({ paused: true, webhooks: [{ name: 'approve', type: 'confirm-rollout', url: 'http://approve.shop/' }] }),
      status: waitingFor(),
      world: { canary: none },
      then: { phase: 'Waiting', weight: 0, canaryReplicas: 0, events: ['Paused'] },
    },
    {
      when: 'resumed: the interval starts again',
      spec: confirming,
      status: waitingFor({ lastCheck: -30, reason: 'Paused' }),
      world: { canary: none },
      then: { phase: 'Waiting', weight: 0, canaryReplicas: 0, events: ['Resumed'], status: { lastCheckTime: iso(0) }, plan: { requeueAfterMs: 10_000 } },
    },
    {
      when: 'aborted: Failed, no canary pods started',
      spec: confirming,
      status: waitingFor(),
      world: { canary: none, abort: true },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 0, events: ['Aborted'], plan: { removeAnnotations: [ABORT_ANNOTATION] } },
    },
    {
      when: "the template back to primary's: Initialized",
      spec: confirming,
      status: waitingFor(),
      world: { canary: none, desired: 'r1' },
      then: { phase: 'Initialized', weight: 0, canaryReplicas: 0, primary: 'spec', events: ['Reverted'] },
    },
  ])('$when', check);

  it('checkDue asks the confirm-rollout hooks every interval, with the payload of the waiting revision', () => {
    const due = checkDue(confirming, waitingFor(), obs({ canary: none }), at(0));
    expect(due).toEqual({
      intervalMs: 10_000,
      metrics: [],
      measures: 'hooks',
      webhooks: { hooks: [expect.objectContaining({ name: 'approve' })], rollout: { phase: 'Waiting', weight: 0, revisions: { primary: track('r1'), canary: track('r2') } } },
    });
    expect(checkDue(confirming, waitingFor({ lastCheck: -9 }), obs({ canary: none }), at(0))).toBeUndefined();
    expect(checkDue(confirming, waitingFor({ lastCheck: -30, reason: 'Paused' }), obs({ canary: none }), at(0))).toBeUndefined();
    expect(checkDue(confirming, waitingFor(), obs({ canary: none, abort: true }), at(0))).toBeUndefined();
    expect(() => decide(confirming, waitingFor(), obs({ canary: none }), at(0))).toThrow(/is due and was not measured/);
  });
});

describe('decide: post-rollout', () => {
  const posting = spec({ webhooks: [{ name: 'notify', type: 'post-rollout', url: 'http://notify.shop/' }] });
  const ended = (phase: 'Succeeded' | 'Failed'): ImageServiceStatus => ({
    ...later(phase === 'Failed' ? 'Failed' : 'Finalising', -3600, 0),
    phase,
    ...(phase === 'Succeeded' ? { primary: track('r2') } : {}),
    postRollout: { pending: true },
  });
  it.each<Row>([
    {
      when: 'a promotion ends: its post-rollout hooks are due',
      spec: posting,
      status: { ...later('Finalising', -5, 0), primary: track('r2') },
      world: { primary: deploy('r2') },
      then: { phase: 'Succeeded', weight: 0, canaryReplicas: 0, primary: 'spec', events: ['Succeeded'], status: { postRollout: { pending: true } } },
    },
    {
      when: 'a rollback ends: its post-rollout hooks are due',
      spec: posting,
      status: progressing({ weight: 40, lastCheck: -10, failedChecks: 2 }),
      world: { analysis: slow },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 2, events: ['RolledBack'], status: { postRollout: { pending: true } } },
    },
    {
      when: 'without post-rollout hooks nothing is due',
      status: progressing({ weight: 40, lastCheck: -10, failedChecks: 2 }),
      world: { analysis: slow },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 2, events: ['RolledBack'], absent: [] },
    },
    {
      when: 'their yes: an Event naming each answer, once',
      spec: posting,
      status: ended('Succeeded'),
      world: { primary: deploy('r2'), canary: deploy('r2', true, 0), analysis: { at: iso(0), passed: true, webhooks: { notify: 'HTTP 200' } } },
      then: { phase: 'Succeeded', weight: 0, canaryReplicas: 0, primary: 'spec', events: ['PostRollout'], status: { postRollout: { pending: false, at: iso(0), webhooks: { notify: 'HTTP 200' } } } },
    },
    {
      when: 'their no: a Warning, and the outcome stands',
      spec: posting,
      status: ended('Failed'),
      world: { canary: deploy('r2', true, 0), analysis: { at: iso(0), passed: false, reason: 'post-rollout webhook notify did not say yes: HTTP 500', webhooks: { notify: 'HTTP 500' } } },
      then: { phase: 'Failed', weight: 0, canaryReplicas: 0, events: ['PostRolloutFailed'], status: { postRollout: { pending: false, webhooks: { notify: 'HTTP 500' } } } },
    },
    {
      when: 'a new revision right after: the hooks of the last rollout are still called, then the analysis starts',
      spec: posting,
      status: ended('Failed'),
      world: { desired: 'r3', canary: deploy('r2', true, 0), analysis: { at: iso(0), passed: true, webhooks: { notify: 'HTTP 200' } } },
      then: { phase: 'Progressing', weight: 0, canaryReplicas: 2, events: ['PostRollout', 'NewRevision'], status: { postRollout: { pending: false } } },
    },
  ])('$when', check);

  it('checkDue asks them once, with the payload of the ended rollout', () => {
    const status = ended('Failed');
    const o = obs({ canary: deploy('r2', true, 0) });
    expect(checkDue(posting, status, o, at(0))).toEqual({
      intervalMs: 10_000,
      metrics: [],
      measures: 'hooks',
      webhooks: { hooks: [expect.objectContaining({ name: 'notify' })], rollout: { phase: 'Failed', weight: 0, revisions: { primary: track('r1'), canary: track('r2') } } },
    });
    expect(() => decide(posting, status, o, at(0))).toThrow(/is due and was not measured/);
    const after = decide(posting, status, { ...o, analysis: { at: iso(0), passed: true, webhooks: { notify: 'HTTP 200' } } }, at(0)).status;
    expect(checkDue(posting, after, o, at(1))).toBeUndefined();
    expect(decide(posting, after, o, at(1)).events).toEqual([]);
  });
});

describe('checkDue', () => {
  const measure = { intervalMs: 10_000, metrics: [], measures: 'traffic' };
  const gated = spec({ analysis: { output: { samples: [{ key: 'photo.jpg', params: 'w=640' }] } } });
  it.each<{ when: string; spec?: ImageServiceSpec; status: ImageServiceStatus; world?: World; now?: number; due: boolean; measures?: CheckDue['measures'] }>([
    { when: 'output samples, canary ready at 0%: the output check before the first weight', spec: gated, status: progressing({ weight: 0, since: -20 }), due: true, measures: 'output' },
    { when: 'output samples, at 0% within the interval of a failed output check', spec: gated, status: progressing({ weight: 0, since: -20, lastCheck: -5, failedChecks: 1 }), due: false },
    { when: 'output samples, at 0%, canary not ready', spec: gated, status: progressing({ weight: 0, since: -20 }), world: { canary: deploy('r2', false) }, due: false },
    { when: 'output samples, resumed at 0%: the interval starts again', spec: gated, status: progressing({ weight: 0, since: -20, reason: 'Paused' }), due: false },
    { when: 'output samples, analysing: the check measures traffic too', spec: gated, status: progressing({ weight: 20, lastCheck: -10 }), due: true },
    {
      when: "samples from primary's traffic only, canary ready at 0%: the output check before the first weight",
      spec: spec({ analysis: { output: { fromTraffic: 5 } } }),
      status: progressing({ weight: 0, since: -20 }),
      due: true,
      measures: 'output',
    },
    { when: 'mirror, ready at 0%: mirroring starts, measured an interval later', spec: spec({ mirror: 10 }), status: progressing({ weight: 0, since: -20 }), due: false },
    {
      when: 'mirror, at 0% an interval after mirroring started: the mirrored requests are measured',
      spec: spec({ mirror: 10 }),
      status: progressing({ weight: 0, since: -20, lastCheck: -10 }),
      due: true,
    },
    { when: 'analysing, an interval since the last check', status: progressing({ weight: 20, lastCheck: -10 }), due: true },
    { when: 'analysing, within the interval', status: progressing({ weight: 20, lastCheck: -9 }), due: false },
    { when: 'canary ready at 0%: routed first, measured an interval later', status: progressing({ weight: 0, since: -20 }), due: false },
    { when: 'canary not ready', status: progressing({ weight: 20, lastCheck: -30 }), world: { canary: deploy('r2', false) }, due: false },
    { when: 'paused', spec: spec({ paused: true }), status: progressing({ weight: 20, lastCheck: -30 }), due: false },
    { when: 'resumed: the interval starts again', status: progressing({ weight: 20, lastCheck: -30, reason: 'Paused' }), due: false },
    { when: 'an abort annotation', status: progressing({ weight: 20, lastCheck: -30 }), world: { abort: true }, due: false },
    { when: 'a promote annotation', status: progressing({ weight: 20, lastCheck: -30 }), world: { promote: true }, due: false },
    { when: 'a newer template', status: progressing({ weight: 20, lastCheck: -30 }), world: { desired: 'r3' }, due: false },
    { when: "the template back to primary's", status: progressing({ weight: 20, lastCheck: -30 }), world: { desired: 'r1' }, due: false },
    { when: 'promoting', status: later('Promoting', -30, 60), due: false },
    { when: 'idle', status: idle(), due: false },
  ])('$when: due $due', (row) => {
    const s = row.spec ?? spec();
    const o = obs(row.world);
    const got = checkDue(s, row.status, o, at(row.now ?? 0));
    expect(got).toEqual(row.due ? { ...measure, measures: row.measures ?? 'traffic' } : undefined);
    // decide agrees: a due check needs its measurement, and then it is a check
    if (row.due) {
      expect(() => decide(s, row.status, o, at(row.now ?? 0))).toThrow(/is due and was not measured/);
      expect(decide(s, row.status, { ...o, analysis: passed }, at(row.now ?? 0)).status.iterations).toBe((row.status.iterations ?? 0) + 1);
    } else expect(decide(s, row.status, o, at(row.now ?? 0)).status.lastAnalysis).toBe(row.status.lastAnalysis);
  });

  it('names the rollout and rollback hooks to call and what their payload says of the rollout', () => {
    const hooks = [
      { name: 'smoke', type: 'rollout', url: 'http://smoke.shop/check', metadata: { suite: 'thumbs' } },
      { name: 'load', type: 'rollout', url: 'http://load.shop/run', timeout: '5s', retries: 2 },
      { name: 'warm', type: 'pre-rollout', url: 'http://warm.shop/' },
    ];
    const due = checkDue(spec({ webhooks: hooks }), progressing({ weight: 20, lastCheck: -10 }), obs(), at(0));
    expect(due?.webhooks).toEqual({
      hooks: [
        { name: 'smoke', type: 'rollout', url: 'http://smoke.shop/check', metadata: { suite: 'thumbs' } },
        { name: 'load', type: 'rollout', url: 'http://load.shop/run', timeout: '5s', retries: 2 },
      ],
      rollout: { phase: 'Progressing', weight: 20, revisions: { primary: track('r1'), canary: track('r2') } },
    });
  });

  it('a hook that said no is a failed check naming it; the answers of a pass are in its Event', () => {
    const s = spec({ webhooks: [{ name: 'smoke', type: 'rollout', url: 'http://smoke.shop/check' }] });
    const status = progressing({ weight: 20, lastCheck: -10 });
    const no: AnalysisResult = { at: iso(0), passed: false, reason: 'rollout webhook smoke did not say yes: HTTP 500', webhooks: { smoke: 'HTTP 500' } };
    const failed = decide(s, status, { ...obs(), analysis: no }, at(0));
    expect(failed.status.failedChecks).toBe(1);
    expect(failed.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'CheckFailed', message: expect.stringContaining('rollout webhook smoke did not say yes: HTTP 500') })]);
    const yes = decide(s, status, { ...obs(), analysis: { ...passed, webhooks: { smoke: 'HTTP 200' } } }, at(0));
    expect(yes.events).toEqual([expect.objectContaining({ reason: 'Advanced', message: expect.stringContaining('webhook smoke HTTP 200') })]);
    expect(ImageServiceStatusSchema.safeParse(JSON.parse(JSON.stringify(yes.status))).success).toBe(true);
  });

  it('pre-rollout hooks gate the first weight: asked when the canary is ready, a no is a failed check, the yes routes', () => {
    const s = spec({
      webhooks: [
        { name: 'warm', type: 'pre-rollout', url: 'http://warm.shop/' },
        { name: 'smoke', type: 'rollout', url: 'http://smoke.shop/' },
      ],
    });
    const ready = progressing({ weight: 0, since: -20 });
    const gate = checkDue(s, ready, obs(), at(0));
    expect(gate).toMatchObject({ measures: 'hooks', metrics: [], webhooks: { hooks: [{ name: 'warm' }], rollout: { weight: 0 } } });
    expect(() => decide(s, ready, obs(), at(0))).toThrow(/is due and was not measured/);

    const no: AnalysisResult = { at: iso(0), passed: false, reason: 'pre-rollout webhook warm did not say yes: HTTP 500', webhooks: { warm: 'HTTP 500' } };
    const held = decide(s, ready, { ...obs(), analysis: no }, at(0));
    expect(held.status).toMatchObject({ phase: 'Progressing', canaryWeight: 0, failedChecks: 1, lastCheckTime: iso(0) });
    expect(held.requeueAfterMs).toBe(10_000);
    expect(held.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'CheckFailed', message: expect.stringContaining('at 0%: pre-rollout webhook warm did not say yes: HTTP 500') })]);
    // asked again an interval later, not before
    expect(checkDue(s, held.status, obs(), at(9))).toBeUndefined();
    expect(checkDue(s, held.status, obs(), at(10))?.measures).toBe('hooks');
    const open = decide(s, held.status, { ...obs(), analysis: { at: iso(10), passed: true, webhooks: { warm: 'HTTP 200' } } }, at(10));
    expect(open.status).toMatchObject({ canaryWeight: 20, failedChecks: 1 });
    expect(open.events).toEqual([expect.objectContaining({ reason: 'Advanced', message: 'Check passed (webhook warm HTTP 200); advanced canary weight to 20%' })]);
    // the checks after it do not ask the gate again
    expect(checkDue(s, open.status, obs(), at(20))?.webhooks?.hooks.map((h) => h.name)).toEqual(['smoke']);
  });

  it('pre-rollout hooks are asked with the output check, or with the mirrored requests', () => {
    const warm = { name: 'warm', type: 'pre-rollout', url: 'http://warm.shop/' };
    const withOutput = spec({ webhooks: [warm], analysis: { output: { samples: [{ key: 'a.jpg' }] } } });
    expect(checkDue(withOutput, progressing({ weight: 0, since: -20 }), obs(), at(0))).toMatchObject({ measures: 'output', webhooks: { hooks: [{ name: 'warm' }] } });
    const mirroring = spec({ mirror: 10, webhooks: [warm, { name: 'stop', type: 'rollback', url: 'http://stop.shop/' }] });
    expect(checkDue(mirroring, progressing({ weight: 0, since: -20 }), obs(), at(0))).toBeUndefined();
    const due = checkDue(mirroring, progressing({ weight: 0, since: -20, lastCheck: -10 }), obs(), at(0));
    expect(due).toMatchObject({ measures: 'traffic' });
    expect(due?.webhooks?.hooks.map((h) => h.name)).toEqual(['warm', 'stop']);
  });

  it('pre-rollout hooks that keep saying no roll back before any traffic', () => {
    const s = spec({ threshold: 2, webhooks: [{ name: 'warm', type: 'pre-rollout', url: 'http://warm.shop/' }] });
    const no: AnalysisResult = { at: iso(0), passed: false, reason: 'pre-rollout webhook warm did not say yes: no answer in time', webhooks: { warm: 'no answer in time' } };
    const plan = decide(s, { ...progressing({ weight: 0, since: -20 }), failedChecks: 1 }, { ...obs(), analysis: no }, at(0));
    expect(plan.status).toMatchObject({ phase: 'Failed', canaryWeight: 0, failedChecks: 2 });
    expect(plan.events).toEqual([
      expect.objectContaining({ reason: 'RolledBack', message: expect.stringMatching(/at 0% after 2 failed checks .*pre-rollout webhook warm did not say yes: no answer in time/) }),
    ]);
  });

  it('asks a confirm-promotion hook only at the last step, where a pass would promote', () => {
    const s = spec({
      webhooks: [
        { name: 'go', type: 'confirm-promotion', url: 'http://go.shop/' },
        { name: 'stop', type: 'rollback', url: 'http://stop.shop/' },
      ],
    });
    const names = (weight: number) => checkDue(s, progressing({ weight, lastCheck: -10 }), obs(), at(0))?.webhooks?.hooks.map((h) => h.name);
    expect(names(40)).toEqual(['stop']);
    expect(names(60)).toEqual(['go', 'stop']);
  });

  it('a rollback hook that says yes rolls back at once, naming it', () => {
    const s = spec({ webhooks: [{ name: 'stop', type: 'rollback', url: 'http://stop.shop/' }] });
    const asked: AnalysisResult = { at: iso(0), passed: false, reason: 'rollback webhook stop asked for a rollback: HTTP 200', webhooks: { stop: 'HTTP 200' }, rollbackBy: 'stop' };
    const plan = decide(s, progressing({ weight: 40, lastCheck: -10 }), { ...obs(), analysis: asked }, at(0));
    expect(plan.status).toMatchObject({ phase: 'Failed', canaryWeight: 0, failedChecks: 0 });
    expect(plan.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'RolledBack', message: expect.stringContaining('rollback webhook stop asked for it (HTTP 200)') })]);
  });

  it('a confirm-promotion hook holds a passing last step until it says yes; the hold is not a failed check', () => {
    const s = spec({ webhooks: [{ name: 'go', type: 'confirm-promotion', url: 'http://go.shop/' }] });
    const held = decide(s, progressing({ weight: 60, lastCheck: -10 }), { ...obs(), analysis: { ...passed, webhooks: { go: 'HTTP 403' }, promotionHeldBy: 'go' } }, at(0));
    expect(held.status).toMatchObject({ phase: 'Progressing', canaryWeight: 60, failedChecks: 0, message: 'Holding at 60%: confirm-promotion webhook go did not confirm (HTTP 403)' });
    expect(held.events).toEqual([expect.objectContaining({ reason: 'Holding', message: 'Holding at 60%: confirm-promotion webhook go did not confirm (HTTP 403)' })]);
    expect(ImageServiceStatusSchema.safeParse(JSON.parse(JSON.stringify(held.status))).success).toBe(true);
    // held again with the same answer: no second Event; another answer is said; then the yes promotes
    const again = decide(s, held.status, { ...obs(), analysis: { ...passed, webhooks: { go: 'HTTP 403' }, promotionHeldBy: 'go' } }, at(10));
    expect(again.events).toEqual([]);
    const hung = decide(s, again.status, { ...obs(), analysis: { ...passed, webhooks: { go: 'no answer in time' }, promotionHeldBy: 'go' } }, at(20));
    expect(hung.events).toEqual([expect.objectContaining({ reason: 'Holding', message: expect.stringContaining('(no answer in time)') })]);
    const go = decide(s, hung.status, { ...obs(), analysis: { ...passed, webhooks: { go: 'HTTP 200' } } }, at(30));
    expect(go.status.phase).toBe('Promoting');
    expect(go.events).toEqual([expect.objectContaining({ reason: 'Promoting', message: expect.stringContaining('webhook go HTTP 200') })]);
  });

  it('names the custom metrics to measure', () => {
    const s = spec({ analysis: { metrics: [{ name: 'queue', query: 'sum(q{pod=~"{{target}}-.*"})', thresholdRange: { max: 5 } }] } });
    expect(checkDue(s, progressing({ weight: 20, lastCheck: -10 }), obs(), at(0))?.metrics).toEqual([{ name: 'queue', query: 'sum(q{pod=~"{{target}}-.*"})' }]);
  });
});

describe('decide: the template primary runs', () => {
  const kept = (revision: string, template = templateOf(revision)) => ({ ...track(revision), template });
  // Analysing r2 while primary keeps r1.
  const analysing = (primary: ImageServiceStatus['primary']): ImageServiceStatus => ({ ...progressing({ weight: 20, lastCheck: -4 }), primary });
  it.each<Row>([
    {
      when: "the first one: the spec's, kept in status beside its revision",
      status: {},
      world: { primary: deploy(undefined), canary: deploy(undefined) },
      then: { phase: 'Initialized', weight: 0, canaryReplicas: 0, primary: 'spec', events: ['Initialized'], status: { primary: kept('r2') } },
    },
    {
      when: 'the promoted revision: rebuilt from the spec (a hand edit reverts), kept in status',
      status: idle(),
      world: { desired: 'r1' },
      then: { phase: 'Succeeded', weight: 0, canaryReplicas: 0, primary: 'spec', status: { primary: kept('r1') }, absent: ['requeueAfterMs'] },
    },
    {
      when: 'a newer revision analysed: the one primary runs, status unchanged',
      status: analysing(kept('r1')),
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, status: { primary: kept('r1') } },
    },
    {
      when: 'primary deleted while a newer revision is analysed: the kept one, said',
      status: analysing(kept('r1')),
      world: { primary: deploy(undefined) },
      then: {
        phase: 'Progressing',
        weight: 20,
        canaryReplicas: 2,
        primary: 'kept',
        events: ['PrimaryRecreated'],
        plan: { primary: { revision: revisionOf(JSON.parse(templateOf('r1'))) } },
        status: { primary: kept('r1') },
      },
    },
    {
      when: 'primary deleted and status keeps no template: the spec, said, and kept from now on',
      status: analysing(track('r1')),
      world: { primary: deploy(undefined) },
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, primary: 'spec', events: ['PrimaryRecreatedFromSpec'], status: { primary: kept('r1', templateOf('r2')) } },
    },
    {
      when: 'primary deleted and the kept template is not JSON: the spec, said',
      status: analysing(kept('r1', '{"spec":')),
      world: { primary: deploy(undefined) },
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, primary: 'spec', events: ['PrimaryRecreatedFromSpec'] },
    },
    {
      when: 'primary deleted and the kept template has no container: the spec, said',
      status: analysing(kept('r1', '{"spec":{"containers":[]}}')),
      world: { primary: deploy(undefined) },
      then: { phase: 'Progressing', weight: 20, canaryReplicas: 2, primary: 'spec', events: ['PrimaryRecreatedFromSpec'] },
    },
  ])('$when', check);
});

/**
 * Rollouts end to end against a simulated cluster, passing only the status from one decision
 * to the next, through JSON and the CRD schema, as an operator restarted at every step would.
 */
describe('decide: whole rollouts from status alone', () => {
  interface Sim {
    spec: ImageServiceSpec;
    analysis: (iteration: number) => AnalysisResult;
    /** Seconds the primary takes to roll out a new template. */
    primaryRolloutS?: number;
  }

  function run(sim: Sim) {
    let status: ImageServiceStatus = idle();
    let primaryRevision = 'r1';
    let primaryReadyAt = 0;
    let now = 0;
    const weights: number[] = [];
    const phases: string[] = [];
    const events: string[] = [];
    let primaryTemplateSpecBeforePromotion = false;
    for (let step = 0; step < 200 && !(status.phase === 'Succeeded' && step > 0) && status.phase !== 'Failed'; step++) {
      const world = (analysis?: AnalysisResult): Observations => obs({ primary: deploy(primaryRevision, now >= primaryReadyAt), ...(analysis ? { analysis } : {}) });
      const due = checkDue(sim.spec, status, world(), at(now));
      const plan = decide(sim.spec, status, world(due && sim.analysis(status.iterations ?? 0)), at(now));
      if (plan.primary.from === 'spec' && primaryRevision !== 'r2') {
        if (!['Promoting'].includes(plan.status.phase ?? '')) primaryTemplateSpecBeforePromotion = true;
        primaryRevision = 'r2';
        primaryReadyAt = now + (sim.primaryRolloutS ?? 3);
      }
      events.push(...plan.events.map((e) => e.reason));
      if (weights.at(-1) !== plan.status.canaryWeight) weights.push(plan.status.canaryWeight ?? 0);
      if (phases.at(-1) !== plan.status.phase) phases.push(plan.status.phase ?? '');
      status = ImageServiceStatusSchema.parse(JSON.parse(JSON.stringify(plan.status)));
      // The reconciler also runs on every change of a watched object: look at least every second.
      now += Math.min(plan.requeueAfterMs ?? 1000, 1000) / 1000;
    }
    return { status, weights, phases, events, now, primaryRevision, primaryTemplateSpecBeforePromotion };
  }

  it('a healthy canary goes 20 -> 40 -> 60, is promoted and ends Succeeded on primary', () => {
    const r = run({ spec: spec(), analysis: () => passed });
    expect(r.phases).toEqual(['Progressing', 'Promoting', 'Finalising', 'Succeeded']);
    expect(r.weights).toEqual([0, 20, 40, 60, 0]);
    expect(r.events).toEqual(['NewRevision', 'CanaryReady', 'Advanced', 'Advanced', 'Promoting', 'Finalising', 'Succeeded']);
    expect(r.status.primary).toEqual({ ...track('r2'), template: templateOf('r2') });
    expect(r.primaryRevision).toBe('r2');
    expect(r.primaryTemplateSpecBeforePromotion).toBe(false);
    // the canary ready after 1 s, 3 checks 10 s apart, primary's rollout (3 s), the settle time (5 s)
    expect(r.now).toBeGreaterThanOrEqual(1 + 30 + 3 + 5);
    expect(r.now).toBeLessThanOrEqual(1 + 30 + 3 + 5 + 1);
  });

  it('a slow canary is rolled back after threshold failed checks, primary never touched', () => {
    const r = run({ spec: spec(), analysis: (i) => (i === 0 ? passed : slow) });
    expect(r.phases).toEqual(['Progressing', 'Failed']);
    expect(r.weights).toEqual([0, 20, 40, 0]);
    expect(r.events).toEqual(['NewRevision', 'CanaryReady', 'Advanced', 'CheckFailed', 'CheckFailed', 'RolledBack']);
    expect(r.status).toMatchObject({ failedChecks: 3, primary: track('r1'), canaryWeight: 0 });
    expect(r.primaryRevision).toBe('r1');
  });

  it('with onNoData hold, a quiet canary holds, then proceeds when traffic comes', () => {
    const r = run({ spec: spec({ analysis: { onNoData: 'hold' } }), analysis: (i) => (i < 4 ? quiet : passed) });
    expect(r.phases.at(-1)).toBe('Succeeded');
    expect(r.weights).toEqual([0, 20, 40, 60, 0]);
    expect(r.events.filter((e) => e === 'Holding')).toHaveLength(1);
    expect(r.status.failedChecks).toBe(0);
  });
});
