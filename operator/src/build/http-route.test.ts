import { describe, expect, it } from 'vitest';
import { buildHTTPRoute, gatewayDuration } from './http-route.ts';
import { asRead } from './image-services.testkit.ts';

const isvc = (traffic: Record<string, unknown>) =>
  asRead({
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name: 'thumbs' },
    spec: { image: 'imageops/image-service:1.0.0', source: { file: {} }, router: 'gatewayapi', traffic },
  });
const mesh = { group: '', kind: 'Service', name: 'thumbs', port: 8080 };

describe('buildHTTPRoute', () => {
  it.each([
    ['0% to the canary', {}, 0, [100, 0]],
    ['a step', {}, 35, [65, 35]],
    ['all to the canary', {}, 100, [0, 100]],
  ])('%s', (_name, traffic, weight, [primary, canary]) => {
    const route = buildHTTPRoute(isvc(traffic), weight);
    expect(route.spec.rules).toEqual([
      {
        name: 'primary-canary',
        backendRefs: [
          { group: '', kind: 'Service', name: 'thumbs-primary', port: 8080, weight: primary },
          { group: '', kind: 'Service', name: 'thumbs-canary', port: 8080, weight: canary },
        ],
        timeouts: { request: '30s' },
      },
    ]);
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
    const route = buildHTTPRoute(isvc(traffic), 0);
    expect(route.spec.parentRefs).toEqual(parentRefs);
    expect(route.spec.hostnames).toEqual(hostnames);
    expect(route.metadata).toMatchObject({ name: 'thumbs', namespace: 'shop', ownerReferences: [{ kind: 'ImageService', uid: 'uid-thumbs', controller: true }] });
  });

  it.each([101, -1, 2.5])('refuses the weight %s', (weight) => {
    expect(() => buildHTTPRoute(isvc({}), weight)).toThrow(/whole number from 0 to 100/);
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
    expect(buildHTTPRoute(isvc({ timeout: '1500ms' }), 0).spec.rules[0]!.timeouts.request).toBe('1s500ms');
  });
});
