import type { StructuralSchema } from './schema.ts';

// The resource types the server serves: the built-in ones of the sandbox and those of every
// established CRD. A type is addressed by group/version/resource in URLs and by group/kind in
// objects; its objects live in a store collection named by `storage` (two APIs may share one,
// like core/v1 and events.k8s.io/v1 events).

export type PrinterColumn = {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
};

export type ScalePaths = { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string };

/** Converts between an API version's representation and the storage one (shared storage). */
export type Codec = {
  toStorage(obj: Record<string, unknown>): Record<string, unknown>;
  fromStorage(obj: Record<string, unknown>): Record<string, unknown>;
};

export type ResourceType = {
  group: string;
  version: string;
  resource: string;
  kind: string;
  listKind: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  storage: string;
  statusSubresource: boolean;
  scale: ScalePaths | undefined;
  log: boolean;
  /** Whether writes set and bump metadata.generation. */
  generation: boolean;
  /** Field selectors accepted besides metadata.name and metadata.namespace. */
  fieldSelectors: string[];
  printerColumns: PrinterColumn[] | undefined;
  schema: StructuralSchema | undefined;
  codec: Codec | undefined;
  /** The CRD that serves this type, if any. */
  crd: string | undefined;
  /** Served by a function rather than the store (get and list only), as an aggregated API is. */
  provided: Provided | undefined;
};

/** A read-only type whose objects come from elsewhere (the resource metrics API). */
export interface Provided {
  /** The objects of a namespace (all namespaces when undefined) whose labels match. */
  list(namespace: string | undefined, labelSelector: string | undefined): Record<string, unknown>[];
}

export const PROVIDED_VERBS = ['get', 'list'];

export const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiVersionOf(t: { group: string; version: string }): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

type Spec = Partial<ResourceType> & Pick<ResourceType, 'group' | 'version' | 'resource' | 'kind'>;

export function resourceType(spec: Spec): ResourceType {
  return {
    listKind: `${spec.kind}List`,
    singular: spec.kind.toLowerCase(),
    namespaced: true,
    shortNames: [],
    categories: [],
    storage: `${spec.group}/${spec.resource}`,
    statusSubresource: false,
    scale: undefined,
    log: false,
    generation: false,
    fieldSelectors: [],
    printerColumns: undefined,
    schema: undefined,
    codec: undefined,
    crd: undefined,
    provided: undefined,
    ...spec,
  };
}

const replicasScale: ScalePaths = {
  specReplicasPath: '.spec.replicas',
  statusReplicasPath: '.status.replicas',
  labelSelectorPath: '.status.selector',
};

/** The built-in types. events.k8s.io/v1 events share core/v1 storage; see events.ts for the codec. */
export function builtinTypes(eventsCodec: Codec): ResourceType[] {
  const core = (s: Omit<Spec, 'group' | 'version'>) => resourceType({ group: '', version: 'v1', ...s });
  return [
    core({
      resource: 'namespaces',
      kind: 'Namespace',
      namespaced: false,
      shortNames: ['ns'],
      statusSubresource: true,
      fieldSelectors: ['status.phase'],
    }),
    core({
      resource: 'pods',
      kind: 'Pod',
      shortNames: ['po'],
      categories: ['all'],
      statusSubresource: true,
      log: true,
      fieldSelectors: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
    }),
    core({ resource: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], statusSubresource: true, fieldSelectors: ['spec.unschedulable'] }),
    core({ resource: 'services', kind: 'Service', shortNames: ['svc'], categories: ['all'], statusSubresource: true }),
    core({ resource: 'endpoints', kind: 'Endpoints', listKind: 'EndpointsList', singular: 'endpoints', shortNames: ['ep'] }),
    core({ resource: 'configmaps', kind: 'ConfigMap', shortNames: ['cm'] }),
    core({ resource: 'secrets', kind: 'Secret', fieldSelectors: ['type'] }),
    core({ resource: 'serviceaccounts', kind: 'ServiceAccount', shortNames: ['sa'] }),
    core({
      resource: 'events',
      kind: 'Event',
      shortNames: ['ev'],
      fieldSelectors: [
        'involvedObject.kind',
        'involvedObject.namespace',
        'involvedObject.name',
        'involvedObject.uid',
        'involvedObject.apiVersion',
        'involvedObject.resourceVersion',
        'involvedObject.fieldPath',
        'reason',
        'reportingComponent',
        'source',
        'type',
      ],
    }),
    resourceType({
      group: 'apps',
      version: 'v1',
      resource: 'deployments',
      kind: 'Deployment',
      shortNames: ['deploy'],
      categories: ['all'],
      statusSubresource: true,
      scale: replicasScale,
      generation: true,
    }),
    resourceType({
      group: 'apps',
      version: 'v1',
      resource: 'replicasets',
      kind: 'ReplicaSet',
      shortNames: ['rs'],
      categories: ['all'],
      statusSubresource: true,
      scale: replicasScale,
      generation: true,
      fieldSelectors: ['status.replicas'],
    }),
    resourceType({ group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', kind: 'EndpointSlice' }),
    resourceType({
      group: 'autoscaling',
      version: 'v2',
      resource: 'horizontalpodautoscalers',
      kind: 'HorizontalPodAutoscaler',
      shortNames: ['hpa'],
      categories: ['all'],
      statusSubresource: true,
      generation: true,
    }),
    resourceType({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease' }),
    resourceType({
      group: 'events.k8s.io',
      version: 'v1',
      resource: 'events',
      kind: 'Event',
      shortNames: ['ev'],
      storage: '/events',
      codec: eventsCodec,
      fieldSelectors: ['regarding.kind', 'regarding.namespace', 'regarding.name', 'regarding.uid', 'reason', 'type'],
    }),
    ...['roles:Role', 'rolebindings:RoleBinding', 'clusterroles:ClusterRole', 'clusterrolebindings:ClusterRoleBinding'].map((entry) => {
      const [resource = '', kind = ''] = entry.split(':');
      return resourceType({
        group: 'rbac.authorization.k8s.io',
        version: 'v1',
        resource,
        kind,
        namespaced: !resource.startsWith('cluster'),
      });
    }),
    resourceType({
      group: 'apiextensions.k8s.io',
      version: 'v1',
      resource: 'customresourcedefinitions',
      kind: 'CustomResourceDefinition',
      namespaced: false,
      shortNames: ['crd', 'crds'],
      categories: ['api-extensions'],
      statusSubresource: true,
      generation: true,
    }),
  ];
}

const key = (group: string, version: string, resource: string) => `${group}/${version}/${resource}`;

/** The served types, by URL and by kind; changes when CRDs come and go. */
export class ResourceRegistry {
  #byResource = new Map<string, ResourceType>();
  #changes = 0;

  add(t: ResourceType): void {
    this.#byResource.set(key(t.group, t.version, t.resource), t);
    this.#changes++;
  }

  removeCrd(crdName: string): ResourceType[] {
    const removed = [...this.#byResource.values()].filter((t) => t.crd === crdName);
    for (const t of removed) this.#byResource.delete(key(t.group, t.version, t.resource));
    if (removed.length) this.#changes++;
    return removed;
  }

  get(group: string, version: string, resource: string): ResourceType | undefined {
    return this.#byResource.get(key(group, version, resource));
  }

  /** The type whose representation is the storage one (no codec) for a collection. */
  byStorage(storage: string): ResourceType | undefined {
    for (const t of this.#byResource.values()) if (t.storage === storage && !t.codec) return t;
    return undefined;
  }

  all(): ResourceType[] {
    return [...this.#byResource.values()];
  }

  /** A counter that changes whenever the set of served types does (discovery caches key on it). */
  get generation(): number {
    return this.#changes;
  }

  /** Groups in registration order, each with its versions (preferred first). */
  groups(): { name: string; versions: string[] }[] {
    const groups = new Map<string, string[]>();
    for (const t of this.#byResource.values()) {
      const versions = groups.get(t.group) ?? [];
      if (!versions.includes(t.version)) versions.push(t.version);
      groups.set(t.group, versions);
    }
    return [...groups].map(([name, versions]) => ({ name, versions }));
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.all().filter((t) => t.group === group && t.version === version);
  }
}
