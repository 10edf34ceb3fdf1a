import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from './context.ts';
import { methodNotAllowed, pathNotFound } from './errors.ts';
import type { FailureSpec, Verb } from './faults.ts';
import { parseBody, readBody, send } from './http.ts';
import { isObject } from './types.ts';

// The admin endpoint (/_sandbox/...): fault injection and request counts over HTTP, for tests
// that drive the server from another process. Not part of the Kubernetes API.

export const ADMIN_PREFIX = '/_sandbox/';

export async function serveAdmin(ctx: Context, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const action = path.slice(ADMIN_PREFIX.length);
  const method = req.method ?? 'GET';
  const body = method === 'POST' ? parseBody(await readBody(req), 'application/json') : undefined;
  const b = isObject(body) ? body : {};
  if (action === 'requests' && method === 'GET') return send(res, 200, ctx.faults.counts());
  if (action === 'stats' && method === 'GET') {
    const objects = ctx.store.storages().reduce((n, s) => n + ctx.store.count(s), 0);
    return send(res, 200, { objects, watches: ctx.hub.size, resourceVersion: String(ctx.store.rv), memory: process.memoryUsage() });
  }
  if (action === 'requests' && method === 'DELETE') {
    ctx.faults.resetCounts();
    return send(res, 200, ctx.faults.counts());
  }
  if (method !== 'POST') throw methodNotAllowed();
  switch (action) {
    case 'faults/fail': {
      const count = typeof b['count'] === 'number' ? b['count'] : 1;
      const code = b['code'] === 429 ? 429 : 500;
      const spec: FailureSpec = { code };
      if (typeof b['retryAfterSeconds'] === 'number') spec.retryAfterSeconds = b['retryAfterSeconds'];
      if (Array.isArray(b['verbs'])) spec.verbs = b['verbs'] as Verb[];
      if (typeof b['resource'] === 'string') spec.resource = b['resource'];
      ctx.faults.failNext(count, spec);
      return send(res, 200, { ok: true });
    }
    case 'faults/close-watches':
      return send(res, 200, { closed: ctx.faults.closeWatches() });
    case 'faults/compact':
      ctx.faults.compact();
      return send(res, 200, { ok: true, resourceVersion: String(ctx.store.rv) });
    case 'faults/latency':
      ctx.faults.setLatency(typeof b['ms'] === 'number' ? b['ms'] : 0, Array.isArray(b['verbs']) ? (b['verbs'] as Verb[]) : undefined);
      return send(res, 200, { ok: true });
    case 'faults/clear':
      ctx.faults.clear();
      return send(res, 200, { ok: true });
    default:
      throw pathNotFound();
  }
}
