// The Deployment of a track: a pod template (primary's promoted one, or the
// canary's under analysis) with the track's labels, selector and replicas.
import type { V1Deployment, V1PodTemplateSpec } from '@kubernetes/client-node';
import type { ImageService } from '../api/image-service.ts';
import { childMeta, REVISION_LABEL, TRACK_LABEL, type Track, trackName, trackSelector } from './labels.ts';
import { revisionOf } from './revision.ts';

export interface DeploymentInput {
  isvc: ImageService;
  track: Track;
  /** The track's template, from buildPodTemplate (possibly of an older spec, for primary). */
  template: V1PodTemplateSpec;
  /** Pods to run: spec.replicas, 0 for an idle canary, undefined where an HPA owns them (hpa.ts). */
  replicas: number | undefined;
}

export function buildDeployment({ isvc, track, template, replicas }: DeploymentInput): V1Deployment {
  const revision = revisionOf(template);
  const selector = trackSelector(isvc, track);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMeta(isvc, trackName(isvc, track), { [TRACK_LABEL]: track, [REVISION_LABEL]: revision }),
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: { matchLabels: selector },
      // zero downtime: a new pod is ready before an old one goes
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      progressDeadlineSeconds: isvc.spec.canary.progressDeadlineSeconds,
      revisionHistoryLimit: 3,
      template: {
        ...template,
        metadata: {
          ...template.metadata,
          labels: { ...template.metadata?.labels, ...selector, [REVISION_LABEL]: revision },
        },
      },
    },
  };
}
