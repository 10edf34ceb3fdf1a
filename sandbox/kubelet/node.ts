// The kubelet's Node: registered at start as a real kubelet registers itself (its capacity,
// addresses, the port of its API and a Ready condition), kept alive by renewing its Lease in
// kube-node-lease, so the node lifecycle controller of a real control plane never marks it
// unreachable and evicts its pods.
import os from 'node:os';
import type { Logger } from 'pino';
import { ApiError, type KubeClient, RESOURCES } from '../kube/client.ts';

const { nodes: NODES, leases: LEASES } = RESOURCES;
/** As the kubelet's defaults: a 40 s lease renewed every quarter of it. */
const LEASE_SECONDS = 40;
const RENEW_MS = 10_000;

export const KUBELET_VERSION = 'v1.34.4';

export interface NodeSpec {
  name: string;
  /** What the node offers the scheduler. */
  capacity: Record<string, string>;
  /** Port of the kubelet's API (logs), 0 when it serves none. */
  kubeletPort: number;
}

/** The labels a kubelet gives its Node (NodeMetrics carry them too). */
export function nodeLabels(name: string): Record<string, string> {
  return { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': os.arch() === 'x64' ? 'amd64' : os.arch() };
}

/** The Node object a kubelet registers. Pure. */
export function nodeObject(spec: NodeSpec, now: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: spec.name, labels: nodeLabels(spec.name) },
    spec: {},
    status: {
      capacity: spec.capacity,
      allocatable: spec.capacity,
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: spec.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: spec.kubeletPort } },
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now },
        ...['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({
          type,
          status: 'False',
          reason: `KubeletHas${type === 'PIDPressure' ? 'SufficientPID' : type === 'MemoryPressure' ? 'SufficientMemory' : 'NoDiskPressure'}`,
          message: `kubelet has no ${type}`,
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        })),
      ],
      nodeInfo: {
        machineID: spec.name,
        systemUUID: spec.name,
        bootID: spec.name,
        kernelVersion: os.release(),
        osImage: 'imageops sandbox',
        containerRuntimeVersion: 'sandbox://processes',
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: os.arch() === 'x64' ? 'amd64' : os.arch(),
      },
    },
  };
}

export class NodeAgent {
  readonly #client: KubeClient;
  readonly #spec: NodeSpec;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;

  constructor(client: KubeClient, spec: NodeSpec, logger: Logger) {
    this.#client = client;
    this.#spec = spec;
    this.#logger = logger;
  }

  /** Registers the Node (or takes over one of the same name, with fresh status) and starts the heartbeat. */
  async start(): Promise<void> {
    const now = new Date().toISOString();
    const node = nodeObject(this.#spec, now);
    try {
      await this.#client.create(NODES, undefined, node);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
    }
    await this.#client.mergePatch(NODES, undefined, this.#spec.name, { status: node['status'] }, 'status');
    await this.#renew();
    this.#timer = setInterval(() => void this.#renew().catch((err: unknown) => this.#logger.warn({ node: this.#spec.name, err: String(err) }, 'node lease renewal failed')), RENEW_MS);
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    const name = this.#spec.name;
    const spec = { holderIdentity: name, leaseDurationSeconds: LEASE_SECONDS, renewTime: new Date().toISOString().replace('Z', '000Z') };
    try {
      await this.#client.mergePatch(LEASES, 'kube-node-lease', name, { spec });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      await this.#client.create(LEASES, 'kube-node-lease', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec });
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
