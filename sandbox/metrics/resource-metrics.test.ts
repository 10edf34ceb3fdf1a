import { describe, expect, it } from 'vitest';
import { parseLabelSelector } from '../apiserver/selectors.ts';
import type { NodeUsage, PodUsage } from '../kubelet/kubelet.ts';
import { ResourceMetrics, WINDOW_MS } from './resource-metrics.ts';

const pod = (name: string, cpuSeconds: number, memoryBytes = 64 << 20, labels: Record<string, string> = { app: name }, namespace = 'shop'): PodUsage => ({
  namespace,
  name,
  uid: `uid-${name}`,
  labels,
  containers: [{ name: 'app', cpuSeconds, memoryBytes }],
});
const usageOf = (m: ResourceMetrics, name: string) => m.list({ name })[0]?.containers[0]?.usage;

describe('ResourceMetrics', () => {
  it('leaves a pod out until it has two samples (a rate needs two)', () => {
    const m = new ResourceMetrics();
    m.record(0, [pod('a', 1)]);
    expect(m.list()).toEqual([]);
    m.record(1000, [pod('a', 1.5)]);
    expect(m.list().map((p) => p.metadata.name)).toEqual(['a']);
  });

  it.each([
    ['half a core', 0.5, '500000000n'],
    ['idle', 0, '0n'],
    ['two cores', 2, '2000000000n'],
  ])('CPU as a rate in nanocores: %s', (_name, cores, want) => {
    const m = new ResourceMetrics();
    m.record(0, [pod('a', 10)]);
    m.record(2000, [pod('a', 10 + 2 * cores)]);
    expect(usageOf(m, 'a')?.cpu).toBe(want);
  });

  it('memory is the latest working set in Ki', () => {
    const m = new ResourceMetrics();
    m.record(0, [pod('a', 0, 1 << 20)]);
    m.record(1000, [pod('a', 0, 3 << 20)]);
    expect(usageOf(m, 'a')?.memory).toBe('3072Ki');
  });

  it("the rate covers about the last window, not the pod's whole life", () => {
    const m = new ResourceMetrics();
    // busy (1 core) for 20 s, then idle for a window and more
    for (let t = 0; t <= 20; t++) m.record(t * 1000, [pod('a', t)]);
    for (let t = 21; t <= 21 + WINDOW_MS / 1000; t++) m.record(t * 1000, [pod('a', 20)]);
    const p = m.list()[0];
    expect(p?.containers[0]?.usage.cpu).toBe('0n');
    expect(p?.window).toBe(`${WINDOW_MS / 1000}s`);
    expect(p?.timestamp).toBe(new Date((21 + WINDOW_MS / 1000) * 1000).toISOString());
  });

  it('a restarted container (its counter went down) counts from zero', () => {
    const m = new ResourceMetrics();
    m.record(0, [pod('a', 100)]);
    m.record(1000, [pod('a', 0.25)]);
    expect(usageOf(m, 'a')?.cpu).toBe('250000000n');
  });

  it('filters by namespace, name and label selector, sorted; forgets pods that left', () => {
    const m = new ResourceMetrics();
    const pods = [pod('b', 0, 0, { app: 'web', track: 'primary' }), pod('a', 0, 0, { app: 'web', track: 'canary' }), pod('c', 0, 0, { app: 'db' }, 'other')];
    m.record(0, pods);
    m.record(1000, pods);
    expect(m.list().map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual(['other/c', 'shop/a', 'shop/b']);
    expect(m.list({ namespace: 'shop', selector: parseLabelSelector('app=web,track=primary') }).map((p) => p.metadata.name)).toEqual(['b']);
    expect(m.list({ namespace: 'shop', name: 'c' })).toEqual([]);
    expect(m.list()[0]?.metadata.labels).toEqual({ app: 'db' });
    m.record(2000, [pods[0]!]);
    expect(m.list().map((p) => p.metadata.name)).toEqual(['b']);
  });

  describe('nodes', () => {
    const node = (name: string, cpuSeconds: number, memoryBytes = 8 * 2 ** 30): NodeUsage => ({ name, labels: { 'kubernetes.io/hostname': name }, cpuSeconds, memoryBytes });

    it('a node appears with its second sample: CPU as a rate, memory the latest working set, its labels', () => {
      const m = new ResourceMetrics();
      m.record(0, [], [node('sandbox-1', 100)]);
      expect(m.listNodes()).toEqual([]);
      m.record(2000, [], [node('sandbox-1', 103, 6 * 2 ** 30)]);
      expect(m.listNodes()).toEqual([
        {
          kind: 'NodeMetrics',
          apiVersion: 'metrics.k8s.io/v1beta1',
          metadata: { name: 'sandbox-1', labels: { 'kubernetes.io/hostname': 'sandbox-1' }, creationTimestamp: new Date(2000).toISOString() },
          timestamp: new Date(2000).toISOString(),
          window: '2s',
          usage: { cpu: '1500000000n', memory: `${6 * 2 ** 20}Ki` },
        },
      ]);
    });

    it('by name and label selector, sorted; a node gone is forgotten; pods and nodes apart', () => {
      const m = new ResourceMetrics();
      m.record(0, [pod('a', 1)], [node('sandbox-2', 1), node('sandbox-1', 1)]);
      m.record(1000, [pod('a', 1)], [node('sandbox-2', 2), node('sandbox-1', 2)]);
      expect(m.listNodes().map((n) => n.metadata.name)).toEqual(['sandbox-1', 'sandbox-2']);
      expect(m.listNodes({ name: 'sandbox-2' }).map((n) => n.metadata.name)).toEqual(['sandbox-2']);
      expect(m.listNodes({ selector: parseLabelSelector('kubernetes.io/hostname=sandbox-1') }).map((n) => n.metadata.name)).toEqual(['sandbox-1']);
      m.record(2000, [pod('a', 1)], [node('sandbox-1', 3)]);
      expect(m.listNodes().map((n) => n.metadata.name)).toEqual(['sandbox-1']);
      expect(m.list().map((p) => p.metadata.name)).toEqual(['a']);
    });

    it('a counter that went down (a reboot between samples) counts from zero', () => {
      const m = new ResourceMetrics();
      m.record(0, [], [node('n', 500)]);
      m.record(1000, [], [node('n', 0.25)]);
      expect(m.listNodes()[0]?.usage.cpu).toBe('250000000n');
    });
  });
});
