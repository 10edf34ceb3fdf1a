import { isDeepStrictEqual } from 'node:util';
import type { Authorizer, UserInfo } from './auth.ts';
import { forbidden } from './errors.ts';
import type { ResourceRegistry, ResourceType } from './resources.ts';
import type { KubeObject } from './types.ts';

// The OwnerReferencesPermissionEnforcement admission plugin
// (https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#ownerreferencespermissionenforcement),
// as OpenShift runs it: changing an object's ownerReferences needs `delete` on the object (a
// create is exempt: its author could have not created it), and setting blockOwnerDeletion on a
// reference needs `update` on the owner's `finalizers` subresource. It asks the server's
// authorizer, so it only ever refuses when RBAC is on.

export type OwnerReferenceAdmission = (t: ResourceType, obj: KubeObject, old: KubeObject | undefined) => void;

type Ref = { apiVersion?: unknown; kind?: unknown; name?: unknown; uid?: unknown; blockOwnerDeletion?: unknown };

const refsOf = (o: KubeObject | undefined): Ref[] => (Array.isArray(o?.metadata.ownerReferences) ? (o.metadata.ownerReferences as Ref[]) : []);

/** References that block their owner's deletion now and did not before (matched by uid). */
function newBlocking(obj: KubeObject, old: KubeObject | undefined): Ref[] {
  const blockedBefore = new Set(
    refsOf(old)
      .filter((r) => r.blockOwnerDeletion === true)
      .map((r) => r.uid),
  );
  return refsOf(obj).filter((r) => r.blockOwnerDeletion === true && !blockedBefore.has(r.uid));
}

export function ownerReferencesAdmission(registry: ResourceRegistry, authorize: Authorizer, user: UserInfo): OwnerReferenceAdmission {
  return (t, obj, old) => {
    if (isDeepStrictEqual(refsOf(obj), refsOf(old))) return;
    const namespace = obj.metadata.namespace ?? '';
    const name = obj.metadata.name ?? '';
    const refuse = (why: string): never => {
      throw forbidden(`${t.group ? `${t.resource}.${t.group}` : t.resource} "${name}" is forbidden: ${why}: , <nil>`, {
        ...(name ? { name } : {}),
        ...(t.group ? { group: t.group } : {}),
        kind: t.resource,
      });
    };
    if (old !== undefined && !authorize({ user, verb: 'delete', apiGroup: t.group, resource: t.resource, subresource: '', namespace, name }).allowed) {
      refuse("cannot set an ownerRef on a resource you can't delete");
    }
    for (const ref of newBlocking(obj, old)) {
      const [group, version] = String(ref.apiVersion ?? '').includes('/') ? String(ref.apiVersion).split('/') : ['', String(ref.apiVersion ?? '')];
      const owner = registry.all().find((o) => o.group === group && o.version === version && o.kind === ref.kind && !o.codec);
      if (!owner) refuse(`cannot set blockOwnerDeletion in this case because cannot find RESTMapping for APIVersion ${String(ref.apiVersion)} Kind ${String(ref.kind)}`);
      const allowed = authorize({
        user,
        verb: 'update',
        apiGroup: group ?? '',
        resource: owner?.resource ?? '',
        subresource: 'finalizers',
        namespace: owner?.namespaced ? namespace : '',
        name: String(ref.name ?? ''),
      }).allowed;
      if (!allowed) refuse("cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on");
    }
  };
}
