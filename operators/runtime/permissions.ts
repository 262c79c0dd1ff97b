/**
 * The API access an operator needs in the meta-cluster, declared next to its code. The install
 * chart renders it as RBAC (a ClusterRole, and a Role in kok-system for what only happens there);
 * a test records every request an operator makes and compares the two, both ways.
 */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface Permission {
  /** '' for the core group. */
  readonly apiGroup: string;
  /** Plural, with `/subresource` for a subresource (`clusters/status`, `pods/eviction`). */
  readonly resource: string;
  readonly verbs: readonly Verb[];
  /** Only in the operators' own namespace (kok-system): rendered into a Role, not the ClusterRole. */
  readonly ownNamespaceOnly?: boolean;
}

/** What every operator process does itself: its leader-election Lease and Events about its objects. */
export const operatorProcessPermissions: readonly Permission[] = [
  { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'update'], ownNamespaceOnly: true },
  { apiGroup: '', resource: 'events', verbs: ['get', 'create', 'patch'] },
];
