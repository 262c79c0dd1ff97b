/**
 * The RBAC authorizer, as kube-apiserver's (plugin/pkg/auth/authorizer/rbac): a request is allowed
 * when a ClusterRoleBinding, or a RoleBinding in the request's namespace, binds a subject matching
 * the user to a ClusterRole or Role one of whose rules matches the request. Nothing is ever denied
 * explicitly: no matching rule means no.
 *
 * Subjects: User by name, Group by group, ServiceAccount as the user
 * `system:serviceaccount:<namespace>:<name>` (a RoleBinding's ServiceAccount without a namespace
 * is one of the binding's namespace). Rules: `*` matches any verb, API group, resource; a resource
 * is `plural`, `plural/subresource` or `* /subresource`; resourceNames restrict requests naming an
 * object (so never a create, list, watch or deletecollection without a name); nonResourceURLs are
 * exact paths or prefixes ending in `*`.
 *
 * The policy objects come from an {@link RbacPolicy} (./rbac-cache.ts keeps them in memory).
 */
import {
  isResourceRequest,
  type Attributes,
  type Authorizer,
  type Decision,
  type NonResourceRuleInfo,
  type ResourceRuleInfo,
  type RulesInfo,
  type UserInfo,
} from './authorizer.js';

/** rbac.authorization.k8s.io/v1 PolicyRule. */
export interface PolicyRule {
  readonly verbs: readonly string[];
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

/** rbac.authorization.k8s.io/v1 Subject. */
export interface Subject {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly apiGroup?: string;
}

export interface RoleRef {
  readonly kind: string;
  readonly name: string;
}

/** A ClusterRoleBinding (namespace '') or a RoleBinding. */
export interface Binding {
  readonly name: string;
  readonly namespace: string;
  readonly roleRef: RoleRef;
  readonly subjects: readonly Subject[];
}

/** One subject of one binding: what a user's identity is looked up by. */
export interface BoundSubject {
  readonly binding: Binding;
  readonly subject: Subject;
}

/** The policy the authorizer reads. Lookups are by identity key: see {@link userKey} and {@link groupKey}. */
export interface RbacPolicy {
  /** The subjects of ClusterRoleBindings standing for `key`. */
  clusterBindingsOf(key: string): readonly BoundSubject[] | undefined;
  /** The subjects of RoleBindings in `namespace` standing for `key`. */
  roleBindingsOf(namespace: string, key: string): readonly BoundSubject[] | undefined;
  clusterRoleRules(name: string): readonly PolicyRule[] | undefined;
  roleRules(namespace: string, name: string): readonly PolicyRule[] | undefined;
}

export const SERVICE_ACCOUNT_USER_PREFIX = 'system:serviceaccount:';
export const userKey = (user: string): string => `u:${user}`;
export const groupKey = (group: string): string => `g:${group}`;

/**
 * The key a subject is indexed by, or undefined when it can match nobody (a ServiceAccount of a
 * ClusterRoleBinding without a namespace, an unknown kind). Users and ServiceAccounts share the
 * user keys: a ServiceAccount is the user `system:serviceaccount:<ns>:<name>`.
 */
export function subjectKey(subject: Subject, bindingNamespace: string): string | undefined {
  switch (subject.kind) {
    case 'User':
      return userKey(subject.name);
    case 'Group':
      return groupKey(subject.name);
    case 'ServiceAccount': {
      const namespace = subject.namespace || bindingNamespace;
      return namespace ? userKey(`${SERVICE_ACCOUNT_USER_PREFIX}${namespace}:${subject.name}`) : undefined;
    }
    default:
      return undefined;
  }
}

// --- rule matching (k8s.io/kubernetes/pkg/apis/rbac/v1 evaluation_helpers.go) ------------------

const has = (list: readonly string[] | undefined, value: string): boolean => {
  if (!list) return false;
  for (const v of list) if (v === '*' || v === value) return true;
  return false;
};

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return has(rule.verbs, verb);
}

export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return has(rule.apiGroups, group);
}

/** `combined` is `resource` or `resource/subresource`; a rule's `* /sub` matches any resource's `sub`. */
export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true;
  }
  return false;
}

/** No resourceNames: any name. Otherwise only requests naming one of them (never a request without a name). */
export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = rule.resourceNames;
  if (!names || names.length === 0) return true;
  return name !== '' && names.includes(name);
}

export function nonResourceUrlMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))) return true;
  }
  return false;
}

export function ruleAllows(rule: PolicyRule, a: Attributes): boolean {
  if (!verbMatches(rule, a.verb)) return false;
  if (!isResourceRequest(a)) return nonResourceUrlMatches(rule, a.path);
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return apiGroupMatches(rule, a.apiGroup) && resourceMatches(rule, combined, a.subresource) && resourceNameMatches(rule, a.name);
}

// --- the authorizer -------------------------------------------------------------------------------

/** `Kind "name"`, a ServiceAccount as `"name/namespace"`, as kube-apiserver's describeSubject. */
function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${JSON.stringify(`${s.name}/${s.namespace || bindingNamespace}`)}`;
  return `${s.kind} ${JSON.stringify(s.name)}`;
}

function describeBinding({ binding, subject }: BoundSubject): string {
  const what = binding.namespace ? `RoleBinding ${JSON.stringify(`${binding.name}/${binding.namespace}`)}` : `ClusterRoleBinding ${JSON.stringify(binding.name)}`;
  return `${what} of ${binding.roleRef.kind} ${JSON.stringify(binding.roleRef.name)} to ${describeSubject(subject, binding.namespace)}`;
}

/** `[a, b]` for several errors, the error alone for one, as k8s.io/apimachinery's aggregate error. */
function aggregate(errors: Set<string>): string {
  return errors.size === 1 ? [...errors][0] : `[${[...errors].join(', ')}]`;
}

export class RbacAuthorizer implements Authorizer {
  constructor(private readonly policy: RbacPolicy) {}

  authorize(user: UserInfo, attributes: Attributes): Decision {
    const namespace = isResourceRequest(attributes) ? attributes.namespace : '';
    let errors: Set<string> | undefined;
    const found = this.visit(user, namespace, (bound, rules) => {
      if (!rules) {
        (errors ??= new Set()).add(missingRole(bound.binding));
        return false;
      }
      for (const rule of rules) if (ruleAllows(rule, attributes)) return true;
      return false;
    });
    if (found) return { allowed: true, reason: `RBAC: allowed by ${describeBinding(found)}` };
    return { allowed: false, reason: errors ? `RBAC: ${aggregate(errors)}` : '' };
  }

  rulesFor(user: UserInfo, namespace: string): RulesInfo {
    const resourceRules: ResourceRuleInfo[] = [];
    const nonResourceRules: NonResourceRuleInfo[] = [];
    let errors: Set<string> | undefined;
    this.visit(user, namespace, (bound, rules) => {
      if (!rules) (errors ??= new Set()).add(missingRole(bound.binding));
      for (const r of rules ?? []) {
        if (r.resources?.length) {
          const info: ResourceRuleInfo = { verbs: [...r.verbs], apiGroups: [...(r.apiGroups ?? [])], resources: [...r.resources] };
          if (r.resourceNames?.length) info.resourceNames = [...r.resourceNames];
          resourceRules.push(info);
        }
        if (r.nonResourceURLs?.length) nonResourceRules.push({ verbs: [...r.verbs], nonResourceURLs: [...r.nonResourceURLs] });
      }
      return false;
    });
    const info: RulesInfo = { resourceRules, nonResourceRules };
    if (errors) info.evaluationError = aggregate(errors);
    return info;
  }

  /**
   * Calls `visitor` with the rules of each binding of `user` (ClusterRoleBindings, then RoleBindings
   * of `namespace`; undefined rules for a role that does not exist) until it returns true; returns
   * that binding.
   */
  private visit(user: UserInfo, namespace: string, visitor: (bound: BoundSubject, rules: readonly PolicyRule[] | undefined) => boolean): BoundSubject | undefined {
    const keys = [userKey(user.user)];
    for (const g of user.groups) keys.push(groupKey(g));
    for (const key of keys) {
      for (const bound of this.policy.clusterBindingsOf(key) ?? []) {
        const ref = bound.binding.roleRef;
        if (visitor(bound, ref.kind === 'ClusterRole' ? this.policy.clusterRoleRules(ref.name) : undefined)) return bound;
      }
    }
    if (!namespace) return undefined;
    for (const key of keys) {
      for (const bound of this.policy.roleBindingsOf(namespace, key) ?? []) {
        const ref = bound.binding.roleRef;
        const rules = ref.kind === 'ClusterRole' ? this.policy.clusterRoleRules(ref.name) : ref.kind === 'Role' ? this.policy.roleRules(namespace, ref.name) : undefined;
        if (visitor(bound, rules)) return bound;
      }
    }
    return undefined;
  }
}

/** As kube-apiserver's listers word a missing role: `clusterrole.rbac.authorization.k8s.io "view" not found`. */
function missingRole(binding: Binding): string {
  const { kind, name } = binding.roleRef;
  if (kind === 'ClusterRole') return `clusterrole.rbac.authorization.k8s.io ${JSON.stringify(name)} not found`;
  if (kind === 'Role') return `role.rbac.authorization.k8s.io ${JSON.stringify(name)} not found`;
  return `unsupported role reference kind: ${JSON.stringify(kind)}`;
}
