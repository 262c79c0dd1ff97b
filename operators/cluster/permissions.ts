/** What the cluster operator does in the meta-cluster (business clusters it reaches with their own admin kubeconfig). */
import { operatorProcessPermissions, type Permission } from '../runtime/permissions.js';

export const clusterOperatorPermissions: readonly Permission[] = [
  ...operatorProcessPermissions,
  { apiGroup: 'fleet.kok.dev', resource: 'clusters', verbs: ['list', 'watch', 'patch'] },
  { apiGroup: 'fleet.kok.dev', resource: 'clusters/status', verbs: ['patch'] },
  { apiGroup: '', resource: 'namespaces', verbs: ['get', 'list', 'watch', 'create', 'delete'] },
  { apiGroup: '', resource: 'secrets', verbs: ['get', 'list', 'watch', 'create', 'update'] },
  { apiGroup: '', resource: 'services', verbs: ['list', 'watch', 'create', 'patch'] },
  { apiGroup: '', resource: 'pods', verbs: ['list', 'watch'] },
  { apiGroup: 'apps', resource: 'deployments', verbs: ['list', 'watch', 'create', 'patch'] },
  { apiGroup: 'apps', resource: 'statefulsets', verbs: ['list', 'watch', 'create', 'patch'] },
  { apiGroup: 'policy', resource: 'poddisruptionbudgets', verbs: ['list', 'watch', 'create', 'patch'] },
  { apiGroup: 'networking.k8s.io', resource: 'networkpolicies', verbs: ['list', 'watch', 'create', 'patch'] },
];
