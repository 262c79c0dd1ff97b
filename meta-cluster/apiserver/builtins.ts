/** The built-in resources the meta-cluster serves: enough for kok's manifests and its operators. */
import type { ResourceInfo, ScaleSpec } from './types.js';

const rw = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const replicasScale: ScaleSpec = {
  specReplicasPath: '.spec.replicas',
  statusReplicasPath: '.status.replicas',
  labelSelectorPath: '.status.selector',
};

export interface BuiltinResource extends ResourceInfo {
  custom: false;
  /** client-node model of the kind (its attributeTypeMap knows the kind's fields). */
  model: string;
}

function def(
  group: string,
  version: string,
  plural: string,
  kind: string,
  o: Partial<Pick<ResourceInfo, 'namespaced' | 'shortNames' | 'categories' | 'status' | 'scale' | 'verbs'>> & {
    model?: string;
  } = {},
): BuiltinResource {
  return {
    group,
    version,
    plural,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced: o.namespaced ?? true,
    shortNames: o.shortNames ?? [],
    categories: o.categories ?? [],
    verbs: o.verbs ?? rw,
    status: o.status ?? false,
    scale: o.scale,
    custom: false,
    model: o.model ?? `V1${kind}`,
  };
}

export const builtinResources: BuiltinResource[] = [
  def('', 'v1', 'namespaces', 'Namespace', { namespaced: false, shortNames: ['ns'], status: true }),
  def('', 'v1', 'pods', 'Pod', { shortNames: ['po'], categories: ['all'], status: true }),
  def('', 'v1', 'services', 'Service', { shortNames: ['svc'], categories: ['all'], status: true }),
  def('', 'v1', 'endpoints', 'Endpoints', { shortNames: ['ep'] }),
  def('', 'v1', 'configmaps', 'ConfigMap', { shortNames: ['cm'] }),
  def('', 'v1', 'secrets', 'Secret'),
  def('', 'v1', 'serviceaccounts', 'ServiceAccount', { shortNames: ['sa'] }),
  def('', 'v1', 'events', 'Event', { shortNames: ['ev'], model: 'CoreV1Event' }),
  def('', 'v1', 'nodes', 'Node', { namespaced: false, shortNames: ['no'], status: true }),
  def('apps', 'v1', 'deployments', 'Deployment', {
    shortNames: ['deploy'],
    categories: ['all'],
    status: true,
    scale: replicasScale,
  }),
  def('apps', 'v1', 'replicasets', 'ReplicaSet', {
    shortNames: ['rs'],
    categories: ['all'],
    status: true,
    scale: replicasScale,
  }),
  def('apps', 'v1', 'statefulsets', 'StatefulSet', {
    shortNames: ['sts'],
    categories: ['all'],
    status: true,
    scale: replicasScale,
  }),
  def('apps', 'v1', 'daemonsets', 'DaemonSet', { shortNames: ['ds'], categories: ['all'], status: true }),
  def('coordination.k8s.io', 'v1', 'leases', 'Lease'),
  def('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', {
    namespaced: false,
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    status: true,
  }),
  def('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', { shortNames: ['netpol'] }),
  def('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', { shortNames: ['pdb'], status: true }),
  def('rbac.authorization.k8s.io', 'v1', 'roles', 'Role'),
  def('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding'),
  def('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', { namespaced: false }),
  def('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', { namespaced: false }),
];

/** Namespaces that always exist; the first three cannot be deleted. */
export const seededNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
export const undeletableNamespaces = new Set(['default', 'kube-system', 'kube-public']);
