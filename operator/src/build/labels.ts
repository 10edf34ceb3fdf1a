// Names, labels and the owner reference every child of an ImageService carries.
import { API_VERSION, type ImageService, KIND } from '../api/image-service.ts';

export const TRACKS = ['primary', 'canary'] as const;
export type Track = (typeof TRACKS)[number];

export const NAME_LABEL = 'app.kubernetes.io/name';
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const TRACK_LABEL = 'imageops.dev/track';
/** On a Deployment and its pods: the revision (pod template hash) they run. */
export const REVISION_LABEL = 'imageops.dev/revision';

export const APP_NAME = 'image-service';
export const MANAGER = 'imageops';
export const CONTAINER_NAME = 'image-service';
export const PORT_NAME = 'http';
/** The container port of the service's record of recent requests: no Service or route exposes it. */
export const MANAGEMENT_PORT_NAME = 'management';
const MANAGEMENT_PORT = 9091;

/** The management port of an ImageService's pods: 9091, or 9092 when traffic takes 9091. */
export const managementPort = (trafficPort: number): number => (trafficPort === MANAGEMENT_PORT ? MANAGEMENT_PORT + 1 : MANAGEMENT_PORT);

/** `<name>-primary` / `<name>-canary`: the Deployment and the Service of a track. */
export const trackName = (isvc: { metadata: { name: string } }, track: Track) => `${isvc.metadata.name}-${track}`;

/** The labels shared by every child. */
export function commonLabels(isvc: ImageService): Record<string, string> {
  return {
    [NAME_LABEL]: APP_NAME,
    [INSTANCE_LABEL]: isvc.metadata.name,
    [MANAGED_BY_LABEL]: MANAGER,
  };
}

/** What selects a track's pods (immutable on a Deployment, so nothing that changes). */
export function trackSelector(isvc: ImageService, track: Track): Record<string, string> {
  return { [NAME_LABEL]: APP_NAME, [INSTANCE_LABEL]: isvc.metadata.name, [TRACK_LABEL]: track };
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: true;
  blockOwnerDeletion: true;
}

/** Deleting the ImageService deletes the child (garbage collection). */
export function ownerReference(isvc: ImageService): OwnerReference {
  if (!isvc.metadata.uid) throw new Error(`ImageService ${isvc.metadata.name} has no metadata.uid: read it from the API before building children`);
  return { apiVersion: API_VERSION, kind: KIND, name: isvc.metadata.name, uid: isvc.metadata.uid, controller: true, blockOwnerDeletion: true };
}

/** metadata of a child: name, namespace, labels, owner. */
export function childMeta(isvc: ImageService, name: string, extraLabels: Record<string, string> = {}) {
  return {
    name,
    ...(isvc.metadata.namespace ? { namespace: isvc.metadata.namespace } : {}),
    labels: { ...commonLabels(isvc), ...extraLabels },
    ownerReferences: [ownerReference(isvc)],
  };
}
