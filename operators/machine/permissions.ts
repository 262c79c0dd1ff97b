/**
 * What the machine operator does in the meta-cluster. Nodes and pods are those of pools that name
 * the meta-cluster itself (drained before their machines go); business clusters it reaches with
 * their own admin kubeconfig.
 */
import { operatorProcessPermissions, type Permission } from '../runtime/permissions.js';

export const machineOperatorPermissions: readonly Permission[] = [
  ...operatorProcessPermissions,
  { apiGroup: 'fleet.kok.dev', resource: 'machinepools', verbs: ['list', 'watch', 'patch'] },
  { apiGroup: 'fleet.kok.dev', resource: 'machinepools/status', verbs: ['patch'] },
  { apiGroup: 'fleet.kok.dev', resource: 'machines', verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroup: 'fleet.kok.dev', resource: 'machines/status', verbs: ['patch'] },
  { apiGroup: 'fleet.kok.dev', resource: 'cloudtargets', verbs: ['list', 'watch'] },
  { apiGroup: 'fleet.kok.dev', resource: 'cloudtargets/status', verbs: ['patch'] },
  { apiGroup: 'fleet.kok.dev', resource: 'clusters', verbs: ['list', 'watch'] },
  // Business clusters' kubeconfigs, the simulated cloud's location, per-cluster bootstrap tokens.
  { apiGroup: '', resource: 'secrets', verbs: ['get', 'create'] },
  { apiGroup: '', resource: 'nodes', verbs: ['get', 'list', 'watch', 'patch', 'delete'] },
  { apiGroup: '', resource: 'pods', verbs: ['list'] },
  { apiGroup: '', resource: 'pods/eviction', verbs: ['create'] },
];
