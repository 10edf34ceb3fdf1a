import { describe, expect, it } from 'vitest';
import { type ImageService, validateImageService } from './api/image-service.ts';
import { REVISION_LABEL } from './build/labels.ts';
import { desiredChildren, mergeOwned, needsWrite, primaryTemplate, templateRevision } from './children.ts';
import { buildPodTemplate } from './build/pod-template.ts';
import type { KubeObject } from './kube/client.ts';
import { observeTrack } from './reconcile.ts';
import { type Observations, type RolloutPlan, idleDecide } from './rollout.ts';

function isvc(image = 'imageops/image-service:1.0.0'): ImageService {
  const v = validateImageService({
    apiVersion: 'imageops.dev/v1alpha1',
    kind: 'ImageService',
    metadata: { name: 'thumbs', namespace: 'shop', uid: 'u-1', generation: 2 },
    spec: { image, source: { file: { claimName: 'originals' } } },
  });
  if (!v.ok) throw new Error(JSON.stringify(v.issues));
  return v.value;
}

const now = new Date('2026-11-22T00:00:00Z');
const absent = observeTrack(undefined);

function observations(s: ImageService): Observations {
  return { generation: 2, revision: templateRevision(s), image: s.spec.image, primary: absent, canary: absent, promote: false, abort: false, analysis: undefined };
}

describe('idleDecide', () => {
  it('initialises: primary on the spec revision at 100%, canary at 0, one Initialized event', () => {
    const s = isvc();
    const plan = idleDecide(s.spec, {}, observations(s), now);
    expect(plan.status).toMatchObject({ phase: 'Initialized', primary: { image: s.spec.image, revision: templateRevision(s) }, canaryWeight: 0 });
    expect(plan.status.canary).toBeUndefined();
    expect(plan).toMatchObject({ primaryTemplate: 'spec', canaryReplicas: 0 });
    expect(plan.events.map((e) => e.reason)).toEqual(['Initialized']);
    expect(plan.status.conditions?.find((c) => c.type === 'Promoted')?.status).toBe('True');
  });

  it('in steady state changes nothing and says nothing', () => {
    const s = isvc();
    const first = idleDecide(s.spec, {}, observations(s), now);
    const later = new Date(now.getTime() + 60_000);
    const second = idleDecide(s.spec, first.status, observations(s), later);
    expect(second.status).toEqual(first.status);
    expect(second.events).toEqual([]);
  });

  it('reports a new template in status once, keeping primary and 100% on it', () => {
    const before = isvc();
    const init = idleDecide(before.spec, {}, observations(before), now).status;
    const after = isvc('imageops/image-service:1.1.0');
    const plan = idleDecide(after.spec, init, observations(after), now);
    expect(plan.status.canary).toEqual({ image: 'imageops/image-service:1.1.0', revision: templateRevision(after) });
    expect(plan.status.primary).toEqual(init.primary);
    expect(plan).toMatchObject({ primaryTemplate: 'current', canaryReplicas: 0, status: { canaryWeight: 0, phase: 'Initialized' } });
    expect(plan.status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'RevisionDetected' });
    expect(plan.events.map((e) => e.reason)).toEqual(['RevisionDetected']);
    expect(idleDecide(after.spec, plan.status, observations(after), now).events).toEqual([]);
  });
});

const childrenOf = (i: ImageService, plan: RolloutPlan, live: KubeObject | undefined) => desiredChildren(i, plan, primaryTemplate(i, plan, live));

describe('desiredChildren', () => {
  const s = isvc();
  const init = idleDecide(s.spec, {}, observations(s), now);

  it('builds the six children of DESIGN, weights 100/0', () => {
    const children = childrenOf(s, init, undefined);
    expect(children.map((c) => `${c.type.kind}/${c.object.metadata.name}`).sort()).toEqual([
      'Deployment/thumbs-canary',
      'Deployment/thumbs-primary',
      'Service/thumbs',
      'Service/thumbs-canary',
      'Service/thumbs-primary',
      'VirtualService/thumbs',
    ]);
    const vs = children[5]?.object as unknown as { spec: { http: Array<{ route: Array<{ weight: number }> }> } };
    expect(vs.spec.http[0]?.route.map((r) => r.weight)).toEqual([100, 0]);
    expect((children[1]?.object['spec'] as { replicas: number }).replicas).toBe(0);
  });

  it('keeps the template primary runs while a newer revision waits, with its revision label', () => {
    const live = childrenOf(s, init, undefined)[0]?.object as KubeObject;
    const next = isvc('imageops/image-service:2.0.0');
    const plan = idleDecide(next.spec, init.status, observations(next), now);
    const [primary, canary] = childrenOf(next, plan, live);
    expect(primary?.object.metadata.labels?.[REVISION_LABEL]).toBe(templateRevision(s));
    expect(JSON.stringify(primary?.object['spec'])).toContain('image-service:1.0.0');
    expect(canary?.object.metadata.labels?.[REVISION_LABEL]).toBe(templateRevision(next));
    expect(needsWrite(primary?.object as KubeObject, live)).toBe(false);
  });

  it('rebuilds primary from the spec when it runs the promoted revision, so hand edits revert', () => {
    const built = childrenOf(s, init, undefined)[0]?.object as KubeObject;
    const edited = JSON.parse(JSON.stringify(built).replace('image-service:1.0.0', 'evil:latest')) as KubeObject;
    const [primary] = childrenOf(s, { ...init, primaryTemplate: 'current' }, edited);
    expect(needsWrite(primary?.object as KubeObject, edited)).toBe(true);
    const fixed = mergeOwned({ ...edited, status: { readyReplicas: 2 } }, primary?.object as KubeObject);
    expect(needsWrite(primary?.object as KubeObject, fixed)).toBe(false);
    expect(fixed['status']).toEqual({ readyReplicas: 2 });
  });
});

describe('primaryTemplate', () => {
  const old = isvc();
  const oldTemplate = buildPodTemplate(old);
  const init = idleDecide(old.spec, {}, observations(old), now);
  // The status the reconciler writes: the promoted template beside the promoted revision.
  const promoted = { ...init.status, primary: { ...init.status.primary, template: JSON.stringify(oldTemplate) } };
  const next = isvc('imageops/image-service:2.0.0');
  const waiting = idleDecide(next.spec, promoted, observations(next), now);
  const livePrimary = childrenOf(old, init, undefined)[0]?.object as KubeObject;
  const { template: _t, ...promotedWithoutTemplate } = promoted.primary;

  it.each([
    ['initialisation', old, init, undefined, { revision: templateRevision(old), fromSpec: true, image: '1.0.0' }],
    ['a new revision waiting, primary live', next, waiting, livePrimary, { revision: templateRevision(old), fromSpec: false, image: '1.0.0' }],
    ['a new revision waiting, primary deleted', next, waiting, undefined, { revision: templateRevision(old), fromSpec: false, image: '1.0.0' }],
    [
      'a new revision waiting, primary deleted, a status without the template',
      next,
      { ...waiting, status: { ...waiting.status, primary: promotedWithoutTemplate } },
      undefined,
      { revision: templateRevision(next), fromSpec: true, image: '2.0.0' },
    ],
  ] as const)('after %s', (_name, spec, plan, live, expected) => {
    const got = primaryTemplate(spec, plan, live);
    expect({ revision: got.revision, fromSpec: got.kind === 'pod' && got.fromSpec }).toEqual({ revision: expected.revision, fromSpec: expected.fromSpec });
    expect(JSON.stringify(got.template)).toContain(`image-service:${expected.image}`);
  });

  it.each([
    ['not JSON', '{"spec":'],
    ['not a pod template', '{"spec":{"containers":[]}}'],
  ])('falls back to the spec when the kept template is %s', (_name, text) => {
    const plan = { ...waiting, status: { ...waiting.status, primary: { ...promoted.primary, template: text } } };
    expect(primaryTemplate(next, plan, undefined)).toMatchObject({ kind: 'pod', revision: templateRevision(next), fromSpec: true });
  });

  it('rebuilds a deleted primary on the promoted revision, never on the waiting one', () => {
    const [primary] = childrenOf(next, waiting, undefined);
    expect(primary?.object.metadata.labels?.[REVISION_LABEL]).toBe(templateRevision(old));
    expect(JSON.stringify(primary?.object['spec'])).toContain('image-service:1.0.0');
    expect(JSON.stringify(primary?.object['spec'])).not.toContain('image-service:2.0.0');
  });
});

describe('observeTrack', () => {
  it('is rolled out only when the controller saw the latest spec and every replica is updated and ready', () => {
    const dep = (status: Record<string, number>): KubeObject => ({ metadata: { name: 'd', generation: 3, labels: { [REVISION_LABEL]: 'abc' } }, spec: { replicas: 2 }, status });
    expect(observeTrack(dep({ observedGeneration: 3, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }))).toMatchObject({ rolledOut: true, revision: 'abc' });
    expect(observeTrack(dep({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2 })).rolledOut).toBe(false);
    expect(observeTrack(dep({ observedGeneration: 3, replicas: 3, updatedReplicas: 2, readyReplicas: 2 })).rolledOut).toBe(false);
    expect(observeTrack(dep({ observedGeneration: 3, replicas: 2, updatedReplicas: 2, readyReplicas: 1 })).rolledOut).toBe(false);
  });
});
