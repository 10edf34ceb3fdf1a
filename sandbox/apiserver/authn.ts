import { randomBytes } from 'node:crypto';
import type { Authenticator, UserInfo } from './auth.ts';

// Bearer-token authentication, the opt-in mode of the sandbox API server (startApiServer's
// `rbac`). Tokens are opaque and minted here: one per ServiceAccount (the identity a pod's
// projected token carries in a cluster) or for a named user such as the sandbox's own admin.
// A request without a token, or with one this server did not mint, is 401 Unauthorized.

export const AUTHENTICATED = 'system:authenticated';
/** The group the real server's privileged-group authorizer lets do anything. */
export const MASTERS = 'system:masters';

/** The user a ServiceAccount's token authenticates as, with the groups the real server gives it. */
export function serviceAccountUser(namespace: string, name: string): UserInfo {
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, AUTHENTICATED],
  };
}

export class BearerTokens {
  readonly #users = new Map<string, UserInfo>();

  /** A new token for the user; `system:authenticated` is added to its groups, as the real server does. */
  issue(user: UserInfo): string {
    const token = randomBytes(24).toString('base64url');
    const groups = user.groups.includes(AUTHENTICATED) ? user.groups : [...user.groups, AUTHENTICATED];
    this.#users.set(token, { ...user, groups });
    return token;
  }

  issueForServiceAccount(namespace: string, name: string): string {
    return this.issue(serviceAccountUser(namespace, name));
  }

  /** The token stops authenticating at once (a deleted ServiceAccount's token). */
  revoke(token: string): void {
    this.#users.delete(token);
  }

  /** `Authorization: Bearer <token>`; the scheme is case-insensitive, as in the real server. */
  readonly authenticate: Authenticator = (request) => {
    const header = request.headers.authorization ?? '';
    const [scheme, token, extra] = header.trim().split(/\s+/);
    if (scheme?.toLowerCase() !== 'bearer' || !token || extra !== undefined) return undefined;
    return this.#users.get(token);
  };
}
