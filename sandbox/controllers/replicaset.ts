// ReplicaSet controller: keeps spec.replicas active pods, newest-unready deleted first, and reports
// replicas, readyReplicas and availableReplicas (ready for minReadySeconds).
import type { Logger } from 'pino';
import { EventRecorder } from '../../operator/src/kube/events.ts';
import type { Informer } from '../../operator/src/kube/informer.ts';
import { ApiError, type KubeClient, RESOURCES } from '../kube/client.ts';
import { matchesSelector } from '../kube/selector.ts';
import type { Pod, ReplicaSet } from '../kube/types.ts';
import { availability, controllerOf, isActive } from './pods.ts';

/** Pods this controller created or deleted but the cache has not shown yet (client-go's "expectations"). */
interface Expectations {
  creates: number;
  deletes: Set<string>;
  until: number;
}

const EXPECTATION_TTL_MS = 10_000;

/** Which pods to delete first when scaling down: unready, then not yet running, then newest. */
export function deletionOrder(pods: Pod[]): Pod[] {
  const rank = (p: Pod): number => (p.status?.phase === 'Pending' || p.status?.phase === undefined ? 0 : 2) + (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? 1 : 0);
  return [...pods].sort((a, b) => rank(a) - rank(b) || (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''));
}

export class ReplicaSetController {
  readonly #client: KubeClient;
  readonly #rss: Informer<ReplicaSet>;
  readonly #pods: Informer<Pod>;
  readonly #logger: Logger;
  readonly #events: EventRecorder;
  readonly #expect = new Map<string, Expectations>();

  constructor(client: KubeClient, rss: Informer<ReplicaSet>, pods: Informer<Pod>, logger: Logger) {
    this.#client = client;
    this.#events = new EventRecorder(client.transport, { component: 'replicaset-controller', logger });
    this.#rss = rss;
    this.#pods = pods;
    this.#logger = logger;
  }

  /** A pod event settles what we were waiting for. */
  observePod(change: 'added' | 'modified' | 'deleted', pod: Pod): string | undefined {
    const owner = controllerOf(pod.metadata);
    if (owner?.kind !== 'ReplicaSet') return undefined;
    const key = `${pod.metadata.namespace ?? 'default'}/${owner.name}`;
    const e = this.#expect.get(key);
    if (e !== undefined) {
      if (change === 'added' && e.creates > 0) e.creates -= 1;
      if (change === 'deleted' || pod.metadata.deletionTimestamp !== undefined) e.deletes.delete(pod.metadata.name);
    }
    return key;
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | undefined> {
    const [ns = 'default', name = ''] = key.split('/');
    const rs = this.#rss.get(ns, name);
    if (rs === undefined || rs.metadata.deletionTimestamp !== undefined) {
      this.#expect.delete(key);
      return;
    }
    const e = this.#expect.get(key);
    if (e !== undefined && (e.creates > 0 || e.deletes.size > 0) && Date.now() < e.until) return { requeueAfterMs: 500 };
    this.#expect.delete(key);

    const owned = this.#pods
      .list()
      .filter((p) => (p.metadata.namespace ?? 'default') === ns && controllerOf(p.metadata)?.uid === rs.metadata.uid && matchesSelector(rs.spec.selector, p.metadata.labels));
    const active = owned.filter(isActive);
    const desired = rs.spec.replicas ?? 1;
    const diff = active.length - desired;
    if (diff < 0) {
      this.#expect.set(key, { creates: -diff, deletes: new Set(), until: Date.now() + EXPECTATION_TTL_MS });
      await Promise.all(Array.from({ length: -diff }, () => this.#createPod(rs)));
    } else if (diff > 0) {
      const victims = deletionOrder(active).slice(0, diff);
      this.#expect.set(key, { creates: 0, deletes: new Set(victims.map((p) => p.metadata.name)), until: Date.now() + EXPECTATION_TTL_MS });
      await Promise.all(
        victims.map(async (p) => {
          await this.#client.delete(RESOURCES.pods, ns, p.metadata.name);
          this.#events.record({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: rs.metadata }, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
        }),
      );
    }

    const now = Date.now();
    const minReady = rs.spec.minReadySeconds ?? 0;
    let ready = 0;
    let available = 0;
    let recheck: number | undefined;
    for (const p of active) {
      const a = availability(p, minReady, now);
      if (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ready += 1;
      if (a.available) available += 1;
      if (a.inMs !== undefined) recheck = Math.min(recheck ?? Infinity, a.inMs + 10);
    }
    const labels = rs.spec.template.metadata?.labels ?? {};
    const status = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) => Object.entries(labels).every(([k, v]) => p.metadata.labels?.[k] === v)).length,
      readyReplicas: ready,
      availableReplicas: available,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    const prev = rs.status ?? {};
    if (Object.entries(status).some(([k, v]) => (prev as Record<string, unknown>)[k] !== v)) {
      try {
        await this.#client.replace(RESOURCES.replicasets, ns, name, { ...rs, status: { ...prev, ...status } }, 'status');
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return;
        throw err;
      }
    }
    return recheck === undefined ? undefined : { requeueAfterMs: recheck };
  }

  async #createPod(rs: ReplicaSet): Promise<void> {
    const ns = rs.metadata.namespace ?? 'default';
    const tmpl = rs.spec.template;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${rs.metadata.name}-`,
        namespace: ns,
        labels: tmpl.metadata?.labels ?? {},
        annotations: tmpl.metadata?.annotations ?? {},
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
      },
      spec: tmpl.spec,
    };
    try {
      const created = await this.#client.create(RESOURCES.pods, ns, pod);
      const name = (created.metadata as { name?: string } | undefined)?.name ?? '';
      this.#events.record({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: rs.metadata }, 'Normal', 'SuccessfulCreate', `Created pod: ${name}`);
    } catch (err) {
      const e = this.#expect.get(`${ns}/${rs.metadata.name}`);
      if (e !== undefined && e.creates > 0) e.creates -= 1;
      this.#logger.warn({ rs: rs.metadata.name, err: String(err) }, 'pod create failed');
      throw err;
    }
  }
}
