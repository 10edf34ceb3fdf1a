// The Istio VirtualService (networking.istio.io/v1) splitting traffic between the
// primary and canary Services by weight; while a canary runs, a preview header reaches it
// whatever the weights, and a share of user traffic may be mirrored to it before it takes any.
import { parseDuration } from '../api/durations.ts';
import type { ImageService } from '../api/image-service.ts';
import { childMeta, trackName } from './labels.ts';

export interface Destination {
  destination: { host: string; port: { number: number } };
  weight: number;
}

export interface HttpRoute {
  name: string;
  match?: { headers: Record<string, { exact: string }> }[];
  route: Destination[];
  timeout: string;
  /**
   * On the weighted rule, null when nothing is mirrored: owned fields compare as a subset of the live object, so an
   * absent field would leave a live mirror in place; null says "absent" (owned.ts), and the API
   * server drops a null in a field that is not nullable, as Istio's are not.
   */
  mirror?: { host: string; port: { number: number } } | null;
  mirrorPercentage?: { value: number } | null;
}

export interface VirtualService {
  apiVersion: 'networking.istio.io/v1';
  kind: 'VirtualService';
  metadata: ReturnType<typeof childMeta>;
  spec: {
    hosts: string[];
    gateways: string[];
    http: HttpRoute[];
  };
}

/** The two tracks' shares of a route: canaryWeight in percent (0..100), primary the rest. */
export function routeWeights(canaryWeight: number): { primary: number; canary: number } {
  if (!Number.isInteger(canaryWeight) || canaryWeight < 0 || canaryWeight > 100) {
    throw new RangeError(`canary weight must be a whole number from 0 to 100, got ${canaryWeight}`);
  }
  return { primary: 100 - canaryWeight, canary: canaryWeight };
}

/** What routes to the canary besides its weight. */
export interface CanaryRouting {
  /** Canary weight in percent (0..100); primary gets the rest. */
  weight: number;
  /** Whether canary pods run: only then do the preview route and the mirror exist. */
  canaryRunning: boolean;
  /** Percent of primary's requests copied to the canary (fire and forget); 0: none. */
  mirrorPercent: number;
}

/**
 * What either router writes for a canary: the two shares, the preview header (only while canary
 * pods run) and the mirrored percentage (0: none; only while canary pods run). One reading, so the
 * VirtualService and the HTTPRoute cannot disagree on when a preview rule or a mirror exists.
 */
export function canaryRoutes(
  isvc: ImageService,
  routing: CanaryRouting,
): { shares: { primary: number; canary: number }; preview: { header: string; value: string } | undefined; mirrorPercent: number } {
  const { weight, canaryRunning, mirrorPercent } = routing;
  const shares = routeWeights(weight);
  // whole percents: the Gateway API's HTTPRequestMirrorFilter.percent is an integer
  if (!Number.isInteger(mirrorPercent) || mirrorPercent < 0 || mirrorPercent > 100) throw new RangeError(`mirror percentage must be a whole number from 0 to 100, got ${mirrorPercent}`);
  return { shares, preview: canaryRunning ? isvc.spec.canary.preview : undefined, mirrorPercent: canaryRunning ? mirrorPercent : 0 };
}

export function buildVirtualService(isvc: ImageService, routing: CanaryRouting): VirtualService {
  const { shares, preview, mirrorPercent } = canaryRoutes(isvc, routing);
  const { traffic } = isvc.spec;
  const host = (name: string) => ({ host: name, port: { number: traffic.port } });
  const dest = (name: string, w: number): Destination => ({ destination: host(name), weight: w });
  // seconds: the one duration form every Istio version reads (protobuf Duration)
  const timeout = `${parseDuration(traffic.timeout) / 1000}s`;
  const primary = trackName(isvc, 'primary');
  const canary = trackName(isvc, 'canary');
  const http: HttpRoute[] = [];
  // Istio takes the first rule that matches: the preview rule comes before the weighted one.
  if (preview !== undefined) {
    http.push({ name: 'preview', match: [{ headers: { [preview.header]: { exact: preview.value } } }], route: [dest(canary, 100)], timeout });
  }
  http.push({
    name: 'primary-canary',
    route: [dest(primary, shares.primary), dest(canary, shares.canary)],
    timeout,
    ...(mirrorPercent > 0 ? { mirror: host(canary), mirrorPercentage: { value: mirrorPercent } } : { mirror: null, mirrorPercentage: null }),
  });
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: childMeta(isvc, isvc.metadata.name),
    spec: { hosts: [isvc.metadata.name, ...traffic.hosts], gateways: ['mesh', ...traffic.gateways], http },
  };
}
