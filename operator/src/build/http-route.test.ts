import { describe, expect, it } from 'vitest';
import { buildHTTPRoute, gatewayDuration, type HTTPRouteRule } from './http-route.ts';
import { asRead } from './image-services.testkit.ts';
import type { CanaryRouting } from './virtual-service.ts';

const isvc = (traffic: Record<string, unknown>, canary: Record<string, unknown> = {}) =>
  asRead({
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name: 'thumbs' },
    spec: { image: 'imageops/image-service:1.0.0', source: { file: {} }, router: 'gatewayapi', traffic, canary },
  });
const mesh = { group: '', kind: 'Service', name: 'thumbs', port: 8080 };
const at = (weight: number): CanaryRouting => ({ weight, canaryRunning: weight > 0, mirrorPercent: 0 });
const ref = (track: string) => ({ group: '' as const, kind: 'Service' as const, name: `thumbs-${track}`, port: 8080 });
const weighted = (canary: number, filters: HTTPRouteRule['filters'] = []): HTTPRouteRule => ({
  name: 'primary-canary',
  backendRefs: [
    { ...ref('primary'), weight: 100 - canary },
    { ...ref('canary'), weight: canary },
  ],
  filters,
  timeouts: { request: '30s' },
});
const previewRule: HTTPRouteRule = {
  name: 'preview',
  matches: [{ headers: [{ type: 'Exact', name: 'x-imageops-preview', value: 'yes' }] }],
  backendRefs: [{ ...ref('canary'), weight: 100 }],
  filters: [],
  timeouts: { request: '30s' },
};
const mirror = (percent: number) => [{ type: 'RequestMirror' as const, requestMirror: { backendRef: ref('canary'), percent } }];
const preview = { header: 'x-imageops-preview', value: 'yes' };

describe('buildHTTPRoute', () => {
  it.each([
    ['0% to the canary', {}, 0, [100, 0]],
    ['a step', {}, 35, [65, 35]],
    ['all to the canary', {}, 100, [0, 100]],
  ])('%s', (_name, traffic, weight, [primary, canary]) => {
    const route = buildHTTPRoute(isvc(traffic), at(weight));
    expect(route.spec.rules).toEqual([
      {
        name: 'primary-canary',
        backendRefs: [
          { group: '', kind: 'Service', name: 'thumbs-primary', port: 8080, weight: primary },
          { group: '', kind: 'Service', name: 'thumbs-canary', port: 8080, weight: canary },
        ],
        filters: [],
        timeouts: { request: '30s' },
      },
    ]);
  });

  it.each([
    ['no canary running: the weighted rule only', { preview, mirror: 10 }, { weight: 0, canaryRunning: false, mirrorPercent: 10 }, [weighted(0)]],
    ['a canary without preview or mirror', {}, { weight: 20, canaryRunning: true, mirrorPercent: 0 }, [weighted(20)]],
    ['preview: the header rule first, then the weights', { preview }, { weight: 0, canaryRunning: true, mirrorPercent: 0 }, [previewRule, weighted(0)]],
    ['preview at 40%', { preview }, { weight: 40, canaryRunning: true, mirrorPercent: 0 }, [previewRule, weighted(40)]],
    ['mirroring at 0%: a RequestMirror filter with the percentage', { mirror: 25 }, { weight: 0, canaryRunning: true, mirrorPercent: 25 }, [weighted(0, mirror(25))]],
    ['preview and mirroring together', { preview, mirror: 5 }, { weight: 0, canaryRunning: true, mirrorPercent: 5 }, [previewRule, weighted(0, mirror(5))]],
    ['mirroring ended: an empty filter list, which clears a live mirror', { mirror: 5 }, { weight: 10, canaryRunning: true, mirrorPercent: 0 }, [weighted(10)]],
  ] as [string, Record<string, unknown>, CanaryRouting, HTTPRouteRule[]][])('preview and mirroring: %s', (_what, canary, routing, rules) => {
    expect(buildHTTPRoute(isvc({}, canary), routing).spec.rules).toEqual(rules);
  });

  it('the preview value defaults to true', () => {
    const route = buildHTTPRoute(isvc({}, { preview: { header: 'x-preview' } }), { weight: 0, canaryRunning: true, mirrorPercent: 0 });
    expect(route.spec.rules[0]!.matches).toEqual([{ headers: [{ type: 'Exact', name: 'x-preview', value: 'true' }] }]);
  });

  it.each([101, -1, 2.5])('refuses the mirror percentage %s', (mirrorPercent) => {
    expect(() => buildHTTPRoute(isvc({}), { weight: 0, canaryRunning: true, mirrorPercent })).toThrow(/mirror percentage must be a whole number from 0 to 100/);
  });

  it.each([
    ['the mesh only', {}, [mesh], []],
    ['hosts become hostnames', { hosts: ['img.example.com'] }, [mesh], ['img.example.com']],
    [
      "Gateways beside the mesh, on the route's port",
      { port: 9000, parentRefs: [{ name: 'public' }, { name: 'edge', namespace: 'infra', sectionName: 'https' }] },
      [
        { ...mesh, port: 9000 },
        { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'public' },
        { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge', namespace: 'infra', sectionName: 'https' },
      ],
      [],
    ],
  ])('parents and hostnames: %s', (_name, traffic, parentRefs, hostnames) => {
    const route = buildHTTPRoute(isvc(traffic), at(0));
    expect(route.spec.parentRefs).toEqual(parentRefs);
    expect(route.spec.hostnames).toEqual(hostnames);
    expect(route.metadata).toMatchObject({ name: 'thumbs', namespace: 'shop', ownerReferences: [{ kind: 'ImageService', uid: 'uid-thumbs', controller: true }] });
  });

  it.each([101, -1, 2.5])('refuses the weight %s', (weight) => {
    expect(() => buildHTTPRoute(isvc({}), at(weight))).toThrow(/whole number from 0 to 100/);
  });
});

describe('gatewayDuration', () => {
  it.each([
    [30_000, '30s'],
    [90_000, '1m30s'],
    [1_500, '1s500ms'],
    [86_400_000, '24h'],
    [3_723_004, '1h2m3s4ms'],
    [0.4, '1ms'],
  ])('%s ms -> %s', (ms, text) => {
    expect(gatewayDuration(ms)).toBe(text);
    // Gateway API's Duration pattern (GEP-2257)
    expect(text).toMatch(/^([0-9]{1,5}(h|m|s|ms)){1,4}$/);
  });

  it("renders the spec's timeout", () => {
    expect(buildHTTPRoute(isvc({ timeout: '1500ms' }), at(0)).spec.rules[0]!.timeouts.request).toBe('1s500ms');
  });
});
