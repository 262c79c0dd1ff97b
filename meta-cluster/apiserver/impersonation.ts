/**
 * User impersonation (`kubectl --as=<user> --as-group=<group>`), as kube-apiserver's
 * WithImpersonation filter: the `Impersonate-User`, `Impersonate-Group` and `Impersonate-Uid`
 * headers make a request act as someone else, if the authenticated user may `impersonate` each of
 * them (users, groups or serviceaccounts in the core group; uids in authentication.k8s.io).
 * `Impersonate-Extra-*` headers are refused: kok's users carry no extra fields to act on.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { forbidden, type Authorizer, type ResourceAttributes, type UserInfo } from './authorizer.js';
import { AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP } from './bootstrap-policy.js';
import { ApiError, badRequest } from './errors.js';
import { SERVICE_ACCOUNT_USER_PREFIX } from './rbac.js';

const ANONYMOUS = 'system:anonymous';

export interface ImpersonatedUser {
  user: string;
  groups: string[];
  uid?: string;
}

/** Whether a request asks to impersonate anyone. */
export function wantsImpersonation(headers: IncomingHttpHeaders): boolean {
  for (const h in headers) if (h.startsWith('impersonate-')) return true;
  return false;
}

const impersonate = (resource: string, name: string, extra: Partial<ResourceAttributes> = {}): ResourceAttributes => ({
  verb: 'impersonate',
  apiGroup: '',
  resource,
  subresource: '',
  namespace: '',
  name,
  ...extra,
});

/**
 * The user a request impersonating someone acts as, once `authorizer` allowed `actor` each part of
 * it; a refused part is a 403 naming it (`users "bob" is forbidden: User "alice" cannot
 * impersonate resource "users" in API group "" at the cluster scope`).
 */
export function impersonatedUser(authorizer: Authorizer, actor: UserInfo, headersDistinct: Record<string, string[] | undefined>): ImpersonatedUser {
  const user = headersDistinct['impersonate-user']?.[0] ?? '';
  const groups = headersDistinct['impersonate-group'] ?? [];
  const uid = headersDistinct['impersonate-uid']?.[0];
  if (Object.keys(headersDistinct).some((h) => h.startsWith('impersonate-extra-'))) {
    throw badRequest('impersonating user extra fields is not supported by this server');
  }
  if (!user) throw new ApiError('InternalError', `Internal error occurred: requested ${groups.length ? `groups ${JSON.stringify(groups)}` : 'a uid'} without impersonating a user`);

  const checks: ResourceAttributes[] = [];
  let effectiveGroups = [...groups];
  if (user.startsWith(SERVICE_ACCOUNT_USER_PREFIX) && user.split(':').length === 4) {
    const [, , namespace, name] = user.split(':');
    checks.push(impersonate('serviceaccounts', name, { namespace }));
    // A ServiceAccount's groups follow from its name.
    if (!groups.length) effectiveGroups = ['system:serviceaccounts', `system:serviceaccounts:${namespace}`];
  } else {
    checks.push(impersonate('users', user));
  }
  for (const g of groups) checks.push(impersonate('groups', g));
  if (uid !== undefined) checks.push(impersonate('uids', uid, { apiGroup: 'authentication.k8s.io' }));
  for (const a of checks) {
    const d = authorizer.authorize(actor, a);
    if (!d.allowed) throw forbidden(actor.user, a, d.reason);
  }
  // As kube-apiserver: anyone but the anonymous user is authenticated, unless told otherwise.
  if (user === ANONYMOUS) {
    if (!effectiveGroups.includes(UNAUTHENTICATED_GROUP)) effectiveGroups.push(UNAUTHENTICATED_GROUP);
  } else if (!effectiveGroups.includes(AUTHENTICATED_GROUP) && !effectiveGroups.includes(UNAUTHENTICATED_GROUP)) {
    effectiveGroups.push(AUTHENTICATED_GROUP);
  }
  return uid === undefined ? { user, groups: effectiveGroups } : { user, groups: effectiveGroups, uid };
}
