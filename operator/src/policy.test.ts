import { describe, expect, it } from 'vitest';
import { asRead } from './build/image-services.testkit.ts';
import { CLOSED_POLICY, hostNamespace, imageAllowed, imageRepository, policyViolations, type TenantPolicy } from './policy.ts';

const isvc = (spec: Record<string, unknown>) =>
  asRead({ apiVersion: 'imageops.dev/v1alpha1', kind: 'ImageService', metadata: { name: 'thumbs' }, spec: { image: 'imageops/image-service:1.0.0', source: { file: {} }, ...spec } });
const reasons = (spec: Record<string, unknown>, policy: TenantPolicy = CLOSED_POLICY) => policyViolations(isvc(spec), policy).map((v) => v.reason);

describe('imageRepository: a reference as its registry names it', () => {
  it.each([
    ['nginx', 'docker.io/library/nginx'],
    ['nginx:1.27', 'docker.io/library/nginx'],
    ['imageops/image-service:1.0.0', 'docker.io/imageops/image-service'],
    ['imageops/image-service@sha256:0123abcd', 'docker.io/imageops/image-service'],
    ['registry.example.com:5000/imageops/image-service:1.5.0', 'registry.example.com:5000/imageops/image-service'],
    ['localhost/app', 'localhost/app'],
    ['ghcr.io/org/app:1@sha256:00', 'ghcr.io/org/app'],
  ])('%s -> %s', (image, repo) => expect(imageRepository(image)).toBe(repo));
});

describe('imageAllowed', () => {
  it.each([
    ['any image without a list', 'evil/miner:1', [], true],
    ['a registry', 'registry.example.com/team/app:1', ['registry.example.com'], true],
    ['a path prefix', 'registry.example.com/team/app:1', ['registry.example.com/team'], true],
    ['a path prefix is whole segments', 'registry.example.com/team-evil/app:1', ['registry.example.com/team'], false],
    ['a registry is not a host prefix', 'registry.example.com.evil.io/app:1', ['registry.example.com'], false],
    ['Docker Hub by its name', 'imageops/image-service:1', ['docker.io/imageops'], true],
    ['Docker Hub when only another registry is', 'imageops/image-service:1', ['registry.example.com'], false],
  ])('%s', (_what, image, registries, allowed) => expect(imageAllowed(image, registries)).toBe(allowed));
});

describe('hostNamespace: whose Service a host names in the mesh', () => {
  it.each([
    ['thumbs', 'shop'],
    ['payments.billing', 'billing'],
    ['payments.billing.svc', 'billing'],
    ['payments.billing.svc.cluster.local', 'billing'],
    ['images.example.com', undefined],
    ['cdn.images.example.com', undefined],
  ])('%s -> %s', (host, ns) => expect(hostNamespace(host, 'shop')).toBe(ns));
});

describe('policyViolations', () => {
  it('a plain spec asks for nothing beyond a Deployment', () => {
    expect(
      reasons({
        traffic: {
          hosts: ['images.example.com', 'thumbs-alias', 'x.shop.svc.cluster.local'],
          gateways: ['public', 'shop/edge'],
          parentRefs: [{ name: 'public' }, { name: 'edge', namespace: 'shop' }],
        },
      }),
    ).toEqual([]);
  });

  it.each([
    ['hostPath', { source: { file: { hostPath: '/' } } }, { allowHostPath: true }, 'HostPathNotAllowed'],
    ['a Prometheus address', { canary: { analysis: { prometheus: { address: 'http://169.254.169.254/latest' } } } }, { prometheusUrls: ['http://169.254.169.254/latest'] }, 'PrometheusNotAllowed'],
    ['a hook URL', { canary: { webhooks: [{ name: 'smoke', type: 'rollout', url: 'http://169.254.169.254/latest' }] } }, { webhookUrls: ['http://169.254.169.254/latest'] }, 'WebhookNotAllowed'],
    ['a host of another namespace', { traffic: { hosts: ['payments.billing.svc.cluster.local'] } }, { allowCrossNamespaceHosts: true }, 'HostNotAllowed'],
    ['a two-label host (Service payments of namespace billing)', { traffic: { hosts: ['payments.billing'] } }, { allowCrossNamespaceHosts: true }, 'HostNotAllowed'],
    ['a Gateway of another namespace', { traffic: { gateways: ['istio-system/public'] } }, { allowedGateways: ['istio-system/public'] }, 'GatewayNotAllowed'],
    ['a Gateway of a namespace allowed whole', { traffic: { gateways: ['istio-system/public'] } }, { allowedGateways: ['istio-system/*'] }, 'GatewayNotAllowed'],
    ['any Gateway', { traffic: { gateways: ['edge/public'] } }, { allowedGateways: ['*'] }, 'GatewayNotAllowed'],
    [
      'a Gateway API parent of another namespace',
      { router: 'gatewayapi', traffic: { parentRefs: [{ name: 'public', namespace: 'istio-system' }] } },
      { allowedGateways: ['istio-system/public'] },
      'GatewayNotAllowed',
    ],
    [
      'a Gateway API parent of a namespace allowed whole',
      { traffic: { parentRefs: [{ name: 'public', namespace: 'istio-system', sectionName: 'https' }] } },
      { allowedGateways: ['istio-system/*'] },
      'GatewayNotAllowed',
    ],
  ])('%s: refused when closed, allowed when the policy grants it', (_what, spec, grant, reason) => {
    expect(reasons(spec)).toEqual([reason]);
    expect(reasons(spec, { ...CLOSED_POLICY, ...grant })).toEqual([]);
  });

  it('refuses an image outside the registries when there is a list, naming its repository', () => {
    const v = policyViolations(isvc({ image: 'evil.io/miner:1' }), { ...CLOSED_POLICY, imageRegistries: ['registry.example.com'] });
    expect(v).toEqual([{ reason: 'ImageNotAllowed', message: expect.stringMatching(/^spec\.image: evil\.io\/miner is outside the registries this operator may run \(registry\.example\.com;/) }]);
  });

  it('compares Prometheus addresses as URLs (a trailing slash is the same address)', () => {
    const spec = { canary: { analysis: { prometheus: { address: 'http://prometheus.monitoring:9090/' } } } };
    expect(reasons(spec, { ...CLOSED_POLICY, prometheusUrls: ['http://prometheus.monitoring:9090'] })).toEqual([]);
    expect(reasons(spec, { ...CLOSED_POLICY, prometheusUrls: ['http://prometheus.monitoring:9091'] })).toEqual(['PrometheusNotAllowed']);
  });

  it('says every violation, each starting with its field', () => {
    const v = policyViolations(
      isvc({ source: { file: { hostPath: '/' } }, traffic: { hosts: ['a.b', 'ok.example.com', 'c.d.svc'], gateways: ['x/y'], parentRefs: [{ name: 'y', namespace: 'x' }] } }),
      CLOSED_POLICY,
    );
    expect(v.map((x) => x.message.split(':')[0])).toEqual(['spec.source.file.hostPath', 'spec.traffic.hosts[0]', 'spec.traffic.hosts[2]', 'spec.traffic.gateways[0]', 'spec.traffic.parentRefs[0]']);
  });
});
