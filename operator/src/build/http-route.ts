// The Gateway API HTTPRoute (gateway.networking.k8s.io/v1) splitting traffic between the primary
// and canary Services by weight: router gatewayapi's counterpart of the VirtualService.
import { parseDuration } from '../api/durations.ts';
import type { ImageService } from '../api/image-service.ts';
import { childMeta, trackName } from './labels.ts';
import { routeWeights } from './virtual-service.ts';

export interface ParentRef {
  group: string;
  kind: string;
  name: string;
  namespace?: string;
  sectionName?: string;
  port?: number;
}

export interface BackendRef {
  group: '';
  kind: 'Service';
  name: string;
  port: number;
  weight: number;
}

export interface HTTPRoute {
  apiVersion: 'gateway.networking.k8s.io/v1';
  kind: 'HTTPRoute';
  metadata: ReturnType<typeof childMeta>;
  spec: {
    parentRefs: ParentRef[];
    hostnames: string[];
    rules: { name: string; backendRefs: BackendRef[]; timeouts: { request: string } }[];
  };
}

/**
 * canaryWeight in percent (0..100); primary gets the rest. The route attaches to the
 * ImageService's own Service (the mesh, as Istio's GAMMA support reads a Service parent) and to
 * the spec's Gateways; its hostnames are traffic.hosts (a Service parent ignores them).
 */
export function buildHTTPRoute(isvc: ImageService, canaryWeight: number): HTTPRoute {
  const { primary, canary } = routeWeights(canaryWeight);
  const { traffic } = isvc.spec;
  const backend = (name: string, weight: number): BackendRef => ({ group: '', kind: 'Service', name, port: traffic.port, weight });
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: childMeta(isvc, isvc.metadata.name),
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: isvc.metadata.name, port: traffic.port }, ...traffic.parentRefs.map((p) => ({ group: 'gateway.networking.k8s.io', kind: 'Gateway', ...p }))],
      hostnames: [...traffic.hosts],
      rules: [
        {
          name: 'primary-canary',
          backendRefs: [backend(trackName(isvc, 'primary'), primary), backend(trackName(isvc, 'canary'), canary)],
          timeouts: { request: gatewayDuration(parseDuration(traffic.timeout)) },
        },
      ],
    },
  };
}

/** A Gateway API Duration (GEP-2257): up to four parts of at most five digits, h, m, s, ms. */
export function gatewayDuration(ms: number): string {
  let rest = Math.max(1, Math.round(ms));
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) out += `${n}${unit}`;
  }
  return out;
}
