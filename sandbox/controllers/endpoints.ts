// Endpoints and EndpointSlice controller: a Service's selected pods with an address, ready ones as
// addresses, the rest as notReadyAddresses (Endpoints) or ready=false (EndpointSlice, which also
// keeps terminating pods with serving/terminating, as the real controller does since 1.26).

import type { Informer } from '../../operator/src/kube/informer.ts';
import { type KubeClient, RESOURCES } from '../kube/client.ts';
import { matchesMap } from '../kube/selector.ts';
import type { EndpointSlice, Endpoints, Pod, Service } from '../kube/types.ts';
import { fnv32a, stableJson } from './hash.ts';

const MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
const CONTROLLER = 'endpointslice-controller.k8s.io';

type ResolvedPort = { [k: string]: unknown; name?: string; port: number; protocol: string };

/** The service's ports as this pod serves them (a named targetPort looks up the pod's containerPort). */
export function podPorts(service: Service, pod: Pod): ResolvedPort[] | undefined {
  const out: ResolvedPort[] = [];
  for (const sp of service.spec.ports ?? []) {
    const target = sp.targetPort ?? sp.port;
    let port: number | undefined;
    if (typeof target === 'number') port = target;
    else {
      for (const c of pod.spec.containers) port ??= c.ports?.find((p) => p.name === target)?.containerPort;
      if (port === undefined && /^\d+$/.test(target)) port = Number(target);
    }
    if (port === undefined) return undefined;
    out.push({ ...(sp.name !== undefined ? { name: sp.name } : {}), port, protocol: sp.protocol ?? 'TCP' });
  }
  return out;
}

function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

export function selectedPods(service: Service, pods: Pod[]): Pod[] {
  const selector = service.spec.selector;
  if (selector === undefined || Object.keys(selector).length === 0) return [];
  const ns = service.metadata.namespace ?? 'default';
  return pods
    .filter((p) => (p.metadata.namespace ?? 'default') === ns && matchesMap(selector, p.metadata.labels))
    .filter((p) => p.status?.podIP !== undefined && p.status.phase !== 'Succeeded' && p.status.phase !== 'Failed')
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

function ref(pod: Pod) {
  return { kind: 'Pod', name: pod.metadata.name, namespace: pod.metadata.namespace ?? 'default', uid: pod.metadata.uid ?? '' };
}

/** The desired Endpoints subsets: one per distinct port set. */
export function buildSubsets(service: Service, pods: Pod[]): NonNullable<Endpoints['subsets']> {
  const groups = new Map<string, { ports: ResolvedPort[]; ready: Pod[]; notReady: Pod[] }>();
  for (const pod of selectedPods(service, pods)) {
    if (pod.metadata.deletionTimestamp !== undefined && service.spec.publishNotReadyAddresses !== true) continue;
    const ports = podPorts(service, pod);
    if (ports === undefined) continue;
    const key = stableJson(ports);
    const g = groups.get(key) ?? { ports, ready: [], notReady: [] };
    (isReady(pod) || service.spec.publishNotReadyAddresses === true ? g.ready : g.notReady).push(pod);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => {
    const subset: NonNullable<Endpoints['subsets']>[number] = { ports: g.ports };
    const addr = (p: Pod) => ({ ip: p.status?.podIP ?? '', nodeName: p.spec.nodeName ?? 'sandbox', targetRef: ref(p) });
    if (g.ready.length > 0) subset.addresses = g.ready.map(addr);
    if (g.notReady.length > 0) subset.notReadyAddresses = g.notReady.map(addr);
    return subset;
  });
}

/** The desired EndpointSlices (one per port set), named SERVICE-HASH so that rebuilding them is idempotent. */
export function buildSlices(service: Service, pods: Pod[]): EndpointSlice[] {
  const ns = service.metadata.namespace ?? 'default';
  const groups = new Map<string, { ports: ResolvedPort[]; pods: Pod[] }>();
  for (const pod of selectedPods(service, pods)) {
    const ports = podPorts(service, pod);
    if (ports === undefined) continue;
    const key = stableJson(ports);
    const g = groups.get(key) ?? { ports, pods: [] };
    g.pods.push(pod);
    groups.set(key, g);
  }
  return [...groups.entries()].map(([key, g]) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${service.metadata.name}-${fnv32a(key).toString(36)}`,
      namespace: ns,
      labels: { 'kubernetes.io/service-name': service.metadata.name, [MANAGED_BY]: CONTROLLER },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: service.metadata.name, uid: service.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    addressType: 'IPv4',
    ports: g.ports,
    endpoints: g.pods.map((p) => {
      const terminating = p.metadata.deletionTimestamp !== undefined;
      const serving = isReady(p);
      return {
        addresses: [p.status?.podIP ?? ''],
        conditions: { ready: serving && !terminating, serving, terminating },
        nodeName: p.spec.nodeName ?? 'sandbox',
        targetRef: ref(p),
      };
    }),
  }));
}

export class EndpointsController {
  readonly #client: KubeClient;
  readonly #services: Informer<Service>;
  readonly #pods: Informer<Pod>;
  readonly #endpoints: Informer<Endpoints>;
  readonly #slices: Informer<EndpointSlice>;

  constructor(client: KubeClient, services: Informer<Service>, pods: Informer<Pod>, endpoints: Informer<Endpoints>, slices: Informer<EndpointSlice>) {
    this.#client = client;
    this.#services = services;
    this.#pods = pods;
    this.#endpoints = endpoints;
    this.#slices = slices;
  }

  async reconcile(key: string): Promise<void> {
    const [ns = 'default', name = ''] = key.split('/');
    const svc = this.#services.get(ns, name);
    const ours = this.#slices
      .list()
      .filter((s) => (s.metadata.namespace ?? 'default') === ns && s.metadata.labels?.['kubernetes.io/service-name'] === name && s.metadata.labels?.[MANAGED_BY] === CONTROLLER);
    if (svc === undefined || svc.spec.selector === undefined || Object.keys(svc.spec.selector).length === 0) {
      // A Service gone (or without selector, whose endpoints are the user's): remove what we made.
      if (svc === undefined && this.#endpoints.get(ns, name) !== undefined) await this.#client.delete(RESOURCES.endpoints, ns, name);
      for (const s of ours) await this.#client.delete(RESOURCES.endpointslices, ns, s.metadata.name);
      return;
    }
    const pods = this.#pods.list();
    const subsets = buildSubsets(svc, pods);
    const live = this.#endpoints.get(ns, name);
    if (live === undefined) {
      await this.#client.create(RESOURCES.endpoints, ns, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: ns, labels: svc.metadata.labels ?? {} }, subsets });
    } else if (stableJson(live.subsets ?? []) !== stableJson(subsets)) {
      await this.#client.replace(RESOURCES.endpoints, ns, name, { apiVersion: 'v1', kind: 'Endpoints', ...live, subsets });
    }
    const slices = buildSlices(svc, pods);
    for (const want of slices) {
      const have = ours.find((s) => s.metadata.name === want.metadata.name);
      if (have === undefined) await this.#client.create(RESOURCES.endpointslices, ns, want);
      else if (stableJson([have.endpoints ?? [], have.ports ?? []]) !== stableJson([want.endpoints, want.ports])) {
        await this.#client.replace(RESOURCES.endpointslices, ns, want.metadata.name, { ...have, endpoints: want.endpoints, ports: want.ports });
      }
    }
    for (const s of ours) if (!slices.some((w) => w.metadata.name === s.metadata.name)) await this.#client.delete(RESOURCES.endpointslices, ns, s.metadata.name);
  }
}
