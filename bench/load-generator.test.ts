import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLoad } from './load-generator.ts';

// A loopback server that answers 503 for keys starting with "busy" and 200 (after 5 ms) for the
// rest, and remembers which paths it was asked for.
const seen: string[] = [];
let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if ((req.url ?? '').startsWith('/busy')) res.writeHead(503, { 'retry-after': '1' }).end();
    else setTimeout(() => res.writeHead(200).end('ok'), 5);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('generateLoad', () => {
  it('spreads all connections over the paths, and counts answers and latencies per status', async () => {
    const paths = ['/a', '/b', '/c', '/busy1'];
    let measuring = false;
    const result = await generateLoad({ origin, paths, connections: 4, durationSeconds: 1, warmupSeconds: 0.2, timeoutSeconds: 5 }, () => (measuring = true));
    expect(measuring).toBe(true);
    // Every path was asked for, about equally: the connections did not all start from the first.
    for (const path of paths) expect(seen.filter((p) => p === path).length).toBeGreaterThan(seen.length / 8);
    const ok = result.statusCounts['200'] ?? 0;
    const busy = result.statusCounts['503'] ?? 0;
    expect(ok).toBeGreaterThan(10);
    expect(busy).toBeGreaterThan(3);
    expect(result.ok.count).toBe(ok);
    expect(result.other.count).toBe(busy);
    // The 200s waited for their 5 ms; the p99 of the 200s is theirs alone.
    expect(result.ok.p50Ms).toBeGreaterThanOrEqual(4);
    expect(result.errors).toEqual({});
  });

  it('counts refused connections as errors by code', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await generateLoad({ origin: `http://127.0.0.1:${port}`, paths: ['/a'], connections: 1, durationSeconds: 0.5, warmupSeconds: 0, timeoutSeconds: 1 }, () => {});
    expect(result.statusCounts).toEqual({});
    expect(result.errors.ECONNREFUSED).toBeGreaterThan(0);
  });
});
