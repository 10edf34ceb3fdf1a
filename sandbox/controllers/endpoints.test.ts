import { describe, expect, it } from 'vitest';
import type { Pod, Service } from '../kube/types.ts';
import { buildSlices, buildSubsets, podPorts } from './endpoints.ts';
import { deletionOrder } from './replicaset.ts';

const svc: Service = {
  metadata: { name: 'web', namespace: 'shop', uid: 'svc-1' },
  spec: {
    selector: { app: 'web' },
    ports: [
      { name: 'http', port: 80, targetPort: 'http' },
      { name: 'admin', port: 9000, targetPort: 9001 },
    ],
  },
};

function pod(name: string, opts: { ready?: boolean; ip?: string; terminating?: boolean; port?: number; app?: string; phase?: string; created?: string } = {}): Pod {
  return {
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      labels: { app: opts.app ?? 'web' },
      creationTimestamp: opts.created ?? '2026-01-01T00:00:00Z',
      ...(opts.terminating ? { deletionTimestamp: '2026-01-01T00:01:00Z' } : {}),
    },
    spec: { nodeName: 'sandbox', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: opts.port ?? 8080 }] }] },
    status: {
      phase: opts.phase ?? 'Running',
      ...(opts.ip === undefined ? {} : { podIP: opts.ip }),
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
    },
  };
}

describe('endpoints', () => {
  it('resolves named and numeric target ports per pod', () => {
    expect(podPorts(svc, pod('a', { port: 8081 }))).toEqual([
      { name: 'http', port: 8081, protocol: 'TCP' },
      { name: 'admin', port: 9001, protocol: 'TCP' },
    ]);
    expect(podPorts({ ...svc, spec: { ...svc.spec, ports: [{ port: 80, targetPort: 'metrics' }] } }, pod('a'))).toBeUndefined();
  });

  it('lists ready pods as addresses and the rest as notReadyAddresses, leaving out terminating, addressless and other pods', () => {
    const subsets = buildSubsets(svc, [
      pod('a', { ip: '127.5.0.2' }),
      pod('b', { ip: '127.5.0.3', ready: false }),
      pod('c', { ip: '127.5.0.4', terminating: true }),
      pod('d'),
      pod('e', { ip: '127.5.0.6', app: 'other' }),
      pod('f', { ip: '127.5.0.7', phase: 'Succeeded' }),
    ]);
    expect(subsets).toHaveLength(1);
    expect(subsets[0]?.addresses?.map((a) => a.ip)).toEqual(['127.5.0.2']);
    expect(subsets[0]?.notReadyAddresses?.map((a) => a.ip)).toEqual(['127.5.0.3']);
    expect(subsets[0]?.addresses?.[0]?.targetRef).toEqual({ kind: 'Pod', name: 'a', namespace: 'shop', uid: 'uid-a' });
  });

  it('groups pods by port set and keeps terminating pods in slices as not ready but serving', () => {
    const slices = buildSlices(svc, [pod('a', { ip: '127.5.0.2' }), pod('b', { ip: '127.5.0.3', port: 8081 }), pod('c', { ip: '127.5.0.4', terminating: true })]);
    expect(slices).toHaveLength(2);
    const main = slices.find((s) => s.endpoints?.some((e) => e.addresses[0] === '127.5.0.2'));
    expect(main?.metadata.labels).toEqual({ 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
    expect(main?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Service', name: 'web', uid: 'svc-1', controller: true });
    expect(main?.endpoints?.find((e) => e.addresses[0] === '127.5.0.4')?.conditions).toEqual({ ready: false, serving: true, terminating: true });
    // Names are stable, so rebuilding the same state changes nothing.
    expect(buildSlices(svc, [pod('a', { ip: '127.5.0.2' })])[0]?.metadata.name).toBe(main?.metadata.name);
  });

  it('selects nothing for a Service without a selector', () => {
    expect(buildSubsets({ ...svc, spec: { ports: svc.spec.ports } }, [pod('a', { ip: '127.5.0.2' })])).toEqual([]);
  });
});

describe('replica set scale-down order', () => {
  it('deletes pending pods, then unready, then the newest ready ones first', () => {
    const order = deletionOrder([
      pod('old-ready', { created: '2026-01-01T00:00:00Z' }),
      pod('new-ready', { created: '2026-01-02T00:00:00Z' }),
      pod('unready', { ready: false }),
      pod('pending', { phase: 'Pending', ready: false }),
    ]).map((p) => p.metadata.name);
    expect(order).toEqual(['pending', 'unready', 'new-ready', 'old-ready']);
  });
});
