import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient, resources } from './client.ts';
import { ConflictError, GoneError, InvalidError, NotFoundError, TooManyRequestsError, TransportError } from './errors.ts';

/** A stand-in API server answering every request with `answer` (or never, when it returns undefined). */
let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

async function clientAnswering(answer: (req: http.IncomingMessage) => { code: number; body: unknown; headers?: Record<string, string> } | undefined, timeoutMs = 2000) {
  server = http.createServer((req, res) => {
    const a = answer(req);
    if (a === undefined) return; // hang
    res.writeHead(a.code, { 'content-type': 'application/json', ...a.headers }).end(JSON.stringify(a.body));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return new KubeClient({ server: new URL(`http://127.0.0.1:${port}`), credentials: async () => ({ authorization: 'Bearer t' }) }, { timeoutMs });
}

const status = (code: number, reason: string, message = `${reason} happened`) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

describe('KubeClient errors', () => {
  it.each([
    [404, 'NotFound', NotFoundError],
    [409, 'AlreadyExists', ConflictError],
    [409, 'Conflict', ConflictError],
    [410, 'Expired', GoneError],
    [422, 'Invalid', InvalidError],
  ])('%i %s is a %o carrying the server message', async (code, reason, type) => {
    const client = await clientAnswering(() => ({ code, body: status(code, reason) }));
    const err = await client.get(resources.deployments, 'shop', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toBe(`${reason} happened`);
    if (err instanceof ConflictError) expect(err.alreadyExists).toBe(reason === 'AlreadyExists');
    client.close();
  });

  it('429 carries Retry-After', async () => {
    const client = await clientAnswering(() => ({ code: 429, body: status(429, 'TooManyRequests'), headers: { 'retry-after': '7' } }));
    const err = await client.get(resources.deployments, 'shop', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooManyRequestsError);
    expect((err as TooManyRequestsError).retryAfterSeconds).toBe(7);
    client.close();
  });

  it('a server that does not answer is a TransportError after the timeout', async () => {
    const client = await clientAnswering(() => undefined, 100);
    const err = await client.get(resources.deployments, 'shop', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/timed out after 100 ms/);
    client.close();
  });

  it('a refused connection is a TransportError naming the request', async () => {
    const client = new KubeClient({ server: new URL('http://127.0.0.1:1'), credentials: async () => ({}) });
    const err = await client.list(resources.services, { namespace: 'shop' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toContain('GET /api/v1/namespaces/shop/services');
    client.close();
  });

  it('sends the credentials and reads every page of a list', async () => {
    const seen: string[] = [];
    const client = await clientAnswering((req) => {
      seen.push(`${req.headers.authorization} ${req.url}`);
      const more = !req.url?.includes('continue=');
      return {
        code: 200,
        body: { metadata: { resourceVersion: '9', ...(more ? { continue: 'p2' } : {}) }, items: [{ metadata: { name: more ? 'a' : 'b' } }] },
      };
    });
    const list = await client.list(resources.services, { namespace: 'shop', labelSelector: 'app.kubernetes.io/managed-by=imageops' });
    expect(list.items.map((i) => i.metadata.name)).toEqual(['a', 'b']);
    expect(list.resourceVersion).toBe('9');
    expect(seen[0]).toMatch(/^Bearer t \/api\/v1\/namespaces\/shop\/services\?limit=500&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dimageops$/);
    expect(seen[1]).toContain('continue=p2');
    client.close();
  });
});

describe('KubeClient watch', () => {
  it('yields a bookmark as kube-apiserver sends it (a resourceVersion, no name) and goes on', async () => {
    server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { resourceVersion: '41', creationTimestamp: null } } })}\n`);
      res.end(`${JSON.stringify({ type: 'ADDED', object: { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'web', namespace: 'shop', resourceVersion: '42' } } })}\n`);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const client = new KubeClient({ server: new URL(`http://127.0.0.1:${port}`), credentials: async () => ({}) });
    const seen: string[] = [];
    for await (const e of client.watch(resources.deployments, { resourceVersion: '40' })) seen.push(`${e.type} ${e.object.metadata.resourceVersion}`);
    client.close();
    expect(seen).toEqual(['BOOKMARK 41', 'ADDED 42']);
  });
});
