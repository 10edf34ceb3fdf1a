import { describe, expect, it } from 'vitest';
import type { ContainerStatus } from './container.ts';
import { buildPodStatus, podPhase, qosClass } from './status.ts';

const cs = (state: ContainerStatus['state'], ready = false, restartCount = 0): ContainerStatus => ({
  name: 'c',
  image: 'i',
  imageID: '',
  ready,
  started: 'running' in state,
  restartCount,
  state,
  lastState: {},
});

describe('pod status', () => {
  it.each([
    [[cs({ waiting: { reason: 'ContainerCreating' } })], true, 'Pending'],
    [[cs({ running: { startedAt: 't' } })], true, 'Running'],
    [[cs({ waiting: { reason: 'CrashLoopBackOff' } }, false, 2)], true, 'Running'],
    [[cs({ terminated: { exitCode: 0, reason: 'Completed', startedAt: 't', finishedAt: 't' } })], false, 'Succeeded'],
    [[cs({ terminated: { exitCode: 1, reason: 'Error', startedAt: 't', finishedAt: 't' } })], false, 'Failed'],
  ])('phase of %j (restarting %s) is %s', (containers, willRestart, phase) => expect(podPhase(containers, willRestart)).toBe(phase));

  it('keeps a condition transition time while its status holds', () => {
    const base = { podIP: '127.1.0.2', hostIP: '127.0.0.1', startTime: 't0', initialized: true, qosClass: 'BestEffort', now: 't2' };
    const s = buildPodStatus({ ...base, containers: [cs({ running: { startedAt: 't' } }, true)], previous: [{ type: 'Ready', status: 'True', lastTransitionTime: 't1' }] }, true);
    expect(s.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: 't1' });
    const u = buildPodStatus({ ...base, containers: [cs({ running: { startedAt: 't' } }, false)], previous: s.conditions }, true);
    expect(u.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', lastTransitionTime: 't2', reason: 'ContainersNotReady', message: 'containers with unready status: [c]' });
    expect(u.podIPs).toEqual([{ ip: '127.1.0.2' }]);
  });

  it.each([
    [[{ name: 'a' }], 'BestEffort'],
    [[{ name: 'a', resources: { limits: { cpu: '1', memory: '1Gi' } } }], 'Guaranteed'],
    [[{ name: 'a', resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1000m', memory: '1Gi' } } }], 'Guaranteed'],
    [[{ name: 'a', resources: { requests: { cpu: '500m' }, limits: { cpu: '1500m', memory: '512Mi' } } }], 'Burstable'],
    [[{ name: 'a', resources: { limits: { cpu: '1', memory: '1Gi' } } }, { name: 'b' }], 'Burstable'],
  ])('QoS of %j is %s', (containers, qos) => expect(qosClass(containers)).toBe(qos));
});
