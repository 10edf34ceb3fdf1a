// Autoscaling: primary's HorizontalPodAutoscaler, and who decides each Deployment's replicas.
// With spec.autoscaling the HPA owns primary's replicas, so the operator leaves them alone once
// primary exists; the canary, while it runs, follows primary's current count (Flagger's rule),
// so it is measured at the same per-pod load as primary.
import type { V2HorizontalPodAutoscaler, V2HPAScalingRules } from '@kubernetes/client-node';
import type { AutoscalingSpec, ImageService } from '../api/image-service.ts';
import { childMeta, TRACK_LABEL, type Track, trackName } from './labels.ts';

type Rules = NonNullable<NonNullable<AutoscalingSpec['behavior']>['scaleUp']>;

/**
 * autoscaling/v2's behavior defaults (the API server fills them in, the controller's flag gives
 * 300 s down). The operator writes the whole behavior, so that a field removed from the spec goes
 * back to its default and the live object never differs from what was written; the sandbox's
 * HPA controller applies the same defaults.
 */
export const DEFAULT_HPA_BEHAVIOR: { scaleUp: Required<Rules>; scaleDown: Required<Rules> } = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [
      { type: 'Pods', value: 4, periodSeconds: 15 },
      { type: 'Percent', value: 100, periodSeconds: 15 },
    ],
  },
  scaleDown: { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
};

const rules = (given: Rules | undefined, defaults: Required<Rules>): V2HPAScalingRules => ({ ...defaults, ...given });

/** Primary's HorizontalPodAutoscaler, or undefined without spec.autoscaling (then none may exist). */
export function buildHorizontalPodAutoscaler(isvc: ImageService): V2HorizontalPodAutoscaler | undefined {
  const a = isvc.spec.autoscaling;
  if (a === undefined) return undefined;
  const name = trackName(isvc, 'primary');
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: childMeta(isvc, name, { [TRACK_LABEL]: 'primary' }),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a.targetCPUUtilizationPercentage } } }],
      behavior: {
        scaleUp: rules(a.behavior?.scaleUp, DEFAULT_HPA_BEHAVIOR.scaleUp),
        scaleDown: rules(a.behavior?.scaleDown, DEFAULT_HPA_BEHAVIOR.scaleDown),
      },
    },
  };
}

export interface ReplicasInput {
  isvc: ImageService;
  track: Track;
  /** What the rollout plan asks: spec.replicas for primary, the canary's count (0 when idle). */
  planned: number;
  /** spec.replicas of the live primary Deployment; undefined when it does not exist yet. */
  livePrimary: number | undefined;
}

/**
 * A Deployment's spec.replicas, or undefined when the HPA owns them (primary exists and
 * autoscales): the operator then leaves the field as the HPA last set it, and the two never fight.
 */
export function replicasOf({ isvc, track, planned, livePrimary }: ReplicasInput): number | undefined {
  const a = isvc.spec.autoscaling;
  if (a === undefined) return planned;
  if (track === 'primary') return livePrimary === undefined ? a.minReplicas : undefined;
  return planned === 0 ? 0 : Math.max(1, livePrimary ?? a.minReplicas);
}
