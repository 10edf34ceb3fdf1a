import { describe, expect, it } from 'vitest';
import { endpoints, pod, service, slice, virtualService } from './mesh.testkit.ts';
import { backendsOf, buildRoutingTable, chooseDestination, qualify, resolveHost, selectRule, workloadOf, type Snapshot } from './table.ts';

const empty: Snapshot = { virtualServices: [], services: [], endpoints: [], endpointSlices: [], pods: [] };

function snapshot(): Snapshot {
  return {
    ...empty,
    services: [service('shop', 'thumbs'), service('shop', 'thumbs-primary', 8080), service('shop', 'thumbs-canary', 8080), service('default', 'echo')],
    virtualServices: [
      virtualService('shop', 'thumbs', ['thumbs', 'images.example.com', '*.cdn.example.com'], [
        { host: 'thumbs-primary', weight: 90 },
        { host: 'thumbs-canary.shop.svc.cluster.local', weight: 10 },
      ]),
    ],
    endpointSlices: [
      slice('shop', 'thumbs-primary', 8080, [
        { ip: '127.9.0.2', pod: 'thumbs-primary-aaa-1' },
        { ip: '127.9.0.3', pod: 'thumbs-primary-aaa-2', ready: false },
      ]),
    ],
    endpoints: [endpoints('shop', 'thumbs-canary', 8080, [{ ip: '127.9.0.4', pod: 'thumbs-canary-bbb-1' }])],
    pods: [
      pod('shop', 'thumbs-primary-aaa-1', 'thumbs-primary', 'aaa', { 'app.kubernetes.io/name': 'image-service' }),
      pod('shop', 'thumbs-canary-bbb-1', 'thumbs-canary', 'bbb'),
    ],
  };
}

describe('routing table', () => {
  it('qualifies short hosts in the resource namespace and keeps others', () => {
    expect(qualify('thumbs', 'shop')).toBe('thumbs.shop.svc.cluster.local');
    expect(qualify('Images.Example.com.', 'shop')).toBe('images.example.com');
    expect(qualify('*.example.com', 'shop')).toBe('*.example.com');
  });

  it.each([
    ['thumbs', 'shop/thumbs'],
    ['thumbs:8080', 'shop/thumbs'],
    ['thumbs.shop', 'shop/thumbs'],
    ['thumbs.shop.svc', 'shop/thumbs'],
    ['thumbs.shop.svc.cluster.local', 'shop/thumbs'],
    ['images.example.com', 'shop/thumbs'],
    ['a.cdn.example.com', 'shop/thumbs'],
  ])('resolves host %s to the VirtualService %s', (host, vs) => {
    expect(resolveHost(buildRoutingTable(snapshot()), host)?.virtualService).toBe(vs);
  });

  it('sends a host without a VirtualService to the Service of that name', () => {
    const table = buildRoutingTable(snapshot());
    for (const host of ['thumbs-primary.shop', 'thumbs-primary', 'echo', 'echo.default.svc.cluster.local']) {
      const route = resolveHost(table, host);
      expect(route?.virtualService).toBeUndefined();
      expect(route?.rules[0]?.destinations).toHaveLength(1);
    }
    expect(resolveHost(table, 'nothing.example.org')).toBeUndefined();
    expect(resolveHost(table, 'thumbs.other')).toBeUndefined();
  });

  it('prefers the default namespace for an ambiguous short name', () => {
    const table = buildRoutingTable({ ...empty, services: [service('zeta', 'api'), service('default', 'api'), service('alpha', 'api')] });
    expect(resolveHost(table, 'api')?.rules[0]?.destinations[0]?.host).toBe('api.default.svc.cluster.local');
  });

  it('chooses destinations by weight and never one of weight 0', () => {
    const rule = { matches: [], destinations: [{ host: 'a', weight: 90, port: undefined }, { host: 'b', weight: 10, port: undefined }, { host: 'c', weight: 0, port: undefined }] };
    expect(chooseDestination(rule, 0)?.host).toBe('a');
    expect(chooseDestination(rule, 0.8999)?.host).toBe('a');
    expect(chooseDestination(rule, 0.9)?.host).toBe('b');
    expect(chooseDestination(rule, 0.99999)?.host).toBe('b');
    expect(chooseDestination({ destinations: [{ host: 'a', weight: 0, port: undefined }] }, 0.5)).toBeUndefined();
  });

  it('lists only ready endpoints, from EndpointSlices or else Endpoints, with the Deployment as workload', () => {
    const table = buildRoutingTable(snapshot());
    const primary = backendsOf(table, { host: 'thumbs-primary.shop.svc.cluster.local', weight: 100, port: undefined });
    expect(primary.backends.map((b) => [b.ip, b.port, b.workload, b.app])).toEqual([['127.9.0.2', 8080, 'thumbs-primary', 'image-service']]);
    const canary = backendsOf(table, { host: 'thumbs-canary.shop.svc.cluster.local', weight: 10, port: undefined });
    expect(canary.backends.map((b) => [b.ip, b.workload])).toEqual([['127.9.0.4', 'thumbs-canary']]);
    expect(backendsOf(table, { host: 'thumbs.shop.svc.cluster.local', weight: 100, port: undefined }).backends).toEqual([]);
  });

  it('derives the workload as Istio does', () => {
    expect(workloadOf(pod('ns', 'web-5d8f-x', 'web', '5d8f'))).toBe('web');
    expect(workloadOf({ metadata: { name: 'lonely' }, spec: { containers: [] } })).toBe('lonely');
  });

  it('matches rules in order by uri and headers', () => {
    const vs = virtualService('shop', 'r', ['r'], [{ host: 'b', weight: 100 }]);
    vs.spec.http = [
      { match: [{ uri: { prefix: '/admin' } }, { headers: { 'x-canary': { exact: '1' } } }], route: [{ destination: { host: 'canary' } }] },
      { route: [{ destination: { host: 'primary' } }] },
    ];
    const route = resolveHost(buildRoutingTable({ ...empty, virtualServices: [vs] }), 'r.shop');
    if (route === undefined) throw new Error('no route');
    expect(selectRule(route, '/admin/x?y=1', {})?.destinations[0]?.host).toBe('canary.shop.svc.cluster.local');
    expect(selectRule(route, '/img', { 'x-canary': '1' })?.destinations[0]?.host).toBe('canary.shop.svc.cluster.local');
    expect(selectRule(route, '/img', {})?.destinations[0]?.host).toBe('primary.shop.svc.cluster.local');
  });
  it('reads mirror with mirrorPercentage, and mirrors, as shares of a rule', () => {
    const vs = virtualService('shop', 'm', ['m'], [{ host: 'primary', weight: 100 }]);
    vs.spec.http = [
      { route: [{ destination: { host: 'primary' } }], mirror: { host: 'canary' }, mirrorPercentage: { value: 25 } },
      { route: [{ destination: { host: 'primary' } }], mirror: { host: 'canary', port: { number: 8080 } } },
      { route: [{ destination: { host: 'primary' } }], mirrors: [{ destination: { host: 'a.other' }, percentage: { value: 150 } }] },
    ];
    const rules = resolveHost(buildRoutingTable({ ...empty, virtualServices: [vs] }), 'm.shop')?.rules ?? [];
    expect(rules.map((r) => r.mirrors)).toEqual([
      [{ host: 'canary.shop.svc.cluster.local', port: undefined, percent: 25 }],
      [{ host: 'canary.shop.svc.cluster.local', port: 8080, percent: 100 }],
      [{ host: 'a.other', port: undefined, percent: 100 }],
    ]);
  });
});
