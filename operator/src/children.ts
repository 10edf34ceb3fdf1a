import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import type { ImageService, Router } from './api/image-service.ts';
import { buildDeployment } from './build/deployment.ts';
import { buildHorizontalPodAutoscaler, replicasOf } from './build/hpa.ts';
import { buildHTTPRoute } from './build/http-route.ts';
import { REVISION_LABEL, trackName } from './build/labels.ts';
import { ownedEqual } from './build/owned.ts';
import { buildServices } from './build/services.ts';
import { buildVirtualService, type CanaryRouting } from './build/virtual-service.ts';
import { isObject } from './json.ts';
import { type KubeObject, type ResourceType, resources } from './kube/client.ts';
import type { PrimarySource, RolloutPlan } from './rollout.ts';

/**
 * From a rollout plan to the objects that should exist (docs/architecture.md, "What the operator creates"),
 * and the two rules for writing them: write only when an owned field differs, and write the
 * owned fields over the live object so that what the API server added stays.
 */

export interface Desired {
  type: ResourceType;
  object: KubeObject;
}

/**
 * The children the plan implies. `template` is the spec's pod template (built once per reconcile):
 * the canary always runs it; primary runs the one the plan names, and `livePrimary` is read only
 * when that is the live Deployment's own.
 */
export function desiredChildren(isvc: ImageService, plan: RolloutPlan, template: V1PodTemplateSpec, livePrimary: KubeObject | undefined): Desired[] {
  // with autoscaling, the live count is the HPA's choice: primary keeps it and the canary follows it
  const live = livePrimary === undefined ? undefined : ((livePrimary['spec'] as { replicas?: number } | undefined)?.replicas ?? 1);
  const replicas = replicasOf({ isvc, track: 'primary', planned: isvc.spec.replicas, livePrimary: live });
  const canaryReplicas = replicasOf({ isvc, track: 'canary', planned: plan.canaryReplicas, livePrimary: live });
  const canary = buildDeployment({ isvc, track: 'canary', template, replicas: canaryReplicas });
  const weight = Math.round(plan.status.canaryWeight ?? 0);
  const hpa = buildHorizontalPodAutoscaler(isvc);
  return [
    { type: resources.deployments, object: primaryDeployment(isvc, plan.primary, template, livePrimary, replicas) },
    // after primary: the HPA scales a Deployment that exists
    ...(hpa === undefined ? [] : [{ type: resources.horizontalPodAutoscalers, object: hpa as unknown as KubeObject }]),
    { type: resources.deployments, object: canary as KubeObject },
    ...buildServices(isvc).map((s) => ({ type: resources.services, object: s as KubeObject })),
    { type: ROUTES[isvc.spec.router], object: buildRoute(isvc, { weight, canaryRunning: plan.canaryReplicas > 0, mirrorPercent: plan.mirrorPercent }) },
  ];
}

/** The kind of route each router writes; the reconciler removes the others' (a router switch). */
export const ROUTES = { istio: resources.virtualServices, gatewayapi: resources.httpRoutes } as const satisfies Record<Router, ResourceType>;

/** The router's route: weights, preview rule and mirror, in the router's terms. */
function buildRoute(isvc: ImageService, routing: CanaryRouting): KubeObject {
  const route = isvc.spec.router === 'gatewayapi' ? buildHTTPRoute(isvc, routing) : buildVirtualService(isvc, routing);
  return route as unknown as KubeObject;
}

/** The field of a route listing the hosts it takes traffic for. */
export function hostsField(type: ResourceType): 'hosts' | 'hostnames' {
  return type === resources.httpRoutes ? 'hostnames' : 'hosts';
}

function primaryDeployment(isvc: ImageService, source: PrimarySource, template: V1PodTemplateSpec, livePrimary: KubeObject | undefined, replicas: number | undefined): KubeObject {
  if (source.from !== 'live') return buildDeployment({ isvc, track: 'primary', template: source.from === 'kept' ? source.template : template, replicas }) as KubeObject;
  if (livePrimary === undefined) throw new Error('the plan keeps the template of a primary Deployment that is not there');
  // The live template, which no spec can rebuild, under the owned fields of the spec's Deployment.
  const built = buildDeployment({ isvc, track: 'primary', template, replicas }) as KubeObject;
  const revision = livePrimary.metadata.labels?.[REVISION_LABEL];
  return {
    ...built,
    metadata: { ...built.metadata, labels: { ...built.metadata.labels, ...(revision ? { [REVISION_LABEL]: revision } : {}) } },
    spec: { ...(built['spec'] as object), template: (livePrimary['spec'] as { template?: unknown } | undefined)?.template },
  };
}

/**
 * Children that must not exist for this spec, if the operator made them: primary's HPA without
 * spec.autoscaling, and the route of each router the spec does not choose (a router switch).
 */
export function unwantedChildren(isvc: ImageService): { type: ResourceType; name: string }[] {
  const routes = Object.values(ROUTES).filter((type) => type !== ROUTES[isvc.spec.router]);
  return [
    ...(isvc.spec.autoscaling === undefined ? [{ type: resources.horizontalPodAutoscalers, name: trackName(isvc, 'primary') }] : []),
    ...routes.map((type) => ({ type, name: isvc.metadata.name })),
  ];
}

/** Whether the live object lacks an owned field's value (owned fields as a subset of the live object, build/owned.ts). */
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
