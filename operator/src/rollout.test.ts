import { describe, expect, it } from 'vitest';
import { type ImageService, validateImageService } from './api/image-service.ts';
import { REVISION_LABEL } from './build/labels.ts';
import { desiredChildren, mergeOwned, needsWrite, templateRevision } from './children.ts';
import type { KubeObject } from './kube/client.ts';
import { observeTrack } from './reconcile.ts';
import { type Observations, idleDecide } from './rollout.ts';

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

describe('desiredChildren', () => {
  const s = isvc();
  const init = idleDecide(s.spec, {}, observations(s), now);

  it('builds the six children of DESIGN, weights 100/0', () => {
    const children = desiredChildren(s, init, undefined);
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
    const live = desiredChildren(s, init, undefined)[0]?.object as KubeObject;
    const next = isvc('imageops/image-service:2.0.0');
    const plan = idleDecide(next.spec, init.status, observations(next), now);
    const [primary, canary] = desiredChildren(next, plan, live);
    expect(primary?.object.metadata.labels?.[REVISION_LABEL]).toBe(templateRevision(s));
    expect(JSON.stringify(primary?.object['spec'])).toContain('image-service:1.0.0');
    expect(canary?.object.metadata.labels?.[REVISION_LABEL]).toBe(templateRevision(next));
    expect(needsWrite(primary?.object as KubeObject, live)).toBe(false);
  });

  it('rebuilds primary from the spec when it runs the promoted revision, so hand edits revert', () => {
    const built = desiredChildren(s, init, undefined)[0]?.object as KubeObject;
    const edited = JSON.parse(JSON.stringify(built).replace('image-service:1.0.0', 'evil:latest')) as KubeObject;
    const [primary] = desiredChildren(s, { ...init, primaryTemplate: 'current' }, edited);
    expect(needsWrite(primary?.object as KubeObject, edited)).toBe(true);
    const fixed = mergeOwned({ ...edited, status: { readyReplicas: 2 } }, primary?.object as KubeObject);
    expect(needsWrite(primary?.object as KubeObject, fixed)).toBe(false);
    expect(fixed['status']).toEqual({ readyReplicas: 2 });
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
