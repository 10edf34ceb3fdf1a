import type { AnalysisResult, ImageService, ImageServiceSpec, ImageServiceStatus } from './api/image-service.ts';
import { rfc3339, setCondition } from './conditions.ts';

/**
 * The seam between the reconciler (observe and act) and the rollout decision (pure). The
 * reconciler observes the cluster into `Observations`, asks `decide` for a `RolloutPlan`, then
 * makes the cluster match the plan: which template primary runs, how many canary replicas,
 * the VirtualService weights (100 - canaryWeight / canaryWeight), the status and the Events.
 *
 * `idleDecide` is the decision without canary analysis: it initialises (primary at 100%) and
 * reports a changed template in status without rolling it out. The canary (operator/src/canary)
 * supplies a full `Decide` and an `Analyse` that runs a check when one is due.
 */

export interface TrackObservation {
  /** The Deployment exists and is ours. */
  exists: boolean;
  /** Revision (pod template hash) the Deployment runs, from its revision label. */
  revision: string | undefined;
  image: string | undefined;
  /** spec.replicas of the live Deployment. */
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  /** The Deployment controller has observed the latest spec and every replica is updated and ready. */
  rolledOut: boolean;
}

export interface Observations {
  /** metadata.generation of the ImageService. */
  generation: number;
  /** Revision and image of the pod template the spec asks for. */
  revision: string;
  image: string;
  primary: TrackObservation;
  canary: TrackObservation;
  /** The `imageops.dev/promote: "true"` and `imageops.dev/abort: "true"` annotations. */
  promote: boolean;
  abort: boolean;
  /** The check `Analyse` ran in this reconcile, when one was due. */
  analysis: AnalysisResult | undefined;
}

export interface RolloutEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface RolloutPlan {
  /**
   * The next status: phase, primary, canary, canaryWeight, failedChecks, iterations,
   * lastAnalysis, lastTransitionTime, lastCheckTime, message and the Progressing and Promoted
   * conditions. The reconciler adds observedGeneration and its own conditions (Ready,
   * InvalidSpec, ConflictingChild, VirtualServiceUnavailable).
   */
  status: ImageServiceStatus;
  /** 'spec': primary runs the spec's template (initialisation, promotion); 'current': it keeps its own. */
  primaryTemplate: 'spec' | 'current';
  /** Canary Deployment replicas; 0 when idle. The canary always runs the spec's template. */
  canaryReplicas: number;
  /** Events for the transitions this plan makes. */
  events: RolloutEvent[];
  /** Reconcile again after this long even if nothing changes (the next check, a deadline). */
  requeueAfterMs?: number;
  /** Annotations to remove from the ImageService once acted on (imageops.dev/promote, abort). */
  removeAnnotations?: string[];
}

export type Decide = (
  spec: ImageServiceSpec,
  status: ImageServiceStatus,
  observations: Observations,
  now: Date,
) => RolloutPlan;

/** I/O before the decision: runs a canary check when one is due, else resolves undefined. */
export type Analyse = (
  imageService: ImageService,
  status: ImageServiceStatus,
  observations: Omit<Observations, 'analysis'>,
  now: Date,
  signal: AbortSignal,
) => Promise<AnalysisResult | undefined>;

export const noAnalysis: Analyse = async () => undefined;

export const idleDecide: Decide = (spec, status, obs, now) => {
  const generation = obs.generation;
  if (status.primary?.revision === undefined) {
    const message = `Primary serves revision ${obs.revision} (${spec.image}) at 100%`;
    let conditions = setCondition(
      status.conditions,
      { type: 'Progressing', status: 'False', reason: 'Initialized', message },
      now,
      generation,
    );
    conditions = setCondition(
      conditions,
      { type: 'Promoted', status: 'True', reason: 'Initialized', message: 'Primary initialised with the spec\'s template' },
      now,
      generation,
    );
    const { canary: _dropped, ...rest } = status;
    return {
      status: {
        ...rest,
        phase: 'Initialized',
        primary: { image: spec.image, revision: obs.revision },
        canaryWeight: 0,
        failedChecks: 0,
        iterations: 0,
        lastTransitionTime: rfc3339(now),
        message,
        conditions,
      },
      primaryTemplate: 'spec',
      canaryReplicas: 0,
      events: [{ type: 'Normal', reason: 'Initialized', message }],
    };
  }
  if (status.primary.revision === obs.revision) {
    const { canary: _dropped, ...rest } = status;
    const next: ImageServiceStatus = {
      ...rest,
      canaryWeight: 0,
      conditions: setCondition(
        status.conditions,
        {
          type: 'Progressing',
          status: 'False',
          reason: status.phase ?? 'Initialized',
          message: `Primary serves revision ${obs.revision} (${spec.image}) at 100%`,
        },
        now,
        generation,
      ),
    };
    return { status: next, primaryTemplate: 'current', canaryReplicas: 0, events: [] };
  }
  const message = `Revision ${obs.revision} (${obs.image}) differs from primary's ${status.primary.revision}; primary keeps serving 100%`;
  const known = status.canary?.revision === obs.revision;
  return {
    status: {
      ...status,
      canary: { image: obs.image, revision: obs.revision },
      canaryWeight: 0,
      message,
      conditions: setCondition(
        status.conditions,
        { type: 'Progressing', status: 'Unknown', reason: 'RevisionDetected', message },
        now,
        generation,
      ),
    },
    primaryTemplate: 'current',
    canaryReplicas: 0,
    events: known ? [] : [{ type: 'Normal', reason: 'RevisionDetected', message }],
  };
};
