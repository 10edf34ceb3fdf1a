import { describe, expect, it } from 'vitest';
import { validateSpec } from '../api/image-service.ts';
import { buildHorizontalPodAutoscaler, replicasOf } from './hpa.ts';
import { asRead } from './image-services.testkit.ts';

const isvc = (spec: Record<string, unknown>) =>
  asRead({
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name: 'thumbs' },
    spec: { image: 'imageops/image-service:1.0.0', source: { file: {} }, replicas: 3, resources: { requests: { cpu: '500m' } }, ...spec },
  });
const scaling = { autoscaling: { minReplicas: 2, maxReplicas: 6 } };

describe('buildHorizontalPodAutoscaler', () => {
  it('none without spec.autoscaling', () => expect(buildHorizontalPodAutoscaler(isvc({}))).toBeUndefined());

  it("targets primary with the spec's bounds and CPU target, owned by the ImageService", () => {
    const hpa = buildHorizontalPodAutoscaler(isvc({ autoscaling: { minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 60 } }))!;
    expect(hpa.metadata).toMatchObject({ name: 'thumbs-primary', namespace: 'shop', ownerReferences: [{ kind: 'ImageService', name: 'thumbs', controller: true }] });
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'thumbs-primary' },
      minReplicas: 2,
      maxReplicas: 6,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } }],
    });
  });

  it.each([
    ["no behavior: autoscaling/v2's defaults, written out", undefined, { up: 0, down: 300, downPolicies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] }],
    ['a short scale-down window only', { scaleDown: { stabilizationWindowSeconds: 5 } }, { up: 0, down: 5, downPolicies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] }],
    [
      'policies replace the default list',
      { scaleDown: { policies: [{ type: 'Pods', value: 1, periodSeconds: 30 }] }, scaleUp: { stabilizationWindowSeconds: 10 } },
      { up: 10, down: 300, downPolicies: [{ type: 'Pods', value: 1, periodSeconds: 30 }] },
    ],
  ])('%s', (_name, behavior, want) => {
    const hpa = buildHorizontalPodAutoscaler(isvc({ autoscaling: { maxReplicas: 4, ...(behavior ? { behavior } : {}) } }))!;
    const b = hpa.spec!.behavior!;
    expect(b.scaleUp?.stabilizationWindowSeconds).toBe(want.up);
    expect(b.scaleDown?.stabilizationWindowSeconds).toBe(want.down);
    expect(b.scaleDown?.policies).toEqual(want.downPolicies);
    expect(b.scaleUp?.selectPolicy).toBe('Max');
  });
});

describe('replicasOf', () => {
  it.each([
    ['primary without autoscaling: spec.replicas', {}, 'primary', 3, 7, 3],
    ["canary without autoscaling: the plan's", {}, 'canary', 3, 7, 3],
    ['primary, HPA, primary exists: left to the HPA', scaling, 'primary', 3, 5, undefined],
    ['primary, HPA, no primary yet: minReplicas', scaling, 'primary', 3, undefined, 2],
    ['canary, HPA, idle: 0', scaling, 'canary', 0, 5, 0],
    ["canary, HPA, running: primary's current count", scaling, 'canary', 3, 5, 5],
    ['canary, HPA, primary at 0 by hand: still one pod to analyse', scaling, 'canary', 3, 0, 1],
    ['canary, HPA, primary missing: minReplicas', scaling, 'canary', 3, undefined, 2],
  ] as const)('%s', (_name, spec, track, planned, livePrimary, want) => {
    expect(replicasOf({ isvc: isvc(spec), track, planned, livePrimary })).toBe(want);
  });
});

describe('spec.autoscaling validation', () => {
  const base = { image: 'i:1', source: { file: {} }, resources: { limits: { cpu: '1' } } };
  it.each([
    ['min above max', { minReplicas: 5, maxReplicas: 2 }, 'minReplicas must not exceed maxReplicas'],
    ['max above the bound', { maxReplicas: 1001 }, 'spec.autoscaling.maxReplicas'],
    ['min 0', { minReplicas: 0, maxReplicas: 2 }, 'spec.autoscaling.minReplicas'],
    ['no max', { minReplicas: 1 }, 'spec.autoscaling.maxReplicas'],
    ['target 0', { maxReplicas: 2, targetCPUUtilizationPercentage: 0 }, 'targetCPUUtilizationPercentage'],
    ['an unknown policy type', { maxReplicas: 2, behavior: { scaleUp: { policies: [{ type: 'Cores', value: 1, periodSeconds: 15 }] } } }, 'type'],
    ['a period beyond 30 min', { maxReplicas: 2, behavior: { scaleDown: { policies: [{ type: 'Pods', value: 1, periodSeconds: 1801 }] } } }, 'periodSeconds'],
    ['a window beyond an hour', { maxReplicas: 2, behavior: { scaleDown: { stabilizationWindowSeconds: 3601 } } }, 'stabilizationWindowSeconds'],
  ])('refuses %s', (_name, autoscaling, message) => {
    const r = validateSpec({ ...base, autoscaling });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.message).join('; ')).toContain(message);
  });

  it('refuses autoscaling without a CPU request or limit', () => {
    const r = validateSpec({ image: 'i:1', source: { file: {} }, autoscaling: { maxReplicas: 2 } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]?.message).toMatch(/autoscaling needs resources.requests.cpu or resources.limits.cpu/);
  });

  it('defaults minReplicas 1 and the target 80%', () => {
    const r = validateSpec({ ...base, autoscaling: { maxReplicas: 3 } });
    expect(r.ok && r.value.autoscaling).toEqual({ minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 80 });
  });
});
