// The three Services: <name>-primary and <name>-canary select their track's pods
// (the VirtualService's destinations); <name> is the in-mesh address and selects
// primary, so plain Kubernetes routing without a mesh still reaches the promoted version.
import type { V1Service } from '@kubernetes/client-node';
import type { ImageService } from '../api/image-service.ts';
import { childMeta, PORT_NAME, TRACK_LABEL, type Track, trackName, trackSelector } from './labels.ts';

function service(isvc: ImageService, name: string, track: Track, extraLabels: Record<string, string>): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(isvc, name, extraLabels),
    spec: {
      type: 'ClusterIP',
      selector: trackSelector(isvc, track),
      // appProtocol tells Istio the protocol without relying on the port's name
      ports: [{ name: PORT_NAME, port: isvc.spec.traffic.port, targetPort: PORT_NAME, protocol: 'TCP', appProtocol: 'http' }],
    },
  };
}

/** [<name>, <name>-primary, <name>-canary]. */
export function buildServices(isvc: ImageService): V1Service[] {
  return [
    service(isvc, isvc.metadata.name, 'primary', {}),
    service(isvc, trackName(isvc, 'primary'), 'primary', { [TRACK_LABEL]: 'primary' }),
    service(isvc, trackName(isvc, 'canary'), 'canary', { [TRACK_LABEL]: 'canary' }),
  ];
}
