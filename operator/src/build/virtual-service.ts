// The Istio VirtualService (networking.istio.io/v1) splitting traffic between the
// primary and canary Services by weight.
import { parseDuration } from "../api/durations.ts";
import type { ImageService } from "../api/image-service.ts";
import { childMeta, trackName } from "./labels.ts";

export interface Destination {
  destination: { host: string; port: { number: number } };
  weight: number;
}

export interface VirtualService {
  apiVersion: "networking.istio.io/v1";
  kind: "VirtualService";
  metadata: ReturnType<typeof childMeta>;
  spec: {
    hosts: string[];
    gateways: string[];
    http: { name: string; route: Destination[]; timeout: string }[];
  };
}

/** canaryWeight in percent (0..100); primary gets the rest. */
export function buildVirtualService(isvc: ImageService, canaryWeight: number): VirtualService {
  if (!Number.isInteger(canaryWeight) || canaryWeight < 0 || canaryWeight > 100) {
    throw new RangeError(`canary weight must be a whole number from 0 to 100, got ${canaryWeight}`);
  }
  const { traffic } = isvc.spec;
  const dest = (host: string, weight: number): Destination => ({
    destination: { host, port: { number: traffic.port } },
    weight,
  });
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: childMeta(isvc, isvc.metadata.name),
    spec: {
      hosts: [isvc.metadata.name, ...traffic.hosts],
      gateways: ["mesh", ...traffic.gateways],
      http: [
        {
          name: "primary-canary",
          route: [dest(trackName(isvc, "primary"), 100 - canaryWeight), dest(trackName(isvc, "canary"), canaryWeight)],
          // seconds: the one duration form every Istio version reads (protobuf Duration)
          timeout: `${parseDuration(traffic.timeout) / 1000}s`,
        },
      ],
    },
  };
}
