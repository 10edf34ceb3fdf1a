import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from './kube/types.ts';
import { getVia, pod as podFixture, service, slice } from './mesh/mesh.testkit.ts';
import { MeshRouter } from './mesh/router.ts';
import { buildRoutingTable } from './mesh/table.ts';
import { isAlive } from './pids.ts';
import { findPrometheus, Prometheus, podTargets, prometheusConfig } from './prometheus.ts';

function annotated(name: string, ip: string | undefined, annotations: Record<string, string>, phase = 'Running'): Pod {
  const p = podFixture('shop', name, 'web', 'abc', { app: 'web' });
  p.metadata.annotations = annotations;
  p.spec.containers = [{ name: 'c', ports: [{ containerPort: 8080 }] }];
  p.status = { phase, ...(ip === undefined ? {} : { podIP: ip }) };
  return p;
}

describe('prometheus targets and config', () => {
  it('scrapes running pods that ask for it, at their port and path', () => {
    const groups = podTargets([
      annotated('a', '127.1.0.2', { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9100', 'prometheus.io/path': '/m' }),
      annotated('b', '127.1.0.3', { 'prometheus.io/scrape': 'true' }),
      annotated('c', '127.1.0.4', {}),
      annotated('d', undefined, { 'prometheus.io/scrape': 'true' }, 'Pending'),
    ]);
    expect(groups).toEqual([
      { targets: ['127.1.0.2:9100'], labels: { pod: 'a', namespace: 'shop', __metrics_path__: '/m', app: 'web' } },
      { targets: ['127.1.0.3:8080'], labels: { pod: 'b', namespace: 'shop', __metrics_path__: '/metrics', app: 'web' } },
    ]);
  });

  it('scrapes every second with a timeout Prometheus accepts', () => {
    const cfg = prometheusConfig('127.0.0.1:1234', '/stats/prometheus', '/x/pods.json', '/x/components.json');
    expect(cfg).toContain('scrape_interval: 1s');
    expect(cfg).toContain('scrape_timeout: 1s');
    expect(cfg).toContain('- 127.0.0.1:1234');
  });

  it('finds the binary through PROMETHEUS_BIN, then PATH', () => {
    expect(findPrometheus({ PROMETHEUS_BIN: '/opt/p/prometheus', PATH: '' })).toBe('/opt/p/prometheus');
    expect(findPrometheus({ PATH: '/nonexistent' })).toBeUndefined();
  });
});

const bin = findPrometheus();

describe('a real Prometheus', () => {
  let dir: string;
  let backend: http.Server;
  let router: MeshRouter;
  let prom: Prometheus;
  let meshUrl: string;

  beforeAll(async () => {
    if (bin === undefined) throw new Error('prometheus is not installed: apt-get install -y prometheus, or set PROMETHEUS_BIN');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-prom-'));
    backend = http.createServer((req, res) => {
      if (req.url === '/metrics') res.writeHead(200, { 'content-type': 'text/plain' }).end('demo_up 1\n');
      else res.writeHead(200).end('ok');
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const port = (backend.address() as AddressInfo).port;
    const pods = [annotated('web-abc-1', '127.0.0.1', { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port) })];
    router = new MeshRouter();
    router.setTable(
      buildRoutingTable({
        services: [service('shop', 'web', 80)],
        virtualServices: [],
        endpoints: [],
        endpointSlices: [slice('shop', 'web', port, [{ ip: '127.0.0.1', pod: 'web-abc-1' }])],
        pods: [...pods, podFixture('shop', 'web-abc-1', 'web', 'abc')],
      }),
    );
    const started = await router.start();
    meshUrl = started.url;
    prom = new Prometheus({ bin, pods: { list: () => pods, on: () => {} }, meshMetricsUrl: started.metricsUrl, stateDir: dir, logger: pino({ level: 'silent' }) });
    await prom.start();
  });

  afterAll(async () => {
    await prom?.stop();
    await router?.stop();
    backend?.closeAllConnections();
    await new Promise((r) => backend?.close(r));
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function query(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    return body.data.result;
  }

  async function eventually(q: string, ok: (r: Awaited<ReturnType<typeof query>>) => boolean): Promise<Awaited<ReturnType<typeof query>>> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await query(q);
      if (ok(r) || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  it('returns istio_requests_total for a workload within seconds, and scrapes annotated pods', async () => {
    for (let i = 0; i < 10; i++) expect((await getVia(meshUrl, 'web.shop')).status).toBe(200);
    const requests = await eventually('sum(istio_requests_total{reporter="destination",destination_workload="web",destination_workload_namespace="shop"})', (r) => Number(r[0]?.value[1] ?? 0) >= 10);
    expect(Number(requests[0]?.value[1])).toBeGreaterThanOrEqual(10);
    const demo = await eventually('demo_up', (r) => r.length > 0);
    expect(demo[0]?.metric).toMatchObject({ pod: 'web-abc-1', namespace: 'shop', job: 'pods' });
  });

  it("scrapes a sandbox process's metrics URL until it is withdrawn", async () => {
    const port = (backend.address() as AddressInfo).port;
    const withdraw = prom.scrape('operator', `http://127.0.0.1:${port}/metrics`);
    const up = await eventually('up{job="components"}', (r) => r[0]?.value[1] === '1');
    expect(up[0]?.metric).toMatchObject({ component: 'operator', instance: `127.0.0.1:${port}` });
    withdraw();
    const gone = await eventually('up{job="components"}', (r) => r.length === 0);
    expect(gone).toEqual([]);
  });

  it('leaves no process behind when stopped', async () => {
    const pid = prom.pid;
    expect(pid).toBeDefined();
    await prom.stop();
    expect(isAlive(pid ?? 0)).toBe(false);
  });
});
