// The Deployment controller's decisions, pure: how far to scale the new and old ReplicaSets in a
// rolling update (maxSurge, maxUnavailable), and the status and conditions it reports. Mirrors the
// real controller's arithmetic (pkg/controller/deployment/rolling.go, util/deployment_util.go).
import type { Condition } from '../kube/types.ts';

export interface RsView {
  name: string;
  /** spec.replicas */
  replicas: number;
  /** status.replicas, readyReplicas, availableReplicas */
  current: number;
  ready: number;
  available: number;
  created: string;
}

/** An int-or-percent field against a total: percentages round up for surge, down for unavailable. */
export function resolveIntOrPercent(value: string | number | undefined, fallback: string, total: number, roundUp: boolean): number {
  const v = value ?? fallback;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (m === null) {
    const n = Number(v);
    if (Number.isInteger(n)) return n;
    throw new Error(`invalid int or percent "${v}"`);
  }
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

export function surgeAndUnavailable(
  desired: number,
  rollingUpdate: { maxSurge?: string | number | undefined; maxUnavailable?: string | number | undefined } | undefined,
): { maxSurge: number; maxUnavailable: number } {
  const maxSurge = resolveIntOrPercent(rollingUpdate?.maxSurge, '25%', desired, true);
  let maxUnavailable = resolveIntOrPercent(rollingUpdate?.maxUnavailable, '25%', desired, false);
  // Both zero would never progress; the real controller then allows one unavailable.
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable: Math.min(maxUnavailable, desired) };
}

/**
 * One step of a rolling update: the new ReplicaSet's replicas and each old one's. Scales the new
 * one up within maxSurge, then the old ones down only as far as keeps `desired - maxUnavailable`
 * pods available (unavailable old pods go first).
 */
export function rollingStep(desired: number, maxSurge: number, maxUnavailable: number, newRs: RsView, oldRss: RsView[]): { newReplicas: number; oldReplicas: Map<string, number> } {
  const all = [newRs, ...oldRss];
  const sum = (f: (r: RsView) => number, list = all): number => list.reduce((s, r) => s + f(r), 0);

  let newReplicas = newRs.replicas;
  if (newRs.replicas > desired) newReplicas = desired;
  else if (newRs.replicas < desired) {
    const room = desired + maxSurge - sum((r) => r.replicas);
    if (room > 0) newReplicas = newRs.replicas + Math.min(room, desired - newRs.replicas);
  }

  const oldReplicas = new Map(oldRss.map((r) => [r.name, r.replicas]));
  const oldPods = sum((r) => r.replicas, oldRss);
  if (oldPods > 0) {
    const minAvailable = desired - maxUnavailable;
    const newUnavailable = newRs.replicas - newRs.available;
    let budget = sum((r) => r.replicas) - minAvailable - newUnavailable;
    const oldest = [...oldRss].sort((a, b) => a.created.localeCompare(b.created));
    // Unhealthy old pods first: removing them costs no availability.
    for (const r of oldest) {
      if (budget <= 0) break;
      const unhealthy = Math.max(0, r.replicas - r.available);
      const cut = Math.min(budget, unhealthy);
      oldReplicas.set(r.name, r.replicas - cut);
      budget -= cut;
    }
    const available = sum((r) => r.available);
    let canRemove = available - minAvailable;
    for (const r of oldest) {
      if (canRemove <= 0) break;
      const now = oldReplicas.get(r.name) ?? 0;
      const cut = Math.min(now, canRemove);
      oldReplicas.set(r.name, now - cut);
      canRemove -= cut;
    }
  }
  return { newReplicas, oldReplicas };
}

export interface DeploymentStatus {
  observedGeneration: number;
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  unavailableReplicas: number;
  conditions: Condition[];
  collisionCount?: number;
}

export interface StatusInputs {
  generation: number;
  desired: number;
  maxUnavailable: number;
  progressDeadlineSeconds: number | undefined;
  newRs: RsView | undefined;
  oldRss: RsView[];
  previous:
    | { updatedReplicas?: number | undefined; readyReplicas?: number | undefined; availableReplicas?: number | undefined; replicas?: number | undefined; conditions?: Condition[] | undefined }
    | undefined;
  /** The controller created or scaled a ReplicaSet in this pass. */
  acted: 'created' | 'scaled' | undefined;
  now: Date;
}

function setCondition(list: Condition[], next: Condition, now: string): Condition[] {
  const prev = list.find((c) => c.type === next.type);
  const merged: Condition = {
    ...next,
    lastUpdateTime: now,
    lastTransitionTime: prev !== undefined && prev.status === next.status ? (prev.lastTransitionTime ?? now) : now,
  };
  return [...list.filter((c) => c.type !== next.type), merged];
}

/** The Deployment's status and conditions, and when to look again for the progress deadline. */
export function deploymentStatus(i: StatusInputs): { status: DeploymentStatus; recheckAfterMs: number | undefined } {
  const all = [...(i.newRs === undefined ? [] : [i.newRs]), ...i.oldRss];
  const sum = (f: (r: RsView) => number): number => all.reduce((s, r) => s + f(r), 0);
  const replicas = sum((r) => r.current);
  const updatedReplicas = i.newRs?.current ?? 0;
  const readyReplicas = sum((r) => r.ready);
  const availableReplicas = sum((r) => r.available);
  const now = i.now.toISOString();
  let conditions = [...(i.previous?.conditions ?? [])];

  const available = availableReplicas >= i.desired - i.maxUnavailable;
  const availableCondition: Condition = available
    ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
    : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' };
  const prevAvailable = conditions.find((c) => c.type === 'Available');
  if (prevAvailable?.status !== availableCondition.status || prevAvailable.reason !== availableCondition.reason) {
    conditions = setCondition(conditions, availableCondition, now);
  }

  let recheckAfterMs: number | undefined;
  if (i.progressDeadlineSeconds !== undefined && i.newRs !== undefined) {
    const rsName = i.newRs.name;
    const complete = updatedReplicas === i.desired && replicas === i.desired && availableReplicas === i.desired;
    const p = i.previous;
    const progressed =
      i.acted !== undefined ||
      updatedReplicas > (p?.updatedReplicas ?? 0) ||
      readyReplicas > (p?.readyReplicas ?? 0) ||
      availableReplicas > (p?.availableReplicas ?? 0) ||
      (p?.replicas ?? 0) - (p?.updatedReplicas ?? 0) > replicas - updatedReplicas;
    const prev = conditions.find((c) => c.type === 'Progressing');
    if (complete) {
      if (prev?.reason !== 'NewReplicaSetAvailable') {
        conditions = setCondition(conditions, { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${rsName}" has successfully progressed.` }, now);
      }
    } else if (progressed || prev === undefined || prev.reason === 'NewReplicaSetAvailable') {
      const created = i.acted === 'created';
      conditions = setCondition(
        conditions,
        {
          type: 'Progressing',
          status: 'True',
          reason: created ? 'NewReplicaSetCreated' : 'ReplicaSetUpdated',
          message: created ? `Created new replica set "${rsName}"` : `ReplicaSet "${rsName}" is progressing.`,
        },
        now,
      );
      recheckAfterMs = i.progressDeadlineSeconds * 1000;
    } else if (prev.reason !== 'ProgressDeadlineExceeded') {
      const since = Date.parse(prev.lastUpdateTime ?? prev.lastTransitionTime ?? now);
      const left = since + i.progressDeadlineSeconds * 1000 - i.now.getTime();
      if (left <= 0) {
        conditions = setCondition(conditions, { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.` }, now);
      } else recheckAfterMs = left;
    }
  }
  conditions.sort((a, b) => (a.type === 'Available' ? -1 : b.type === 'Available' ? 1 : 0));
  return {
    status: {
      observedGeneration: i.generation,
      replicas,
      updatedReplicas,
      readyReplicas,
      availableReplicas,
      unavailableReplicas: Math.max(0, i.desired - availableReplicas),
      conditions,
    },
    recheckAfterMs,
  };
}
