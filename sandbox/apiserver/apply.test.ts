import { describe, expect, it } from 'vitest';
import { applyConfiguration, recordUpdate } from './apply.ts';
import type { ApiError } from './errors.ts';
import { eventsV1Codec } from './events.ts';
import { builtinTypes } from './resources.ts';
import type { KubeObject } from './types.ts';

const deployments = builtinTypes(eventsV1Codec).find((t) => t.resource === 'deployments');
if (!deployments) throw new Error('deployments type missing');

const deployment = (containers: { name: string; image: string }[], replicas = 1, managedFields?: KubeObject['metadata']['managedFields']): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd', namespace: 'n', ...(managedFields ? { managedFields } : {}) },
  spec: { replicas, template: { spec: { containers } } },
  status: { replicas: 9 },
});

describe('recording Update managers', () => {
  it('gives a creator every field it set, keyed list items by their key, and not status', () => {
    const entries = recordUpdate(deployments, undefined, deployment([{ name: 'web', image: 'a' }]), 'op', undefined);
    expect(entries).toMatchObject([{ manager: 'op', operation: 'Update', apiVersion: 'apps/v1', fieldsType: 'FieldsV1' }]);
    expect(entries?.[0]?.fieldsV1).toEqual({
      'f:spec': {
        'f:replicas': {},
        'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:name': {}, 'f:image': {} } } } },
      },
    });
  });

  it('moves a changed field to its writer and drops removed fields from every owner', () => {
    const created = deployment([
      { name: 'web', image: 'a' },
      { name: 'side', image: 's' },
    ]);
    created.metadata.managedFields = recordUpdate(deployments, undefined, created, 'op', undefined);
    const next = deployment([{ name: 'web', image: 'b' }], 3, created.metadata.managedFields);
    const entries = recordUpdate(deployments, created, next, 'human', undefined);
    const byManager = Object.fromEntries((entries ?? []).map((e) => [e.manager, e.fieldsV1]));
    expect(byManager['op']).toEqual({
      'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:name': {} } } } } },
    });
    expect(byManager['human']).toEqual({
      'f:spec': { 'f:replicas': {}, 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { 'f:image': {} } } } } },
    });
  });

  it('leaves managedFields alone when no field changed', () => {
    const created = deployment([{ name: 'web', image: 'a' }]);
    created.metadata.managedFields = recordUpdate(deployments, undefined, created, 'op', undefined);
    const same = structuredClone(created);
    expect(recordUpdate(deployments, created, same, 'other', undefined)).toBe(same.metadata.managedFields);
  });

  it('lets an applier take fields only when the values agree, or with force', () => {
    const live = deployment([{ name: 'web', image: 'a' }], 2);
    live.metadata.managedFields = recordUpdate(deployments, undefined, live, 'op', undefined);
    const config = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 5 } };
    let err: unknown;
    try {
      applyConfiguration(deployments, structuredClone(live), config, 'kubectl', false, undefined);
    } catch (e) {
      err = e;
    }
    expect((err as ApiError).message).toBe('Apply failed with 1 conflict: conflict with "op" using apps/v1: .spec.replicas');
    const forced = applyConfiguration(deployments, structuredClone(live), config, 'kubectl', true, undefined);
    expect(forced['spec']).toMatchObject({ replicas: 5, template: { spec: { containers: [{ name: 'web', image: 'a' }] } } });
    const agreeing = applyConfiguration(deployments, structuredClone(live), { ...config, spec: { replicas: 2 } }, 'kubectl', false, undefined);
    expect(agreeing.metadata.managedFields?.map((e) => e.manager)).toEqual(['kubectl', 'op']); // Apply before Update
  });
  it('names conflicts as kube-apiserver does: appliers by name, updaters with apiVersion, grouped when several', () => {
    const live = deployment([{ name: 'web', image: 'a' }], 2);
    live.metadata.managedFields = recordUpdate(deployments, undefined, live, 'op', undefined);
    const alice = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { paused: true } };
    const owned = applyConfiguration(deployments, structuredClone(live), alice, 'alice', false, undefined);
    const conflict = (config: unknown): string => {
      try {
        applyConfiguration(deployments, structuredClone(owned), config, 'bob', false, undefined);
      } catch (e) {
        return (e as ApiError).message;
      }
      return 'no conflict';
    };
    expect(conflict({ ...alice, spec: { paused: false } })).toBe('Apply failed with 1 conflict: conflict with "alice": .spec.paused');
    expect(conflict({ ...alice, spec: { template: { spec: { containers: [{ name: 'web', image: 'b' }] } } } })).toBe(
      'Apply failed with 1 conflict: conflict with "op" using apps/v1: .spec.template.spec.containers[name="web"].image',
    );
    expect(conflict({ ...alice, spec: { paused: false, replicas: 3 } })).toBe(
      'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.paused\nconflicts with "op" using apps/v1:\n- .spec.replicas',
    );
  });
});
