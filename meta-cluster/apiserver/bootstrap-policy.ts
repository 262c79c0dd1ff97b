/**
 * The RBAC policy a server with `authorization: 'RBAC'` creates at start, as kube-apiserver's
 * bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy) — a small part of it, named
 * and worded like upstream — plus one kok role standing in for the Node authorizer.
 *
 * Reconciled at every start: an object that is missing is created, one that exists is left as it
 * is (an administrator's change to a default role survives a restart; a deleted one comes back).
 */
import type { Api } from './api.js';
import { BOOTSTRAPPERS_GROUP } from './bootstrap-tokens.js';
import { MASTERS_GROUP } from './authorizer.js';
import type { PolicyRule, Subject } from './rbac.js';
import type { KubeObject } from './types.js';

const RBAC = 'rbac.authorization.k8s.io';
const API_VERSION = `${RBAC}/v1`;
export const AUTHENTICATED_GROUP = 'system:authenticated';
export const UNAUTHENTICATED_GROUP = 'system:unauthenticated';
/** The group kube-apiserver's `system:monitoring` role is bound to. */
export const MONITORING_GROUP = 'system:monitoring';
/** The namespace of the kubelets' heartbeat Leases. */
const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** The name of kok's stand-in for the Node authorizer (see {@link bootstrappedNodeRules}). */
export const BOOTSTRAPPED_NODE_ROLE = 'kok:bootstrapped-node';

const metadata = (name: string, namespace?: string) => ({
  name,
  ...(namespace ? { namespace } : {}),
  labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' },
  annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
});

const group = (name: string): Subject => ({ kind: 'Group', apiGroup: RBAC, name });

const clusterRole = (name: string, rules: PolicyRule[]): KubeObject => ({ apiVersion: API_VERSION, kind: 'ClusterRole', metadata: metadata(name), rules });

const clusterRoleBinding = (name: string, subjects: Subject[], role = name): KubeObject => ({
  apiVersion: API_VERSION,
  kind: 'ClusterRoleBinding',
  metadata: metadata(name),
  roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: role },
  subjects,
});

/**
 * What kok's simulated kubelets do with their bootstrap token, which they keep using after joining
 * (kok has no CSR exchange, so a node never gets a `system:node:<name>` certificate). On a real
 * cluster the Node authorizer and the `system:node` role allow a kubelet this, limited to its own
 * Node, Lease and pods; here it is every node's, for any holder of a bootstrap token. Requests of
 * meta-cluster/node-agent (node-agent.ts, pod-lifecycle.ts) as operators/machine/provider/simulated-host.ts
 * runs it: register (list, get, create, merge-patch its Node), report status (patch nodes/status),
 * follow pods bound to nodes (list, watch), write their status (patch pods/status) and delete
 * them once stopped.
 */
export const bootstrappedNodeRules: PolicyRule[] = [
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'create', 'patch'] },
  { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch', 'delete'] },
  { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] },
];

/** The heartbeat Lease of each node (create at registration, merge-patch to renew), only in kube-node-lease. */
export const bootstrappedNodeLeaseRules: PolicyRule[] = [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create', 'patch'] }];

/** Every object of the default policy, in the order they are created. */
export function bootstrapPolicy(): KubeObject[] {
  return [
    clusterRole('cluster-admin', [
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { nonResourceURLs: ['*'], verbs: ['*'] },
    ]),
    clusterRole('system:discovery', [
      {
        nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'],
        verbs: ['get'],
      },
    ]),
    clusterRole('system:basic-user', [
      { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] },
      { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
    ]),
    clusterRole('system:public-info-viewer', [{ nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] }]),
    clusterRole('system:monitoring', [
      { nonResourceURLs: ['/healthz', '/healthz/*', '/livez', '/livez/*', '/metrics', '/metrics/slis', '/readyz', '/readyz/*'], verbs: ['get'] },
    ]),
    clusterRole(BOOTSTRAPPED_NODE_ROLE, bootstrappedNodeRules),
    clusterRoleBinding('cluster-admin', [group(MASTERS_GROUP)]),
    clusterRoleBinding('system:discovery', [group(AUTHENTICATED_GROUP)]),
    clusterRoleBinding('system:basic-user', [group(AUTHENTICATED_GROUP)]),
    clusterRoleBinding('system:public-info-viewer', [group(AUTHENTICATED_GROUP), group(UNAUTHENTICATED_GROUP)]),
    clusterRoleBinding('system:monitoring', [group(MONITORING_GROUP)]),
    clusterRoleBinding(BOOTSTRAPPED_NODE_ROLE, [group(BOOTSTRAPPERS_GROUP)]),
    { apiVersion: API_VERSION, kind: 'Role', metadata: metadata(BOOTSTRAPPED_NODE_ROLE, NODE_LEASE_NAMESPACE), rules: bootstrappedNodeLeaseRules },
    {
      apiVersion: API_VERSION,
      kind: 'RoleBinding',
      metadata: metadata(BOOTSTRAPPED_NODE_ROLE, NODE_LEASE_NAMESPACE),
      roleRef: { apiGroup: RBAC, kind: 'Role', name: BOOTSTRAPPED_NODE_ROLE },
      subjects: [group(BOOTSTRAPPERS_GROUP)],
    },
  ];
}

const plurals: Record<string, string> = { ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Role: 'roles', RoleBinding: 'rolebindings' };

/** Creates the objects of {@link bootstrapPolicy} that are missing; returns the names of those it created. */
export function reconcileBootstrapPolicy(api: Api): string[] {
  const created: string[] = [];
  for (const o of bootstrapPolicy()) {
    const r = api.registry.lookup(RBAC, 'v1', plurals[o.kind!]);
    if (!r) throw new Error(`bootstrap policy: the API serves no ${RBAC}/v1 ${plurals[o.kind!]}`);
    const namespace = o.metadata.namespace ?? '';
    if (api.tryGet(r, namespace, o.metadata.name!)) continue;
    api.create(r, namespace, o);
    created.push(`${o.kind} ${namespace ? `${namespace}/` : ''}${o.metadata.name}`);
  }
  return created;
}
