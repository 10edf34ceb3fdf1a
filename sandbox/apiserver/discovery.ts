import { createHash } from 'node:crypto';
import { PROVIDED_VERBS, type ResourceRegistry, type ResourceType, VERBS } from './resources.ts';
import type { JsonObject } from './types.ts';

// Discovery (https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api): the
// aggregated documents (apidiscovery.k8s.io/v2, one request for all groups) that kubectl and
// client-go ask for first, the per-group documents older clients read, /version, and an
// OpenAPI v3 index whose PATCH operations declare the
// fieldValidation parameter, so that kubectl validates on the server (and does not try to
// download schemas the sandbox does not have).

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-imageops-sandbox',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function apiResource(t: ResourceType): JsonObject[] {
  const base: JsonObject = {
    name: t.resource,
    singularName: t.singular,
    namespaced: t.namespaced,
    kind: t.kind,
    verbs: t.provided ? PROVIDED_VERBS : VERBS,
    storageVersionHash: createHash('sha256').update(`${t.group}/${t.version}/${t.kind}`).digest('base64').slice(0, 11),
  };
  if (t.shortNames.length) base['shortNames'] = t.shortNames;
  if (t.categories.length) base['categories'] = t.categories;
  const out = [base];
  const sub = (name: string, extra: JsonObject) => out.push({ name: `${t.resource}/${name}`, singularName: '', namespaced: t.namespaced, ...extra });
  if (t.statusSubresource) sub('status', { kind: t.kind, verbs: ['get', 'patch', 'update'] });
  if (t.scale) sub('scale', { group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
  if (t.log) sub('log', { kind: 'Pod', verbs: ['get'] });
  if (t.storage === '/pods') sub('binding', { kind: 'Binding', verbs: ['create'] });
  return out;
}

export function coreVersions(serverAddress: string): JsonObject {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupDoc(name: string, versions: string[]): JsonObject {
  const entries = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { name, versions: entries, preferredVersion: entries[0] };
}

export function groupList(registry: ResourceRegistry): JsonObject {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: registry
      .groups()
      .filter((g) => g.name !== '')
      .map((g) => groupDoc(g.name, g.versions)),
  };
}

export function group(registry: ResourceRegistry, name: string): JsonObject | undefined {
  const g = registry.groups().find((x) => x.name === name);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(g.name, g.versions) } : undefined;
}

export function resourceList(registry: ResourceRegistry, groupName: string, version: string): JsonObject | undefined {
  const types = registry.inGroupVersion(groupName, version);
  if (types.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupName ? `${groupName}/${version}` : version,
    resources: types.flatMap(apiResource),
  };
}

// --- aggregated discovery ---------------------------------------------------------------------

export const AGGREGATED_DISCOVERY_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** Whether the Accept header asks for the aggregated form (apidiscovery.k8s.io/v2). */
export function wantsAggregated(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((clause) => {
    const params = clause.split(';').map((p) => p.trim());
    return params.includes('g=apidiscovery.k8s.io') && params.includes('v=v2') && params.includes('as=APIGroupDiscoveryList');
  });
}

function aggregatedResource(t: ResourceType): JsonObject {
  const responseKind = { group: t.group, version: t.version, kind: t.kind };
  const subresources: JsonObject[] = [];
  const verbs = ['get', 'patch', 'update'];
  if (t.statusSubresource) subresources.push({ subresource: 'status', responseKind, verbs });
  if (t.scale) subresources.push({ subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs });
  if (t.log) subresources.push({ subresource: 'log', responseKind: { group: '', version: 'v1', kind: 'Pod' }, verbs: ['get'] });
  if (t.storage === '/pods') subresources.push({ subresource: 'binding', responseKind: { group: '', version: 'v1', kind: 'Binding' }, verbs: ['create'] });
  return {
    resource: t.resource,
    responseKind,
    scope: t.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: t.singular,
    verbs: t.provided ? PROVIDED_VERBS : VERBS,
    ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
    ...(t.categories.length ? { categories: t.categories } : {}),
    ...(subresources.length ? { subresources } : {}),
  };
}

/** `/api` (core) or `/apis` (every other group) in the aggregated form. */
export function aggregated(registry: ResourceRegistry, core: boolean): JsonObject {
  const items = registry
    .groups()
    .filter((g) => (g.name === '') === core)
    .map((g) => ({
      metadata: { ...(g.name ? { name: g.name } : {}), creationTimestamp: null },
      versions: g.versions.map((version) => ({
        version,
        resources: registry.inGroupVersion(g.name, version).map(aggregatedResource),
        freshness: 'Current',
      })),
    }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}

// --- OpenAPI v3 ----------------------------------------------------------------------------------

function gvPath(groupName: string, version: string): string {
  return groupName ? `apis/${groupName}/${version}` : `api/${version}`;
}

const queryParam = (name: string) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } });

function schemaName(t: ResourceType): string {
  const reversed = t.group ? t.group.split('.').reverse().join('.') : 'io.k8s.api.core';
  return `${reversed}.${t.version}.${t.kind}`;
}

/** The OpenAPI v3 document of one group version: its paths and, for CRDs, their schemas. */
export function openApiGroupVersion(registry: ResourceRegistry, groupName: string, version: string): JsonObject | undefined {
  const types = registry.inGroupVersion(groupName, version);
  if (types.length === 0) return undefined;
  const paths: JsonObject = {};
  const schemas: JsonObject = {};
  for (const t of types) {
    const gvk = { group: t.group, version: t.version, kind: t.kind };
    const prefix = `/${gvPath(t.group, t.version)}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.resource}`;
    const write = {
      'x-kubernetes-group-version-kind': gvk,
      parameters: ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map(queryParam),
      requestBody: {
        content: Object.fromEntries(
          ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'].map((c) => [c, { schema: { $ref: `#/components/schemas/${schemaName(t)}` } }]),
        ),
      },
      responses: { '200': { description: 'OK' } },
    };
    paths[`${prefix}/{name}`] = {
      get: { 'x-kubernetes-group-version-kind': gvk, 'x-kubernetes-action': 'get', responses: { '200': { description: 'OK' } } },
      put: { ...write, 'x-kubernetes-action': 'put' },
      patch: { ...write, 'x-kubernetes-action': 'patch' },
      delete: { 'x-kubernetes-group-version-kind': gvk, 'x-kubernetes-action': 'delete', responses: { '200': { description: 'OK' } } },
    };
    paths[prefix] = {
      get: { 'x-kubernetes-group-version-kind': gvk, 'x-kubernetes-action': 'list', responses: { '200': { description: 'OK' } } },
      post: { ...write, 'x-kubernetes-action': 'post' },
    };
    schemas[schemaName(t)] = {
      ...(t.schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }),
      'x-kubernetes-group-version-kind': [gvk],
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: SERVER_VERSION.gitVersion },
    paths,
    components: { schemas },
  };
}

export function openApiIndex(registry: ResourceRegistry): JsonObject {
  const paths: JsonObject = {};
  const hash = createHash('sha256').update(String(registry.generation)).digest('hex').slice(0, 32).toUpperCase();
  for (const g of registry.groups()) {
    for (const v of g.versions) {
      const p = gvPath(g.name, v);
      paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
    }
  }
  return { paths };
}
