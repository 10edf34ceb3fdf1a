import { z } from 'zod';
import type { Authorizer, RequestAttributes, UserInfo } from './auth.ts';
import { BearerTokens, MASTERS } from './authn.ts';
import type { Store } from './store.ts';

// Kubernetes RBAC (https://kubernetes.io/docs/reference/access-authn-authz/rbac/), evaluated on
// every request from the Roles, ClusterRoles and bindings stored in this server, so a test can
// grant and revoke through the API as on a cluster. The rule semantics are docs/sandbox.md's
// "Authentication and RBAC" table; `authorize` is pure and tested against it table-driven.

const PolicyRuleSchema = z.looseObject({
  apiGroups: z.array(z.string()).default([]),
  resources: z.array(z.string()).default([]),
  verbs: z.array(z.string()),
  resourceNames: z.array(z.string()).default([]),
  nonResourceURLs: z.array(z.string()).default([]),
});
export type PolicyRule = z.input<typeof PolicyRuleSchema>;

const SubjectSchema = z.looseObject({
  kind: z.enum(['ServiceAccount', 'User', 'Group']),
  name: z.string(),
  namespace: z.string().optional(),
});
export type Subject = z.input<typeof SubjectSchema>;

const Meta = z.looseObject({ name: z.string(), namespace: z.string().optional() });

const RoleSchema = z.looseObject({
  metadata: Meta,
  rules: z
    .array(PolicyRuleSchema)
    .nullish()
    .transform((r) => r ?? []),
});
const BindingSchema = z.looseObject({
  metadata: Meta,
  roleRef: z.looseObject({ kind: z.enum(['Role', 'ClusterRole']), name: z.string() }),
  subjects: z
    .array(SubjectSchema)
    .nullish()
    .transform((s) => s ?? []),
});
type Role = z.output<typeof RoleSchema>;
type Binding = z.output<typeof BindingSchema>;

/** The stored RBAC objects, as read from the API (malformed ones are ignored, as they grant nothing). */
export type Policy = { roles: Role[]; clusterRoles: Role[]; roleBindings: Binding[]; clusterRoleBindings: Binding[] };

export const RBAC_RESOURCES = ['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'] as const;
export type RbacResource = (typeof RBAC_RESOURCES)[number];

export function policyOf(objects: Record<RbacResource, Iterable<unknown>>): Policy {
  const parse = <T>(schema: z.ZodType<T>, items: Iterable<unknown>): T[] =>
    [...items].flatMap((item) => {
      const r = schema.safeParse(item);
      return r.success ? [r.data] : [];
    });
  return {
    roles: parse(RoleSchema, objects.roles),
    clusterRoles: parse(RoleSchema, objects.clusterroles),
    roleBindings: parse(BindingSchema, objects.rolebindings),
    clusterRoleBindings: parse(BindingSchema, objects.clusterrolebindings),
  };
}

/** The policy stored in this server now (read on every request, so a change applies at once). */
export function storedPolicy(store: Store): Policy {
  const read = (resource: RbacResource) => [...store.list(`rbac.authorization.k8s.io/${resource}`, undefined)].map(([, o]) => o);
  return policyOf({ roles: read('roles'), clusterroles: read('clusterroles'), rolebindings: read('rolebindings'), clusterrolebindings: read('clusterrolebindings') });
}

type ResourceAttributes = Omit<RequestAttributes, 'user'>;

function ruleAllows(rule: z.output<typeof PolicyRuleSchema>, a: ResourceAttributes): boolean {
  const verbOk = rule.verbs.includes('*') || rule.verbs.includes(a.verb);
  const groupOk = rule.apiGroups.includes('*') || rule.apiGroups.includes(a.apiGroup);
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  // `*` is every resource and subresource; `*/scale` is the scale subresource of every resource.
  const resourceOk = rule.resources.some((r) => r === '*' || r === combined || (a.subresource !== '' && r === `*/${a.subresource}`));
  // resourceNames restrict only requests that carry a name (never list, watch, create, deletecollection).
  const nameOk = rule.resourceNames.length === 0 || (a.name !== '' && rule.resourceNames.includes(a.name));
  return verbOk && groupOk && resourceOk && nameOk;
}

function appliesTo(subject: Subject, user: UserInfo, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return subject.name === user.username;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      // A ServiceAccount subject without a namespace means the binding's (none for cluster bindings).
      const namespace = subject.namespace || bindingNamespace;
      return namespace !== '' && user.username === `system:serviceaccount:${namespace}:${subject.name}`;
    }
  }
}

export type Grant = { binding: string; role: string; rule: PolicyRule } | { binding: typeof MASTERS; role: typeof MASTERS; rule: undefined };

/**
 * The RBAC decision for one request: allowed with the first grant found, or denied. A
 * ClusterRoleBinding grants everywhere; a RoleBinding grants in its own namespace only, to a
 * Role of that namespace or to a ClusterRole. A binding to a missing role grants nothing.
 */
export function authorize(policy: Policy, a: RequestAttributes): { allowed: true; grant: Grant } | { allowed: false } {
  if (a.user.groups.includes(MASTERS)) return { allowed: true, grant: { binding: MASTERS, role: MASTERS, rule: undefined } };
  const clusterRole = (name: string) => policy.clusterRoles.find((r) => r.metadata.name === name);
  const candidates: { binding: string; role: Role | undefined; namespace: string; subjects: Subject[] }[] = [];
  for (const b of policy.clusterRoleBindings) {
    const role = b.roleRef.kind === 'ClusterRole' ? clusterRole(b.roleRef.name) : undefined;
    candidates.push({ binding: `ClusterRoleBinding/${b.metadata.name}`, role, namespace: '', subjects: b.subjects });
  }
  if (a.namespace !== '') {
    for (const b of policy.roleBindings) {
      if (b.metadata.namespace !== a.namespace) continue;
      const role = b.roleRef.kind === 'ClusterRole' ? clusterRole(b.roleRef.name) : policy.roles.find((r) => r.metadata.namespace === a.namespace && r.metadata.name === b.roleRef.name);
      candidates.push({ binding: `RoleBinding/${a.namespace}/${b.metadata.name}`, role, namespace: a.namespace, subjects: b.subjects });
    }
  }
  for (const c of candidates) {
    if (!c.role || !c.subjects.some((s) => appliesTo(s, a.user, c.namespace))) continue;
    const rule = c.role.rules.find((r) => ruleAllows(r, a));
    if (rule) {
      const role = `${c.role.metadata.namespace ? `Role/${c.role.metadata.namespace}/` : 'ClusterRole/'}${c.role.metadata.name}`;
      return { allowed: true, grant: { binding: c.binding, role, rule } };
    }
  }
  return { allowed: false };
}

/** One authorization decision, as recorded for tests: who did what, and which rule allowed it. */
export type Decision = ResourceAttributes & { username: string; allowed: boolean; grant: Grant | undefined };

/**
 * The opt-in authentication and authorization of the sandbox API server: tokens it mints, RBAC
 * over the stored policy, and a record of every decision (bounded) so tests can see which
 * permissions a client used.
 */
export class Rbac {
  readonly tokens = new BearerTokens();
  /** A token in `system:masters`: the sandbox's own parts and its kubeconfig use it. */
  readonly adminToken = this.tokens.issue({ username: 'sandbox-admin', groups: [MASTERS] });
  readonly #decisions: Decision[] = [];
  readonly #readPolicy: () => Policy;
  readonly #maxDecisions: number;

  constructor(readPolicy: () => Policy, options: { maxDecisions?: number } = {}) {
    this.#readPolicy = readPolicy;
    this.#maxDecisions = options.maxDecisions ?? 100_000;
  }

  readonly authorize: Authorizer = (attributes) => {
    const result = authorize(this.#readPolicy(), attributes);
    const { user, ...rest } = attributes;
    if (this.#decisions.length >= this.#maxDecisions) this.#decisions.shift();
    this.#decisions.push({ ...rest, username: user.username, allowed: result.allowed, grant: result.allowed ? result.grant : undefined });
    return { allowed: result.allowed };
  };

  /** Decisions so far, optionally only one user's. */
  decisions(username?: string): Decision[] {
    return username === undefined ? [...this.#decisions] : this.#decisions.filter((d) => d.username === username);
  }
}
