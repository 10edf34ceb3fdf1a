import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import type { AnalysisResult, ImageService, ImageServiceStatus, WebhookSpec } from './api/image-service.ts';
import type { CustomMetric } from './canary/providers/provider.ts';
import type { WebhookPayload } from './canary/webhooks.ts';

/**
 * The seam between the reconciler (observe and act) and the rollout decision (pure). One pass per
 * reconcile: the reconciler observes the cluster into `Observations`, asks `checkDue` whether the
 * canary is due a check, measures it when it is (`Measure`, the only I/O), calls `decide` once
 * with the measurement, then makes the cluster match the `RolloutPlan`: which template primary
 * runs, how many canary replicas, the VirtualService weights (100 - canaryWeight / canaryWeight),
 * the status and the Events. `checkDue` and `decide` are in operator/src/canary/decide.ts.
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
  /** Revision, image and pod template (as JSON, as status keeps it) the spec asks for. */
  revision: string;
  image: string;
  template: string;
  primary: TrackObservation;
  canary: TrackObservation;
  /** The `imageops.dev/promote: "true"` and `imageops.dev/abort: "true"` annotations. */
  promote: boolean;
  abort: boolean;
  /** The measurement of the check `checkDue` asked for; undefined when none was due. */
  analysis: AnalysisResult | undefined;
}

/** A check that is due: what `Measure` measures, over which window, and the hooks it calls first. */
export interface CheckDue {
  intervalMs: number;
  metrics: CustomMetric[];
  /**
   * traffic: the provider's numbers (and the output, with samples); output: the canary has no
   * traffic yet, only its pictures are compared; hooks: nothing is measured, only the hooks asked.
   */
  measures: 'traffic' | 'output' | 'hooks';
  /** The hooks to call, and what their payload says of the rollout; absent when there are none. */
  webhooks?: { hooks: WebhookSpec[]; rollout: Pick<WebhookPayload, 'phase' | 'revisions' | 'weight'> };
}

/** Measures a due check of the canary and judges the numbers (canary/measure.ts). */
export type Measure = (imageService: ImageService, check: CheckDue, now: Date, signal: AbortSignal) => Promise<AnalysisResult>;

export interface RolloutEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Where primary's pod template comes from. */
export type PrimarySource =
  /** The spec's: initialisation, promotion, or the promoted revision already (a hand edit is reverted). */
  | { from: 'spec' }
  /** The template primary runs, which no spec can rebuild (a newer revision waits or is analysed). */
  | { from: 'live' }
  /** Primary was deleted meanwhile: the promoted template status kept, with its revision. */
  | { from: 'kept'; template: V1PodTemplateSpec; revision: string };

export interface RolloutPlan {
  /**
   * The next status: phase, primary (with the template it was last given from the spec),
   * canary, canaryWeight, failedChecks, iterations, lastAnalysis, lastTransitionTime,
   * lastCheckTime, message and the Progressing and Promoted conditions. The reconciler adds
   * observedGeneration and its own conditions (Ready, InvalidSpec, PolicyViolation,
   * ConflictingChild, VirtualServiceUnavailable).
   */
  status: ImageServiceStatus;
  primary: PrimarySource;
  /** Canary Deployment replicas; 0 when idle. The canary always runs the spec's template. */
  canaryReplicas: number;
  /** Percent of user requests mirrored to the canary (spec.canary.mirror, at 0% only); 0: none. */
  mirrorPercent: number;
  /** Events for the transitions this plan makes. */
  events: RolloutEvent[];
  /** Reconcile again after this long even if nothing changes (the next check, a deadline). */
  requeueAfterMs?: number;
  /** Annotations to remove from the ImageService once acted on (imageops.dev/promote, abort). */
  removeAnnotations: string[];
}
