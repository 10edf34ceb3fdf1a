import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { checkReady, parseTarget } from './check.ts';

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A pod answering /readyz as the operator does. */
async function pod(status: number, leader: boolean, body?: string): Promise<string> {
  const server = http.createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body ?? JSON.stringify({ status: status === 200 ? 'ok' : 'not ready', leader })));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const target = { namespace: 'ops', service: 'imageops-metrics' };
const source = (urls: string[]) => async () => urls.map((url, i) => ({ pod: `op-${i}`, url }));

describe('check-ready', () => {
  it('passes when every ready endpoint answers 200 and one leads', async () => {
    const r = await checkReady(target, source([await pod(200, true), await pod(200, false)]));
    expect(r).toEqual({ ok: true, lines: ['pod op-0: ready, leading', 'pod op-1: ready', 'Service ops/imageops-metrics: 2 ready, 1 leading'] });
  });

  it.each([
    ['no endpoint', [] as [number, boolean][], /has no ready endpoint/],
    [
      'no leader',
      [
        [200, false],
        [200, false],
      ] as [number, boolean][],
      /2 of 2 ready, 0 leading: not ready/,
    ],
    [
      'a pod answering 503',
      [
        [200, true],
        [503, false],
      ] as [number, boolean][],
      /op-1: \/readyz answered 503/,
    ],
  ])('fails with %s', async (_what, pods, message) => {
    const r = await checkReady(target, source(await Promise.all(pods.map(([s, l]) => pod(s, l)))));
    expect(r.ok).toBe(false);
    expect(r.lines.join('\n')).toMatch(message);
  });

  it('reads no more than a few KiB of an answer, and never repeats it', async () => {
    const r = await checkReady(target, source([await pod(200, true, 'x'.repeat(100_000))]));
    expect(r.ok).toBe(false);
    expect(r.lines.join('\n')).toMatch(/more than 4096 bytes/);
    const junk = await checkReady(target, source([await pod(200, true, '<html>secret</html>')]));
    expect(junk.lines.join('\n')).not.toContain('secret');
  });

  it('takes NAMESPACE/SERVICE only', () => {
    expect(parseTarget('ops/imageops-metrics')).toEqual(target);
    expect(parseTarget('imageops-metrics')).toBeUndefined();
    expect(parseTarget('ops/x/y')).toBeUndefined();
    expect(parseTarget(undefined)).toBeUndefined();
  });
});
