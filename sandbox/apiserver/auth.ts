import type { IncomingMessage } from 'node:http';
import type { Verb } from './faults.ts';

// The seam where a request's user is identified and authorized. The sandbox's default lets
// everyone do everything as a cluster admin; a token authenticator and an RBAC authorizer plug
// in here (startApiServer options, or ApiServer.setAuth at run time).

export type UserInfo = { username: string; uid?: string; groups: string[] };

export type RequestAttributes = {
  user: UserInfo;
  verb: Verb;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
};

/** Returns the user, or undefined for a request that carries no valid credentials (401). */
export type Authenticator = (request: IncomingMessage) => UserInfo | undefined;

/** Returns whether the user may do this; a reason is shown to a denied client. */
export type Authorizer = (attributes: RequestAttributes) => { allowed: boolean; reason?: string };

export const anonymousAdmin: Authenticator = () => ({ username: 'system:admin', groups: ['system:masters', 'system:authenticated'] });

export const allowAll: Authorizer = () => ({ allowed: true });

/** The real server's Forbidden message. */
export function forbiddenMessage(a: RequestAttributes): string {
  const what = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  // The object's group-resource leads, without the subresource (`deployments.apps "x" is forbidden`).
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const scope = a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope';
  return `${qualified}${a.name ? ` "${a.name}"` : ''} is forbidden: User "${a.user.username}" cannot ${a.verb} resource "${what}" in API group "${a.apiGroup}"${scope}`;
}
