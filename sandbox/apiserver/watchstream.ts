import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from './context.ts';
import { badRequest, tooOldResourceVersion } from './errors.ts';
import { includeObject, intParam } from './http.ts';
import { negotiate, queryBool, type ResourceRequest } from './request.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { toTable } from './table.ts';
import type { KubeObject } from './types.ts';
import { transition, type WatchEventType } from './watch.ts';

// The watch response: a chunked stream of newline-delimited events, started from a
// resourceVersion (its later changes) or from now (synthetic ADDED for what exists), with
// bookmarks, a timeout, and an end when the client cannot keep up.

export function serveWatch(ctx: Context, t: ResourceType, rr: ResourceRequest, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
  const labels = parseLabelSelector(q.get('labelSelector'));
  const fields = parseFieldSelector(q.get('fieldSelector'), t.fieldSelectors);
  const namespace = t.namespaced ? rr.namespace : undefined;
  const accepts = (obj: KubeObject) =>
    (namespace === undefined || obj.metadata.namespace === namespace) && labels(obj.metadata.labels) && (!fields.filters || fields.matches(ctx.objects.present(t, obj)));
  const media = negotiate(req.headers.accept);
  const rvParam = q.get('resourceVersion') ?? '';
  let initial: [WatchEventType, KubeObject][] = [];
  if (rvParam !== '' && rvParam !== '0') {
    const rv = Number(rvParam);
    if (!Number.isInteger(rv) || rv < 0) throw badRequest(`invalid resource version "${rvParam}"`);
    const changes = ctx.store.changesSince(t.storage, rv);
    if (!changes) {
      // The real server accepts the watch, then ends it with a 410 ERROR event.
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      const status = tooOldResourceVersion(rvParam, ctx.store.oldestResumable(t.storage)).toStatus();
      res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    }
    for (const change of changes) {
      const ev = transition(change, accepts);
      if (ev) initial.push(ev);
    }
  } else {
    for (const [, obj] of ctx.store.list(t.storage, namespace)) if (accepts(obj)) initial.push(['ADDED', obj]);
  }
  if (fields.name !== undefined) initial = initial.filter(([, o]) => o.metadata.name === fields.name);

  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  let headersSent = false;
  const include = includeObject(q);
  const encode = (type: WatchEventType, obj: KubeObject): string => {
    let object: unknown = type === 'BOOKMARK' || type === 'ERROR' ? obj : ctx.objects.present(t, obj);
    if (media.table && type !== 'BOOKMARK' && type !== 'ERROR') {
      object = toTable(t, [obj], { include, headers: !headersSent });
      headersSent = true;
    }
    return `${JSON.stringify({ type, object })}\n`;
  };
  let closed = false;
  const timers: NodeJS.Timeout[] = [];
  const close = () => {
    if (closed) return;
    closed = true;
    remove();
    for (const timer of timers) clearTimeout(timer);
    ctx.openWatches.delete(res);
    res.end();
  };
  const remove = ctx.hub.add({
    storage: t.storage,
    accepts,
    encodingKey: media.table ? undefined : `${apiVersionOf(t)}`,
    encode,
    write: (chunk) => {
      if (closed) return;
      res.write(chunk);
      if (res.writableLength > ctx.watchBufferBytes) close();
    },
    close,
  });
  ctx.openWatches.add(res);
  for (const [type, obj] of initial) res.write(encode(type, obj));
  const bookmark = (annotations?: Record<string, string>) =>
    encode('BOOKMARK', {
      kind: t.kind,
      apiVersion: apiVersionOf(t),
      metadata: { resourceVersion: String(ctx.store.rv), ...(annotations ? { annotations } : {}) },
    });
  const allowBookmarks = queryBool(q, 'allowWatchBookmarks');
  if (queryBool(q, 'sendInitialEvents') && allowBookmarks) res.write(bookmark({ 'k8s.io/initial-events-end': 'true' }));
  const timeoutMs = Math.min(intParam(q, 'timeoutSeconds') ?? ctx.maxWatchSeconds, ctx.maxWatchSeconds) * 1000;
  const deadline = Date.now() + timeoutMs;
  if (allowBookmarks) {
    // kube-apiserver's watch cache: a bookmark every interval, and one 2 s before the watch's
    // deadline so that a client resumes from a fresh resourceVersion.
    const schedule = () => {
      const delay = Math.min(ctx.bookmarkIntervalMs, deadline - 2000 - Date.now());
      if (delay > 0) timers.push(setTimeout(tick, delay).unref());
    };
    const tick = () => {
      if (closed) return;
      res.write(bookmark());
      schedule();
    };
    schedule();
  }
  timers.push(setTimeout(close, timeoutMs).unref());
  req.on('close', close);
  res.on('close', close);
}
