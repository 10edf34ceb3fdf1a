import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from './context.ts';
import { badRequest, cause, conflict, invalid, methodNotAllowed, notFound, pathNotFound, unsupportedMediaType } from './errors.ts';
import type { Verb } from './faults.ts';
import { intParam, mediaType, PATCH_TYPES, parseBody, readBody } from './http.ts';
import { cloneJson } from './json.ts';
import type { WriteContext } from './objects.ts';
import { applyJsonPatch, applyMergePatch } from './patch.ts';
import { queryBool, type ResourceRequest } from './request.ts';
import type { ResourceType } from './resources.ts';
import { scaleOf, withReplicas } from './scale.ts';
import { isObject } from './types.ts';

// The subresources that are not the object itself: scale, a pod's binding, a pod's log.

export async function serveScale(ctx: Context, t: ResourceType, rr: ResourceRequest, req: IncomingMessage, verb: Verb, wctx: WriteContext): Promise<{ code: number; body: unknown }> {
  const scale = t.scale;
  if (!scale) throw pathNotFound();
  const name = rr.name ?? '';
  const current = ctx.objects.get(t, rr.namespace, name);
  if (verb === 'get') return { code: 200, body: scaleOf(current, scale) };
  let desired: unknown;
  const type = mediaType(req);
  const body = parseBody(await readBody(req), type);
  if (verb === 'update') desired = body;
  else if (verb === 'patch') {
    const now = scaleOf(current, scale);
    if (type === 'application/json-patch+json') desired = applyJsonPatch(now, body);
    else if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') desired = applyMergePatch(now, body);
    else throw unsupportedMediaType(PATCH_TYPES.slice(0, 3));
  } else throw methodNotAllowed();
  const next = withReplicas(cloneJson(ctx.objects.present(t, current)), desired, scale, current.metadata.resourceVersion);
  const stored = ctx.objects.patched(t, rr.namespace, name, next, wctx);
  return { code: 200, body: scaleOf(stored, scale) };
}

/**
 * pods/binding, what a scheduler posts: sets spec.nodeName once
 * (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#create-binding-of-a-pod).
 */
export function bindPod(ctx: Context, t: ResourceType, rr: ResourceRequest, body: unknown, wctx: WriteContext): void {
  const name = rr.name ?? '';
  const target = isObject(body) && isObject(body['target']) ? body['target'] : undefined;
  const node = target && typeof target['name'] === 'string' ? target['name'] : '';
  if (!node) throw invalid('', 'Binding', name, [cause.required('target.name')]);
  const pod = ctx.objects.current(t, rr.namespace, name);
  if (!pod) throw notFound({ group: '', resource: 'pods' }, name);
  const spec = isObject(pod['spec']) ? pod['spec'] : {};
  if (spec['nodeName']) {
    throw conflict({ group: '', resource: 'pods' }, name, `pod ${name} is already assigned to node "${String(spec['nodeName'])}"`);
  }
  if (pod.metadata.deletionTimestamp) throw conflict({ group: '', resource: 'pods' }, name, `pod ${name} is being deleted, cannot be assigned to a host`);
  pod['spec'] = { ...spec, nodeName: node };
  ctx.objects.patched(t, rr.namespace, name, pod, wctx);
}

export async function serveLog(ctx: Context, t: ResourceType, rr: ResourceRequest, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pod = ctx.objects.get(t, rr.namespace, rr.name ?? '');
  const spec = isObject(pod['spec']) ? pod['spec'] : {};
  const names = (Array.isArray(spec['containers']) ? spec['containers'] : []).filter(isObject).map((c) => String(c['name']));
  const container = q.get('container') ?? (names.length === 1 ? names[0] : undefined);
  if (!container) throw badRequest(`a container name must be specified for pod ${rr.name ?? ''}, choose one of: [${names.join(' ')}]`);
  if (!names.includes(container)) throw badRequest(`container ${container} is not valid for pod ${rr.name ?? ''}`);
  if (!ctx.logProvider || !spec['nodeName']) throw badRequest(`pod ${rr.name ?? ''} does not have a host assigned`);
  const abort = new AbortController();
  req.on('close', () => abort.abort());
  const out = ctx.logProvider({
    namespace: rr.namespace ?? '',
    pod: rr.name ?? '',
    container,
    follow: queryBool(q, 'follow'),
    previous: queryBool(q, 'previous'),
    timestamps: queryBool(q, 'timestamps'),
    tailLines: intParam(q, 'tailLines'),
    sinceSeconds: intParam(q, 'sinceSeconds'),
    limitBytes: intParam(q, 'limitBytes'),
    signal: abort.signal,
  });
  if (out instanceof Promise) {
    const text = await out;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
  try {
    for await (const chunk of out) {
      if (abort.signal.aborted) break;
      res.write(chunk);
    }
  } finally {
    res.end();
  }
}
