// The resource metrics API (metrics.k8s.io/v1beta1 PodMetrics and NodeMetrics), as metrics-server
// serves it: each container's CPU as a rate over a short window and its memory working set, from
// the cgroup counters the kubelets read (sandbox/kubelet/cgroup.ts), and each node's, from the
// machine the kubelets report as their capacity (sandbox/kubelet/machine.ts). The HPA controller,
// `kubectl top pods` and `kubectl top nodes` read it. Pure over the samples it is given; the clock
// and the sampling are the server's.
import type { Logger } from 'pino';
import type { LabelSelector } from '../apiserver/selectors.ts';
import type { NodeUsage, PodUsage } from '../kubelet/kubelet.ts';

export const GROUP = 'metrics.k8s.io';
export const VERSION = 'v1beta1';
export const GROUP_VERSION = `${GROUP}/${VERSION}`;

/** The span a CPU rate covers; metrics-server's default resolution is coarser, the sandbox's HPA runs every 5 s. */
export const WINDOW_MS = 5_000;

interface Sample<T> {
  at: number;
  value: T;
}

/** Samples per key of the last window and a bit, oldest first; a key absent from a round is forgotten. */
class History<T> {
  readonly #samples = new Map<string, Sample<T>[]>();

  record(at: number, values: T[], key: (value: T) => string): void {
    const seen = new Set<string>();
    for (const value of values) {
      const k = key(value);
      seen.add(k);
      const samples = this.#samples.get(k) ?? [];
      samples.push({ at, value });
      // keep the newest sample at least a window old, and everything after it
      while (samples.length > 2 && at - (samples[1]?.at ?? at) >= WINDOW_MS) samples.shift();
      this.#samples.set(k, samples);
    }
    for (const k of [...this.#samples.keys()]) if (!seen.has(k)) this.#samples.delete(k);
  }

  /** Each key's oldest and newest samples, once they are apart: a rate needs two. */
  *spans(): Generator<{ first: Sample<T>; last: Sample<T>; seconds: number }> {
    for (const samples of this.#samples.values()) {
      const first = samples[0];
      const last = samples.at(-1);
      if (first !== undefined && last !== undefined && last.at > first.at) yield { first, last, seconds: (last.at - first.at) / 1000 };
    }
  }
}

export type PodMetrics = {
  kind: 'PodMetrics';
  apiVersion: typeof GROUP_VERSION;
  metadata: { name: string; namespace: string; labels: Record<string, string>; creationTimestamp: string };
  timestamp: string;
  window: string;
  containers: { name: string; usage: { cpu: string; memory: string } }[];
};

export type NodeMetrics = {
  kind: 'NodeMetrics';
  apiVersion: typeof GROUP_VERSION;
  metadata: { name: string; labels: Record<string, string>; creationTimestamp: string };
  timestamp: string;
  window: string;
  usage: { cpu: string; memory: string };
};

/** CPU in nanocores and memory in KiB, the units metrics-server writes. */
const cpuQuantity = (cores: number) => `${Math.max(0, Math.round(cores * 1e9))}n`;
const memoryQuantity = (bytes: number) => `${Math.round(bytes / 1024)}Ki`;
/** CPU seconds used between two counter readings; a counter that went down started again (a restart). */
const cpuUsed = (before: number | undefined, now: number) => (before === undefined || now < before ? now : now - before);
const stamps = (last: number, seconds: number) => ({ timestamp: new Date(last).toISOString(), window: `${seconds.toFixed(3).replace(/\.?0+$/, '')}s` });

/** Pods' and nodes' usage over time: add a sample of every pod and node now and then, read the rates. */
export class ResourceMetrics {
  /** Per pod uid. */
  readonly #pods = new History<PodUsage>();
  /** Per node name. */
  readonly #nodes = new History<NodeUsage>();

  /** Records what the kubelets report at `at` (ms); pods and nodes absent from it are forgotten. */
  record(at: number, pods: PodUsage[], nodes: NodeUsage[] = []): void {
    this.#pods.record(at, pods, (p) => p.uid);
    this.#nodes.record(at, nodes, (n) => n.name);
  }

  /**
   * The PodMetrics of the pods that match, sorted by namespace and name. A pod appears once it has
   * two samples of the same containers (a rate needs two), as metrics-server leaves out a pod it
   * has scraped only once.
   */
  list(filter: { namespace?: string; name?: string; selector?: LabelSelector } = {}): PodMetrics[] {
    const out: PodMetrics[] = [];
    for (const { first, last, seconds } of this.#pods.spans()) {
      const pod = last.value;
      if (filter.namespace !== undefined && pod.namespace !== filter.namespace) continue;
      if (filter.name !== undefined && pod.name !== filter.name) continue;
      if (filter.selector !== undefined && !filter.selector(pod.labels)) continue;
      const containers = pod.containers.map((c) => {
        const before = first.value.containers.find((b) => b.name === c.name);
        return { name: c.name, usage: { cpu: cpuQuantity(cpuUsed(before?.cpuSeconds, c.cpuSeconds) / seconds), memory: memoryQuantity(c.memoryBytes) } };
      });
      out.push({
        kind: 'PodMetrics',
        apiVersion: GROUP_VERSION,
        metadata: { name: pod.name, namespace: pod.namespace, labels: pod.labels, creationTimestamp: new Date(last.at).toISOString() },
        ...stamps(last.at, seconds),
        containers,
      });
    }
    return out.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  }

  /** The NodeMetrics of the nodes that match, by name; a node appears once it has two samples. */
  listNodes(filter: { name?: string; selector?: LabelSelector } = {}): NodeMetrics[] {
    const out: NodeMetrics[] = [];
    for (const { first, last, seconds } of this.#nodes.spans()) {
      const node = last.value;
      if (filter.name !== undefined && node.name !== filter.name) continue;
      if (filter.selector !== undefined && !filter.selector(node.labels)) continue;
      out.push({
        kind: 'NodeMetrics',
        apiVersion: GROUP_VERSION,
        metadata: { name: node.name, labels: node.labels, creationTimestamp: new Date(last.at).toISOString() },
        ...stamps(last.at, seconds),
        usage: { cpu: cpuQuantity(cpuUsed(first.value.cpuSeconds, node.cpuSeconds) / seconds), memory: memoryQuantity(node.memoryBytes) },
      });
    }
    return out.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }
}

/** What the kubelets report now: their pods' usage and their nodes'. */
export interface UsageSource {
  pods(): PodUsage[];
  nodes(): NodeUsage[];
}

/** Records the source now and every `everyMs` (a failed read is logged and skipped); returns what stops it. */
export function startSampling(metrics: ResourceMetrics, usage: UsageSource, logger: Logger, everyMs = 1_000): () => void {
  const sample = () => {
    try {
      metrics.record(Date.now(), usage.pods(), usage.nodes());
    } catch (err) {
      logger.warn({ err: String(err) }, 'resource metrics: sampling failed');
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return () => clearInterval(timer);
}
