import type { ImageService } from './api/image-service.ts';
import { buildDeployment } from './build/deployment.ts';
import { REVISION_LABEL } from './build/labels.ts';
import { ownedEqual } from './build/owned.ts';
import { buildPodTemplate } from './build/pod-template.ts';
import { revisionOf } from './build/revision.ts';
import { buildServices } from './build/services.ts';
import { buildVirtualService } from './build/virtual-service.ts';
import { type KubeObject, type ResourceType, resources } from './kube/client.ts';
import type { RolloutPlan } from './rollout.ts';

/**
 * From a rollout plan to the objects that should exist (DESIGN "What the operator creates"),
 * and the two rules for writing them: write only when an owned field differs, and write the
 * owned fields over the live object so that what the API server added stays.
 */

export interface Desired {
  type: ResourceType;
  object: KubeObject;
}

/** The revision the spec asks for: the hash of the pod template it builds. */
export function templateRevision(isvc: ImageService): string {
  return revisionOf(buildPodTemplate(isvc));
}

/**
 * Primary runs the spec's template when the plan says so (initialisation, promotion) or when it
 * is the promoted revision already (so a hand edit of it is reverted); otherwise it keeps the
 * template it runs, which no spec can rebuild. A missing primary is rebuilt from the spec.
 */
export function desiredChildren(isvc: ImageService, plan: RolloutPlan, livePrimary: KubeObject | undefined): Desired[] {
  const specTemplate = buildPodTemplate(isvc);
  const specRevision = revisionOf(specTemplate);
  const primaryFromSpec =
    plan.primaryTemplate === 'spec' || plan.status.primary?.revision === specRevision || livePrimary === undefined;
  let primary = buildDeployment({ isvc, track: 'primary', template: specTemplate, replicas: isvc.spec.replicas }) as KubeObject;
  if (!primaryFromSpec) {
    const liveSpec = livePrimary['spec'] as { template?: unknown } | undefined;
    const revision = livePrimary.metadata.labels?.[REVISION_LABEL];
    primary = {
      ...primary,
      metadata: { ...primary.metadata, labels: { ...primary.metadata.labels, ...(revision ? { [REVISION_LABEL]: revision } : {}) } },
      spec: { ...(primary['spec'] as object), template: liveSpec?.template },
    };
  }
  const canary = buildDeployment({ isvc, track: 'canary', template: specTemplate, replicas: plan.canaryReplicas });
  const weight = Math.round(plan.status.canaryWeight ?? 0);
  return [
    { type: resources.deployments, object: primary },
    { type: resources.deployments, object: canary as KubeObject },
    ...buildServices(isvc).map((s) => ({ type: resources.services, object: s as KubeObject })),
    { type: resources.virtualServices, object: buildVirtualService(isvc, weight) as unknown as KubeObject },
  ];
}

/** Whether the live object lacks an owned field's value (C's subset comparison). */
export function needsWrite(desired: KubeObject, live: KubeObject): boolean {
  return !ownedEqual(stripTypeMeta(desired), live);
}

/**
 * The object to PUT: the live one with every owned field set. Objects merge key by key (so the
 * server's defaults and others' labels stay); lists are the operator's (replaced whole).
 */
export function mergeOwned(live: KubeObject, desired: KubeObject): KubeObject {
  return merge(live, desired) as KubeObject;
}

function merge(live: unknown, desired: unknown): unknown {
  if (!isObject(live) || !isObject(desired)) return desired === undefined ? live : desired;
  const out: Record<string, unknown> = { ...live };
  for (const [k, v] of Object.entries(desired)) out[k] = merge(live[k], v);
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function stripTypeMeta(obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest as KubeObject;
}
