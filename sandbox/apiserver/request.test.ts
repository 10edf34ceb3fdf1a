import { describe, expect, it } from 'vitest';
import { negotiate, parseResourcePath, queryBool } from './request.ts';

describe('resource URLs', () => {
  it.each([
    ['/api/v1/pods', { group: '', version: 'v1', namespace: undefined, resource: 'pods', name: undefined, subresource: undefined }],
    ['/api/v1/namespaces/ns/pods/p/log', { group: '', version: 'v1', namespace: 'ns', resource: 'pods', name: 'p', subresource: 'log' }],
    ['/api/v1/namespaces/ns', { group: '', version: 'v1', namespace: undefined, resource: 'namespaces', name: 'ns', subresource: undefined }],
    ['/api/v1/namespaces/ns/status', { group: '', version: 'v1', namespace: undefined, resource: 'namespaces', name: 'ns', subresource: 'status' }],
    ['/apis/apps/v1/namespaces/ns/deployments/d/scale', { group: 'apps', version: 'v1', namespace: 'ns', resource: 'deployments', name: 'd', subresource: 'scale' }],
    [
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y',
      { group: 'apiextensions.k8s.io', version: 'v1', namespace: undefined, resource: 'customresourcedefinitions', name: 'x.y', subresource: undefined },
    ],
  ])('%s', (path, expected) => {
    expect(parseResourcePath(path)).toEqual(expected);
  });

  it('rejects paths that are not resources', () => {
    expect(parseResourcePath('/apis/apps')).toBeUndefined();
    expect(parseResourcePath('/api/v1/namespaces/a/pods/b/c/d')).toBeUndefined();
  });

  it('recognises kubectl table requests', () => {
    expect(negotiate('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json').table).toBe(true);
    expect(negotiate('application/json').table).toBe(false);
  });
});

describe('boolean query parameters', () => {
  it.each([
    ['watch=true', true],
    ['watch=True', true],
    ['watch=1', true],
    ['watch=yes', true],
    ['watch=', true],
    ['watch=false', false],
    ['watch=FALSE', false],
    ['watch=0', false],
    ['', false],
  ])('%s reads as %s, as kube-apiserver converts it', (query, expected) => {
    expect(queryBool(new URLSearchParams(query), 'watch')).toBe(expected);
  });
});
