// The workload controllers a cluster's controller-manager runs, on shared informers: Deployments,
// ReplicaSets, Endpoints/EndpointSlices. Events map to the keys they concern; each controller has
// its own work queue.
import type { Logger } from 'pino';
import { informer, type KubeClient, RESOURCES, runInformers } from '../kube/client.ts';
import {
  type Deployment,
  DeploymentSchema,
  type EndpointSlice,
  EndpointSliceSchema,
  type Endpoints,
  EndpointsSchema,
  type Pod,
  PodSchema,
  type ReplicaSet,
  ReplicaSetSchema,
  type Service,
  ServiceSchema,
} from '../kube/types.ts';
import { DeploymentController } from './deployment.ts';
import { EndpointsController } from './endpoints.ts';
import { controllerOf } from './pods.ts';
import { WorkQueue } from './queue.ts';
import { ReplicaSetController } from './replicaset.ts';

export class ControllerManager {
  readonly #informers: Parameters<typeof runInformers>[0];
  readonly #queues: WorkQueue[];
  #stopInformers: (() => Promise<void>) | undefined;

  constructor(client: KubeClient, logger: Logger) {
    const deployments = informer<Deployment>(client, RESOURCES.deployments, DeploymentSchema, logger);
    const rss = informer<ReplicaSet>(client, RESOURCES.replicasets, ReplicaSetSchema, logger);
    const pods = informer<Pod>(client, RESOURCES.pods, PodSchema, logger);
    const services = informer<Service>(client, RESOURCES.services, ServiceSchema, logger);
    const endpoints = informer<Endpoints>(client, RESOURCES.endpoints, EndpointsSchema, logger);
    const slices = informer<EndpointSlice>(client, RESOURCES.endpointslices, EndpointSliceSchema, logger);
    this.#informers = [deployments, rss, pods, services, endpoints, slices];

    const onError = (what: string) => (key: string, err: unknown) => logger.debug({ key, err: String(err) }, `${what} reconcile failed; retrying`);
    const deploymentCtl = new DeploymentController(client, deployments, rss, logger);
    const rsCtl = new ReplicaSetController(client, rss, pods, logger);
    const epCtl = new EndpointsController(client, services, pods, endpoints, slices);
    const dq = new WorkQueue((k) => deploymentCtl.reconcile(k), onError('deployment'));
    const rq = new WorkQueue((k) => rsCtl.reconcile(k), onError('replicaset'));
    const eq = new WorkQueue(async (k) => {
      await epCtl.reconcile(k);
      return undefined;
    }, onError('endpoints'));
    this.#queues = [dq, rq, eq];

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
    slices.on(
      always((s) => {
        const svc = s.metadata.labels?.['kubernetes.io/service-name'];
        if (svc !== undefined) eq.add(key({ namespace: s.metadata.namespace, name: svc }));
      }),
    );
  }

  async start(): Promise<void> {
    this.#stopInformers = await runInformers(this.#informers);
  }

  async stop(): Promise<void> {
    await Promise.all(this.#queues.map((q) => q.stop()));
    await this.#stopInformers?.();
  }
}
