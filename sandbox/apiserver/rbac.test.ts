import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestAttributes, UserInfo } from './auth.ts';
import { serviceAccountUser } from './authn.ts';
import { type Http, withServer } from './emulator.testkit.ts';
import type { Verb } from './faults.ts';
import { authorize, policyOf } from './rbac.ts';
import type { ApiServer } from './server.ts';

// The authorizer against the rules of https://kubernetes.io/docs/reference/access-authn-authz/rbac/
// (docs/sandbox.md, "Authentication and RBAC"), then the HTTP face: 401, 403 bodies, discovery.

const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}) });
const clusterRole = (name: string, rules: unknown[]) => ({ metadata: meta(name), rules });
const binding = (name: string, namespace: string | undefined, roleRef: { kind: string; name: string }, subjects: unknown[]) => ({
  metadata: meta(name, namespace),
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
  subjects,
});
const sa = (namespace: string | undefined, name: string) => ({ kind: 'ServiceAccount', name, ...(namespace ? { namespace } : {}) });

const policy = policyOf({
  clusterroles: [
    clusterRole('pod-reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]),
    clusterRole('status-writer', [{ apiGroups: ['imageops.dev'], resources: ['imageservices/status'], verbs: ['update', 'patch'] }]),
    clusterRole('everything', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]),
    clusterRole('any-scale', [{ apiGroups: ['apps'], resources: ['*/scale'], verbs: ['update'] }]),
    { metadata: meta('malformed'), rules: [{ apiGroups: [''], resources: ['pods'] }] },
  ],
  roles: [{ metadata: meta('lock', 'a'), rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['lock'], verbs: ['get', 'update'] }] }],
  clusterrolebindings: [
    binding('op-read', undefined, { kind: 'ClusterRole', name: 'pod-reader' }, [sa('op', 'sa')]),
    binding('op-status', undefined, { kind: 'ClusterRole', name: 'status-writer' }, [sa('op', 'sa')]),
    binding('no-namespace', undefined, { kind: 'ClusterRole', name: 'everything' }, [sa(undefined, 'ghost')]),
    binding('carol-scale', undefined, { kind: 'ClusterRole', name: 'any-scale' }, [{ kind: 'User', name: 'carol' }]),
    binding('to-malformed', undefined, { kind: 'ClusterRole', name: 'malformed' }, [{ kind: 'User', name: 'mallory' }]),
  ],
  rolebindings: [
    binding('devs', 'team', { kind: 'ClusterRole', name: 'everything' }, [{ kind: 'Group', name: 'devs' }]),
    binding('alice-lock', 'a', { kind: 'Role', name: 'lock' }, [{ kind: 'User', name: 'alice' }]),
    binding('bob-missing', 'a', { kind: 'Role', name: 'missing' }, [{ kind: 'User', name: 'bob' }]),
    binding('builder', 'b', { kind: 'ClusterRole', name: 'pod-reader' }, [sa(undefined, 'builder')]),
  ],
});

const user = (username: string, groups: string[] = []): UserInfo => ({ username, groups: [...groups, 'system:authenticated'] });
const operator = serviceAccountUser('op', 'sa');

type Case = [what: string, who: UserInfo, verb: Verb, group: string, resource: string, namespace: string, expected: boolean, name?: string];

const cases: Case[] = [
  ['a ClusterRoleBinding grants in every namespace', operator, 'get', '', 'pods', 'x', true, 'p'],
  ['a ClusterRoleBinding grants cluster-wide lists', operator, 'list', '', 'pods', '', true],
  ['watch is its own verb', operator, 'watch', '', 'pods', 'x', true],
  ['a verb not listed is denied', operator, 'delete', '', 'pods', 'x', false, 'p'],
  ['a resource does not grant its subresources', operator, 'get', '', 'pods/log', 'x', false, 'p'],
  ['a subresource rule grants that subresource', operator, 'update', 'imageops.dev', 'imageservices/status', 'x', true, 'i'],
  ['a subresource rule does not grant the resource', operator, 'update', 'imageops.dev', 'imageservices', 'x', false, 'i'],
  ['the API group must match', operator, 'update', 'other.dev', 'imageservices/status', 'x', false, 'i'],
  ['the core group is the empty string', operator, 'get', 'apps', 'pods', 'x', false, 'p'],
  ['another ServiceAccount of the namespace gets nothing', serviceAccountUser('op', 'other'), 'get', '', 'pods', 'x', false, 'p'],
  ['a RoleBinding to a ClusterRole grants within its namespace', user('dave', ['devs']), 'delete', 'apps', 'deployments', 'team', true, 'd'],
  ['... and nowhere else', user('dave', ['devs']), 'delete', 'apps', 'deployments', 'prod', false, 'd'],
  ['... and never cluster-scoped resources', user('dave', ['devs']), 'get', '', 'namespaces', '', false, 'team'],
  ['resourceNames allow the named object', user('alice'), 'get', 'coordination.k8s.io', 'leases', 'a', true, 'lock'],
  ['resourceNames deny other names', user('alice'), 'get', 'coordination.k8s.io', 'leases', 'a', false, 'other'],
  ['resourceNames never allow list', user('alice'), 'list', 'coordination.k8s.io', 'leases', 'a', false],
  ['resourceNames never allow create (no name yet)', user('alice'), 'create', 'coordination.k8s.io', 'leases', 'a', false],
  ['a Role grants in its namespace only', user('alice'), 'update', 'coordination.k8s.io', 'leases', 'b', false, 'lock'],
  ['a binding to a missing Role grants nothing', user('bob'), 'get', 'coordination.k8s.io', 'leases', 'a', false, 'lock'],
  ['a RoleBinding ServiceAccount subject defaults to the binding namespace', serviceAccountUser('b', 'builder'), 'get', '', 'pods', 'b', true, 'p'],
  ['... and grants only there', serviceAccountUser('b', 'builder'), 'get', '', 'pods', 'c', false, 'p'],
  ['a ClusterRoleBinding ServiceAccount subject needs a namespace', serviceAccountUser('kube-system', 'ghost'), 'get', '', 'pods', 'x', false, 'p'],
  ['*/scale grants the scale subresource of any resource', user('carol'), 'update', 'apps', 'deployments/scale', 'x', true, 'd'],
  ['*/scale does not grant the resource', user('carol'), 'update', 'apps', 'deployments', 'x', false, 'd'],
  ['*/scale does not grant other verbs', user('carol'), 'get', 'apps', 'deployments/scale', 'x', false, 'd'],
  ['a malformed role grants nothing', user('mallory'), 'get', '', 'pods', 'x', false, 'p'],
  ['a User subject matches the user name, not a group', user('someone', ['carol']), 'update', 'apps', 'deployments/scale', 'x', false, 'd'],
  ['system:masters may do anything', user('root', ['system:masters']), 'deletecollection', 'anything.io', 'things', '', true],
];

function attributes(who: UserInfo, verb: Verb, apiGroup: string, combined: string, namespace: string, name = ''): RequestAttributes {
  const [resource = '', subresource = ''] = combined.split('/');
  return { user: who, verb, apiGroup, resource, subresource, namespace, name };
}

describe('RBAC authorizer', () => {
  it.each(cases)('%s', (_what, who, verb, group, resource, namespace, expected, name) => {
    expect(authorize(policy, attributes(who, verb, group, resource, namespace, name)).allowed).toBe(expected);
  });

  it('names the binding, role and rule that allowed a request', () => {
    const result = authorize(policy, attributes(operator, 'patch', 'imageops.dev', 'imageservices/status', 'x', 'i'));
    expect(result).toEqual({
      allowed: true,
      grant: {
        binding: 'ClusterRoleBinding/op-status',
        role: 'ClusterRole/status-writer',
        rule: expect.objectContaining({ apiGroups: ['imageops.dev'], resources: ['imageservices/status'], verbs: ['update', 'patch'] }),
      },
    });
  });
});

describe('API server with rbac: true', () => {
  let server: ApiServer;
  let http: Http;
  let token: string;
  const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
  const USER = 'system:serviceaccount:default:reader';

  beforeAll(async () => {
    ({ server, http } = await withServer({ rbac: true }));
    token = server.rbac?.tokens.issueForServiceAccount('default', 'reader') ?? '';
  });
  afterAll(() => server.stop());

  const admin = () => bearer(server.rbac?.adminToken ?? '');

  it('answers 401 without a token and with one it did not mint', async () => {
    for (const headers of [{}, bearer('forged'), { Authorization: `Basic ${token}` }]) {
      const r = await http('GET', '/api/v1/namespaces/default/configmaps', undefined, headers);
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    }
  });

  it('serves discovery to any authenticated user, as system:discovery does', async () => {
    for (const path of ['/api', '/apis', '/version', '/api/v1', '/apis/apps/v1']) {
      expect((await http('GET', path, undefined, bearer(token))).status, path).toBe(200);
    }
  });

  it('answers 403 with the real Status body and message', async () => {
    const list = await http('GET', '/api/v1/namespaces/default/configmaps', undefined, bearer(token));
    expect(list.status).toBe(403);
    expect(list.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `configmaps is forbidden: User "${USER}" cannot list resource "configmaps" in API group "" in the namespace "default"`,
      reason: 'Forbidden',
      details: { kind: 'configmaps' },
      code: 403,
    });
    const status = await http('PUT', '/apis/apps/v1/namespaces/default/deployments/web/status', {}, bearer(token));
    expect(status.body['message']).toBe(`deployments.apps "web" is forbidden: User "${USER}" cannot update resource "deployments/status" in API group "apps" in the namespace "default"`);
    const crds = await http('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions?watch=true', undefined, bearer(token));
    expect(crds.body['message']).toBe(
      `customresourcedefinitions.apiextensions.k8s.io is forbidden: User "${USER}" cannot watch resource "customresourcedefinitions" in API group "apiextensions.k8s.io" at the cluster scope`,
    );
  });

  it('applies Roles and bindings created through the API at once, and records the rule used', async () => {
    const rbacPath = '/apis/rbac.authorization.k8s.io/v1/namespaces/default';
    const role = { metadata: { name: 'cm-reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] };
    expect((await http('POST', `${rbacPath}/roles`, role, admin())).status).toBe(201);
    const rb = binding('reader', undefined, { kind: 'Role', name: 'cm-reader' }, [sa('default', 'reader')]);
    expect((await http('POST', `${rbacPath}/rolebindings`, rb, admin())).status).toBe(201);

    expect((await http('GET', '/api/v1/namespaces/default/configmaps', undefined, bearer(token))).status).toBe(200);
    expect((await http('GET', '/api/v1/namespaces/kube-system/configmaps', undefined, bearer(token))).status).toBe(403);
    const used = server.rbac?.decisions(USER).filter((d) => d.allowed);
    expect(used).toEqual([
      expect.objectContaining({ verb: 'list', apiGroup: '', resource: 'configmaps', subresource: '', namespace: 'default', grant: expect.objectContaining({ role: 'Role/default/cm-reader' }) }),
    ]);

    expect((await http('DELETE', `${rbacPath}/rolebindings/reader`, undefined, admin())).status).toBe(200);
    expect((await http('GET', '/api/v1/namespaces/default/configmaps', undefined, bearer(token))).status).toBe(403);
  });

  it('enforces OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs update on the owner finalizers, a changed ownerRef needs delete', async () => {
    const ns = '/api/v1/namespaces/default';
    const owner = await http('POST', `${ns}/configmaps`, { metadata: { name: 'owner' } }, admin());
    const uid = (owner.body['metadata'] as { uid: string }).uid;
    const ref = (block: boolean) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid, controller: true, blockOwnerDeletion: block });
    const role = { metadata: { name: 'cm-writer' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'update'] }] };
    await http('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', role, admin());
    await http('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', binding('cm-writer', undefined, { kind: 'Role', name: 'cm-writer' }, [sa('default', 'reader')]), admin());

    const blocked = await http('POST', `${ns}/configmaps`, { metadata: { name: 'dep', ownerReferences: [ref(true)] } }, bearer(token));
    expect(blocked.status).toBe(403);
    expect(blocked.body['message']).toBe('configmaps "dep" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource you can\'t set finalizers on: , <nil>');
    const created = await http('POST', `${ns}/configmaps`, { metadata: { name: 'dep', ownerReferences: [ref(false)] } }, bearer(token));
    expect(created.status).toBe(201);
    // An update that leaves the references alone needs nothing more; one that changes them needs delete.
    const unchanged = await http('PUT', `${ns}/configmaps/dep`, { ...created.body, data: { a: '1' } }, bearer(token));
    expect(unchanged.status).toBe(200);
    const changed = await http('PUT', `${ns}/configmaps/dep`, { ...unchanged.body, metadata: { ...(unchanged.body['metadata'] as object), ownerReferences: [] } }, bearer(token));
    expect(changed.status).toBe(403);
    expect(changed.body['message']).toContain("cannot set an ownerRef on a resource you can't delete");

    const finalizers = { metadata: { name: 'cm-finalizers' }, rules: [{ apiGroups: [''], resources: ['configmaps/finalizers'], verbs: ['update'] }] };
    await http('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', finalizers, admin());
    await http(
      'POST',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings',
      binding('cm-finalizers', undefined, { kind: 'Role', name: 'cm-finalizers' }, [sa('default', 'reader')]),
      admin(),
    );
    expect((await http('POST', `${ns}/configmaps`, { metadata: { name: 'dep2', ownerReferences: [ref(true)] } }, bearer(token))).status).toBe(201);
    expect(server.rbac?.decisions(USER).some((d) => d.allowed && d.resource === 'configmaps' && d.subresource === 'finalizers' && d.verb === 'update' && d.name === 'owner')).toBe(true);
  });

  it('writes its admin token into its kubeconfig; a server without rbac admits everyone', async () => {
    expect(server.kubeconfig()).toContain(server.rbac?.adminToken);
    const open = await withServer();
    try {
      expect(open.server.rbac).toBeUndefined();
      expect((await open.http('GET', '/api/v1/namespaces/default/configmaps')).status).toBe(200);
    } finally {
      await open.server.stop();
    }
  });
});
