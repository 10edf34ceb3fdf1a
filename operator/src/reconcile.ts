import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { type Condition, type ImageService, type ImageServiceStatus, ImageServiceStatusSchema, MAX_STATUS_MESSAGE_LENGTH, validateImageService } from './api/image-service.ts';
import { MANAGED_BY_LABEL, MANAGER, REVISION_LABEL, trackName } from './build/labels.ts';
import { buildPodTemplate, templateSizeIssue } from './build/pod-template.ts';
import { revisionOf } from './build/revision.ts';
import { checkDue, decide } from './canary/decide.ts';
import { type Desired, desiredChildren, hostsField, mergeOwned, needsWrite, ROUTES, unwantedChildren } from './children.ts';
import { bounded, removeCondition, setCondition } from './conditions.ts';
import { type KubeClient, type KubeObject, type ResourceType, resources } from './kube/client.ts';
import type { Clock } from './kube/clock.ts';
import { ConflictError, NotFoundError } from './kube/errors.ts';
import type { EventRecorder } from './kube/events.ts';
import { controllerOf, type Informer } from './kube/informer.ts';
import type { OperatorMetrics } from './metrics.ts';
import { hostNamespace, policyViolations, type TenantPolicy } from './policy.ts';
import type { Measure, Observations, RolloutPlan, TrackObservation } from './rollout.ts';

/**
 * One ImageService, level-triggered: observe (the ImageService and its children, from the
 * informer caches) -> measure the canary when a check is due -> decide (the rollout plan) ->
 * build (the children the plan implies) -> act (write only the children whose owned fields
 * differ, then the status). Every write carries a resourceVersion, so a stale cache ends in a
 * 409 and a requeue, never in overwriting someone else's change.
 */

export const MANAGED_BY_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGER}`;

/** How soon to look again at a condition that waits on the outside world (Istio, a conflicting object). */
export const SLOW_RETRY_MS = 60_000;

/** Longest wait for the cache to show our own status write before acting on the old copy. */
const SUPERSEDED_WAIT_MS = 5_000;

export interface Caches {
  imageServices: Informer;
  deployments: Informer;
  services: Informer;
  virtualServices: Informer;
  horizontalPodAutoscalers: Informer;
  httpRoutes: Informer;
}

export interface ReconcilerDeps {
  client: KubeClient;
  caches: Caches;
  recorder: EventRecorder;
  metrics: OperatorMetrics;
  logger: Logger;
  clock: Clock;
  measure: Measure;
  policy: TenantPolicy;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** Writes made to children and status (Events not counted). */
  writes: number;
}

type ApplyOutcome = 'created' | 'updated' | 'unchanged' | 'unavailable' | { conflict: string };

const ROUTE_TYPES: ResourceType[] = Object.values(ROUTES);

export class Reconciler {
  readonly #d: ReconcilerDeps;
  /**
   * Per key, the resourceVersion our last status write replaced. While the cache still shows
   * that version it has not seen our write; acting on it would redo the last step and fail
   * with a 409, so we wait for the informer's update, which enqueues the key again (and look
   * again after SUPERSEDED_WAIT_MS at the latest, should that update never come).
   */
  readonly #superseded = new Map<string, { resourceVersion: string; until: number }>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
  }

  async reconcile(namespace: string, name: string, signal: AbortSignal): Promise<ReconcileResult> {
    const d = this.#d;
    const obj = d.caches.imageServices.get(namespace, name);
    if (obj === undefined) {
      // deleted: its children go with it through their ownerReferences
      this.#superseded.delete(`${namespace}/${name}`);
      d.metrics.forget(namespace, name);
      return { writes: 0 };
    }
    if (obj.metadata.deletionTimestamp !== undefined) return { writes: 0 };
    const key = `${namespace}/${name}`;
    const superseded = this.#superseded.get(key);
    const waitMs = superseded === undefined ? 0 : superseded.until - d.clock.now();
    if (superseded?.resourceVersion === obj.metadata.resourceVersion && waitMs > 0) {
      return { writes: 0, requeueAfterMs: waitMs };
    }
    this.#superseded.delete(key);
    const now = new Date(d.clock.now());
    const generation = obj.metadata.generation ?? 0;
    const current = readStatus(obj);

    const valid = validateImageService({ ...obj, status: undefined });
    if (!valid.ok) return this.#refuse(obj, current, { type: 'InvalidSpec', reason: 'InvalidSpec', message: valid.issues.map((i) => i.message).join('; ') }, now, signal);
    const isvc = valid.value;
    const template = buildPodTemplate(isvc);
    const tooLarge = templateSizeIssue(template);
    if (tooLarge !== undefined) return this.#refuse(obj, current, { type: 'InvalidSpec', reason: 'InvalidSpec', message: tooLarge }, now, signal);
    const violations = policyViolations(isvc, d.policy);
    const [first] = violations;
    if (first !== undefined) {
      const message = violations.map((v) => v.message).join('; ');
      return this.#refuse(obj, current, { type: 'PolicyViolation', reason: first.reason, message }, now, signal);
    }
    const uid = obj.metadata.uid ?? '';

    const primaryLive = this.#owned(d.caches.deployments, namespace, trackName(isvc, 'primary'), uid);
    const canaryLive = this.#owned(d.caches.deployments, namespace, trackName(isvc, 'canary'), uid);
    const observed: Omit<Observations, 'analysis'> = {
      generation,
      revision: revisionOf(template),
      image: isvc.spec.image,
      template: JSON.stringify(template),
      primary: observeTrack(primaryLive),
      canary: observeTrack(canaryLive),
      promote: obj.metadata.annotations?.['imageops.dev/promote'] === 'true',
      abort: obj.metadata.annotations?.['imageops.dev/abort'] === 'true',
    };
    const due = checkDue(isvc.spec, current, observed, now);
    const analysis = due === undefined ? undefined : await d.measure(isvc, due, now, signal);
    const plan = decide(isvc.spec, current, { ...observed, analysis }, now);

    let writes = 0;
    const conflicts: string[] = [];
    let unavailable: ResourceType | undefined;
    let routed = false;
    const routeType = ROUTES[isvc.spec.router];
    const unwanted = unwantedChildren(isvc);
    const isRoute = (type: ResourceType) => ROUTE_TYPES.includes(type);
    // first: an HPA left from an earlier spec would scale primary against the replicas written below
    for (const gone of unwanted.filter((g) => !isRoute(g.type))) writes += await this.#remove(obj, gone, uid, signal);
    for (const desired of desiredChildren(isvc, plan, template, primaryLive)) {
      let child: Desired | undefined = desired;
      if (desired.type === routeType) {
        // after the Services: a route never takes the name of a Service that is not ours
        child = await this.#routable(desired, isvc, uid, conflicts, signal);
        if (child === undefined) continue;
      }
      const outcome = await this.#apply(child, uid, signal);
      if (outcome === 'created' || outcome === 'updated') writes++;
      if (outcome === 'updated') d.recorder.record(obj, 'Normal', 'Updated', `Updated ${child.type.kind} ${child.object.metadata.name}`);
      if (outcome === 'unavailable') unavailable = child.type;
      if (typeof outcome === 'object') conflicts.push(outcome.conflict);
      if (child.type === routeType && typeof outcome === 'string' && outcome !== 'unavailable') routed = true;
    }
    // A router switch: the other router's route goes once the new one is in place, so the
    // mesh always has one of them.
    if (routed) for (const gone of unwanted.filter((g) => isRoute(g.type))) writes += await this.#remove(obj, gone, uid, signal);

    const status = this.#finalStatus(plan, current, generation, now, {
      conflicts,
      unavailable,
      primary: observed.primary,
      replicas: isvc.spec.autoscaling === undefined ? isvc.spec.replicas : observed.primary.replicas,
    });
    writes += await this.#writeStatus(obj, current, status, signal);
    for (const e of plan.events) d.recorder.record(obj, e.type, e.reason, e.message);
    if (plan.removeAnnotations.length > 0) {
      const annotations = Object.fromEntries(plan.removeAnnotations.map((k) => [k, null]));
      await d.client.mergePatch(resources.imageServices, namespace, name, { metadata: { annotations } }, signal);
      writes++;
    }
    if (changed(current.conditions, status.conditions, 'ConflictingChild') && conflicts.length > 0) {
      d.recorder.record(obj, 'Warning', 'ConflictingChild', conflictMessage(conflicts));
    }
    if (unavailable !== undefined && changed(current.conditions, status.conditions, unavailableCondition(unavailable))) {
      d.recorder.record(obj, 'Warning', unavailableCondition(unavailable), unavailableMessage(unavailable));
    }
    d.metrics.observeStatus(namespace, name, status);

    const waits = [plan.requeueAfterMs, conflicts.length > 0 || unavailable !== undefined ? SLOW_RETRY_MS : undefined];
    const requeueAfterMs = Math.min(...waits.filter((w): w is number => w !== undefined));
    return Number.isFinite(requeueAfterMs) ? { writes, requeueAfterMs } : { writes };
  }

  /** Status only, saying why nothing else is written: a spec the schema or the policy refuses. */
  async #refuse(
    obj: KubeObject,
    current: ImageServiceStatus,
    why: { type: 'InvalidSpec' | 'PolicyViolation'; reason: string; message: string },
    now: Date,
    signal: AbortSignal,
  ): Promise<ReconcileResult> {
    const generation = obj.metadata.generation ?? 0;
    const other = why.type === 'InvalidSpec' ? 'PolicyViolation' : 'InvalidSpec';
    let conditions = removeCondition(current.conditions, other);
    conditions = setCondition(conditions, { type: why.type, status: 'True', reason: why.reason, message: why.message }, now, generation);
    conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: why.type, message: why.message }, now, generation);
    const prefix = why.type === 'InvalidSpec' ? 'Invalid spec' : 'Not allowed';
    const status = { ...current, observedGeneration: generation, message: `${prefix}: ${why.message}`, conditions };
    const writes = await this.#writeStatus(obj, current, status, signal);
    if (changed(current.conditions, status.conditions, why.type)) this.#d.recorder.record(obj, 'Warning', why.reason, why.message);
    return { writes };
  }

  /**
   * The route (VirtualService or HTTPRoute) to write, or undefined when none may be: its
   * destinations and the name it routes must be this ImageService's Services; a host of
   * traffic.hosts naming a Service of the namespace that is someone else's is left out, and so
   * is an external host that another ImageService's route of the same kind routed first (noted
   * in `conflicts`).
   */
  async #routable(route: Desired, isvc: ImageService, uid: string, conflicts: string[], signal: AbortSignal): Promise<Desired | undefined> {
    const namespace = isvc.metadata.namespace ?? 'default';
    const { kind } = route.type;
    if (conflicts.some((c) => c.startsWith('Service '))) {
      conflicts.push(`${kind} ${route.object.metadata.name} (not written: it would route to or for them)`);
      return undefined;
    }
    const field = hostsField(route.type);
    const spec = route.object['spec'] as Record<typeof field, string[]>;
    const hosts: string[] = [];
    for (const host of spec[field]) {
      const service = hostNamespace(host, namespace) === namespace ? (host.split('.')[0] as string) : undefined;
      const first = service === undefined ? this.#routedFirst(host, route, uid) : undefined;
      if (service !== undefined && (await this.#foreignService(namespace, service, uid, signal))) {
        conflicts.push(`Service ${service} (host ${host} of traffic.hosts, left out of the ${kind})`);
      } else if (first !== undefined) {
        conflicts.push(`${kind} ${first.metadata.namespace ?? ''}/${first.metadata.name} (routes host ${host} since before this one; left out of the ${kind})`);
      } else hosts.push(host);
    }
    return { ...route, object: { ...route.object, spec: { ...spec, [field]: hosts } } };
  }

  /**
   * Another ImageService's route of the same kind that routed `host` before ours existed, if any
   * (the mesh would merge the two, or keep the older, and either way one tenant would take
   * another's traffic). Older is by creation, then by namespace/name; routes written by hand are
   * not cached and not seen.
   */
  #routedFirst(host: string, ours: Desired, uid: string): KubeObject | undefined {
    const { namespace = '', name } = ours.object.metadata;
    const cache = this.#cacheFor(ours.type);
    const field = hostsField(ours.type);
    const live = cache.get(namespace, name);
    const order = (o: KubeObject) => `${String(o.metadata['creationTimestamp'] ?? '')} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    return cache.list().find((other) => {
      if (controllerOf(other)?.uid === uid) return false;
      const hosts = (other['spec'] as Record<string, unknown> | undefined)?.[field];
      return Array.isArray(hosts) && hosts.includes(host) && (live === undefined || order(other) < order(live));
    });
  }

  /** Deletes a child this ImageService controls and its spec no longer wants; the number of writes. */
  async #remove(obj: KubeObject, gone: { type: ResourceType; name: string }, uid: string, signal: AbortSignal): Promise<number> {
    const namespace = obj.metadata.namespace ?? '';
    if (this.#owned(this.#cacheFor(gone.type), namespace, gone.name, uid) === undefined) return 0;
    try {
      await this.#d.client.delete(gone.type, namespace, gone.name, signal);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err; // gone already: the cache lags
    }
    this.#d.recorder.record(obj, 'Normal', 'Deleted', `Deleted ${gone.type.kind} ${gone.name}`);
    return 1;
  }

  /** Whether a Service of this name exists and is not controlled by this ImageService. */
  async #foreignService(namespace: string, name: string, uid: string, signal: AbortSignal): Promise<boolean> {
    // the cache holds only Services labelled as the operator's
    let live = this.#d.caches.services.get(namespace, name);
    if (live === undefined) {
      try {
        live = await this.#d.client.get(resources.services, namespace, name, signal);
      } catch (err) {
        if (err instanceof NotFoundError) return false;
        throw err;
      }
    }
    return controllerOf(live)?.uid !== uid;
  }

  #finalStatus(
    plan: RolloutPlan,
    current: ImageServiceStatus,
    generation: number,
    now: Date,
    seen: { conflicts: string[]; unavailable: ResourceType | undefined; primary: TrackObservation; replicas: number },
  ): ImageServiceStatus {
    let conditions = removeCondition(removeCondition(plan.status.conditions ?? current.conditions, 'InvalidSpec'), 'PolicyViolation');
    conditions =
      seen.conflicts.length > 0
        ? setCondition(conditions, { type: 'ConflictingChild', status: 'True', reason: 'NotOwned', message: conflictMessage(seen.conflicts) }, now, generation)
        : removeCondition(conditions, 'ConflictingChild');
    for (const type of ROUTE_TYPES) {
      conditions =
        seen.unavailable === type
          ? setCondition(conditions, { type: unavailableCondition(type), status: 'True', reason: 'APINotServed', message: unavailableMessage(type) }, now, generation)
          : removeCondition(conditions, unavailableCondition(type));
    }
    const ready: Pick<Condition, 'status' | 'reason' | 'message'> =
      seen.conflicts.length > 0
        ? { status: 'False', reason: 'ConflictingChild', message: conflictMessage(seen.conflicts) }
        : seen.unavailable !== undefined
          ? { status: 'False', reason: unavailableCondition(seen.unavailable), message: unavailableMessage(seen.unavailable) }
          : !seen.primary.rolledOut
            ? { status: 'False', reason: 'PrimaryNotReady', message: `Primary has ${seen.primary.readyReplicas}/${seen.replicas} replicas ready` }
            : { status: 'True', reason: 'Available', message: `Primary serves with ${seen.primary.readyReplicas} ready replicas` };
    conditions = setCondition(conditions, { type: 'Ready', ...ready }, now, generation);
    return { ...plan.status, observedGeneration: generation, conditions };
  }

  /** A child in the cache that this ImageService controls; undefined when absent or someone else's. */
  #owned(cache: Informer, namespace: string, name: string, uid: string): KubeObject | undefined {
    const live = cache.get(namespace, name);
    return live !== undefined && controllerOf(live)?.uid === uid ? live : undefined;
  }

  async #apply(child: Desired, uid: string, signal: AbortSignal): Promise<ApplyOutcome> {
    const { client } = this.#d;
    const { namespace = '', name } = child.object.metadata;
    const cache = this.#cacheFor(child.type);
    let live = cache.get(namespace, name);
    if (live === undefined) {
      try {
        await client.create(child.type, child.object, signal);
        return 'created';
      } catch (err) {
        // 404 on a collection: the API is not served (no Istio)
        if (err instanceof NotFoundError) return 'unavailable';
        if (!(err instanceof ConflictError && err.alreadyExists)) throw err;
        // there, but not in our cache: not labelled as ours, or the cache lags
        live = await client.get(child.type, namespace, name, signal);
      }
    }
    if (controllerOf(live)?.uid !== uid) return { conflict: `${child.type.kind} ${name}` };
    if (!needsWrite(child.object, live)) return 'unchanged';
    await client.replace(child.type, mergeOwned(live, child.object), signal);
    return 'updated';
  }

  #cacheFor(type: ResourceType): Informer {
    const { caches } = this.#d;
    if (type === resources.deployments) return caches.deployments;
    if (type === resources.services) return caches.services;
    if (type === resources.horizontalPodAutoscalers) return caches.horizontalPodAutoscalers;
    if (type === resources.httpRoutes) return caches.httpRoutes;
    return caches.virtualServices;
  }

  /** Writes status through /status when it differs; the ImageService's resourceVersion guards it. */
  async #writeStatus(obj: KubeObject, current: ImageServiceStatus, unbounded: ImageServiceStatus, signal: AbortSignal): Promise<number> {
    const next = boundStatus(unbounded);
    const normal = (s: ImageServiceStatus) => JSON.parse(JSON.stringify(s)) as unknown;
    if (isDeepStrictEqual(normal(current), normal(next))) return 0;
    const written = await this.#d.client.replaceStatus(resources.imageServices, { ...obj, status: next }, signal);
    const { namespace = '', name, resourceVersion } = obj.metadata;
    // a write the server found to change nothing keeps the version: nothing to wait for
    if (resourceVersion !== undefined && written.metadata.resourceVersion !== resourceVersion) {
      this.#superseded.set(`${namespace}/${name}`, { resourceVersion, until: this.#d.clock.now() + SUPERSEDED_WAIT_MS });
    }
    return 1;
  }
}

/** Messages cut to what the CRD admits, so that a status write never fails for their size. */
function boundStatus(status: ImageServiceStatus): ImageServiceStatus {
  const cut = (text: string | undefined) => (text === undefined ? undefined : bounded(text, MAX_STATUS_MESSAGE_LENGTH));
  return {
    ...status,
    ...(status.message === undefined ? {} : { message: cut(status.message) }),
    ...(status.conditions === undefined ? {} : { conditions: status.conditions.map((c) => (c.message === undefined ? c : { ...c, message: cut(c.message) })) }),
    ...(status.lastAnalysis?.reason === undefined ? {} : { lastAnalysis: { ...status.lastAnalysis, reason: cut(status.lastAnalysis.reason) } }),
  };
}

/** VirtualServiceUnavailable or HTTPRouteUnavailable: the router's API is not served. */
const unavailableCondition = (type: ResourceType) => `${type.kind}Unavailable`;

function unavailableMessage(type: ResourceType): string {
  const install = type === resources.httpRoutes ? "install the Gateway API CRDs (and an implementation such as Istio's)" : 'install Istio';
  return `${type.apiVersion} ${type.kind} is not served by this cluster: ${install}; the Deployments and Services are in place, traffic is not weighted`;
}

function conflictMessage(conflicts: string[]): string {
  return `${conflicts.join(', ')} exist${conflicts.length === 1 ? 's' : ''} and ${conflicts.length === 1 ? 'is' : 'are'} not controlled by this ImageService: delete or rename, or give the ImageService another name`;
}

/** Whether a condition of this type appeared or changed status. */
function changed(before: Condition[] | undefined, after: Condition[] | undefined, type: string): boolean {
  const a = before?.find((c) => c.type === type);
  const b = after?.find((c) => c.type === type);
  return a?.status !== b?.status || (b !== undefined && a?.message !== b.message);
}

function readStatus(obj: KubeObject): ImageServiceStatus {
  const parsed = ImageServiceStatusSchema.safeParse(obj['status'] ?? {});
  return parsed.success ? parsed.data : {};
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function observeTrack(live: KubeObject | undefined): TrackObservation {
  if (live === undefined) {
    return { exists: false, revision: undefined, image: undefined, replicas: 0, readyReplicas: 0, updatedReplicas: 0, rolledOut: false };
  }
  const spec = (live['spec'] ?? {}) as { replicas?: unknown; template?: { spec?: { containers?: Array<{ image?: unknown }> } } };
  const status = (live['status'] ?? {}) as Record<string, unknown>;
  const replicas = spec.replicas === undefined ? 1 : num(spec.replicas);
  const readyReplicas = num(status['readyReplicas']);
  const updatedReplicas = num(status['updatedReplicas']);
  const image = spec.template?.spec?.containers?.[0]?.image;
  const observed = num(status['observedGeneration']) >= (live.metadata.generation ?? 0);
  return {
    exists: true,
    revision: live.metadata.labels?.[REVISION_LABEL],
    image: typeof image === 'string' ? image : undefined,
    replicas,
    readyReplicas,
    updatedReplicas,
    rolledOut: observed && updatedReplicas >= replicas && readyReplicas >= replicas && num(status['replicas']) <= replicas,
  };
}
