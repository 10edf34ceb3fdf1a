import { describe, expect, it } from 'vitest';
import { type ImageService, type ImageServiceStatus, validateImageService } from './api/image-service.ts';
import { REVISION_LABEL } from './build/labels.ts';
import { buildPodTemplate } from './build/pod-template.ts';
import { revisionOf } from './build/revision.ts';
import { decide } from './canary/decide.ts';
import { desiredChildren, mergeOwned, needsWrite } from './children.ts';
import type { KubeObject } from './kube/client.ts';
import { observeTrack } from './reconcile.ts';
import type { RolloutPlan, TrackObservation } from './rollout.ts';

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
const revision = (s: ImageService) => revisionOf(buildPodTemplate(s));

/** The canary decision's plan for `s`, as the reconciler asks for it (no check is due in these). */
function plan(s: ImageService, status: ImageServiceStatus, primary: TrackObservation = absent): RolloutPlan {
  const template = buildPodTemplate(s);
  return decide(
    s.spec,
    status,
    { generation: 2, revision: revisionOf(template), image: s.spec.image, template: JSON.stringify(template), primary, canary: absent, promote: false, abort: false, analysis: undefined },
    now,
  );
}

const children = (s: ImageService, p: RolloutPlan, live: KubeObject | undefined) => desiredChildren(s, p, buildPodTemplate(s), live);

describe('desiredChildren', () => {
  const old = isvc();
  const init = plan(old, {});
  const livePrimary = children(old, init, undefined)[0]?.object as KubeObject;
  const next = isvc('imageops/image-service:2.0.0');
  // A newer revision under analysis while primary keeps the promoted one.
  const analysing = plan(next, init.status, observeTrack(livePrimary));

  it('builds the six children, weights 100/0', () => {
    const built = children(old, init, undefined);
    expect(built.map((c) => `${c.type.kind}/${c.object.metadata.name}`).sort()).toEqual([
      'Deployment/thumbs-canary',
      'Deployment/thumbs-primary',
      'Service/thumbs',
      'Service/thumbs-canary',
      'Service/thumbs-primary',
      'VirtualService/thumbs',
    ]);
    const vs = built[5]?.object as unknown as { spec: { http: Array<{ route: Array<{ weight: number }> }> } };
    expect(vs.spec.http[0]?.route.map((r) => r.weight)).toEqual([100, 0]);
    expect((built[1]!.object['spec'] as { replicas: number }).replicas).toBe(0);
  });

  it('keeps the template primary runs while a newer revision is analysed, with its revision label', () => {
    expect(analysing.primary).toEqual({ from: 'live' });
    const [primary, canary] = children(next, analysing, livePrimary);
    expect(primary?.object.metadata.labels?.[REVISION_LABEL]).toBe(revision(old));
    expect(JSON.stringify(primary?.object['spec'])).toContain('image-service:1.0.0');
    expect(canary?.object.metadata.labels?.[REVISION_LABEL]).toBe(revision(next));
    expect(needsWrite(primary?.object as KubeObject, livePrimary)).toBe(false);
  });

  it('rebuilds primary from the spec when it runs the promoted revision, so hand edits revert', () => {
    const edited = JSON.parse(JSON.stringify(livePrimary).replace('image-service:1.0.0', 'evil:latest')) as KubeObject;
    const steady = plan(old, init.status, observeTrack(edited));
    expect(steady.primary).toEqual({ from: 'spec' });
    const [primary] = children(old, steady, edited);
    expect(needsWrite(primary?.object as KubeObject, edited)).toBe(true);
    const fixed = mergeOwned({ ...edited, status: { readyReplicas: 2 } }, primary?.object as KubeObject);
    expect(needsWrite(primary?.object as KubeObject, fixed)).toBe(false);
    expect(fixed['status']).toEqual({ readyReplicas: 2 });
  });

  it('rebuilds a deleted primary on the promoted revision, never on the analysed one', () => {
    const deleted = plan(next, analysing.status);
    expect(deleted.primary).toMatchObject({ from: 'kept', revision: revision(old) });
    const [primary] = children(next, deleted, undefined);
    expect(primary?.object.metadata.labels?.[REVISION_LABEL]).toBe(revision(old));
    expect(JSON.stringify(primary?.object['spec'])).toContain('image-service:1.0.0');
    expect(JSON.stringify(primary?.object['spec'])).not.toContain('image-service:2.0.0');
    expect(needsWrite(primary?.object as KubeObject, livePrimary)).toBe(false);
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
