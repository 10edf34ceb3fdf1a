// The resource metrics API (metrics.k8s.io/v1beta1 PodMetrics), as metrics-server serves it: each
// container's CPU as a rate over a short window and its memory working set, from the cgroup
// counters the kubelets read (sandbox/kubelet/cgroup.ts). The HPA controller and `kubectl top pods`
// read it. Pure over the samples it is given; the clock and the sampling are the server's.
import type { Logger } from 'pino';
import type { LabelSelector } from '../apiserver/selectors.ts';
import type { PodUsage } from '../kubelet/kubelet.ts';

export const GROUP = 'metrics.k8s.io';
export const VERSION = 'v1beta1';
export const GROUP_VERSION = `${GROUP}/${VERSION}`;

/** The span a CPU rate covers; metrics-server's default resolution is coarser, the sandbox's HPA runs every 5 s. */
export const WINDOW_MS = 5_000;

interface Sample {
  at: number;
  pod: PodUsage;
}

export type PodMetrics = {
  kind: 'PodMetrics';
  apiVersion: typeof GROUP_VERSION;
  metadata: { name: string; namespace: string; labels: Record<string, string>; creationTimestamp: string };
  timestamp: string;
  window: string;
  containers: { name: string; usage: { cpu: string; memory: string } }[];
};

/** CPU in nanocores and memory in KiB, the units metrics-server writes. */
const cpuQuantity = (cores: number) => `${Math.max(0, Math.round(cores * 1e9))}n`;
const memoryQuantity = (bytes: number) => `${Math.round(bytes / 1024)}Ki`;

/** Pods' usage over time: add a sample of every pod now and then, read the rates. */
export class ResourceMetrics {
  /** Per pod uid, its samples of the last window and a bit, oldest first. */
  readonly #history = new Map<string, Sample[]>();

  /** Records what the kubelets report at `at` (ms); pods absent from it are forgotten. */
  record(at: number, pods: PodUsage[]): void {
    const seen = new Set<string>();
    for (const pod of pods) {
      seen.add(pod.uid);
      const samples = this.#history.get(pod.uid) ?? [];
      samples.push({ at, pod });
      // keep the newest sample at least a window old, and everything after it
      while (samples.length > 2 && at - (samples[1]?.at ?? at) >= WINDOW_MS) samples.shift();
      this.#history.set(pod.uid, samples);
    }
    for (const uid of [...this.#history.keys()]) if (!seen.has(uid)) this.#history.delete(uid);
  }

  /**
   * The PodMetrics of the pods that match, sorted by namespace and name. A pod appears once it has
   * two samples of the same containers (a rate needs two), as metrics-server leaves out a pod it
   * has scraped only once.
   */
  list(filter: { namespace?: string; name?: string; selector?: LabelSelector } = {}): PodMetrics[] {
    const out: PodMetrics[] = [];
    for (const samples of this.#history.values()) {
      const first = samples[0];
      const last = samples.at(-1);
      if (first === undefined || last === undefined || last.at <= first.at) continue;
      const pod = last.pod;
      if (filter.namespace !== undefined && pod.namespace !== filter.namespace) continue;
      if (filter.name !== undefined && pod.name !== filter.name) continue;
      if (filter.selector !== undefined && !filter.selector(pod.labels)) continue;
      const seconds = (last.at - first.at) / 1000;
      const containers = pod.containers.map((c) => {
        const before = first.pod.containers.find((b) => b.name === c.name);
        // a restarted container's counter starts again: its rate is from zero
        const used = before === undefined || c.cpuSeconds < before.cpuSeconds ? c.cpuSeconds : c.cpuSeconds - before.cpuSeconds;
        return { name: c.name, usage: { cpu: cpuQuantity(used / seconds), memory: memoryQuantity(c.memoryBytes) } };
      });
      out.push({
        kind: 'PodMetrics',
        apiVersion: GROUP_VERSION,
        metadata: { name: pod.name, namespace: pod.namespace, labels: pod.labels, creationTimestamp: new Date(last.at).toISOString() },
        timestamp: new Date(last.at).toISOString(),
        window: `${seconds.toFixed(3).replace(/\.?0+$/, '')}s`,
        containers,
      });
    }
    return out.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  }
}

/** Records `usage()` now and every `everyMs` (a failed read is logged and skipped); returns what stops it. */
export function startSampling(metrics: ResourceMetrics, usage: () => PodUsage[], logger: Logger, everyMs = 1_000): () => void {
  const sample = () => {
    try {
      metrics.record(Date.now(), usage());
    } catch (err) {
      logger.warn({ err: String(err) }, 'resource metrics: sampling failed');
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return () => clearInterval(timer);
}
