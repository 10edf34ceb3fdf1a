// The HorizontalPodAutoscaler's arithmetic for a CPU utilisation target, as kube-controller-
// manager's podautoscaler does it (replica_calculator.go, horizontal.go), pure: the replica count
// the metrics ask for, then the behavior's stabilisation windows and rate policies, then the
// bounds. The emulated plane's HPA controller (hpa.ts) feeds it; the real plane runs the original.

/** Within this fraction of the target, nothing changes (--horizontal-pod-autoscaler-tolerance). */
export const TOLERANCE = 0.1;

export interface PodSample {
  /** CPU request of the pod (sum of its containers'), in millicores; 0 when one has none. */
  requestMilli: number;
  /** Used CPU in millicores; undefined when the metrics API has no sample of it yet. */
  usageMilli: number | undefined;
  /**
   * Whether the sample counts (groupPods): false for a Pending pod, and for one whose sample may
   * predate its readiness (not Ready, or Ready for less than a window while it initialises).
   */
  ready: boolean;
}

export type Computed = { ok: true; replicas: number; utilization: number; averageMilli: number } | { ok: false; reason: string; message: string };

/**
 * The replicas the CPU metrics ask for (GetResourceReplicas): usage over request of the ready pods
 * with metrics, against the target. Running pods without metrics count at their request (or the
 * target, when above 100%) when scaling down and as idle when scaling up, unready pods as idle when
 * scaling up, so that neither makes a step larger than the data supports; a ratio within
 * TOLERANCE, or one those pods turn around, keeps the current count.
 */
export function cpuReplicas(current: number, targetUtilization: number, pods: PodSample[]): Computed {
  if (pods.some((p) => p.requestMilli <= 0)) return { ok: false, reason: 'FailedGetResourceMetric', message: 'missing request for cpu in a pod of the target' };
  const measured = pods.filter((p) => p.ready && p.usageMilli !== undefined);
  if (measured.length === 0) return { ok: false, reason: 'FailedGetResourceMetric', message: 'did not receive metrics for targeted pods (pods might be unready)' };
  const usage = measured.reduce((s, p) => s + (p.usageMilli ?? 0), 0);
  const requests = measured.reduce((s, p) => s + p.requestMilli, 0);
  const utilization = (100 * usage) / requests;
  const value = { utilization: Math.round(utilization), averageMilli: usage / measured.length };
  const ratio = utilization / targetUtilization;
  const missing = pods.filter((p) => p.ready && p.usageMilli === undefined);
  const unready = pods.filter((p) => !p.ready);
  const upWithUnready = unready.length > 0 && ratio > 1;
  if (!upWithUnready && missing.length === 0) {
    if (Math.abs(1 - ratio) <= TOLERANCE) return { ok: true, replicas: current, ...value };
    return { ok: true, replicas: Math.ceil(ratio * measured.length), ...value };
  }
  let [u, r, counted] = [usage, requests, measured.length];
  if (ratio !== 1) {
    for (const p of missing) {
      r += p.requestMilli;
      if (ratio < 1) u += (p.requestMilli * Math.max(100, targetUtilization)) / 100;
    }
    counted += missing.length;
  }
  if (upWithUnready) {
    for (const p of unready) r += p.requestMilli;
    counted += unready.length;
  }
  const next = (100 * u) / r / targetUtilization;
  if (Math.abs(1 - next) <= TOLERANCE || (ratio < 1 && next > 1) || (ratio > 1 && next < 1)) return { ok: true, replicas: current, ...value };
  const replicas = Math.ceil(next * counted);
  if ((next < 1 && replicas > current) || (next > 1 && replicas < current)) return { ok: true, replicas: current, ...value };
  return { ok: true, replicas, ...value };
}

export interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: ScalingPolicy[];
}

export interface Behavior {
  scaleUp: ScalingRules;
  scaleDown: ScalingRules;
}

/** What the controller remembers of one HPA between syncs. */
export interface History {
  /** Past recommendations (from the metrics), newest last. */
  recommendations: { at: number; replicas: number }[];
  /** Past changes of the target's replicas by this HPA. */
  scaleUps: { at: number; by: number }[];
  scaleDowns: { at: number; by: number }[];
}

export const EMPTY_HISTORY: History = { recommendations: [], scaleUps: [], scaleDowns: [] };

export interface Decision {
  replicas: number;
  history: History;
  /** Why the count is not what the metrics asked for, when it is not (the ScalingLimited condition). */
  limited?: { reason: 'TooFewReplicas' | 'TooManyReplicas' | 'ScaleUpLimit' | 'ScaleDownLimit'; message: string };
}

const within = (at: number, now: number, seconds: number) => at > now - seconds * 1000;
const changedIn = (events: { at: number; by: number }[], now: number, seconds: number) => events.filter((e) => within(e.at, now, seconds)).reduce((s, e) => s + e.by, 0);

/**
 * From the metrics' recommendation to the count to set (normalizeDesiredReplicasWithBehaviors):
 * scale-up takes the lowest recommendation of its window and scale-down the highest of its own,
 * each step at most what the policies allow over their periods (counted from the replicas at the
 * period's start), then min and max.
 */
export function applyBehavior(input: { now: number; current: number; recommended: number; min: number; max: number; behavior: Behavior; history: History }): Decision {
  const { now, current, min, max, behavior } = input;
  const keep = Math.max(
    behavior.scaleUp.stabilizationWindowSeconds,
    behavior.scaleDown.stabilizationWindowSeconds,
    ...behavior.scaleUp.policies.map((p) => p.periodSeconds),
    ...behavior.scaleDown.policies.map((p) => p.periodSeconds),
  );
  const recommendations = [...input.history.recommendations.filter((r) => within(r.at, now, keep)), { at: now, replicas: input.recommended }];
  const inWindow = (seconds: number) => recommendations.filter((r) => within(r.at, now, seconds) || r.at === now).map((r) => r.replicas);
  const upStable = Math.min(...inWindow(behavior.scaleUp.stabilizationWindowSeconds));
  const downStable = Math.max(...inWindow(behavior.scaleDown.stabilizationWindowSeconds));
  let target = current;
  if (target < upStable) target = upStable;
  if (target > downStable) target = downStable;

  let limited: Decision['limited'];
  if (target > current) {
    const limits = behavior.scaleUp.policies.map((p) => {
      const start = current - changedIn(input.history.scaleUps, now, p.periodSeconds) + changedIn(input.history.scaleDowns, now, p.periodSeconds);
      return p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    });
    const limit = behavior.scaleUp.selectPolicy === 'Disabled' ? current : behavior.scaleUp.selectPolicy === 'Min' ? Math.min(...limits) : Math.max(...limits);
    if (target > limit) {
      target = limit;
      limited = { reason: 'ScaleUpLimit', message: 'the desired replica count is increasing faster than the maximum scale rate' };
    }
  } else if (target < current) {
    const limits = behavior.scaleDown.policies.map((p) => {
      const start = current + changedIn(input.history.scaleDowns, now, p.periodSeconds) - changedIn(input.history.scaleUps, now, p.periodSeconds);
      return p.type === 'Pods' ? start - p.value : Math.floor(start * (1 - p.value / 100));
    });
    const limit = behavior.scaleDown.selectPolicy === 'Disabled' ? current : behavior.scaleDown.selectPolicy === 'Min' ? Math.max(...limits) : Math.min(...limits);
    if (target < limit) {
      target = limit;
      limited = { reason: 'ScaleDownLimit', message: 'the desired replica count is decreasing faster than the maximum scale rate' };
    }
  }
  if (target < min) {
    target = min;
    limited = { reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' };
  } else if (target > max) {
    target = max;
    limited = { reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' };
  }
  const history: History = {
    recommendations,
    scaleUps: [...input.history.scaleUps.filter((e) => within(e.at, now, keep)), ...(target > current ? [{ at: now, by: target - current }] : [])],
    scaleDowns: [...input.history.scaleDowns.filter((e) => within(e.at, now, keep)), ...(target < current ? [{ at: now, by: current - target }] : [])],
  };
  return { replicas: target, history, ...(limited ? { limited } : {}) };
}
