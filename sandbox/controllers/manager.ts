// The workload controllers a cluster's controller-manager runs, on shared informers: Deployments,
// ReplicaSets, Endpoints/EndpointSlices, HorizontalPodAutoscalers. Events map to the keys they
// concern; each controller has its own work queue.
import type { Logger } from 'pino';
import { WorkQueue } from '../../operator/src/kube/work-queue.ts';
import { runWorkers } from '../../operator/src/kube/workers.ts';
import { informer, type KubeClient, RESOURCES, runInformers } from '../kube/client.ts';
import {
  type Deployment,
  DeploymentSchema,
  type EndpointSlice,
  EndpointSliceSchema,
  type Endpoints,
  EndpointsSchema,
  type HorizontalPodAutoscaler,
  HorizontalPodAutoscalerSchema,
  type Pod,
  PodSchema,
  type ReplicaSet,
  ReplicaSetSchema,
  type Service,
  ServiceSchema,
} from '../kube/types.ts';
import { DeploymentController } from './deployment.ts';
import { EndpointsController } from './endpoints.ts';
import { HpaController } from './hpa.ts';
import { controllerOf } from './pods.ts';
import { ReplicaSetController } from './replicaset.ts';

export class ControllerManager {
  readonly #informers: Parameters<typeof runInformers>[0];
  readonly #queues: WorkQueue[];
  readonly #controllers: { queue: WorkQueue; reconcile: (key: string) => Promise<{ requeueAfterMs?: number } | undefined>; hooks: { failed: (key: string, err: unknown) => void } }[];
  readonly #abort = new AbortController();
  #workers: Promise<void>[] = [];
  #stopInformers: (() => Promise<void>) | undefined;

  constructor(client: KubeClient, logger: Logger) {
    const deployments = informer<Deployment>(client, RESOURCES.deployments, DeploymentSchema, logger);
    const rss = informer<ReplicaSet>(client, RESOURCES.replicasets, ReplicaSetSchema, logger);
    const pods = informer<Pod>(client, RESOURCES.pods, PodSchema, logger);
    const services = informer<Service>(client, RESOURCES.services, ServiceSchema, logger);
    const endpoints = informer<Endpoints>(client, RESOURCES.endpoints, EndpointsSchema, logger);
    const slices = informer<EndpointSlice>(client, RESOURCES.endpointslices, EndpointSliceSchema, logger);
    const hpas = informer<HorizontalPodAutoscaler>(client, RESOURCES.horizontalpodautoscalers, HorizontalPodAutoscalerSchema, logger);
    this.#informers = [deployments, rss, pods, services, endpoints, slices, hpas];

    const failed = (what: string) => ({ failed: (key: string, err: unknown) => logger.debug({ key, err: String(err) }, `${what} reconcile failed; retrying`) });
    const deploymentCtl = new DeploymentController(client, deployments, rss, logger);
    const rsCtl = new ReplicaSetController(client, rss, pods, logger);
    const epCtl = new EndpointsController(client, services, pods, endpoints, slices);
    const hpaCtl = new HpaController(client, hpas, deployments, pods, logger);
    // Retries as kube-controller-manager's queues pace them, the library's work queue with its rate limit.
    const queue = () => new WorkQueue({ baseDelayMs: 50, maxDelayMs: 10_000 });
    const [dq, rq, eq, hq] = [queue(), queue(), queue(), queue()];
    this.#queues = [dq, rq, eq, hq];
    this.#controllers = [
      { queue: dq, reconcile: (k: string) => deploymentCtl.reconcile(k), hooks: failed('deployment') },
      { queue: rq, reconcile: (k: string) => rsCtl.reconcile(k), hooks: failed('replicaset') },
      {
        queue: eq,
        reconcile: async (k: string) => {
          await epCtl.reconcile(k);
          return undefined;
        },
        hooks: failed('endpoints'),
      },
      // each HPA syncs every period (the reconcile asks to come back), and at once when it changes
      { queue: hq, reconcile: (k: string) => hpaCtl.reconcile(k), hooks: failed('horizontal-pod-autoscaler') },
    ];

    const key = (m: { namespace?: string | undefined; name: string }): string => `${m.namespace ?? 'default'}/${m.name}`;
    const always = <T>(fn: (obj: T) => void) => ({ add: fn, update: fn, delete: fn });
    deployments.on(always((d) => dq.add(key(d.metadata))));
    rss.on(
      always((rs) => {
        rq.add(key(rs.metadata));
        const owner = controllerOf(rs.metadata);
        if (owner?.kind === 'Deployment') dq.add(key({ namespace: rs.metadata.namespace, name: owner.name }));
      }),
    );
    const podChanged = (change: 'added' | 'modified' | 'deleted', pod: Pod, old?: Pod): void => {
      const rsKey = rsCtl.observePod(change, pod);
      if (rsKey !== undefined) rq.add(rsKey);
      // Every Service of the namespace whose selector matches the pod's old or new labels.
      const ns = pod.metadata.namespace ?? 'default';
      for (const svc of services.list()) {
        if ((svc.metadata.namespace ?? 'default') !== ns) continue;
        const sel = Object.entries(svc.spec.selector ?? {});
        const hit = (labels: Record<string, string> | undefined): boolean => sel.length > 0 && sel.every(([k, v]) => labels?.[k] === v);
        if (hit(pod.metadata.labels) || hit(old?.metadata.labels)) eq.add(key(svc.metadata));
      }
    };
    pods.on({ add: (p) => podChanged('added', p), update: (p, old) => podChanged('modified', p, old), delete: (p) => podChanged('deleted', p) });
    services.on(always((svc) => eq.add(key(svc.metadata))));
    endpoints.on(always((ep) => eq.add(key(ep.metadata))));
    // not on its own status writes: those would make a sync loop
    hpas.on({
      add: (h) => hq.add(key(h.metadata)),
      update: (h, old) => {
        if (old?.metadata.generation !== h.metadata.generation) hq.add(key(h.metadata));
      },
      delete: (h) => hq.add(key(h.metadata)),
    });
    slices.on(
      always((s) => {
        const svc = s.metadata.labels?.['kubernetes.io/service-name'];
        if (svc !== undefined) eq.add(key({ namespace: s.metadata.namespace, name: svc }));
      }),
    );
  }

  async start(): Promise<void> {
    this.#stopInformers = await runInformers(this.#informers);
    this.#workers = this.#controllers.map((c) => runWorkers(c.queue, c.reconcile, 2, this.#abort.signal, c.hooks));
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    for (const q of this.#queues) q.shutdown();
    await Promise.all(this.#workers);
    await this.#stopInformers?.();
  }
}
