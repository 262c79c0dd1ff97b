import { describe, expect, it } from 'vitest';
import { forbidden, withPrivilegedGroup, type Attributes, type ResourceAttributes, type UserInfo } from './authorizer.js';
import { bootstrapPolicy } from './bootstrap-policy.js';
import { bindingOf, rulesOf } from './rbac-cache.js';
import { RbacAuthorizer, ruleAllows, subjectKey, type BoundSubject, type PolicyRule, type RbacPolicy } from './rbac.js';
import type { KubeObject } from './types.js';

const res = (verb: string, resource: string, o: Partial<ResourceAttributes> = {}): ResourceAttributes => ({
  verb,
  apiGroup: '',
  resource,
  subresource: '',
  namespace: '',
  name: '',
  ...o,
});
const path = (verb: string, p: string): Attributes => ({ verb, path: p });

describe('ruleAllows', () => {
  const cases: Array<[string, PolicyRule, Attributes, boolean]> = [
    ['exact verb, group, resource', { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, res('get', 'pods'), true],
    ['another verb', { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, res('list', 'pods'), false],
    ['verb *', { verbs: ['*'], apiGroups: [''], resources: ['pods'] }, res('deletecollection', 'pods'), true],
    ['another group', { verbs: ['get'], apiGroups: ['apps'], resources: ['pods'] }, res('get', 'pods'), false],
    ['no apiGroups matches no resource', { verbs: ['get'], resources: ['pods'] }, res('get', 'pods'), false],
    ['group *', { verbs: ['get'], apiGroups: ['*'], resources: ['deployments'] }, res('get', 'deployments', { apiGroup: 'apps' }), true],
    ['resource *', { verbs: ['get'], apiGroups: ['apps'], resources: ['*'] }, res('get', 'deployments', { apiGroup: 'apps' }), true],
    ['resource * covers subresources', { verbs: ['patch'], apiGroups: ['apps'], resources: ['*'] }, res('patch', 'deployments', { apiGroup: 'apps', subresource: 'status' }), true],
    ['a resource does not cover its subresources', { verbs: ['patch'], apiGroups: [''], resources: ['pods'] }, res('patch', 'pods', { subresource: 'status' }), false],
    ['resource/subresource', { verbs: ['patch'], apiGroups: [''], resources: ['pods/status'] }, res('patch', 'pods', { subresource: 'status' }), true],
    ['resource/subresource is not the resource', { verbs: ['patch'], apiGroups: [''], resources: ['pods/status'] }, res('patch', 'pods'), false],
    ['*/subresource', { verbs: ['create'], apiGroups: [''], resources: ['*/eviction'] }, res('create', 'pods', { subresource: 'eviction' }), true],
    ['*/subresource, another subresource', { verbs: ['create'], apiGroups: [''], resources: ['*/eviction'] }, res('create', 'pods', { subresource: 'binding' }), false],
    ['*/subresource is no resource', { verbs: ['get'], apiGroups: [''], resources: ['*/status'] }, res('get', 'pods'), false],
    ['resourceNames: the name', { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] }, res('get', 'configmaps', { name: 'a' }), true],
    ['resourceNames: another name', { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] }, res('get', 'configmaps', { name: 'b' }), false],
    ['resourceNames: a list', { verbs: ['list'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] }, res('list', 'configmaps'), false],
    ['resourceNames: a create', { verbs: ['create'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] }, res('create', 'configmaps'), false],
    ['resourceNames: a list of one name by field selector', { verbs: ['list'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] }, res('list', 'configmaps', { name: 'a' }), true],
    ['empty resourceNames: any name', { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: [] }, res('get', 'configmaps', { name: 'b' }), true],
    ['a resource rule is no path rule', { verbs: ['get'], apiGroups: ['*'], resources: ['*'] }, path('get', '/healthz'), false],
    ['path exact', { verbs: ['get'], nonResourceURLs: ['/healthz'] }, path('get', '/healthz'), true],
    ['path exact, longer path', { verbs: ['get'], nonResourceURLs: ['/healthz'] }, path('get', '/healthz/etcd'), false],
    ['path prefix *', { verbs: ['get'], nonResourceURLs: ['/apis/*'] }, path('get', '/apis/apps/v1'), true],
    ['path prefix * is not the bare prefix', { verbs: ['get'], nonResourceURLs: ['/apis/*'] }, path('get', '/apis'), false],
    ['path *', { verbs: ['*'], nonResourceURLs: ['*'] }, path('post', '/anything'), true],
    ['path, another verb', { verbs: ['get'], nonResourceURLs: ['/version'] }, path('post', '/version'), false],
    ['a path rule is no resource rule', { verbs: ['*'], nonResourceURLs: ['*'] }, res('get', 'pods'), false],
  ];
  it.each(cases)('%s', (_, rule, attributes, expected) => {
    expect(ruleAllows(rule, attributes)).toBe(expected);
  });
});

describe('subjectKey', () => {
  it.each([
    [{ kind: 'User', name: 'alice' }, '', 'u:alice'],
    [{ kind: 'Group', name: 'devs' }, 'x', 'g:devs'],
    [{ kind: 'ServiceAccount', name: 'bot', namespace: 'a' }, '', 'u:system:serviceaccount:a:bot'],
    // A RoleBinding's ServiceAccount without a namespace is one of the binding's.
    [{ kind: 'ServiceAccount', name: 'bot' }, 'b', 'u:system:serviceaccount:b:bot'],
    [{ kind: 'ServiceAccount', name: 'bot' }, '', undefined],
    [{ kind: 'Robot', name: 'x' }, '', undefined],
  ])('%j in namespace %j → %s', (subject, ns, key) => {
    expect(subjectKey(subject, ns)).toBe(key);
  });
});

/** A policy from objects as they are stored, indexed like RbacCache (which follows a store). */
function policyOf(objects: KubeObject[]): RbacPolicy {
  const cluster = new Map<string, BoundSubject[]>();
  const namespaced = new Map<string, Map<string, BoundSubject[]>>();
  const roles = new Map<string, PolicyRule[]>();
  const clusterRoles = new Map<string, PolicyRule[]>();
  for (const o of objects) {
    if (o.kind === 'Role') roles.set(`${o.metadata.namespace}/${o.metadata.name}`, rulesOf(o));
    if (o.kind === 'ClusterRole') clusterRoles.set(o.metadata.name!, rulesOf(o));
    if (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') {
      const binding = bindingOf(o);
      const byKey = binding.namespace ? (namespaced.get(binding.namespace) ?? namespaced.set(binding.namespace, new Map()).get(binding.namespace)!) : cluster;
      for (const subject of binding.subjects) {
        const key = subjectKey(subject, binding.namespace);
        if (key) byKey.set(key, [...(byKey.get(key) ?? []), { binding, subject }]);
      }
    }
  }
  return {
    clusterBindingsOf: (k) => cluster.get(k),
    roleBindingsOf: (ns, k) => namespaced.get(ns)?.get(k),
    clusterRoleRules: (n) => clusterRoles.get(n),
    roleRules: (ns, n) => roles.get(`${ns}/${n}`),
  };
}

const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}) });
const clusterRole = (name: string, rules: PolicyRule[]): KubeObject => ({ kind: 'ClusterRole', metadata: meta(name), rules });
const role = (namespace: string, name: string, rules: PolicyRule[]): KubeObject => ({ kind: 'Role', metadata: meta(name, namespace), rules });
const binding = (kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, namespace: string | undefined, roleRef: { kind: string; name: string }, subjects: object[]): KubeObject => ({
  kind,
  metadata: meta(name, namespace),
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
  subjects,
});

describe('RbacAuthorizer', () => {
  const bot: UserInfo = { user: 'system:serviceaccount:ops:bot', groups: ['system:serviceaccounts', 'system:serviceaccounts:ops', 'system:authenticated'] };
  const alice: UserInfo = { user: 'alice', groups: ['devs', 'system:authenticated'] };
  const mallory: UserInfo = { user: 'mallory', groups: ['system:authenticated'] };
  const admin: UserInfo = { user: 'root', groups: ['system:masters'] };
  const authorizer = withPrivilegedGroup(
    new RbacAuthorizer(
      policyOf([
        clusterRole('view', [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods', 'configmaps'] }]),
        clusterRole('discovery', [{ verbs: ['get'], nonResourceURLs: ['/api', '/api/*'] }]),
        clusterRole('one-config', [{ verbs: ['get', 'update'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['settings'] }]),
        role('ops', 'leases', [{ verbs: ['get', 'create', 'update'], apiGroups: ['coordination.k8s.io'], resources: ['leases'] }]),
        binding('ClusterRoleBinding', 'discovery', undefined, { kind: 'ClusterRole', name: 'discovery' }, [{ kind: 'Group', name: 'system:authenticated' }]),
        binding('ClusterRoleBinding', 'devs-view', undefined, { kind: 'ClusterRole', name: 'view' }, [{ kind: 'Group', name: 'devs' }]),
        binding('RoleBinding', 'bot-view', 'ops', { kind: 'ClusterRole', name: 'view' }, [{ kind: 'ServiceAccount', name: 'bot' }]),
        binding('RoleBinding', 'bot-leases', 'ops', { kind: 'Role', name: 'leases' }, [{ kind: 'ServiceAccount', name: 'bot', namespace: 'ops' }]),
        binding('RoleBinding', 'bot-settings', 'shop', { kind: 'ClusterRole', name: 'one-config' }, [{ kind: 'User', name: 'system:serviceaccount:ops:bot' }]),
        // A Role of another namespace, and a role that does not exist, grant nothing.
        binding('RoleBinding', 'bot-foreign-role', 'shop', { kind: 'Role', name: 'leases' }, [{ kind: 'ServiceAccount', name: 'bot', namespace: 'ops' }]),
        binding('RoleBinding', 'mallory-missing', 'shop', { kind: 'ClusterRole', name: 'edit' }, [{ kind: 'User', name: 'mallory' }]),
      ]),
    ),
  );

  const cases: Array<[string, UserInfo, Attributes, boolean]> = [
    ['a group binding, cluster-wide', alice, res('list', 'pods', { namespace: 'any' }), true],
    ['a group binding, across namespaces', alice, res('list', 'pods'), true],
    ['a group binding, a verb it lacks', alice, res('delete', 'pods', { namespace: 'any', name: 'p' }), false],
    ['a RoleBinding to a ClusterRole, in its namespace', bot, res('list', 'pods', { namespace: 'ops' }), true],
    ['a RoleBinding to a ClusterRole, in another namespace', bot, res('list', 'pods', { namespace: 'shop' }), false],
    ['a RoleBinding, across namespaces', bot, res('list', 'pods'), false],
    ['a RoleBinding to a Role', bot, res('update', 'leases', { apiGroup: 'coordination.k8s.io', namespace: 'ops', name: 'l' }), true],
    ['a RoleBinding to a Role of another namespace', bot, res('get', 'leases', { apiGroup: 'coordination.k8s.io', namespace: 'shop', name: 'l' }), false],
    ['resourceNames: the named object', bot, res('update', 'configmaps', { namespace: 'shop', name: 'settings' }), true],
    ['resourceNames: another object', bot, res('update', 'configmaps', { namespace: 'shop', name: 'other' }), false],
    ['resourceNames: a list', bot, res('list', 'configmaps', { namespace: 'shop' }), false],
    ['a path for everyone authenticated', mallory, path('get', '/api/v1'), true],
    ['a path nobody granted', mallory, path('get', '/metrics'), false],
    ['no binding at all', mallory, res('get', 'pods', { namespace: 'default', name: 'p' }), false],
    ['system:masters, whatever the policy', admin, res('delete', 'widgets', { apiGroup: 'example.com', namespace: 'x', name: 'y' }), true],
    ['system:masters, any path', admin, path('post', '/anything'), true],
  ];
  it.each(cases)('%s', (_, user, attributes, expected) => {
    expect(authorizer.authorize(user, attributes).allowed).toBe(expected);
  });

  it('names the binding that allowed a request, as kube-apiserver words it', () => {
    expect(authorizer.authorize(bot, res('list', 'pods', { namespace: 'ops' })).reason).toBe(
      'RBAC: allowed by RoleBinding "bot-view/ops" of ClusterRole "view" to ServiceAccount "bot/ops"',
    );
    expect(authorizer.authorize(alice, res('get', 'pods', { namespace: 'x', name: 'p' })).reason).toBe(
      'RBAC: allowed by ClusterRoleBinding "devs-view" of ClusterRole "view" to Group "devs"',
    );
    expect(authorizer.authorize(admin, res('get', 'pods')).reason).toBe('');
  });

  it('says which role a binding of the user names but does not exist', () => {
    expect(authorizer.authorize(mallory, res('get', 'pods', { namespace: 'shop', name: 'p' }))).toEqual({
      allowed: false,
      reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "edit" not found',
    });
    expect(authorizer.authorize(mallory, res('get', 'pods', { namespace: 'default', name: 'p' }))).toEqual({ allowed: false, reason: '' });
  });

  it('lists the rules of a user in a namespace, cluster-wide ones included', () => {
    const rules = authorizer.rulesFor(bot, 'shop');
    expect(rules.resourceRules).toEqual([{ verbs: ['get', 'update'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['settings'] }]);
    expect(rules.nonResourceRules).toEqual([{ verbs: ['get'], nonResourceURLs: ['/api', '/api/*'] }]);
    expect(rules.evaluationError).toBe('role.rbac.authorization.k8s.io "leases" not found');
    expect(authorizer.rulesFor(bot, 'ops').resourceRules.map((r) => r.resources)).toEqual([['pods', 'configmaps'], ['leases']]);
  });
});

describe('the default policy', () => {
  const authorizer = withPrivilegedGroup(new RbacAuthorizer(policyOf(bootstrapPolicy())));
  const node: UserInfo = { user: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:authenticated'] };
  const someone: UserInfo = { user: 'system:serviceaccount:a:b', groups: ['system:serviceaccounts', 'system:authenticated'] };
  const anonymous: UserInfo = { user: 'system:anonymous', groups: ['system:unauthenticated'] };
  const monitor: UserInfo = { user: 'prometheus', groups: ['system:monitoring', 'system:authenticated'] };
  const cases: Array<[string, UserInfo, Attributes, boolean]> = [
    ['discovery for the authenticated', someone, path('get', '/apis/fleet.kok.dev/v1alpha1'), true],
    ['OpenAPI for the authenticated', someone, path('get', '/openapi/v3/apis/apps/v1'), true],
    ['no discovery for the anonymous', anonymous, path('get', '/api'), false],
    ['health and version for the anonymous', anonymous, path('get', '/readyz'), true],
    ['whoami for the authenticated', someone, res('create', 'selfsubjectreviews', { apiGroup: 'authentication.k8s.io' }), true],
    ['can-i for the authenticated', someone, res('create', 'selfsubjectaccessreviews', { apiGroup: 'authorization.k8s.io' }), true],
    ['can-i --list for the authenticated', someone, res('create', 'selfsubjectrulesreviews', { apiGroup: 'authorization.k8s.io' }), true],
    ['nothing else for the authenticated', someone, res('list', 'namespaces'), false],
    ['/metrics for system:monitoring', monitor, path('get', '/metrics'), true],
    ['no /metrics for others', someone, path('get', '/metrics'), false],
    // kok:bootstrapped-node: what the node agent does with its bootstrap token.
    ['a node registers', node, res('create', 'nodes'), true],
    ['a node adopts its Node', node, res('patch', 'nodes', { name: 'n1' }), true],
    ['a node reports status', node, res('patch', 'nodes', { subresource: 'status', name: 'n1' }), true],
    ['a node heartbeats', node, res('patch', 'leases', { apiGroup: 'coordination.k8s.io', namespace: 'kube-node-lease', name: 'n1' }), true],
    ['a node watches pods', node, res('watch', 'pods'), true],
    ['a node writes pod status', node, res('patch', 'pods', { subresource: 'status', namespace: 'shop', name: 'p' }), true],
    ['a node deletes a stopped pod', node, res('delete', 'pods', { namespace: 'shop', name: 'p' }), true],
    ['no Leases outside kube-node-lease', node, res('patch', 'leases', { apiGroup: 'coordination.k8s.io', namespace: 'kok-system', name: 'kok-cluster-operator' }), false],
    ['no Node deletion', node, res('delete', 'nodes', { name: 'n1' }), false],
    ['no Secrets', node, res('get', 'secrets', { namespace: 'kube-system', name: 'bootstrap-token-abcdef' }), false],
    ['no pod spec changes', node, res('patch', 'pods', { namespace: 'shop', name: 'p' }), false],
  ];
  it.each(cases)('%s', (_, user, attributes, expected) => {
    expect(authorizer.authorize(user, attributes).allowed).toBe(expected);
  });
});

describe('forbidden', () => {
  it.each([
    [res('list', 'pods', { namespace: 'default' }), 'pods is forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "default"', { kind: 'pods' }],
    [
      res('get', 'clusters', { apiGroup: 'fleet.kok.dev', namespace: 'shop', name: 'pay' }),
      'clusters.fleet.kok.dev "pay" is forbidden: User "u" cannot get resource "clusters" in API group "fleet.kok.dev" in the namespace "shop"',
      { name: 'pay', group: 'fleet.kok.dev', kind: 'clusters' },
    ],
    [res('list', 'nodes'), 'nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the cluster scope', { kind: 'nodes' }],
    [
      res('patch', 'pods', { subresource: 'status', namespace: 'a', name: 'p' }),
      'pods "p" is forbidden: User "u" cannot patch resource "pods/status" in API group "" in the namespace "a"',
      { name: 'p', kind: 'pods' },
    ],
    [path('get', '/metrics'), 'forbidden: User "u" cannot get path "/metrics"', {}],
  ])('%j', (attributes, message, details) => {
    const status = forbidden('u', attributes).toStatus();
    expect(status).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden', details, code: 403 });
  });

  it('appends the reason', () => {
    expect(forbidden('u', res('get', 'pods', { namespace: 'a', name: 'p' }), 'RBAC: clusterrole.rbac.authorization.k8s.io "view" not found').message).toBe(
      'pods "p" is forbidden: User "u" cannot get resource "pods" in API group "" in the namespace "a": RBAC: clusterrole.rbac.authorization.k8s.io "view" not found',
    );
  });
});
