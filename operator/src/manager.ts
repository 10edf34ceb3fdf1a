import type { Logger } from 'pino';
import { canaryMeasure } from './canary/measure.ts';
import { kubeEndpoints } from './canary/providers/endpoints.ts';
import { Providers } from './canary/providers/select.ts';
import { kubeSigningKey } from './canary/signing-key.ts';
import { type KubeClient, type KubeObject, resources } from './kube/client.ts';
import { type Clock, realClock } from './kube/clock.ts';
import { ApiError, ConflictError } from './kube/errors.ts';
import { EventRecorder } from './kube/events.ts';
import { controllerOf, Informer, objectKey } from './kube/informer.ts';
import { LeaderElector } from './kube/leader.ts';
import { WorkQueue } from './kube/work-queue.ts';
import { runWorkers } from './kube/workers.ts';
import type { OperatorMetrics } from './metrics.ts';
import { CLOSED_POLICY, type TenantPolicy } from './policy.ts';
import { type Caches, MANAGED_BY_SELECTOR, Reconciler } from './reconcile.ts';
import type { Measure } from './rollout.ts';

/**
 * Wires the operator together, controller-runtime style: shared informers fill the caches and
 * turn every change of an ImageService or of a child it controls into its key on the work
 * queue; N workers reconcile keys, never two on one key; failures retry with backoff. With
 * leader election only the leader runs workers, while standbys keep warm caches; losing the
 * lease aborts in-flight reconciles at once.
 */

export interface ManagerOptions {
  client: KubeClient;
  logger: Logger;
  metrics: OperatorMetrics;
  namespaces?: readonly string[];
  workers?: number;
  resyncMs?: number;
  leaderElection?: false | { name: string; namespace: string; identity: string; leaseDurationMs: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** How a due canary check is measured; by default with the provider each ImageService names, no operator-wide Prometheus. */
  measure?: Measure;
  /** What tenants may ask for beyond a Deployment's powers; closed by default. */
  policy?: TenantPolicy;
  clock?: Clock;
  /** Retry backoff of the work queue. */
  backoff?: { baseMs: number; maxMs: number };
  /** Informer list/watch retry backoff. */
  watchBackoff?: { baseMs: number; maxMs: number };
}

export class Manager {
  readonly caches: Caches;
  readonly queue: WorkQueue;
  readonly reconciler: Reconciler;
  readonly recorder: EventRecorder;
  readonly elector: LeaderElector | undefined;
  readonly #options: ManagerOptions;
  readonly #informers: Informer[];
  readonly #stop = new AbortController();
  #started: Promise<void> | undefined;
  #running: Promise<void> | undefined;
  #workers: Promise<void> = Promise.resolve();
  #leading = false;

  constructor(options: ManagerOptions) {
    this.#options = options;
    const { client, logger } = options;
    const clock = options.clock ?? realClock;
    const common = {
      namespaces: options.namespaces ?? [],
      clock,
      logger,
      ...(options.watchBackoff ? { backoff: options.watchBackoff } : {}),
    };
    const owned = { ...common, labelSelector: MANAGED_BY_SELECTOR };
    this.caches = {
      imageServices: new Informer(client, resources.imageServices, { ...common, resyncMs: options.resyncMs ?? 300_000 }),
      deployments: new Informer(client, resources.deployments, owned),
      services: new Informer(client, resources.services, owned),
      virtualServices: new Informer(client, resources.virtualServices, owned),
      horizontalPodAutoscalers: new Informer(client, resources.horizontalPodAutoscalers, owned),
      httpRoutes: new Informer(client, resources.httpRoutes, owned),
    };
    this.#informers = Object.values(this.caches);
    this.queue = new WorkQueue({ clock, ...(options.backoff ? { baseDelayMs: options.backoff.baseMs, maxDelayMs: options.backoff.maxMs } : {}) });
    const identity = options.leaderElection ? options.leaderElection.identity : 'imageops-operator';
    this.recorder = new EventRecorder(client, { instance: identity, clock, logger });
    this.reconciler = new Reconciler({
      client,
      caches: this.caches,
      recorder: this.recorder,
      metrics: options.metrics,
      logger,
      clock,
      measure: options.measure ?? canaryMeasure(new Providers({ prometheusUrl: undefined, endpoints: kubeEndpoints(client), signingKey: kubeSigningKey(client) })),
      policy: options.policy ?? CLOSED_POLICY,
    });
    this.elector = options.leaderElection ? new LeaderElector(client, { ...options.leaderElection, clock, logger }) : undefined;

    const enqueue = (obj: KubeObject) => this.queue.add(objectKey(obj));
    this.caches.imageServices.on({ add: enqueue, update: enqueue, delete: enqueue, resync: enqueue });
    const enqueueOwner = (obj: KubeObject) => {
      const owner = controllerOf(obj);
      if (owner?.kind === resources.imageServices.kind && obj.metadata.namespace) {
        this.queue.add(`${obj.metadata.namespace}/${owner.name}`);
      }
    };
    for (const informer of [this.caches.deployments, this.caches.services, this.caches.virtualServices, this.caches.httpRoutes, this.caches.horizontalPodAutoscalers]) {
      informer.on({ add: enqueueOwner, update: enqueueOwner, delete: enqueueOwner });
    }
  }

  /** A route API a cluster may not serve (no Istio, no Gateway API): its cache is not waited for. */
  #optional(informer: Informer): boolean {
    return informer === this.caches.virtualServices || informer === this.caches.httpRoutes;
  }

  /** Caches filled (what /readyz reports). */
  ready(): boolean {
    return !this.#stop.signal.aborted && this.#informers.every((i) => i.hasSynced() || this.#optional(i));
  }

  /** Whether this replica is acting (the leader, or leader election is off). */
  leading(): boolean {
    return this.#leading;
  }

  /**
   * Starts informers, then (once the caches are synced) the election and workers; resolves at
   * that point, or when stopped first. Call once.
   */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const signal = this.#stop.signal;
    const informers = this.#informers.map((i) => i.run(signal));
    const syncs = this.#informers.filter((i) => !this.#optional(i)).map((i) => i.waitForSync());
    await Promise.race([Promise.all(syncs), new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]);
    let election: Promise<void> = Promise.resolve();
    if (signal.aborted) {
      // stopped before the caches synced: nothing to lead with
    } else if (this.elector) {
      election = this.elector.run(signal, {
        onStartedLeading: (leading) => this.#startWorkers(leading),
        onStoppedLeading: () => this.#stopWorkers(),
      });
    } else {
      this.#startWorkers(signal);
    }
    this.#running = Promise.all([...informers, election]).then(() => undefined);
  }

  /** Stops workers (in-flight reconciles are cancelled), releases the lease, stops the informers. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error('operator shutting down'));
    await this.#started;
    if (this.elector === undefined) await this.#stopWorkers();
    await this.#running;
    await this.recorder.flush();
  }

  #startWorkers(leading: AbortSignal): void {
    this.#leading = true;
    this.#options.metrics.leader.set(1);
    this.#options.logger.info({ workers: this.#options.workers ?? 4 }, 'starting workers');
    // Keys queued by a previous term (or while standing by) are all still due.
    for (const obj of this.caches.imageServices.list()) this.queue.add(objectKey(obj));
    const { metrics, logger } = this.#options;
    this.#workers = runWorkers(
      this.queue,
      (key, signal) => {
        const [namespace = '', name = ''] = key.split('/');
        return this.reconciler.reconcile(namespace, name, signal);
      },
      this.#options.workers ?? 4,
      leading,
      {
        failed: (key, err, retries) => {
          const [namespace = '', name = ''] = key.split('/');
          metrics.reconcileErrors.inc({ namespace, name, reason: err instanceof ApiError ? err.reason || String(err.status) : 'Error' });
          logger[err instanceof ConflictError ? 'debug' : 'warn']({ key, err: String(err), retries }, 'reconcile failed; retrying');
        },
        finished: (key, seconds) => {
          const [namespace = '', name = ''] = key.split('/');
          metrics.reconcileDuration.observe({ namespace, name }, seconds);
        },
      },
    );
  }

  async #stopWorkers(): Promise<void> {
    this.#leading = false;
    this.#options.metrics.leader.set(0);
    await this.#workers;
  }
}
