import { describe, expect, it } from 'vitest';
import { asRead } from './image-services.testkit.ts';
import { buildVirtualService, type CanaryRouting, type HttpRoute } from './virtual-service.ts';

const isvc = (canary: Record<string, unknown>) =>
  asRead({ apiVersion: 'imageops.dev/v1alpha1', kind: 'ImageService', metadata: { name: 'thumbs', namespace: 'shop', uid: 'u1' }, spec: { image: 'img:2', source: { file: {} }, canary } });
const to = (host: string) => ({ host: `thumbs-${host}`, port: { number: 8080 } });
const weighted = (canary: number, extra: Partial<HttpRoute> = {}): HttpRoute => ({
  name: 'primary-canary',
  route: [
    { destination: to('primary'), weight: 100 - canary },
    { destination: to('canary'), weight: canary },
  ],
  timeout: '30s',
  mirror: null,
  mirrorPercentage: null,
  ...extra,
});
const previewRoute: HttpRoute = { name: 'preview', match: [{ headers: { 'x-imageops-preview': { exact: 'yes' } } }], route: [{ destination: to('canary'), weight: 100 }], timeout: '30s' };
const preview = { header: 'x-imageops-preview', value: 'yes' };

describe('buildVirtualService: preview and mirroring', () => {
  it.each<[string, Record<string, unknown>, CanaryRouting, HttpRoute[]]>([
    ['no canary running: the weighted route only', { preview, mirror: 10 }, { weight: 0, canaryRunning: false, mirrorPercent: 10 }, [weighted(0)]],
    ['a canary without preview or mirror', {}, { weight: 20, canaryRunning: true, mirrorPercent: 0 }, [weighted(20)]],
    ['preview: the header route first, then the weights', { preview }, { weight: 0, canaryRunning: true, mirrorPercent: 0 }, [previewRoute, weighted(0)]],
    ['preview at 40%', { preview }, { weight: 40, canaryRunning: true, mirrorPercent: 0 }, [previewRoute, weighted(40)]],
    [
      "mirroring at 0%: a share of primary's requests copied",
      { mirror: 25 },
      { weight: 0, canaryRunning: true, mirrorPercent: 25 },
      [weighted(0, { mirror: to('canary'), mirrorPercentage: { value: 25 } })],
    ],
    [
      'preview and mirroring together',
      { preview, mirror: 5 },
      { weight: 0, canaryRunning: true, mirrorPercent: 5 },
      [previewRoute, weighted(0, { mirror: to('canary'), mirrorPercentage: { value: 5 } })],
    ],
  ])('%s', (_what, canary, routing, http) => {
    expect(buildVirtualService(isvc(canary), routing).spec.http).toEqual(http);
  });

  it('the preview value defaults to true', () => {
    const vs = buildVirtualService(isvc({ preview: { header: 'x-preview' } }), { weight: 0, canaryRunning: true, mirrorPercent: 0 });
    expect(vs.spec.http[0]!.match).toEqual([{ headers: { 'x-preview': { exact: 'true' } } }]);
  });

  it('refuses a mirror share outside 0..100', () => {
    expect(() => buildVirtualService(isvc({}), { weight: 0, canaryRunning: true, mirrorPercent: 101 })).toThrow(/mirror percentage/);
  });
});
