// The mesh's control plane: watch VirtualServices, Services, endpoints and pods through the API and
// rebuild the routing table on every change (coalesced), like istiod pushing to its proxies.
import type { Logger } from 'pino';
import { type KubeClient, RESOURCES } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import {
  type EndpointSlice,
  EndpointSliceSchema,
  type Endpoints,
  EndpointsSchema,
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
  readonly #svc: Informer<Service>;
  readonly #ep: Informer<Endpoints>;
  readonly #eps: Informer<EndpointSlice>;
  readonly #pods: Informer<Pod>;
  #scheduled = false;

  constructor(client: KubeClient, router: MeshRouter, logger?: Logger) {
    this.#router = router;
    const onError = (err: unknown): void => logger?.warn({ err: String(err) }, 'mesh watch');
    this.#vs = new Informer(client, RESOURCES.virtualservices, VirtualServiceSchema, onError);
    this.#svc = new Informer(client, RESOURCES.services, ServiceSchema, onError);
    this.#ep = new Informer(client, RESOURCES.endpoints, EndpointsSchema, onError);
    this.#eps = new Informer(client, RESOURCES.endpointslices, EndpointSliceSchema, onError);
    this.#pods = new Informer(client, RESOURCES.pods, PodSchema, onError);
    for (const inf of this.#all()) inf.on(() => this.#schedule());
  }

  #all() {
    return [this.#vs, this.#svc, this.#ep, this.#eps, this.#pods] as const;
  }

  async start(): Promise<void> {
    for (const inf of this.#all()) inf.start();
    await Promise.all(this.#all().map((i) => i.synced));
    this.#rebuild();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#all().map((i) => i.stop()));
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
        services: this.#svc.list(),
        endpoints: this.#ep.list(),
        endpointSlices: this.#eps.list(),
        pods: this.#pods.list(),
      }),
    );
  }
}
