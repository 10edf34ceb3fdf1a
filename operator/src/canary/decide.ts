// The canary's decision: pure functions of (spec, status, what the cluster looks like, the
// measurement, now). `checkDue` says whether a check is due; `decide` returns the next status
// and the state the children should have. Everything they need to resume lives in status, so an
// operator restarted at any point picks up where the last one stopped. The table is in
// docs/canary.md.
import { parseDuration } from '../api/durations.ts';
import { type AnalysisResult, type Condition, type ImageServiceSpec, type ImageServiceStatus, outputChecked, type Phase, type WebhookSpec, weightSchedule } from '../api/image-service.ts';
import { parseKeptTemplate } from '../build/pod-template.ts';
import { revisionOf } from '../build/revision.ts';
import type { CheckDue, Observations, PrimarySource, RolloutEvent, RolloutPlan } from '../rollout.ts';
import { formatDuration, formatNumber } from './verdict.ts';

export const PROMOTE_ANNOTATION = 'imageops.dev/promote';
export const ABORT_ANNOTATION = 'imageops.dev/abort';

/** Longest pause between routing traffic away from canary pods and scaling them down. */
export const ROUTE_SETTLE_MS = 5_000;

/** A pod template: the image it runs and its revision (the template hash). */
export interface Track {
  image: string;
  revision: string;
}

/** Reasons of the conditions this function owns (Progressing and Promoted). */
type Reason =
  | 'Initialized'
  | 'NewRevision'
  | 'Waiting'
  | 'WaitingForCanary'
  | 'Analysing'
  | 'Holding'
  | 'Paused'
  | 'Promoting'
  | 'Finalising'
  | 'Succeeded'
  | 'Reverted'
  | 'ProgressDeadlineExceeded'
  | 'RolledBack'
  | 'Aborted';

/** The plan being built: a copy of status, the children's desired state, events, requeue. */
class Next {
  readonly status: ImageServiceStatus;
  /** The phase gives primary the spec's template (initialisation, promotion, revert). */
  primaryFromSpec = false;
  canaryReplicas = 0;
  mirrorPercent = 0;
  readonly events: RolloutEvent[] = [];
  readonly removeAnnotations: string[] = [];
  requeueAfterMs: number | undefined;
  readonly #now: Date;
  readonly #generation: number;

  constructor(status: ImageServiceStatus, generation: number, now: Date) {
    this.status = structuredClone(status);
    this.#now = now;
    this.#generation = generation;
  }

  get nowIso(): string {
    return this.#now.toISOString();
  }

  phase(phase: Phase): void {
    if (this.status.phase !== phase) this.status.lastTransitionTime = this.nowIso;
    this.status.phase = phase;
  }

  /** Restarts the clock of the current wait (deadline) without a phase change. */
  restartClock(): void {
    this.status.lastTransitionTime = this.nowIso;
  }

  event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.events.push({ type, reason, message });
  }

  condition(type: 'Progressing' | 'Promoted', status: Condition['status'], reason: Reason, message: string): void {
    const conditions = this.status.conditions ?? [];
    const old = conditions.find((c) => c.type === type);
    const lastTransitionTime = old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : this.nowIso;
    const next: Condition = { type, status, reason, message, lastTransitionTime, observedGeneration: this.#generation };
    this.status.conditions = old ? conditions.map((c) => (c === old ? next : c)) : [...conditions, next];
  }

  reason(type: 'Progressing' | 'Promoted'): string | undefined {
    return reasonOf(this.status, type);
  }

  /** The routing (canary weight; primary gets the rest) and the canary's size to hold. */
  route(canaryWeight: number, canaryReplicas: number): void {
    this.status.canaryWeight = canaryWeight;
    this.canaryReplicas = canaryReplicas;
  }

  requeue(ms: number): void {
    const bounded = Math.max(0, Math.ceil(ms));
    this.requeueAfterMs = this.requeueAfterMs === undefined ? bounded : Math.min(this.requeueAfterMs, bounded);
  }

  message(text: string): void {
    this.status.message = text;
  }

  plan(obs: Observations): RolloutPlan {
    return {
      primary: this.#primarySource(obs),
      status: this.status,
      canaryReplicas: this.canaryReplicas,
      mirrorPercent: this.mirrorPercent,
      events: this.events,
      removeAnnotations: this.removeAnnotations,
      ...(this.requeueAfterMs === undefined ? {} : { requeueAfterMs: this.requeueAfterMs }),
    };
  }

  /**
   * The template primary runs: the spec's when the phase says so (initialisation, promotion) or
   * when it is the promoted revision already (so a hand edit of it is reverted), and then status
   * keeps it beside the promoted revision; otherwise the one it runs, which no spec can rebuild,
   * or, when primary was deleted, the promoted one status kept. Only a status without a usable
   * kept template leaves nothing but the spec.
   */
  #primarySource(obs: Observations): PrimarySource {
    const promoted = this.status.primary;
    const fromSpec = this.primaryFromSpec || promoted?.revision === obs.revision;
    if (!fromSpec && obs.primary.exists) return { from: 'live' };
    const kept = fromSpec ? undefined : parseKeptTemplate(promoted?.template);
    if (kept !== undefined) {
      const revision = revisionOf(kept);
      if (promoted?.revision !== undefined) this.event('Warning', 'PrimaryRecreated', `The primary Deployment was missing: recreated with the promoted revision ${revision}`);
      return { from: 'kept', template: kept, revision };
    }
    if (!fromSpec && promoted?.revision !== undefined) {
      this.event(
        'Warning',
        'PrimaryRecreatedFromSpec',
        `The primary Deployment was missing and status keeps no usable template of revision ${promoted.revision}: recreated from the spec (revision ${obs.revision}) without analysis`,
      );
    }
    if (promoted !== undefined) this.status.primary = { ...promoted, template: obs.template };
    return { from: 'spec' };
  }
}

/** Spec-derived numbers every phase uses. */
interface Settings {
  intervalMs: number;
  deadlineMs: number;
  settleMs: number;
  /** Canary pods while a canary runs (at least one, to have something to measure). */
  replicas: number;
  schedule: number[];
}

function settings(spec: ImageServiceSpec): Settings {
  const intervalMs = Math.max(1, Math.round(parseDuration(spec.canary.interval)));
  return {
    intervalMs,
    deadlineMs: spec.canary.progressDeadlineSeconds * 1000,
    settleMs: Math.min(intervalMs, ROUTE_SETTLE_MS),
    replicas: Math.max(1, spec.replicas),
    schedule: weightSchedule(spec.canary),
  };
}

const since = (iso: string | undefined, now: Date): number => (iso === undefined ? Number.POSITIVE_INFINITY : now.getTime() - Date.parse(iso));

/** What one decision looks at. */
interface In {
  spec: ImageServiceSpec;
  status: ImageServiceStatus;
  obs: Observations;
  now: Date;
  /** The pod template the spec asks for. */
  desired: Track;
}

const describe = (t: Track | ImageServiceStatus['canary']): string => `${t?.image ?? '?'} (revision ${t?.revision ?? '?'})`;

/**
 * Whether the canary is due a check now, and what the check measures. The reconciler measures
 * it and passes the result to `decide` as observations.analysis, in the same reconcile.
 */
export function checkDue(spec: ImageServiceSpec, status: ImageServiceStatus, obs: Omit<Observations, 'analysis'>, now: Date): CheckDue | undefined {
  const input = inputOf(spec, status, { ...obs, analysis: undefined }, now);
  const set = settings(spec);
  const { intervalMs } = set;
  if (postRolloutDue(status)) return { intervalMs, metrics: [], measures: 'hooks', ...hookCall(spec, status, ['post-rollout']) };
  const analysing = status.phase === 'Progressing' || status.phase === 'Waiting';
  // Resuming from a pause restarts the interval: no check on the resume itself.
  if (!analysing || interruption(input) !== undefined || reasonOf(status, 'Progressing') === 'Paused' || untilCheck(set, status, now) > 0) return undefined;
  if (status.phase === 'Waiting') return { intervalMs, metrics: [], measures: 'hooks', ...hookCall(spec, status, ['confirm-rollout']) };
  const weight = status.canaryWeight ?? 0;
  if (!canaryReady(input)) return undefined;
  const metrics = spec.canary.analysis.metrics.map((m) => ({ name: m.name, query: m.query }));
  if (weight > 0) {
    // confirm-promotion only where a pass would promote: at the last step
    const last = set.schedule.find((w) => w > weight) === undefined;
    return { intervalMs, metrics, measures: 'traffic', ...hookCall(spec, status, last ? ['rollout', 'rollback', 'confirm-promotion'] : ['rollout', 'rollback']) };
  }
  // At 0%, the check before the first weight, with the pre-rollout hooks.
  // Mirrored requests are measured an interval after mirroring started (lastCheckTime).
  if (mirrored(spec)) return status.lastCheckTime === undefined ? undefined : { intervalMs, metrics, measures: 'traffic', ...hookCall(spec, status, ['pre-rollout', 'rollout', 'rollback']) };
  const before = hookCall(spec, status, ['pre-rollout']);
  if (outputChecked(spec)) return { intervalMs, metrics: [], measures: 'output', ...before };
  return before.webhooks === undefined ? undefined : { intervalMs, metrics: [], measures: 'hooks', ...before };
}

/** The spec's hooks of these types, with what their payload says of the rollout; nothing when there are none. */
function hookCall(spec: ImageServiceSpec, status: ImageServiceStatus, types: WebhookSpec['type'][]): Pick<CheckDue, 'webhooks'> {
  const hooks = spec.canary.webhooks.filter((w) => types.includes(w.type));
  if (hooks.length === 0) return {};
  const side = (t: ImageServiceStatus['primary']) => ({ revision: t?.revision ?? '', image: t?.image ?? '' });
  const rollout = { phase: status.phase ?? 'Initializing', weight: status.canaryWeight ?? 0, revisions: { primary: side(status.primary), canary: side(status.canary) } };
  return { webhooks: { hooks, rollout } };
}

/** The rollout ended (Succeeded, Failed) and its post-rollout hooks are still to be called. */
const postRolloutDue = (status: ImageServiceStatus): boolean => (status.phase === 'Succeeded' || status.phase === 'Failed') && status.postRollout?.pending === true;

/** With confirm-rollout hooks, every analysis waits for their yes before the canary is scaled up. */
const needsConfirmation = (spec: ImageServiceSpec): boolean => spec.canary.webhooks.some((w) => w.type === 'confirm-rollout');

/** Before the first weight, a check gates the canary: its pictures, or its pre-rollout hooks. */
const gated = (spec: ImageServiceSpec): boolean => outputChecked(spec) || spec.canary.webhooks.some((w) => w.type === 'pre-rollout');

/** With mirror set, the canary is measured on copies of user requests before it takes any. */
const mirrored = (spec: ImageServiceSpec): boolean => spec.canary.mirror !== undefined;

/**
 * The canary's decision, once per reconcile. observations.analysis is the measurement of the
 * check `checkDue` asked for; a due check without it is a caller's error and throws.
 */
export function decide(spec: ImageServiceSpec, status: ImageServiceStatus, obs: Observations, now: Date): RolloutPlan {
  const input = inputOf(spec, status, obs, now);
  const next = new Next(status, obs.generation, now);
  const set = settings(input.spec);
  const phase: Phase = input.status.phase ?? 'Initializing';
  if (postRolloutDue(input.status)) postRollout(input, next);
  BY_PHASE[phase](input, next, set);
  return next.plan(obs);
}

const inputOf = (spec: ImageServiceSpec, status: ImageServiceStatus, obs: Observations, now: Date): In => ({ spec, status, obs, now, desired: { image: obs.image, revision: obs.revision } });

const reasonOf = (status: ImageServiceStatus, type: 'Progressing' | 'Promoted'): string | undefined => status.conditions?.find((c) => c.type === type)?.reason;

/** What stops an analysis in Progressing before any check: a template change, an annotation, a pause. */
type Interruption = 'revert' | 'newer' | 'abort' | 'promote' | 'paused';

function interruption(input: In): Interruption | undefined {
  const { desired, status: s, obs } = input;
  if (desired.revision === s.primary?.revision) return 'revert';
  if (desired.revision !== s.canary?.revision) return 'newer';
  if (obs.abort) return 'abort';
  if (obs.promote) return 'promote';
  if (input.spec.canary.paused) return 'paused';
  return undefined;
}

/**
 * The canary Deployment runs the analysed revision with every replica updated and at least one
 * ready: rolled out, or, taking traffic, only adding pods (it follows primary's autoscaled count;
 * pods still starting do not make a serving canary unready).
 */
function canaryReady(input: In): boolean {
  const canary = input.obs.canary;
  const scaling = (input.status.canaryWeight ?? 0) > 0 && canary.updatedReplicas >= canary.replicas;
  return canary.revision === input.status.canary?.revision && (canary.rolledOut || scaling) && canary.readyReplicas > 0;
}

/** Milliseconds until the next check is due (0 or less: due). */
const untilCheck = (set: Settings, status: ImageServiceStatus, now: Date): number => set.intervalMs - since(status.lastCheckTime, now);

// ------------------------------------------------------------------ phases

const BY_PHASE: Record<Phase, (input: In, next: Next, set: Settings) => void> = {
  Initializing: initializing,
  Initialized: idle,
  Succeeded: idle,
  Progressing: progressing,
  Promoting: promoting,
  Finalising: finalising,
  Failed: failed,
  Waiting: waiting,
};

/**
 * First rollout: primary takes the spec with all traffic at once (nothing to compare a canary
 * with); whether it is ready shows in the reconciler's Ready condition.
 */
function initializing(input: In, next: Next): void {
  const { desired } = input;
  next.phase('Initialized');
  next.primaryFromSpec = true;
  next.route(0, 0);
  next.status.primary = { ...desired };
  next.status.failedChecks = 0;
  next.status.iterations = 0;
  ignoreAnnotations(input, next, 'no canary analysis is running');
  next.condition('Progressing', 'False', 'Initialized', `Primary serves ${describe(desired)} at 100%`);
  next.condition('Promoted', 'True', 'Initialized', `Primary initialised with ${describe(desired)}`);
  next.message(`Primary serves ${describe(desired)} at 100%`);
  next.event('Normal', 'Initialized', `Primary serves ${describe(desired)} at 100%`);
}

/** Initialized or Succeeded: primary serves everything; a new template starts an analysis. */
function idle(input: In, next: Next, set: Settings): void {
  const { desired } = input;
  const primary = input.status.primary;
  if (primary?.revision === undefined) {
    // A status without a primary revision (written by hand, or lost): initialise again.
    initializing(input, next);
    return;
  }
  ignoreAnnotations(input, next, 'no canary analysis is running');
  if (desired.revision === primary.revision) {
    next.primaryFromSpec = true;
    // After a revert the canary still had pods; they go once the routes have settled.
    if (next.reason('Progressing') === 'Reverted') drainCanary(input, next, set);
    else next.route(0, 0);
    return;
  }
  if (input.spec.canary.paused) {
    next.route(0, 0);
    pause(next, `New revision ${describe(desired)} waits: spec.canary.paused is true`);
    return;
  }
  startAnalysis(input, next, set, `New revision ${describe(desired)} detected; starting canary analysis`);
}

function progressing(input: In, next: Next, set: Settings): void {
  const s = input.status;
  const weight = s.canaryWeight ?? 0;
  const stop = interruption(input);
  if (stop !== undefined) {
    interrupt(input, next, set, stop);
    return;
  }
  if (next.reason('Progressing') === 'Paused') {
    // Waits and the interval start again from the resume, not from before the pause.
    next.restartClock();
    if (weight > 0 || gated(input.spec) || mirrored(input.spec)) next.status.lastCheckTime = next.nowIso;
    next.event('Normal', 'Resumed', `Analysis of ${describe(s.canary)} resumed at ${weight}%`);
  }
  if (!canaryReady(input)) {
    next.route(weight, set.replicas);
    // Counted from the phase start, or from the last check once the canary had been ready.
    const waited = since(next.status.lastCheckTime ?? next.status.lastTransitionTime, input.now);
    if (waited >= set.deadlineMs) {
      rollback(input, next, set, 'ProgressDeadlineExceeded', `Canary ${describe(s.canary)} was not ready within progressDeadlineSeconds (${input.spec.canary.progressDeadlineSeconds}s)`);
      return;
    }
    next.condition('Progressing', 'True', 'WaitingForCanary', `Waiting for the canary Deployment to be ready`);
    next.message(`Waiting for canary ${describe(s.canary)} to be ready (deadline in ${formatDuration(set.deadlineMs - waited)})`);
    next.requeue(Math.min(set.intervalMs, set.deadlineMs - waited));
    return;
  }
  if (weight > 0 && next.reason('Progressing') === 'WaitingForCanary') {
    next.condition('Progressing', 'True', 'Analysing', `Analysing ${describe(s.canary)}`);
    next.message(`Canary ready again at ${weight}%`);
  }
  if (weight === 0 && mirrored(input.spec)) {
    next.mirrorPercent = input.spec.canary.mirror ?? 0;
    if (next.status.lastCheckTime === undefined) {
      next.route(0, set.replicas);
      next.status.lastCheckTime = next.nowIso;
      const why = `Canary ready; mirroring ${next.mirrorPercent}% of user requests to it before it takes any`;
      next.condition('Progressing', 'True', 'Analysing', `Analysing ${describe(s.canary)} on mirrored requests`);
      next.message(why);
      next.event('Normal', 'Mirroring', `${why} (canary ${describe(s.canary)})`);
      next.requeue(set.intervalMs);
      return;
    }
  } else if (weight === 0 && !gated(input.spec)) {
    const first = set.schedule[0] as number;
    next.route(first, set.replicas);
    next.status.lastCheckTime = next.nowIso;
    next.condition('Progressing', 'True', 'Analysing', `Analysing ${describe(s.canary)}`);
    next.message(`Canary ready; routed ${first}% of traffic to it`);
    next.event('Normal', 'CanaryReady', `Canary ${describe(s.canary)} is ready; routing ${first}% of traffic to it`);
    next.requeue(set.intervalMs);
    return;
  }
  next.route(weight, set.replicas);
  const due = untilCheck(set, next.status, input.now);
  if (due > 0) {
    next.requeue(due);
    return;
  }
  const outcome = input.obs.analysis;
  if (outcome === undefined) throw new Error(`decide: a check of canary ${describe(s.canary)} is due and was not measured (checkDue says what to measure)`);
  check(input, next, set, weight, outcome);
  // Mirroring ends when the canary takes traffic or leaves.
  if (next.status.phase !== 'Progressing' || (next.status.canaryWeight ?? 0) > 0) next.mirrorPercent = 0;
}

/**
 * A new revision waits for its confirm-rollout hooks before its canary is scaled up; they are
 * asked every interval until they say yes. No deadline: the wait is for a person or a system.
 */
function waiting(input: In, next: Next, set: Settings): void {
  const s = input.status;
  const stop = interruption(input);
  if (stop === 'paused') {
    drainCanary(input, next, set);
    pause(next, `Paused before the analysis of ${describe(s.canary)}: spec.canary.paused is true`);
    return;
  }
  if (stop !== undefined) {
    interrupt(input, next, set, stop);
    return;
  }
  drainCanary(input, next, set);
  if (next.reason('Progressing') === 'Paused') {
    // The interval restarts from the resume, as in Progressing: no ask on the resume itself.
    const why = `Waiting for the confirm-rollout webhooks to say yes to ${describe(s.canary)}`;
    next.status.lastCheckTime = next.nowIso;
    next.event('Normal', 'Resumed', `Resumed: ${why}`);
    next.condition('Progressing', 'True', 'Waiting', why);
    next.message(why);
  }
  const due = untilCheck(set, next.status, input.now);
  if (due > 0) {
    next.requeue(due);
    return;
  }
  const outcome = input.obs.analysis;
  if (outcome === undefined) throw new Error(`decide: a check of canary ${describe(s.canary)} is due and was not measured (its confirm-rollout hooks; checkDue says which)`);
  next.status.lastCheckTime = next.nowIso;
  next.requeue(set.intervalMs);
  if (outcome.passed) {
    analyse(input, next, set, `Rollout of ${describe(s.canary)} confirmed${outcome.webhooks === undefined ? '' : ` (${summary(outcome)})`}; starting canary analysis`, 'RolloutConfirmed');
    return;
  }
  const why = `Waiting for ${describe(s.canary)}: ${outcome.reason ?? 'a confirm-rollout hook did not say yes'}`;
  if (next.status.message !== why) next.event('Normal', 'Waiting', why);
  next.condition('Progressing', 'True', 'Waiting', why);
  next.message(why);
}

/** The post-rollout hooks were called once the rollout ended: their answers go to Events only. */
function postRollout(input: In, next: Next): void {
  const outcome = input.obs.analysis;
  const phase = input.status.phase;
  if (outcome === undefined) throw new Error(`decide: a check of the ${phase} rollout is due and was not measured (its post-rollout hooks; checkDue says which)`);
  next.status.postRollout = { pending: false, at: next.nowIso, ...(outcome.webhooks === undefined ? {} : { webhooks: outcome.webhooks }) };
  if (outcome.webhooks === undefined) return;
  if (outcome.passed) next.event('Normal', 'PostRollout', `After the ${phase} rollout of ${describe(input.status.canary)}: ${summary(outcome)}`);
  else next.event('Warning', 'PostRolloutFailed', `After the ${phase} rollout of ${describe(input.status.canary)}: ${outcome.reason ?? 'a post-rollout hook did not say yes'}; the outcome stands`);
}

/** Progressing, interrupted before any check (see interruption). */
function interrupt(input: In, next: Next, set: Settings, stop: Interruption): void {
  const s = input.status;
  const weight = s.canaryWeight ?? 0;
  switch (stop) {
    case 'revert':
      revert(input, next, set);
      return;
    case 'newer':
      startAnalysis(input, next, set, `Newer revision ${describe(input.desired)} replaces ${describe(s.canary)}; analysis restarted`);
      return;
    case 'abort':
      next.removeAnnotations.push(ABORT_ANNOTATION);
      if (input.obs.promote) next.removeAnnotations.push(PROMOTE_ANNOTATION);
      rollback(input, next, set, 'Aborted', `Canary ${describe(s.canary)} aborted by annotation ${ABORT_ANNOTATION} at ${weight}% of traffic`);
      return;
    case 'promote':
      next.removeAnnotations.push(PROMOTE_ANNOTATION);
      startPromotion(input, next, set, `Promotion of ${describe(s.canary)} requested by annotation ${PROMOTE_ANNOTATION} at ${weight}%; remaining analysis skipped`);
      return;
    case 'paused':
      next.route(weight, set.replicas);
      pause(next, `Paused at ${weight}% of traffic to ${describe(s.canary)}: spec.canary.paused is true`);
      return;
  }
}

/** A check is due and its outcome is in: pass, fail or no data. */
function check(input: In, next: Next, set: Settings, weight: number, outcome: AnalysisResult): void {
  const s = input.status;
  const analysis = input.spec.canary.analysis;
  const result = outcome.passed ? 'pass' : outcome.noData ? 'no-data' : 'fail';
  const reasons = outcome.reason ?? 'the check failed';
  next.status.lastCheckTime = next.nowIso;
  next.status.lastAnalysis = outcome;
  next.status.iterations = (s.iterations ?? 0) + 1;
  next.requeue(set.intervalMs);
  if (outcome.rollbackBy !== undefined) {
    rollback(
      input,
      next,
      set,
      'RolledBack',
      `Rolled back ${describe(s.canary)} at ${weight}%: rollback webhook ${outcome.rollbackBy} asked for it (${outcome.webhooks?.[outcome.rollbackBy] ?? 'yes'})`,
    );
    return;
  }
  if (result === 'pass') {
    const step = set.schedule.find((w) => w > weight);
    if (step === undefined && outcome.promotionHeldBy !== undefined) {
      // not a failed check: the canary passed and waits for the word to go
      const why = `Holding at ${weight}%: confirm-promotion webhook ${outcome.promotionHeldBy} did not confirm (${outcome.webhooks?.[outcome.promotionHeldBy] ?? 'no'})`;
      if (next.status.message !== why) next.event('Normal', 'Holding', why);
      next.condition('Progressing', 'True', 'Holding', why);
      next.message(why);
      return;
    }
    if (step === undefined) {
      startPromotion(input, next, set, `Check passed at ${weight}% (${summary(outcome)}); promoting ${describe(s.canary)}`);
      return;
    }
    next.route(step, set.replicas);
    next.condition('Progressing', 'True', 'Analysing', `Analysing ${describe(s.canary)}`);
    next.message(`Advanced canary weight to ${step}%`);
    next.event('Normal', 'Advanced', `Check passed (${summary(outcome)}); advanced canary weight to ${step}%`);
    return;
  }
  if (result === 'no-data' && analysis.onNoData === 'hold') {
    const why = `Holding at ${weight}%: ${reasons} (onNoData: hold)`;
    if (next.reason('Progressing') !== 'Holding') next.event('Normal', 'Holding', why);
    next.condition('Progressing', 'True', 'Holding', why);
    next.message(why);
    return;
  }
  const failed = (s.failedChecks ?? 0) + 1;
  next.status.failedChecks = failed;
  const why = result === 'no-data' ? `no data: ${reasons} (onNoData: fail)` : reasons;
  const threshold = input.spec.canary.threshold;
  if (failed >= threshold) {
    rollback(input, next, set, 'RolledBack', `Rolled back ${describe(s.canary)} at ${weight}% after ${failed} failed checks (threshold ${threshold}); last: ${why}`);
    return;
  }
  next.condition('Progressing', 'True', 'Analysing', `Analysing ${describe(s.canary)}`);
  next.message(`Check failed (${failed}/${threshold}) at ${weight}%: ${why}`);
  next.event('Warning', 'CheckFailed', `Check failed (${failed} of ${threshold}) at ${weight}%: ${why}`);
}

/** Primary is taking the canary's template; the canary keeps its share until primary is ready. */
function promoting(input: In, next: Next, set: Settings): void {
  const { desired } = input;
  const primary = input.obs.primary;
  const s = input.status;
  const promoted = track(s.canary);
  if (promoted === undefined || desired.revision !== promoted.revision) {
    // Primary keeps what was written to it; the newer template is analysed against it.
    if (promoted !== undefined && primary.revision === promoted.revision) next.status.primary = { ...promoted };
    startAnalysis(input, next, set, `Newer revision ${describe(desired)} arrived during the promotion of ${describe(promoted)}; analysis restarted`);
    return;
  }
  ignoreAnnotations(input, next, 'the promotion is already under way');
  next.primaryFromSpec = true;
  if (primary.revision === promoted.revision && primary.rolledOut) {
    next.status.primary = { ...promoted };
    next.phase('Finalising');
    next.route(0, set.replicas);
    next.condition('Progressing', 'True', 'Finalising', 'Routing all traffic back to primary');
    next.message(`Primary runs ${describe(promoted)}; routing all traffic back to primary`);
    next.event('Normal', 'Finalising', `Primary runs ${describe(promoted)}; routing all traffic back to primary`);
    next.requeue(set.settleMs);
    return;
  }
  next.route(s.canaryWeight ?? 0, set.replicas);
  waitForPrimary(input, next, set, promoted);
}

/** Traffic is back on primary; the canary is scaled down once the routes have settled. */
function finalising(input: In, next: Next, set: Settings): void {
  const { desired } = input;
  const s = input.status;
  if (desired.revision !== s.canary?.revision) {
    startAnalysis(input, next, set, `Newer revision ${describe(desired)} arrived while finalising ${describe(s.canary)}; analysis restarted`);
    return;
  }
  ignoreAnnotations(input, next, 'the promotion is already under way');
  next.primaryFromSpec = true;
  if (drainCanary(input, next, set)) return;
  next.phase('Succeeded');
  endRollout(input, next);
  next.condition('Progressing', 'False', 'Succeeded', `Promoted ${describe(desired)}`);
  next.condition('Promoted', 'True', 'Succeeded', `Primary runs ${describe(desired)}`);
  next.message(`Promotion of ${describe(desired)} complete`);
  next.event('Normal', 'Succeeded', `Promotion of ${describe(desired)} complete; canary scaled to 0`);
}

/** Rolled back: primary serves everything, untouched, until the template changes again. */
function failed(input: In, next: Next, set: Settings): void {
  const { desired } = input;
  const s = input.status;
  if (desired.revision !== s.canary?.revision) {
    if (desired.revision === s.primary?.revision) {
      revert(input, next, set);
      return;
    }
    startAnalysis(input, next, set, `New revision ${describe(desired)} detected after the failed ${describe(s.canary)}; starting canary analysis`);
    return;
  }
  ignoreAnnotations(input, next, `the canary has failed; change the template to try again`);
  drainCanary(input, next, set);
}

// ------------------------------------------------------------------ transitions

/** A new revision: its analysis starts, or, with confirm-rollout hooks, waits for their yes. */
function startAnalysis(input: In, next: Next, set: Settings, why: string): void {
  if (!needsConfirmation(input.spec)) {
    analyse(input, next, set, why, 'NewRevision');
    return;
  }
  const { desired } = input;
  next.phase('Waiting');
  newRevision(input, next);
  // An analysis this one replaces keeps its pods until the routes have settled.
  next.route(0, settling(input, set));
  const waiting = `${why}; waiting for the confirm-rollout webhooks to say yes`;
  next.condition('Progressing', 'True', 'Waiting', waiting);
  next.condition('Promoted', 'Unknown', 'Waiting', `Waiting to analyse ${describe(desired)}`);
  next.message(waiting);
  next.event('Normal', 'NewRevision', waiting);
  next.requeue(Math.min(set.intervalMs, set.settleMs));
}

/** The canary is scaled up with the new revision and analysed from 0%. */
function analyse(input: In, next: Next, set: Settings, why: string, event: 'NewRevision' | 'RolloutConfirmed'): void {
  const { desired } = input;
  next.phase('Progressing');
  newRevision(input, next);
  next.route(0, set.replicas);
  next.condition('Progressing', 'True', 'NewRevision', why);
  next.condition('Promoted', 'Unknown', 'NewRevision', `Analysing ${describe(desired)}`);
  next.message(why);
  next.event('Normal', event, why);
  next.requeue(set.intervalMs);
}

/** The desired revision becomes the canary of a fresh analysis: no checks, no clock. */
function newRevision(input: In, next: Next): void {
  next.restartClock();
  next.status.canary = { ...input.desired };
  next.status.failedChecks = 0;
  next.status.iterations = 0;
  delete next.status.lastCheckTime;
  delete next.status.lastAnalysis;
}

function startPromotion(input: In, next: Next, set: Settings, why: string): void {
  const promoted = track(input.status.canary) as Track;
  next.phase('Promoting');
  next.primaryFromSpec = true;
  next.route(input.status.canaryWeight ?? 0, set.replicas);
  next.condition('Progressing', 'True', 'Promoting', `Copying ${describe(promoted)} to primary`);
  next.message(why);
  next.event('Normal', 'Promoting', why);
  next.requeue(set.intervalMs);
}

/** Back to 100% primary, primary untouched; the canary is scaled down after the routes settle. */
function rollback(input: In, next: Next, set: Settings, reason: 'RolledBack' | 'Aborted' | 'ProgressDeadlineExceeded', why: string): void {
  next.phase('Failed');
  next.route(0, settling(input, set));
  endRollout(input, next);
  next.condition('Progressing', 'False', reason, why);
  next.condition('Promoted', 'False', reason, why);
  next.message(why);
  next.event('Warning', reason, why);
  next.requeue(set.settleMs);
}

/** The template went back to what primary runs: nothing to analyse. */
function revert(input: In, next: Next, set: Settings): void {
  const why = `Template is back to primary's ${describe(input.status.primary)}; canary ${describe(input.status.canary)} stopped`;
  next.phase('Initialized');
  next.route(0, settling(input, set));
  next.primaryFromSpec = true;
  // The canary Deployment now has primary's template; it is scaled down after the routes settle.
  next.condition('Progressing', 'False', 'Reverted', why);
  next.condition('Promoted', 'True', 'Reverted', `Primary runs ${describe(input.status.primary)}`);
  next.message(why);
  next.event('Normal', 'Reverted', why);
  next.requeue(set.settleMs);
}

/**
 * No traffic to the canary; its pods stay until the routes have settled (S after the phase
 * began), so no request reaches a stopping pod. Whether they are still settling.
 */
function drainCanary(input: In, next: Next, set: Settings): boolean {
  const wait = set.settleMs - since(next.status.lastTransitionTime, input.now);
  next.route(0, wait > 0 ? settling(input, set) : 0);
  if (wait > 0) next.requeue(wait);
  return wait > 0;
}

/** Canary replicas while the routes settle: its pods stay, and none are started (a canary that waited for confirmation has none). */
const settling = (input: In, set: Settings): number => (input.obs.canary.replicas > 0 ? set.replicas : 0);

/** The rollout ended: its post-rollout hooks, if any, are called once, at the next reconcile. */
function endRollout(input: In, next: Next): void {
  if (input.spec.canary.webhooks.some((w) => w.type === 'post-rollout')) next.status.postRollout = { pending: true };
}

function pause(next: Next, why: string): void {
  if (next.reason('Progressing') !== 'Paused') next.event('Normal', 'Paused', why);
  next.condition('Progressing', 'Unknown', 'Paused', why);
  next.message(why);
}

function waitForPrimary(input: In, next: Next, set: Settings, target: Track): void {
  const waited = since(next.status.lastTransitionTime, input.now);
  if (waited >= set.deadlineMs) {
    const why = `Primary has not rolled out ${describe(target)} within progressDeadlineSeconds (${input.spec.canary.progressDeadlineSeconds}s); still waiting, the canary keeps its share of traffic`;
    if (next.reason('Progressing') !== 'ProgressDeadlineExceeded') next.event('Warning', 'ProgressDeadlineExceeded', why);
    next.condition('Progressing', 'False', 'ProgressDeadlineExceeded', why);
    next.message(why);
    next.requeue(set.intervalMs);
    return;
  }
  next.condition('Progressing', 'True', 'Promoting', `Waiting for primary to roll out ${describe(target)}`);
  next.message(`Waiting for primary to roll out ${describe(target)} (deadline in ${formatDuration(set.deadlineMs - waited)})`);
  next.requeue(Math.min(set.intervalMs, set.deadlineMs - waited));
}

// ------------------------------------------------------------------ helpers

/** The canary of status as a Track, when it has a revision. */
function track(t: ImageServiceStatus['canary']): Track | undefined {
  return t?.revision === undefined ? undefined : { image: t.image ?? '', revision: t.revision };
}

/** Annotations that cannot act in this phase are removed, so they do not fire on a later canary. */
function ignoreAnnotations(input: In, next: Next, why: string): void {
  const present = [...(input.obs.promote ? [PROMOTE_ANNOTATION] : []), ...(input.obs.abort ? [ABORT_ANNOTATION] : [])];
  for (const key of present) {
    next.removeAnnotations.push(key);
    next.event('Normal', 'AnnotationIgnored', `Ignored ${key}: ${why}`);
  }
}

function summary(r: AnalysisResult): string {
  const parts: string[] = [];
  // Checks before the first weight measure no traffic (requests null): their output and hooks only.
  if (r.requests != null) {
    parts.push(
      `p99 ${r.latencyP99Ms == null ? 'n/a' : `${formatNumber(r.latencyP99Ms)} ms`}`,
      `5xx ${r.errorRatePercent == null ? 'n/a' : `${formatNumber(r.errorRatePercent)}%`}`,
      `${r.requests} requests`,
    );
    for (const [name, value] of Object.entries(r.metrics ?? {})) parts.push(`${name} ${value == null ? 'n/a' : formatNumber(value)}`);
  }
  if (r.output !== undefined) parts.push(outputSummary(r.output));
  for (const [name, answer] of Object.entries(r.webhooks ?? {})) parts.push(`webhook ${name} ${answer}`);
  return parts.join(', ');
}

function outputSummary(o: NonNullable<AnalysisResult['output']>): string {
  const traffic = o.fromTraffic ? ` (${o.fromTraffic} from primary's traffic)` : '';
  return `output of ${o.samples} samples${traffic} as primary's${o.note === undefined ? '' : `; ${o.note}`}`;
}
