// What the demo, the end-to-end tests and the canary benchmark do to an ImageService through the
// API server, as a user would with kubectl: apply, change the image, annotate, watch its status,
// its Events, its VirtualService and Deployments.
import fs from 'node:fs';
import http from 'node:http';
import { parse } from 'yaml';
import { z } from 'zod';
import { type ImageServiceStatus, ImageServiceStatusSchema, type Phase } from '../../operator/src/api/image-service.ts';
import { isObject } from '../../operator/src/json.ts';
import { ApiError, type KubeClient, RESOURCES, type ResourceType } from '../kube/client.ts';
import { HTTPRouteSchema } from '../kube/types.ts';

export const IMAGE_SERVICES: ResourceType = { group: 'imageops.dev', version: 'v1alpha1', plural: 'imageservices', namespaced: true };

export interface Ref {
  namespace: string;
  name: string;
}

/** An ImageService as written by a user: apiVersion, kind, metadata and a spec. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

const ManifestSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.literal('ImageService'),
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  spec: z.record(z.string(), z.unknown()),
});

export function readManifest(file: string): Manifest {
  return ManifestSchema.parse(parse(fs.readFileSync(file, 'utf8'))) as Manifest;
}

/** JSON merge patch (RFC 7386) of `patch` over `target`, as kubectl patch --type merge does; returns a new object. */
export function mergePatch<T>(target: T, patch: unknown): T {
  if (!isObject(patch)) return patch as T;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out as T;
}

export function refOf(m: Manifest): Ref {
  return { namespace: m.metadata.namespace ?? 'default', name: m.metadata.name };
}

/** Creates the ImageService, or replaces its spec when it exists (kubectl apply's effect here). */
export async function applyImageService(client: KubeClient, m: Manifest): Promise<Ref> {
  const ref = refOf(m);
  try {
    await client.create(IMAGE_SERVICES, ref.namespace, { ...m, metadata: { ...m.metadata, namespace: ref.namespace } });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) throw err;
    await client.mergePatch(IMAGE_SERVICES, ref.namespace, ref.name, { spec: m.spec });
  }
  return ref;
}

export async function setImage(client: KubeClient, ref: Ref, image: string): Promise<void> {
  await client.mergePatch(IMAGE_SERVICES, ref.namespace, ref.name, { spec: { image } });
}

export async function patchSpec(client: KubeClient, ref: Ref, spec: Record<string, unknown>): Promise<void> {
  await client.mergePatch(IMAGE_SERVICES, ref.namespace, ref.name, { spec });
}

export async function annotate(client: KubeClient, ref: Ref, key: string, value: string): Promise<void> {
  await client.mergePatch(IMAGE_SERVICES, ref.namespace, ref.name, { metadata: { annotations: { [key]: value } } });
}

export async function deleteImageService(client: KubeClient, ref: Ref): Promise<void> {
  await client.delete(IMAGE_SERVICES, ref.namespace, ref.name);
}

const ObjectWithStatus = z.looseObject({
  metadata: z.looseObject({ generation: z.number().optional(), annotations: z.record(z.string(), z.string()).optional() }),
  spec: z.looseObject({ image: z.string() }),
  status: z.unknown().optional(),
});

export interface Observed {
  generation: number;
  image: string;
  annotations: Record<string, string>;
  status: ImageServiceStatus;
}

/** The ImageService's spec image and its status (validated with the operator's schema), or undefined when absent. */
export async function observe(client: KubeClient, ref: Ref): Promise<Observed | undefined> {
  const obj = await client.get(IMAGE_SERVICES, ObjectWithStatus, ref.namespace, ref.name);
  if (obj === undefined) return undefined;
  return {
    generation: obj.metadata.generation ?? 0,
    image: obj.spec.image,
    annotations: obj.metadata.annotations ?? {},
    status: obj.status === undefined ? {} : ImageServiceStatusSchema.parse(obj.status),
  };
}

/** The status has caught up with the spec and is in one of `phases`. */
export function settledIn(o: Observed | undefined, phases: readonly Phase[]): boolean {
  return o !== undefined && o.status.observedGeneration === o.generation && o.status.phase !== undefined && phases.includes(o.status.phase);
}

/** A core/v1 Event, as far as the demo, the tests and the rollout view read one. */
export const EventSchema = z.looseObject({
  metadata: z.looseObject({ creationTimestamp: z.string().optional() }).optional(),
  type: z.string().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  count: z.number().optional(),
  lastTimestamp: z.string().nullish(),
  eventTime: z.string().nullish(),
  involvedObject: z.looseObject({ kind: z.string().optional(), namespace: z.string().optional(), name: z.string().optional() }),
});
export type KubeEvent = z.infer<typeof EventSchema>;

/** The Events recorded on the ImageService (or on an object of another kind, by name). */
export async function eventsOf(client: KubeClient, ref: Ref, kind = 'ImageService'): Promise<KubeEvent[]> {
  const { items } = await client.list(RESOURCES.events, EventSchema, ref.namespace);
  return items.filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === ref.name);
}

const VirtualServiceSchema = z.looseObject({
  spec: z.looseObject({
    http: z.array(z.looseObject({ route: z.array(z.looseObject({ destination: z.looseObject({ host: z.string() }), weight: z.number().optional() })) })),
  }),
});

/** The weights of the ImageService's route, its VirtualService or else its HTTPRoute: primary and canary, in percent. */
export async function routeWeights(client: KubeClient, ref: Ref): Promise<{ primary: number; canary: number } | undefined> {
  const vs = await client.get(RESOURCES.virtualservices, VirtualServiceSchema, ref.namespace, ref.name);
  // The weighted rule is the one matching no header (a preview rule, matching one, comes first).
  const route =
    vs?.spec.http?.find((h) => h.match === undefined)?.route?.map((r) => ({ name: r.destination.host, weight: r.weight })) ??
    (await client.get(RESOURCES.httproutes, HTTPRouteSchema, ref.namespace, ref.name))?.spec.rules?.find((r) => !(r.matches ?? []).some((m) => (m.headers ?? []).length > 0))?.backendRefs;
  if (route === undefined) return undefined;
  const weightOf = (track: string) => route.find((r) => r.name.startsWith(`${ref.name}-${track}`))?.weight ?? 0;
  return { primary: weightOf('primary'), canary: weightOf('canary') };
}

const DeploymentSchema = z.looseObject({
  spec: z.looseObject({
    replicas: z.number().optional(),
    template: z.looseObject({ spec: z.looseObject({ containers: z.array(z.looseObject({ image: z.string().optional() })) }) }),
  }),
  status: z.looseObject({ readyReplicas: z.number().optional() }).optional(),
});

/** A track's Deployment: its image, desired and ready replicas. */
export async function track(client: KubeClient, ref: Ref, which: 'primary' | 'canary'): Promise<{ image: string | undefined; replicas: number; ready: number } | undefined> {
  const d = await client.get(RESOURCES.deployments, DeploymentSchema, ref.namespace, `${ref.name}-${which}`);
  if (d === undefined) return undefined;
  return { image: d.spec.template.spec.containers[0]?.image, replicas: d.spec.replicas ?? 1, ready: d.status?.readyReplicas ?? 0 };
}

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Polls `check` until it returns something other than undefined or false; a TimeoutError naming `what` (and the last value seen) after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, pollMs = 200, describe?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = describe?.() ?? (last === undefined ? '' : String(last));
      throw new TimeoutError(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${detail === '' ? '' : `: ${detail}`}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Waits until the ImageService is idle in one of `phases` and its `Ready` condition is True:
 * the operator writes `Initialized` at once on a new ImageService, and reports primary's pods
 * being ready in `Ready` (as `kubectl wait --for=condition=Ready imgsvc/NAME` would wait).
 */
export async function waitForReady(client: KubeClient, ref: Ref, phases: readonly Phase[], timeoutMs: number): Promise<Observed> {
  let last: Observed | undefined;
  return waitFor(
    `${ref.namespace}/${ref.name} to be Ready`,
    async () => {
      last = await observe(client, ref);
      const ready = last?.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      return settledIn(last, phases) && ready ? last : undefined;
    },
    timeoutMs,
    200,
    () => {
      const ready = last?.status.conditions?.find((c) => c.type === 'Ready');
      return last === undefined ? 'not found' : `phase ${last.status.phase ?? '-'}, Ready ${ready?.status ?? '-'} (${ready?.message ?? ''})`;
    },
  );
}

/** One GET through the mesh with a Host header; resolves the status (0 on a transport error). */
function meshStatus(mesh: string, host: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(new URL(path, mesh), { headers: { host }, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/**
 * Waits until the mesh routes `host` to a ready pod (`path` answers 200): the mesh learns
 * endpoints from the API server a moment after the pods are ready, as Envoy does from istiod.
 */
export async function waitForRoute(mesh: string, host: string, path: string, timeoutMs: number): Promise<void> {
  await waitFor(`${host} to answer ${path} through the mesh`, async () => (await meshStatus(mesh, host, path)) === 200, timeoutMs, 100);
}
