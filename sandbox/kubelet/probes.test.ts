import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type BackoffState, FRESH, restartDelay } from './backoff.ts';
import { ProbeCounter, runProbe } from './probes.ts';

describe('probe thresholds', () => {
  it('flips only after consecutive results reach the thresholds', () => {
    const c = new ProbeCounter({ failureThreshold: 3, successThreshold: 2 }, true);
    expect([false, false, true, false, false, false].map((r) => c.record(r))).toEqual([true, true, true, true, true, false]);
    expect([true, true].map((r) => c.record(r))).toEqual([false, true]);
  });
});

describe('crash-loop back-off', () => {
  it('restarts at once, then 10s doubling to 5 minutes, and resets after 10 minutes of running', () => {
    let state: BackoffState = FRESH;
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = restartDelay(state, 1000);
      delays.push(r.delayMs / 1000);
      state = r.next;
    }
    expect(delays).toEqual([0, 10, 20, 40, 80, 160, 300, 300]);
    expect(restartDelay(state, 600_000).delayMs).toBe(0);
  });
});

describe('probe handlers', () => {
  it('checks HTTP status, TCP connect and exec exit codes', async () => {
    const server = http.createServer((req, res) => res.writeHead(req.url === '/ok' ? 204 : 503).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const c = { name: 'c', ports: [{ name: 'http', containerPort: port }] };
    try {
      expect((await runProbe({ httpGet: { path: '/ok', port: 'http' } }, c, '127.0.0.1', {}, '/')).ok).toBe(true);
      expect(await runProbe({ httpGet: { path: '/bad', port } }, c, '127.0.0.1', {}, '/')).toEqual({ ok: false, message: 'HTTP probe failed with statuscode: 503' });
      expect((await runProbe({ tcpSocket: { port } }, c, '127.0.0.1', {}, '/')).ok).toBe(true);
      expect((await runProbe({ exec: { command: ['true'] } }, c, '127.0.0.1', {}, '/')).ok).toBe(true);
      expect((await runProbe({ exec: { command: ['false'] } }, c, '127.0.0.1', {}, '/')).ok).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect((await runProbe({ tcpSocket: { port } }, c, '127.0.0.1', {}, '/')).ok).toBe(false);
    expect((await runProbe({ httpGet: { port: 'nope' } }, c, '127.0.0.1', {}, '/')).message).toContain('names no containerPort');
  });
});
