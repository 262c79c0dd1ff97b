/**
 * Names and labels of everything the cluster operator creates. Every child has a deterministic
 * name, so a stale cache or a restarted operator meets "already exists", never a duplicate.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../runtime/client.js';
import { parseObjectKey } from '../runtime/informer.js';

export const FINALIZER = 'fleet.kok.dev/cluster';
export const FIELD_MANAGER = 'kok-cluster-operator';

export const labels = {
  managedBy: 'app.kubernetes.io/managed-by',
  component: 'app.kubernetes.io/component',
  name: 'app.kubernetes.io/name',
  clusterName: 'fleet.kok.dev/cluster-name',
  clusterNamespace: 'fleet.kok.dev/cluster-namespace',
} as const;
export const MANAGED_BY = FIELD_MANAGER;

/** The hash of a child's desired state: the operator writes a child only when it changes. */
export const DESIRED_HASH_ANNOTATION = 'fleet.kok.dev/desired-hash';

export const components = {
  etcd: 'etcd',
  apiServer: 'kube-apiserver',
  controllerManager: 'kube-controller-manager',
  scheduler: 'kube-scheduler',
} as const;

/** Secrets in the control-plane namespace. */
export const secretNames = {
  ca: 'ca',
  apiServer: 'apiserver-certs',
  frontProxyCa: 'front-proxy-ca',
  frontProxyClient: 'front-proxy-client',
  serviceAccount: 'sa',
  etcdCa: 'etcd-ca',
  etcdServer: 'etcd-certs',
  apiServerEtcdClient: 'apiserver-etcd-client',
  controllerManagerKubeconfig: 'controller-manager-kubeconfig',
  schedulerKubeconfig: 'scheduler-kubeconfig',
} as const;

export interface ClusterRef {
  readonly namespace: string;
  readonly name: string;
}

export const clusterKey = (c: ClusterRef): string => `${c.namespace}/${c.name}`;

export const parseClusterKey = (key: string): ClusterRef => parseObjectKey(key) as ClusterRef;

/** The admin kubeconfig Secret, beside the Cluster (Cluster API's `<name>-kubeconfig`). */
export const kubeconfigSecretName = (c: ClusterRef): string => `${c.name}-kubeconfig`;

/**
 * The namespace that holds a Cluster's control plane: `kcp-<namespace>-<name>`, a DNS label. Names
 * that would pass 63 characters are cut and made unique again by a hash of the full pair.
 */
export function controlPlaneNamespace(c: ClusterRef): string {
  const full = `kcp-${c.namespace}-${c.name}`.replace(/\./g, '-');
  if (full.length <= 63) return full;
  const hash = createHash('sha256').update(clusterKey(c)).digest('hex').slice(0, 8);
  return `${full.slice(0, 54).replace(/-+$/, '')}-${hash}`;
}

/** Labels every child carries; they map any child back to its Cluster. */
export function clusterLabels(c: ClusterRef, component?: string): Record<string, string> {
  const l: Record<string, string> = {
    [labels.managedBy]: MANAGED_BY,
    [labels.clusterNamespace]: c.namespace,
    [labels.clusterName]: c.name,
  };
  if (component) {
    l[labels.component] = component;
    l[labels.name] = component;
  }
  return l;
}

/** The Cluster a child belongs to, from its labels. */
export function clusterOf(child: KubeObject): ClusterRef | undefined {
  const l = child.metadata.labels ?? {};
  const namespace = l[labels.clusterNamespace];
  const name = l[labels.clusterName];
  return namespace && name ? { namespace, name } : undefined;
}

/** In-cluster DNS names of the API server Service. */
export function apiServerServiceNames(namespace: string, dnsDomain: string): string[] {
  const svc = components.apiServer;
  return [svc, `${svc}.${namespace}`, `${svc}.${namespace}.svc`, `${svc}.${namespace}.svc.${dnsDomain}`];
}
