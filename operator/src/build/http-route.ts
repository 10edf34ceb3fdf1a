// The Gateway API HTTPRoute (gateway.networking.k8s.io/v1) splitting traffic between the primary
// and canary Services by weight: router gatewayapi's counterpart of the VirtualService, with the
// same preview header rule and mirror, in the standard channel's terms.
import { parseDuration } from '../api/durations.ts';
import type { ImageService } from '../api/image-service.ts';
import { childMeta, trackName } from './labels.ts';
import { type CanaryRouting, canaryRoutes } from './virtual-service.ts';

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
}

export interface HTTPRouteRule {
  name: string;
  matches?: { headers: { type: 'Exact'; name: string; value: string }[] }[];
  backendRefs: (BackendRef & { weight: number })[];
  /** Always present: an empty list is how a mirror that ended leaves the live route (owned.ts). */
  filters: { type: 'RequestMirror'; requestMirror: { backendRef: BackendRef; percent: number } }[];
  timeouts: { request: string };
}

export interface HTTPRoute {
  apiVersion: 'gateway.networking.k8s.io/v1';
  kind: 'HTTPRoute';
  metadata: ReturnType<typeof childMeta>;
  spec: {
    parentRefs: ParentRef[];
    hostnames: string[];
    rules: HTTPRouteRule[];
  };
}

/**
 * The route attaches to the ImageService's own Service (the mesh, as Istio's GAMMA support reads
 * a Service parent) and to the spec's Gateways; its hostnames are traffic.hosts (a Service parent
 * ignores them). While canary pods run, a rule matching the preview header sends to the canary
 * alone (the Gateway API ranks a match with a header above one without, whatever the order; it
 * comes first anyway), and the weighted rule may mirror a percentage to the canary
 * (HTTPRequestMirrorFilter.percent, standard channel since Gateway API v1.3).
 */
export function buildHTTPRoute(isvc: ImageService, routing: CanaryRouting): HTTPRoute {
  const { shares, preview, mirrorPercent } = canaryRoutes(isvc, routing);
  const { traffic } = isvc.spec;
  const ref = (name: string): BackendRef => ({ group: '', kind: 'Service', name, port: traffic.port });
  const primary = trackName(isvc, 'primary');
  const canary = trackName(isvc, 'canary');
  const timeouts = { request: gatewayDuration(parseDuration(traffic.timeout)) };
  const rules: HTTPRouteRule[] = [];
  if (preview !== undefined) {
    rules.push({ name: 'preview', matches: [{ headers: [{ type: 'Exact', name: preview.header, value: preview.value }] }], backendRefs: [{ ...ref(canary), weight: 100 }], filters: [], timeouts });
  }
  rules.push({
    name: 'primary-canary',
    backendRefs: [
      { ...ref(primary), weight: shares.primary },
      { ...ref(canary), weight: shares.canary },
    ],
    filters: mirrorPercent > 0 ? [{ type: 'RequestMirror', requestMirror: { backendRef: ref(canary), percent: mirrorPercent } }] : [],
    timeouts,
  });
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: childMeta(isvc, isvc.metadata.name),
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: isvc.metadata.name, port: traffic.port }, ...traffic.parentRefs.map((p) => ({ group: 'gateway.networking.k8s.io', kind: 'Gateway', ...p }))],
      hostnames: [...traffic.hosts],
      rules,
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
