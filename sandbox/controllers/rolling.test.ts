import { describe, expect, it } from 'vitest';
import { podTemplateHash } from './hash.ts';
import { deploymentStatus, type RsView, resolveIntOrPercent, rollingStep, surgeAndUnavailable } from './rolling.ts';

const rs = (name: string, replicas: number, available = replicas, created = '2026-01-01T00:00:00Z'): RsView => ({ name, replicas, current: replicas, ready: available, available, created });

describe('int or percent', () => {
  it.each([
    [undefined, 4, true, 1],
    ['25%', 10, true, 3],
    ['25%', 10, false, 2],
    [2, 10, true, 2],
    ['3', 10, true, 3],
  ])('%s of %s (round up %s) is %s', (v, total, up, want) => expect(resolveIntOrPercent(v, '25%', total, up)).toBe(want));

  it('allows one unavailable when both are zero', () => expect(surgeAndUnavailable(3, { maxSurge: 0, maxUnavailable: 0 })).toEqual({ maxSurge: 0, maxUnavailable: 1 }));
});

describe('rolling step', () => {
  it.each([
    // desired, surge, unavailable, new (spec, available), old (spec, available) -> new, old
    [3, 1, 0, [0, 0], [3, 3], 1, 3], // surge one, keep all old until it is available
    [3, 1, 0, [1, 1], [3, 3], 1, 2], // new one available: one old may go
    [3, 1, 0, [1, 0], [3, 3], 1, 3], // new one not available yet: nothing goes
    [4, 0, 1, [0, 0], [4, 4], 0, 3], // no surge: make room first
    [4, 0, 1, [0, 0], [3, 3], 1, 3],
    [3, 1, 0, [2, 2], [2, 1], 2, 1], // an unhealthy old pod goes first
    [3, 1, 0, [3, 3], [1, 1], 3, 0],
    [2, 1, 0, [5, 5], [], 2, -1], // scale down
  ])('desired %s surge %s unavailable %s new %j old %j', (desired, surge, unavail, n, o, wantNew, wantOld) => {
    const old = o.length === 0 ? [] : [rs('old', o[0] ?? 0, o[1], '2025-01-01T00:00:00Z')];
    const r = rollingStep(desired, surge, unavail, rs('new', n[0] ?? 0, n[1]), old);
    expect(r.newReplicas).toBe(wantNew);
    if (wantOld >= 0) expect(r.oldReplicas.get('old')).toBe(wantOld);
  });

  it('never drops below desired - maxUnavailable nor exceeds desired + maxSurge, and finishes', () => {
    for (const [desired, s, u] of [
      [3, 1, 0],
      [4, 0, 1],
      [5, '25%', '25%'],
      [10, '50%', 0],
      [1, 1, 0],
      [2, 0, 1],
    ] as const) {
      const { maxSurge, maxUnavailable } = surgeAndUnavailable(desired, { maxSurge: s, maxUnavailable: u });
      let newRs = rs('new', 0);
      let olds = [rs('a', 1, 1, '2024-01-01T00:00:00Z'), rs('b', desired - 1, desired - 1, '2025-01-01T00:00:00Z')];
      let steps = 0;
      while ((newRs.available < desired || olds.some((o) => o.replicas > 0)) && steps < 100) {
        const step = rollingStep(desired, maxSurge, maxUnavailable, newRs, olds);
        // Scale-downs take effect at once; new pods become available one step later.
        olds = olds.map((o) => rs(o.name, step.oldReplicas.get(o.name) ?? 0, step.oldReplicas.get(o.name) ?? 0, o.created));
        const total = step.newReplicas + olds.reduce((a, o) => a + o.replicas, 0);
        expect(total).toBeLessThanOrEqual(desired + maxSurge);
        expect(newRs.available + olds.reduce((a, o) => a + o.available, 0)).toBeGreaterThanOrEqual(desired - maxUnavailable);
        newRs = rs('new', step.newReplicas, newRs.replicas);
        steps++;
      }
      expect(steps).toBeLessThan(100);
    }
  });
});

describe('deployment status', () => {
  const now = new Date('2026-01-01T00:10:00Z');
  it('reports a complete rollout as Available and NewReplicaSetAvailable', () => {
    const { status } = deploymentStatus({
      generation: 3,
      desired: 2,
      maxUnavailable: 0,
      progressDeadlineSeconds: 600,
      newRs: rs('web-abc', 2),
      oldRss: [],
      previous: undefined,
      acted: undefined,
      now,
    });
    expect(status).toMatchObject({ observedGeneration: 3, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2, unavailableReplicas: 0 });
    expect(status.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Available', 'True', 'MinimumReplicasAvailable'],
      ['Progressing', 'True', 'NewReplicaSetAvailable'],
    ]);
  });

  it('times out a rollout that makes no progress past its deadline', () => {
    const previous = {
      updatedReplicas: 1,
      readyReplicas: 2,
      availableReplicas: 2,
      replicas: 3,
      conditions: [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', lastUpdateTime: '2026-01-01T00:00:00Z', lastTransitionTime: '2026-01-01T00:00:00Z' }],
    };
    const input = { generation: 2, desired: 2, maxUnavailable: 0, newRs: rs('web-new', 1, 0), oldRss: [rs('web-old', 2)], previous, acted: undefined };
    const before = deploymentStatus({ ...input, progressDeadlineSeconds: 900, now });
    expect(before.status.conditions.find((c) => c.type === 'Progressing')?.reason).toBe('ReplicaSetUpdated');
    expect(before.recheckAfterMs).toBe(300_000);
    const after = deploymentStatus({ ...input, progressDeadlineSeconds: 60, now });
    expect(after.status.conditions.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(after.status.unavailableReplicas).toBe(0);
  });
});

describe('pod-template-hash', () => {
  it('is stable across key order and ignores its own label', () => {
    const a = podTemplateHash({ metadata: { labels: { app: 'x', tier: 'web' } }, spec: { containers: [{ name: 'c', image: 'i:1' }] } });
    const b = podTemplateHash({ spec: { containers: [{ image: 'i:1', name: 'c' }] }, metadata: { labels: { tier: 'web', app: 'x', 'pod-template-hash': a } } });
    expect(a).toBe(b);
    expect(a).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(podTemplateHash({ spec: { containers: [{ name: 'c', image: 'i:2' }] } })).not.toBe(podTemplateHash({ spec: { containers: [{ name: 'c', image: 'i:1' }] } }));
  });
});
