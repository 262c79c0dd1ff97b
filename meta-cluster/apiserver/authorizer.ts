/**
 * Authorization as kube-apiserver's filter does it: every authenticated request becomes a set of
 * attributes (a resource request: verb, API group, resource, subresource, namespace, name; any
 * other path: the path and the lower-cased HTTP method), an authorizer allows it or not, and a
 * refusal is a 403 whose message names the user and what was refused, word for word as
 * kube-apiserver's (k8s.io/apiserver responsewriters.forbiddenMessage + errors.NewForbidden).
 *
 * Modes, as `--authorization-mode`: 'AlwaysAllow' (no authorizer; kube-apiserver's default) and
 * 'RBAC' (./rbac.ts). Members of `system:masters` are always allowed, as kube-apiserver's
 * privileged-group authorizer ahead of every mode.
 */
import type { RequestInfo } from './audit.js';
import { ApiError, type StatusDetails } from './errors.js';

export type AuthorizationMode = 'RBAC' | 'AlwaysAllow';

/** The group whose members may do anything, whatever the policy says. */
export const MASTERS_GROUP = 'system:masters';

/** Whom a request stands for, as the authenticators report it. */
export interface UserInfo {
  readonly user: string;
  readonly groups: readonly string[];
}

export interface ResourceAttributes {
  readonly verb: string;
  /** '' for the core group. */
  readonly apiGroup: string;
  /** Only for messages; rules do not look at it. */
  readonly apiVersion?: string;
  readonly resource: string;
  /** '' when none. */
  readonly subresource: string;
  /** '' for cluster-scoped requests (and lists across namespaces). */
  readonly namespace: string;
  /** '' when the request names no object (create, list, watch, deletecollection). */
  readonly name: string;
}

export interface NonResourceAttributes {
  /** The lower-cased HTTP method. */
  readonly verb: string;
  readonly path: string;
}

export type Attributes = ResourceAttributes | NonResourceAttributes;

export const isResourceRequest = (a: Attributes): a is ResourceAttributes => !('path' in a);

export interface Decision {
  readonly allowed: boolean;
  /**
   * Why, as kube-apiserver words it: RBAC names the binding that allowed the request
   * (`RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`) or the roles a
   * binding named that do not exist; '' for the privileged group and AlwaysAllow.
   */
  readonly reason: string;
}

/** A rule as SelfSubjectRulesReview reports it (authorization.k8s.io/v1 ResourceRule / NonResourceRule). */
export interface ResourceRuleInfo {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
}
export interface NonResourceRuleInfo {
  verbs: string[];
  nonResourceURLs: string[];
}
export interface RulesInfo {
  resourceRules: ResourceRuleInfo[];
  nonResourceRules: NonResourceRuleInfo[];
  /** Set when a binding named a role that does not exist. */
  evaluationError?: string;
}

export interface Authorizer {
  authorize(user: UserInfo, attributes: Attributes): Decision;
  /** What `user` may do in `namespace` (cluster-wide grants included), for SelfSubjectRulesReview. */
  rulesFor(user: UserInfo, namespace: string): RulesInfo;
}

const allowedWithoutReason: Decision = Object.freeze({ allowed: true, reason: '' });

export const isPrivileged = (user: UserInfo): boolean => user.groups.includes(MASTERS_GROUP);

/** `--authorization-mode=AlwaysAllow`: everything, and every rule, for everyone. */
export const alwaysAllow: Authorizer = {
  authorize: () => allowedWithoutReason,
  rulesFor: () => ({
    resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
    nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
  }),
};

/** Allows `system:masters` before asking `inner`, as kube-apiserver's authorizer chain does. */
export function withPrivilegedGroup(inner: Authorizer): Authorizer {
  return {
    authorize: (user, attributes) => (isPrivileged(user) ? allowedWithoutReason : inner.authorize(user, attributes)),
    rulesFor: (user, namespace) => inner.rulesFor(user, namespace),
  };
}

/** What kube-apiserver's authorization filter checks for a request, from its RequestInfo (./audit.ts). */
export function requestAttributes(info: RequestInfo, path: string): Attributes {
  const ref = info.objectRef;
  if (!ref) return { verb: info.verb, path };
  return {
    verb: info.verb,
    apiGroup: ref.apiGroup ?? '',
    apiVersion: ref.apiVersion,
    resource: ref.resource,
    subresource: ref.subresource ?? '',
    namespace: ref.namespace ?? '',
    name: ref.name ?? '',
  };
}

/** The text after `is forbidden: `, as kube-apiserver's forbiddenMessage. */
export function forbiddenMessage(user: string, a: Attributes): string {
  const who = `User ${JSON.stringify(user)} cannot ${a.verb}`;
  if (!isResourceRequest(a)) return `${who} path ${JSON.stringify(a.path)}`;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const what = `${who} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(a.apiGroup)}`;
  return a.namespace ? `${what} in the namespace ${JSON.stringify(a.namespace)}` : `${what} at the cluster scope`;
}

/**
 * The 403 kube-apiserver answers a refused request with:
 * `pods "web" is forbidden: User "alice" cannot get resource "pods" in API group "" in the namespace "shop"`,
 * `forbidden: User "bob" cannot get path "/metrics"` for a path; `: <reason>` after it when the
 * authorizer gave one.
 */
export function forbidden(user: string, a: Attributes, reason = ''): ApiError {
  const why = reason ? `${forbiddenMessage(user, a)}: ${reason}` : forbiddenMessage(user, a);
  if (!isResourceRequest(a)) return new ApiError('Forbidden', `forbidden: ${why}`, {});
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  // Empty fields are left out, as Go's omitempty does.
  const details: StatusDetails = {};
  if (a.name) details.name = a.name;
  if (a.apiGroup) details.group = a.apiGroup;
  details.kind = a.resource;
  const subject = a.name ? `${qualified} ${JSON.stringify(a.name)}` : qualified;
  return new ApiError('Forbidden', `${subject} is forbidden: ${why}`, details);
}
