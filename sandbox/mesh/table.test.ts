import { describe, expect, it } from 'vitest';
import type { HTTPRoute, VirtualService } from '../kube/types.ts';
import { endpoints, httpRoute, pod, service, slice, virtualService } from './mesh.testkit.ts';
import { backendsOf, buildRoutingTable, chooseDestination, qualify, resolveHost, type Snapshot, selectRule, workloadOf } from './table.ts';

const empty: Snapshot = { virtualServices: [], services: [], endpoints: [], endpointSlices: [], pods: [] };

function snapshot(): Snapshot {
  return {
    ...empty,
    services: [service('shop', 'thumbs'), service('shop', 'thumbs-primary', 8080), service('shop', 'thumbs-canary', 8080), service('default', 'echo')],
    virtualServices: [
      virtualService(
        'shop',
        'thumbs',
        ['thumbs', 'images.example.com', '*.cdn.example.com'],
        [
          { host: 'thumbs-primary', weight: 90 },
          { host: 'thumbs-canary.shop.svc.cluster.local', weight: 10 },
        ],
      ),
    ],
    endpointSlices: [
      slice('shop', 'thumbs-primary', 8080, [
        { ip: '127.9.0.2', pod: 'thumbs-primary-aaa-1' },
        { ip: '127.9.0.3', pod: 'thumbs-primary-aaa-2', ready: false },
      ]),
    ],
    endpoints: [endpoints('shop', 'thumbs-canary', 8080, [{ ip: '127.9.0.4', pod: 'thumbs-canary-bbb-1' }])],
    pods: [pod('shop', 'thumbs-primary-aaa-1', 'thumbs-primary', 'aaa', { 'app.kubernetes.io/name': 'image-service' }), pod('shop', 'thumbs-canary-bbb-1', 'thumbs-canary', 'bbb')],
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
    expect(resolveHost(buildRoutingTable(snapshot()), host)?.owner).toBe(`VirtualService ${vs}`);
  });

  it('sends a host without a VirtualService to the Service of that name', () => {
    const table = buildRoutingTable(snapshot());
    for (const host of ['thumbs-primary.shop', 'thumbs-primary', 'echo', 'echo.default.svc.cluster.local']) {
      const route = resolveHost(table, host);
      expect(route?.owner).toBeUndefined();
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
    const rule = {
      matches: [],
      destinations: [
        { host: 'a', weight: 90, port: undefined },
        { host: 'b', weight: 10, port: undefined },
        { host: 'c', weight: 0, port: undefined },
      ],
    };
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

  describe('HTTPRoutes', () => {
    const services = [service('shop', 'thumbs'), service('shop', 'thumbs-primary', 8080), service('shop', 'thumbs-canary', 8080)];
    const weighted = httpRoute('shop', 'thumbs', 'thumbs', [
      { name: 'thumbs-primary', weight: 70 },
      { name: 'thumbs-canary', weight: 30 },
    ]);
    const table = (routes: HTTPRoute[], vss: VirtualService[] = []) => buildRoutingTable({ ...empty, services, httpRoutes: routes, virtualServices: vss });

    it.each(['thumbs', 'thumbs.shop', 'thumbs.shop.svc.cluster.local'])('a Service parent claims that Service: %s', (host) => {
      const route = resolveHost(table([weighted]), host);
      expect(route?.owner).toBe('HTTPRoute shop/thumbs');
      expect(route?.rules[0]?.destinations).toEqual([
        { host: 'thumbs-primary.shop.svc.cluster.local', weight: 70, port: 8080 },
        { host: 'thumbs-canary.shop.svc.cluster.local', weight: 30, port: 8080 },
      ]);
    });

    it.each([
      ['a Service parent ignores hostnames', [{ group: '', kind: 'Service', name: 'thumbs' }], 'img.example.com', undefined],
      ['a Gateway parent claims hostnames', [{ name: 'public' }], 'img.example.com', 'HTTPRoute shop/thumbs'],
      ['and their wildcards', [{ name: 'public' }], 'a.cdn.example.com', 'HTTPRoute shop/thumbs'],
      ['a Gateway parent does not claim the Service', [{ name: 'public' }], 'thumbs.shop', undefined],
    ])('%s', (_name, parentRefs, host, owner) => {
      const route: HTTPRoute = { ...weighted, spec: { ...weighted.spec, parentRefs, hostnames: ['img.example.com', '*.cdn.example.com'] } };
      expect(resolveHost(table([route]), host)?.owner).toBe(owner);
    });

    it('a backend without a weight has weight 1; a named port is kept', () => {
      const route = httpRoute('shop', 'thumbs', 'thumbs', [{ name: 'thumbs-primary' }, { name: 'thumbs-canary', weight: 0 }]);
      expect(resolveHost(table([route]), 'thumbs.shop')?.rules[0]?.destinations.map((d) => d.weight)).toEqual([1, 0]);
    });

    it('reads RequestMirror filters as shares of a rule: percent, fraction, or all', () => {
      const mirror = (requestMirror: Record<string, unknown>) => ({ type: 'RequestMirror', requestMirror: { backendRef: { name: 'thumbs-canary', port: 8080 }, ...requestMirror } });
      const route: HTTPRoute = {
        ...weighted,
        spec: {
          ...weighted.spec,
          rules: [
            { matches: [{ path: { type: 'Exact', value: '/a' } }], backendRefs: [{ name: 'thumbs-primary' }], filters: [mirror({ percent: 25 })] },
            { matches: [{ path: { type: 'Exact', value: '/b' } }], backendRefs: [{ name: 'thumbs-primary' }], filters: [mirror({ fraction: { numerator: 1, denominator: 8 } })] },
            { matches: [{ path: { type: 'Exact', value: '/c' } }], backendRefs: [{ name: 'thumbs-primary' }], filters: [mirror({ fraction: { numerator: 3 } })] },
            {
              matches: [{ path: { type: 'Exact', value: '/d' } }],
              backendRefs: [{ name: 'thumbs-primary' }],
              filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', namespace: 'other' } } }],
            },
            { matches: [{ path: { type: 'Exact', value: '/e' } }], backendRefs: [{ name: 'thumbs-primary' }], filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: {} }] },
          ],
        },
      };
      const resolved = resolveHost(table([route]), 'thumbs.shop');
      if (resolved === undefined) throw new Error('no route');
      const canary = 'thumbs-canary.shop.svc.cluster.local';
      expect(['/a', '/b', '/c', '/d', '/e'].map((p) => selectRule(resolved, p, {})?.mirrors)).toEqual([
        [{ host: canary, port: 8080, percent: 25 }],
        [{ host: canary, port: 8080, percent: 12.5 }],
        [{ host: canary, port: 8080, percent: 3 }],
        [{ host: 'shadow.other.svc.cluster.local', port: undefined, percent: 100 }],
        [],
      ]);
    });

    it('the oldest route wins a host, VirtualService or HTTPRoute', () => {
      const vs = virtualService('shop', 'thumbs', ['thumbs'], [{ host: 'thumbs-primary', weight: 100 }]);
      const newer = httpRoute('shop', 'thumbs', 'thumbs', [{ name: 'thumbs-canary' }], '2026-02-01T00:00:00Z');
      const older = httpRoute('shop', 'thumbs', 'thumbs', [{ name: 'thumbs-canary' }], '2025-12-01T00:00:00Z');
      expect(resolveHost(table([newer], [vs]), 'thumbs.shop')?.owner).toBe('VirtualService shop/thumbs');
      expect(resolveHost(table([older], [vs]), 'thumbs.shop')?.owner).toBe('HTTPRoute shop/thumbs');
    });

    it('matches paths and headers with the Gateway API precedence', () => {
      const route: HTTPRoute = {
        ...weighted,
        spec: {
          ...weighted.spec,
          rules: [
            { backendRefs: [{ name: 'everything' }] },
            { matches: [{ path: { type: 'PathPrefix', value: '/image' } }], backendRefs: [{ name: 'prefix' }] },
            { matches: [{ path: { type: 'PathPrefix', value: '/image/' }, headers: [{ name: 'X-Canary', value: 'yes' }] }], backendRefs: [{ name: 'header' }] },
            { matches: [{ path: { type: 'Exact', value: '/image/files/a.png' } }], backendRefs: [{ name: 'exact' }] },
            { matches: [{ path: { type: 'RegularExpression', value: '/re/[0-9]+' } }], backendRefs: [{ name: 'regex' }] },
          ],
        },
      };
      const resolved = resolveHost(table([route]), 'thumbs.shop');
      if (resolved === undefined) throw new Error('no route');
      const to = (path: string, headers: Record<string, string> = {}) => selectRule(resolved, path, headers)?.destinations[0]?.host.split('.')[0];
      expect(to('/image/files/a.png?w=1')).toBe('exact');
      expect(to('/image/files/b.png', { 'x-canary': 'yes' })).toBe('header');
      expect(to('/image/files/b.png')).toBe('prefix');
      expect(to('/image')).toBe('prefix');
      // a prefix matches whole path segments
      expect(to('/images')).toBe('everything');
      expect(to('/re/42')).toBe('regex');
      expect(to('/re/x')).toBe('everything');
    });
  });
});
