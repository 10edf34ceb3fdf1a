// The mesh's control plane: watch VirtualServices, HTTPRoutes, Services, endpoints and pods through the API and
// rebuild the routing table on every change (coalesced), like istiod pushing to its proxies.
import type { Logger } from 'pino';
import type { Informer } from '../../operator/src/kube/informer.ts';
import { informer, type KubeClient, RESOURCES, runInformers } from '../kube/client.ts';
import {
  type EndpointSlice,
  EndpointSliceSchema,
  type Endpoints,
  EndpointsSchema,
  type HTTPRoute,
  HTTPRouteSchema,
  type Pod,
  PodSchema,
  type Service,
  ServiceSchema,
  type VirtualService,
  VirtualServiceSchema,
} from '../kube/types.ts';
import type { MeshRouter } from './router.ts';
import { buildRoutingTable } from './table.ts';

export class MeshWatcher {
  readonly #router: MeshRouter;
  readonly #vs: Informer<VirtualService>;
  readonly #routes: Informer<HTTPRoute>;
  readonly #svc: Informer<Service>;
  readonly #ep: Informer<Endpoints>;
  readonly #eps: Informer<EndpointSlice>;
  readonly #pods: Informer<Pod>;
  #scheduled = false;
  #stopInformers: (() => Promise<void>) | undefined;

  constructor(client: KubeClient, router: MeshRouter, logger?: Logger) {
    this.#router = router;
    this.#vs = informer(client, RESOURCES.virtualservices, VirtualServiceSchema, logger);
    this.#routes = informer(client, RESOURCES.httproutes, HTTPRouteSchema, logger);
    this.#svc = informer(client, RESOURCES.services, ServiceSchema, logger);
    this.#ep = informer(client, RESOURCES.endpoints, EndpointsSchema, logger);
    this.#eps = informer(client, RESOURCES.endpointslices, EndpointSliceSchema, logger);
    this.#pods = informer(client, RESOURCES.pods, PodSchema, logger);
    const schedule = (): void => this.#schedule();
    for (const inf of this.#all()) inf.on({ add: schedule, update: schedule, delete: schedule });
  }

  #all() {
    return [this.#vs, this.#routes, this.#svc, this.#ep, this.#eps, this.#pods] as const;
  }

  async start(): Promise<void> {
    this.#stopInformers = await runInformers(this.#all());
    this.#rebuild();
  }

  async stop(): Promise<void> {
    await this.#stopInformers?.();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#rebuild();
    });
  }

  #rebuild(): void {
    this.#router.setTable(
      buildRoutingTable({
        virtualServices: this.#vs.list(),
        httpRoutes: this.#routes.list(),
        services: this.#svc.list(),
        endpoints: this.#ep.list(),
        endpointSlices: this.#eps.list(),
        pods: this.#pods.list(),
      }),
    );
  }
}
