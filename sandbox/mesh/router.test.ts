import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints, getVia, pod, service, slice, virtualService } from './mesh.testkit.ts';
import { MeshRouter, shadowHost } from './router.ts';
import { buildRoutingTable, type Snapshot } from './table.ts';

// Real HTTP backends, one per "pod"; each answers with its own name, optionally after a delay.
async function backend(name: string, delayMs = 0): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((_req, res) => {
    setTimeout(() => res.writeHead(name.includes('err') ? 500 : 200, { 'content-type': 'text/plain' }).end(name), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const get = (url: string, host: string) => getVia(url, host, agent);

describe('mesh router', () => {
  const servers: http.Server[] = [];
  let router: MeshRouter;
  let url: string;
  let metricsUrl: string;
  let snap: Snapshot;

  beforeAll(async () => {
    const p = await backend('primary');
    const c = await backend('canary');
    const slow = await backend('slow', 300);
    servers.push(p.server, c.server, slow.server);
    snap = {
      services: [service('shop', 'primary', 80), service('shop', 'canary', 80), service('shop', 'slow', 80)],
      virtualServices: [
        virtualService(
          'shop',
          'thumbs',
          ['thumbs', 'images.example.com'],
          [
            { host: 'primary', weight: 90 },
            { host: 'canary', weight: 10 },
          ],
        ),
      ],
      endpointSlices: [slice('shop', 'primary', p.port, [{ ip: '127.0.0.1', pod: 'primary-aaa-1' }])],
      endpoints: [endpoints('shop', 'canary', c.port, [{ ip: '127.0.0.1', pod: 'canary-bbb-1' }]), endpoints('shop', 'slow', slow.port, [{ ip: '127.0.0.1', pod: 'slow-ccc-1' }])],
      pods: [pod('shop', 'primary-aaa-1', 'primary', 'aaa'), pod('shop', 'canary-bbb-1', 'canary', 'bbb'), pod('shop', 'slow-ccc-1', 'slow', 'ccc')],
    };
    router = new MeshRouter();
    router.setTable(buildRoutingTable(snap));
    ({ url, metricsUrl } = await router.start());
  });

  afterAll(async () => {
    agent.destroy();
    await router.stop();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('splits 90/10 over 1000 requests within a binomial bound', async () => {
    const n = 1000;
    const counts = new Map<string, number>();
    for (let batch = 0; batch < n / 50; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => get(url, 'thumbs')));
      for (const a of answers) {
        expect(a.status).toBe(200);
        counts.set(a.body, (counts.get(a.body) ?? 0) + 1);
      }
    }
    // 5 standard deviations of Binomial(1000, 0.1): a false alarm is rarer than one run in a million.
    const sd = Math.sqrt(n * 0.1 * 0.9);
    const canary = counts.get('canary') ?? 0;
    expect(canary).toBeGreaterThan(n * 0.1 - 5 * sd);
    expect(canary).toBeLessThan(n * 0.1 + 5 * sd);
    expect((counts.get('primary') ?? 0) + canary).toBe(n);
  });

  it('accepts every host form and answers 404 for an unknown host', async () => {
    for (const host of ['thumbs.shop', 'thumbs.shop.svc.cluster.local', 'images.example.com:80', 'canary.shop', 'canary']) {
      expect((await get(url, host)).status).toBe(200);
    }
    expect((await get(url, 'canary.shop.svc.cluster.local')).body).toBe('canary');
    expect((await get(url, 'nowhere.example.org')).status).toBe(404);
  });

  it('exports Istio request metrics labelled with the destination workload', async () => {
    await get(url, 'canary.shop');
    const text = await (await fetch(metricsUrl)).text();
    const line = text.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('destination_workload="canary"'));
    expect(line).toBeDefined();
    expect(line).toContain('reporter="destination"');
    expect(line).toContain('destination_workload_namespace="shop"');
    expect(line).toContain('destination_service_name="canary"');
    expect(line).toContain('destination_service="canary.shop.svc.cluster.local"');
    expect(line).toContain('response_code="200"');
    expect(line).toContain('source_workload="unknown"');
    expect(text).toContain('istio_request_duration_milliseconds_bucket{le="0.5"');
    expect(text).toContain('le="3600000"');
  });

  it('answers 503 "no healthy upstream" when a destination has no ready endpoint', async () => {
    router.setTable(buildRoutingTable({ ...snap, endpointSlices: [], endpoints: [] }));
    try {
      const res = await get(url, 'thumbs');
      expect(res.status).toBe(503);
      expect(res.body).toBe('no healthy upstream');
    } finally {
      router.setTable(buildRoutingTable(snap));
    }
  });

  it('keeps a request in flight when the table changes under it', async () => {
    const pending = get(url, 'slow.shop');
    await new Promise((r) => setTimeout(r, 100));
    router.setTable(buildRoutingTable({ ...snap, endpoints: snap.endpoints.filter((e) => e.metadata.name !== 'slow') }));
    try {
      expect(await pending).toEqual({ status: 200, body: 'slow' });
      expect((await get(url, 'slow.shop')).status).toBe(503);
    } finally {
      router.setTable(buildRoutingTable(snap));
    }
  });

  it('retries a refused connection on another ready endpoint', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const primaryPort = snap.endpointSlices[0]?.ports?.[0]?.port ?? 0;
    const withDead: Snapshot = {
      ...snap,
      endpointSlices: [],
      endpoints: [
        {
          metadata: { name: 'primary', namespace: 'shop' },
          subsets: [
            { addresses: [{ ip: '127.0.0.1', targetRef: { name: 'primary-aaa-9' } }], ports: [{ name: 'http', port: deadPort }] },
            { addresses: [{ ip: '127.0.0.1', targetRef: { name: 'primary-aaa-1' } }], ports: [{ name: 'http', port: primaryPort }] },
          ],
        },
      ],
    };
    router.setTable(buildRoutingTable(withDead));
    try {
      for (let i = 0; i < 4; i++) expect(await get(url, 'primary.shop')).toEqual({ status: 200, body: 'primary' });
    } finally {
      router.setTable(buildRoutingTable(snap));
    }
  });
  it('closes its idle connections to an endpoint that left the table', async () => {
    const gone = await backend('gone');
    gone.server.keepAliveTimeout = 60_000;
    const closed = new Promise<void>((resolve) => gone.server.on('connection', (socket) => socket.on('close', () => resolve())));
    const withGone: Snapshot = { ...snap, endpointSlices: [slice('shop', 'primary', gone.port, [{ ip: '127.0.0.1', pod: 'primary-aaa-7' }])] };
    router.setTable(buildRoutingTable(withGone));
    try {
      expect(await get(url, 'primary.shop')).toEqual({ status: 200, body: 'gone' });
      router.setTable(buildRoutingTable(snap));
      // Without the flush, the pooled connection stays open until the keep-alive timeout.
      await closed;
    } finally {
      router.setTable(buildRoutingTable(snap));
      await new Promise((r) => gone.server.close(r));
    }
  });
  const mirroredBy: [string, (shadow: string) => Pick<Snapshot, 'virtualServices' | 'httpRoutes'>][] = [
    [
      "a VirtualService's mirror",
      (shadow) => {
        const vs = virtualService('shop', 'mirrored', ['mirrored'], [{ host: 'primary', weight: 100 }]);
        vs.spec.http = [{ route: [{ destination: { host: 'primary' } }], mirror: { host: shadow }, mirrorPercentage: { value: 100 } }];
        return { virtualServices: [...snap.virtualServices, vs] };
      },
    ],
    [
      "an HTTPRoute's RequestMirror filter",
      (shadow) => ({
        virtualServices: snap.virtualServices,
        httpRoutes: [
          {
            metadata: { name: 'mirrored', namespace: 'shop', creationTimestamp: '2026-01-01T00:00:00Z' },
            spec: {
              parentRefs: [{ group: '', kind: 'Service', name: 'mirrored', port: 80 }],
              rules: [{ backendRefs: [{ name: 'primary', port: 80 }], filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: shadow, port: 80 }, percent: 100 } }] }],
            },
          },
        ],
      }),
    ],
  ];
  it.each(mirroredBy)('mirrors a share of requests as Envoy shadows them, from %s: fire and forget, the user never waits', async (_by, routes) => {
    const seen: { host: string; answered: boolean }[] = [];
    // the mirror answers only when told to, so the user's answer provably did not wait for it
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const mirror = http.createServer((req, res) => {
      const entry = { host: req.headers.host ?? '', answered: false };
      seen.push(entry);
      void released.then(() => {
        entry.answered = true;
        res.end('mirror');
      });
    });
    await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
    const mirrorPort = (mirror.address() as AddressInfo).port;
    router.setTable(
      buildRoutingTable({
        ...snap,
        services: [...snap.services, service('shop', 'shadow', 80)],
        ...routes('shadow'),
        endpoints: [...snap.endpoints, endpoints('shop', 'shadow', mirrorPort, [{ ip: '127.0.0.1', pod: 'shadow-ddd-1' }])],
        pods: [...snap.pods, pod('shop', 'shadow-ddd-1', 'shadow', 'ddd')],
      }),
    );
    // the router's telemetry counts across cases: measure this case's share
    const count = async () => {
      const line = (await (await fetch(metricsUrl)).text()).split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('destination_workload="shadow"'));
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    const before = await count();
    try {
      for (let i = 0; i < 3; i++) expect(await get(url, 'mirrored.shop:80')).toEqual({ status: 200, body: 'primary' });
      expect(seen.map((s) => [s.host, s.answered])).toEqual(Array.from({ length: 3 }, () => ['mirrored.shop-shadow:80', false]));
      release();
      // the mirror's answers are reported as the destination's proxy reports them
      for (let i = 0; i < 50 && (await count()) < before + 3; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await count()).toBe(before + 3);
    } finally {
      router.setTable(buildRoutingTable(snap));
      mirror.closeAllConnections();
      await new Promise((r) => mirror.close(r));
    }
  });

  it.each([
    ['thumbs.shop', 'thumbs.shop-shadow'],
    ['thumbs.shop:8080', 'thumbs.shop-shadow:8080'],
  ])('names the shadow of %s %s', (host, shadow) => expect(shadowHost(host)).toBe(shadow));
});
