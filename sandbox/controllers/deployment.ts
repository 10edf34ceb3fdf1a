// Deployment controller: one ReplicaSet per pod template (named DEPLOYMENT-HASH, labelled with
// pod-template-hash), rolled over with RollingUpdate or Recreate, old ReplicaSets trimmed to
// revisionHistoryLimit, and status with Available and Progressing conditions.
import type { Logger } from 'pino';
import { EventRecorder } from '../../operator/src/kube/events.ts';
import type { Informer } from '../../operator/src/kube/informer.ts';
import { ApiError, type KubeClient, RESOURCES } from '../kube/client.ts';
import type { Deployment, ReplicaSet } from '../kube/types.ts';
import { podTemplateHash } from './hash.ts';
import { controllerOf } from './pods.ts';
import { deploymentStatus, type RsView, rollingStep, surgeAndUnavailable } from './rolling.ts';

const REVISION = 'deployment.kubernetes.io/revision';

function view(rs: ReplicaSet): RsView {
  const replicas = rs.spec.replicas ?? 1;
  // A status older than a scale-down still counts the pods being removed: never count more
  // available pods than the ReplicaSet is meant to keep.
  return {
    name: rs.metadata.name,
    replicas,
    current: rs.status?.replicas ?? 0,
    ready: Math.min(replicas, rs.status?.readyReplicas ?? 0),
    available: Math.min(replicas, rs.status?.availableReplicas ?? 0),
    created: rs.metadata.creationTimestamp ?? '',
  };
}

function revisionOf(rs: ReplicaSet): number {
  return Number(rs.metadata.annotations?.[REVISION] ?? 0) || 0;
}

export class DeploymentController {
  readonly #client: KubeClient;
  readonly #deployments: Informer<Deployment>;
  readonly #rss: Informer<ReplicaSet>;
  readonly #logger: Logger;
  readonly #events: EventRecorder;

  constructor(client: KubeClient, deployments: Informer<Deployment>, rss: Informer<ReplicaSet>, logger: Logger) {
    this.#client = client;
    this.#events = new EventRecorder(client.transport, { component: 'deployment-controller', logger });
    this.#deployments = deployments;
    this.#rss = rss;
    this.#logger = logger;
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | undefined> {
    const [ns = 'default', name = ''] = key.split('/');
    const d = this.#deployments.get(ns, name);
    if (d === undefined || d.metadata.deletionTimestamp !== undefined) return;
    const desired = d.spec.replicas ?? 1;
    const hash = podTemplateHash(d.spec.template, (d.status as { collisionCount?: number } | undefined)?.collisionCount ?? 0);
    const owned = this.#rss.list().filter((rs) => (rs.metadata.namespace ?? 'default') === ns && controllerOf(rs.metadata)?.uid === d.metadata.uid);
    let newRs = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    const oldRss = owned.filter((rs) => rs !== newRs);
    const maxRevision = Math.max(0, ...oldRss.map(revisionOf));
    const recreate = d.spec.strategy?.type === 'Recreate';
    const { maxSurge, maxUnavailable } = recreate ? { maxSurge: 0, maxUnavailable: desired } : surgeAndUnavailable(desired, d.spec.strategy?.rollingUpdate);
    let acted: 'created' | 'scaled' | undefined;

    if (d.spec.paused !== true) {
      if (newRs === undefined) {
        const oldPods = oldRss.reduce((s, rs) => s + Math.max(rs.spec.replicas ?? 1, rs.status?.replicas ?? 0), 0);
        const replicas = recreate
          ? oldPods > 0
            ? 0
            : desired
          : rollingStep(desired, maxSurge, maxUnavailable, { name: '', replicas: 0, current: 0, ready: 0, available: 0, created: '' }, oldRss.map(view)).newReplicas;
        newRs = await this.#createReplicaSet(d, hash, replicas, maxRevision + 1, maxSurge);
        this.#scaled(d, newRs.metadata.name, 0, replicas);
        acted = 'created';
      } else {
        const scale = new Map<ReplicaSet, number>();
        if (recreate) {
          for (const rs of oldRss) if ((rs.spec.replicas ?? 1) > 0) scale.set(rs, 0);
          const oldRunning = oldRss.reduce((s, rs) => s + (rs.status?.replicas ?? 0), 0);
          if (scale.size === 0 && oldRunning === 0 && (newRs.spec.replicas ?? 1) !== desired) scale.set(newRs, desired);
        } else {
          const step = rollingStep(desired, maxSurge, maxUnavailable, view(newRs), oldRss.map(view));
          if (step.newReplicas !== (newRs.spec.replicas ?? 1)) scale.set(newRs, step.newReplicas);
          for (const rs of oldRss) {
            const n = step.oldReplicas.get(rs.metadata.name) ?? 0;
            if (n !== (rs.spec.replicas ?? 1)) scale.set(rs, n);
          }
        }
        // A template seen before (a rollback) becomes the newest revision again.
        const newRevision = revisionOf(newRs) > maxRevision ? revisionOf(newRs) : maxRevision + 1;
        if (revisionOf(newRs) !== newRevision && !scale.has(newRs)) scale.set(newRs, newRs.spec.replicas ?? 1);
        for (const [rs, replicas] of scale) {
          await this.#scale(rs, replicas, rs === newRs ? newRevision : undefined, desired, maxSurge);
          this.#scaled(d, rs.metadata.name, rs.spec.replicas ?? 1, replicas);
          acted = 'scaled';
        }
        await this.#trimHistory(d, oldRss);
      }
    }

    const { status, recheckAfterMs } = deploymentStatus({
      generation: d.metadata.generation ?? 1,
      desired,
      maxUnavailable,
      progressDeadlineSeconds: d.spec.progressDeadlineSeconds ?? 600,
      newRs: newRs === undefined ? undefined : view(newRs),
      oldRss: oldRss.map(view),
      previous: d.status,
      acted,
      now: new Date(),
    });
    const prev = d.status ?? {};
    const changed = Object.entries(status).some(([k, v]) => JSON.stringify((prev as Record<string, unknown>)[k]) !== JSON.stringify(v));
    if (changed) await this.#client.replace(RESOURCES.deployments, ns, name, { ...d, status: { ...prev, ...status } }, 'status');
    const revision = newRs === undefined ? undefined : String(Math.max(revisionOf(newRs), acted === 'created' ? maxRevision + 1 : 0));
    if (revision !== undefined && revision !== '0' && d.metadata.annotations?.[REVISION] !== revision) {
      await this.#client.mergePatch(RESOURCES.deployments, ns, name, { metadata: { annotations: { [REVISION]: revision } } });
    }
    return recheckAfterMs === undefined ? undefined : { requeueAfterMs: recheckAfterMs + 50 };
  }

  #scaled(d: Deployment, rs: string, from: number, to: number): void {
    if (from === to) return;
    this.#events.record(
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: d.metadata },
      'Normal',
      'ScalingReplicaSet',
      `Scaled ${to > from ? 'up' : 'down'} replica set ${rs} from ${from} to ${to}`,
    );
  }

  async #createReplicaSet(d: Deployment, hash: string, replicas: number, revision: number, maxSurge: number): Promise<ReplicaSet> {
    const ns = d.metadata.namespace ?? 'default';
    const labels = { ...(d.spec.template.metadata?.labels ?? {}), 'pod-template-hash': hash };
    const rs: ReplicaSet = {
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: ns,
        labels,
        annotations: {
          [REVISION]: String(revision),
          'deployment.kubernetes.io/desired-replicas': String(d.spec.replicas ?? 1),
          'deployment.kubernetes.io/max-replicas': String((d.spec.replicas ?? 1) + maxSurge),
        },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
      },
      spec: {
        replicas,
        minReadySeconds: d.spec.minReadySeconds ?? 0,
        selector: { ...d.spec.selector, matchLabels: { ...(d.spec.selector.matchLabels ?? {}), 'pod-template-hash': hash } },
        template: { ...d.spec.template, metadata: { ...(d.spec.template.metadata ?? {}), labels } },
      },
    };
    try {
      return (await this.#client.create(RESOURCES.replicasets, ns, { apiVersion: 'apps/v1', kind: 'ReplicaSet', ...rs })) as ReplicaSet;
    } catch (err) {
      // Already there (our cache lags): the next pass finds it.
      if (err instanceof ApiError && err.status === 409) return rs;
      throw err;
    }
  }

  async #scale(rs: ReplicaSet, replicas: number, revision: number | undefined, desired: number, maxSurge: number): Promise<void> {
    const annotations = { ...(rs.metadata.annotations ?? {}) };
    if (revision !== undefined) {
      annotations[REVISION] = String(revision);
      annotations['deployment.kubernetes.io/desired-replicas'] = String(desired);
      annotations['deployment.kubernetes.io/max-replicas'] = String(desired + maxSurge);
    }
    this.#logger.debug({ rs: rs.metadata.name, from: rs.spec.replicas, to: replicas }, 'scaling replica set');
    // A full update with the cached resourceVersion: a stale cache gets 409 and a retry, never a wrong scale.
    await this.#client.replace(RESOURCES.replicasets, rs.metadata.namespace, rs.metadata.name, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      ...rs,
      metadata: { ...rs.metadata, annotations },
      spec: { ...rs.spec, replicas },
    });
  }

  async #trimHistory(d: Deployment, oldRss: ReplicaSet[]): Promise<void> {
    const limit = d.spec.revisionHistoryLimit ?? 10;
    const idle = oldRss.filter((rs) => (rs.spec.replicas ?? 1) === 0 && (rs.status?.replicas ?? 0) === 0).sort((a, b) => revisionOf(a) - revisionOf(b));
    for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) {
      await this.#client.delete(RESOURCES.replicasets, rs.metadata.namespace, rs.metadata.name);
    }
  }
}
