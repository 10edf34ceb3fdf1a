import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadError, LoadGenerator, quantile, summarise } from './load.ts';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A loopback server answering 500 for paths containing "bad", 200 otherwise; remembers Host headers and sockets. */
async function server(): Promise<{ url: string; hosts: Set<string>; sockets: () => number }> {
  const hosts = new Set<string>();
  let sockets = 0;
  const s = http.createServer((req, res) => {
    hosts.add(req.headers.host ?? '');
    res.writeHead(req.url?.includes('bad') ? 500 : 200).end('x');
  });
  s.on('connection', () => sockets++);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hosts, sockets: () => sockets };
}

describe('quantile and summarise', () => {
  it.each([
    [[], 0.99, undefined],
    [[5], 0.99, 5],
    [[1, 2, 3, 4], 0.5, 2],
    [Array.from({ length: 100 }, (_, i) => i + 1), 0.99, 99],
    [Array.from({ length: 100 }, (_, i) => i + 1), 1, 100],
  ])('quantile(%j, %d) = %j', (values, p, want) => {
    expect(quantile(values, p)).toBe(want);
  });

  it('counts 1xx-3xx as ok and 4xx, 5xx and transport errors as failed', () => {
    const c = summarise([
      { status: '200', ms: 1 },
      { status: '304', ms: 2 },
      { status: '404', ms: 3 },
      { status: '503', ms: 4 },
      { status: 'ECONNRESET', ms: 5 },
    ]);
    expect(c).toMatchObject({ requests: 5, ok: 2, failed: 3, byStatus: { '200': 1, '304': 1, '404': 1, '503': 1, ECONNRESET: 1 } });
  });
});

describe('LoadGenerator', () => {
  it('refuses a target that is not loopback', () => {
    expect(() => new LoadGenerator({ target: 'http://10.0.0.1:80', host: 'x', paths: ['/'], concurrency: 1, maxDurationMs: 1000 })).toThrow(LoadError);
    expect(() => new LoadGenerator({ target: 'http://example.com', host: 'x', paths: ['/'], concurrency: 1, maxDurationMs: 1000 })).toThrow(LoadError);
  });

  it('sends with the Host header over a fixed number of keep-alive connections, counts by status and between marks', async () => {
    const s = await server();
    const load = new LoadGenerator({ target: s.url, host: 'thumbs.shop.svc.cluster.local', paths: ['/ok', '/bad'], concurrency: 2, ratePerSecond: 200, maxDurationMs: 10_000 });
    load.start();
    await new Promise((r) => setTimeout(r, 200));
    load.mark('a');
    await new Promise((r) => setTimeout(r, 200));
    load.mark('b');
    const total = await load.stop();
    expect(s.hosts).toEqual(new Set(['thumbs.shop.svc.cluster.local']));
    expect(s.sockets()).toBeLessThanOrEqual(2);
    expect(total.requests).toBeGreaterThan(20);
    expect(total.ok + total.failed).toBe(total.requests);
    expect(total.byStatus['500']).toBe(total.failed);
    const between = load.counts('a', 'b');
    expect(between.requests).toBeGreaterThan(0);
    expect(between.requests).toBeLessThan(total.requests);
    expect(() => load.counts('nope')).toThrow(LoadError);
    expect(load.running).toBe(false);
  });

  it('stops by itself after maxDurationMs and counts a refused connection as failed', async () => {
    const s = await server();
    const port = Number(new URL(s.url).port);
    const only = servers.pop();
    only?.close();
    await new Promise((r) => setTimeout(r, 20));
    const load = new LoadGenerator({ target: `http://127.0.0.1:${port}`, host: 'x', paths: ['/'], concurrency: 1, ratePerSecond: 50, maxDurationMs: 150 });
    load.start();
    await new Promise((r) => setTimeout(r, 400));
    expect(load.running).toBe(false);
    const c = await load.stop();
    expect(c.requests).toBeGreaterThan(0);
    expect(c.failed).toBe(c.requests);
    expect(c.byStatus['ECONNREFUSED']).toBe(c.requests);
  });
});
