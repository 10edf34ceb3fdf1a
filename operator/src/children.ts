import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import { z } from 'zod';
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
import { isObject } from './json.ts';

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

/** Where primary's template comes from: a pod template to build it from, or the live Deployment's. */
export type PrimaryTemplate =
  | {
      kind: 'pod';
      /** As buildPodTemplate makes it; status keeps it as the promoted one when `fromSpec`. */
      template: V1PodTemplateSpec;
      revision: string;
      fromSpec: boolean;
    }
  | { kind: 'live'; template: unknown; revision: string | undefined };

/**
 * The template primary runs: the spec's when the plan says so (initialisation, promotion) or
 * when it is the promoted revision already (so a hand edit of it is reverted); otherwise the one
 * it runs, which no spec can rebuild, or, when primary was deleted, the promoted one kept in
 * status. Only a status from before templates were kept leaves nothing but the spec.
 */
export function primaryTemplate(isvc: ImageService, plan: RolloutPlan, livePrimary: KubeObject | undefined): PrimaryTemplate {
  const specTemplate = buildPodTemplate(isvc);
  const specRevision = revisionOf(specTemplate);
  const promoted = plan.status.primary;
  const fromSpec: PrimaryTemplate = { kind: 'pod', template: specTemplate, revision: specRevision, fromSpec: true };
  if (plan.primaryTemplate === 'spec' || promoted?.revision === specRevision) return fromSpec;
  if (livePrimary !== undefined) {
    const liveSpec = livePrimary['spec'] as { template?: unknown } | undefined;
    return { kind: 'live', template: liveSpec?.template, revision: livePrimary.metadata.labels?.[REVISION_LABEL] };
  }
  // The pod template hashes to its revision, so the Deployment built from it is the promoted one.
  const kept = promoted?.template === undefined ? undefined : parsePodTemplate(promoted.template);
  if (kept !== undefined) return { kind: 'pod', template: kept, revision: revisionOf(kept), fromSpec: false };
  return fromSpec;
}

/** Enough of a pod template to build a Deployment from; the API server validates the rest. */
const KeptPodTemplateSchema = z.looseObject({
  metadata: z.looseObject({}).optional(),
  spec: z.looseObject({ containers: z.array(z.looseObject({ name: z.string(), image: z.string() })).min(1) }),
});

/** status.primary.template, or undefined when it is not JSON of a pod template (then the spec is all there is). */
export function parsePodTemplate(text: string): V1PodTemplateSpec | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return KeptPodTemplateSchema.safeParse(value).success ? (value as V1PodTemplateSpec) : undefined;
}

export function desiredChildren(isvc: ImageService, plan: RolloutPlan, source: PrimaryTemplate): Desired[] {
  const specTemplate = buildPodTemplate(isvc);
  const replicas = isvc.spec.replicas;
  let primary: KubeObject;
  if (source.kind === 'pod') primary = buildDeployment({ isvc, track: 'primary', template: source.template, replicas }) as KubeObject;
  else {
    // The live template, which no spec can rebuild, under the owned fields of the spec's Deployment.
    const built = buildDeployment({ isvc, track: 'primary', template: specTemplate, replicas }) as KubeObject;
    const { revision } = source;
    primary = {
      ...built,
      metadata: { ...built.metadata, labels: { ...built.metadata.labels, ...(revision ? { [REVISION_LABEL]: revision } : {}) } },
      spec: { ...(built['spec'] as object), template: source.template },
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

function stripTypeMeta(obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest as KubeObject;
}
