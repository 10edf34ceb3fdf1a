// Where the direct provider finds the canary pods: the ready endpoints of the canary Service,
// from its EndpointSlices (discovery.k8s.io/v1, served by every supported Kubernetes).
import { z } from 'zod';
import type { KubeClient, ResourceType } from '../../kube/client.ts';
import type { EndpointSource, PodEndpoint } from './direct.ts';

const endpointSlices: ResourceType = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true };

const Port = z.looseObject({ name: z.string().optional(), port: z.number().int().optional() });
const TargetRef = z.looseObject({ name: z.string().optional() }).optional();

const EndpointSlice = z.looseObject({
  metadata: z.looseObject({ name: z.string() }),
  ports: z.array(Port).nullable().optional(),
  endpoints: z
    .array(
      z.looseObject({
        addresses: z.array(z.string()),
        // Kubernetes: an unset ready condition means ready.
        conditions: z.looseObject({ ready: z.boolean().nullable().optional() }).optional(),
        targetRef: TargetRef,
      }),
    )
    .nullable()
    .optional(),
});

/** The HTTP port: the one named `http`, else the only or first one. */
function pickPort(ports: readonly z.infer<typeof Port>[] | null | undefined): number | undefined {
  const list = ports ?? [];
  return (list.find((p) => p.name === 'http') ?? list[0])?.port;
}

function url(address: string, port: number): string {
  return address.includes(':') ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}

/** An EndpointSource reading the canary Service's ready endpoints through the API server. */
export function kubeEndpoints(client: Pick<KubeClient, 'list'>): EndpointSource {
  return async (target, signal) => {
    const selector = `kubernetes.io/service-name=${target.service}`;
    const { items } = await client.list(endpointSlices, { namespace: target.namespace, labelSelector: selector }, signal);
    const pods: PodEndpoint[] = [];
    for (const item of items) {
      const slice = EndpointSlice.parse(item);
      const port = pickPort(slice.ports);
      if (port === undefined) continue;
      for (const e of slice.endpoints ?? []) {
        const address = e.addresses[0];
        if (address === undefined || e.conditions?.ready === false) continue;
        pods.push({ pod: e.targetRef?.name ?? address, url: url(address, port) });
      }
    }
    return pods;
  };
}
