import type { Verb } from './faults.ts';

// Parsing of resource URLs
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris).

export type ResourceRequest = {
  group: string;
  version: string;
  namespace: string | undefined;
  resource: string;
  name: string | undefined;
  subresource: string | undefined;
};

/** `/api/v1/...` and `/apis/<group>/<version>/...` below the group version; undefined otherwise. */
export function parseResourcePath(pathname: string): ResourceRequest | undefined {
  const parts = pathname
    .split('/')
    .filter((p) => p.length > 0)
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1] ?? '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1] ?? '';
    version = parts[2] ?? '';
    rest = parts.slice(3);
  } else return undefined;
  // /namespaces/{ns}/{resource}... is namespaced, except a namespace's own subresources.
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    if (rest.length > 5) return undefined;
    return { group, version, namespace: rest[1], resource: rest[2] ?? '', name: rest[3], subresource: rest[4] };
  }
  if (rest.length > 3) return undefined;
  return { group, version, namespace: undefined, resource: rest[0] ?? '', name: rest[1], subresource: rest[2] };
}

export function verbOf(method: string, hasName: boolean, watch: boolean): Verb | undefined {
  switch (method) {
    case 'GET':
      if (hasName) return 'get';
      return watch ? 'watch' : 'list';
    case 'POST':
      return hasName ? undefined : 'create';
    case 'PUT':
      return hasName ? 'update' : undefined;
    case 'PATCH':
      return hasName ? 'patch' : undefined;
    case 'DELETE':
      return hasName ? 'delete' : 'deletecollection';
    default:
      return undefined;
  }
}

export type MediaRequest = { table: boolean; tableVersion: 'v1' | 'v1beta1' };

/** Whether the client asked for a Table (kubectl get) rather than the objects. */
export function negotiate(accept: string | undefined): MediaRequest {
  for (const clause of (accept ?? '').split(',')) {
    const params = clause.split(';').map((p) => p.trim());
    if (!params.includes('as=Table')) continue;
    if (!params.includes('g=meta.k8s.io')) continue;
    return { table: true, tableVersion: params.includes('v=v1beta1') ? 'v1beta1' : 'v1' };
  }
  return { table: false, tableVersion: 'v1' };
}

/**
 * A boolean query parameter as kube-apiserver converts it (runtime.Convert_Slice_string_To_bool):
 * absent, `0` and `false` (any case) are false; anything else, the empty string included, is true.
 */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && v !== '0' && v.toLowerCase() !== 'false';
}
