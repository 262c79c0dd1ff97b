/** Where the built-in kinds live, for clients of the API (controllers, scheduler, node agent). */
import type { ResourceRef } from '../../operators/runtime/client.js';

const core = (plural: string, namespaced = true): ResourceRef => ({ group: '', version: 'v1', plural, namespaced });

export const resources = {
  namespaces: core('namespaces', false),
  nodes: core('nodes', false),
  pods: core('pods'),
  services: core('services'),
  endpoints: core('endpoints'),
  events: core('events'),
  configmaps: core('configmaps'),
  secrets: core('secrets'),
  serviceaccounts: core('serviceaccounts'),
  deployments: { group: 'apps', version: 'v1', plural: 'deployments', namespaced: true },
  replicasets: { group: 'apps', version: 'v1', plural: 'replicasets', namespaced: true },
  statefulsets: { group: 'apps', version: 'v1', plural: 'statefulsets', namespaced: true },
  daemonsets: { group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true },
  leases: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true },
  poddisruptionbudgets: { group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', namespaced: true },
  networkpolicies: { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', namespaced: true },
} as const satisfies Record<string, ResourceRef>;

/** Where nodes' heartbeat Leases live. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
