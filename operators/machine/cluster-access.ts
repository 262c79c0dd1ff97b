/**
 * How the machine operator reaches the cluster a machine joins: a business Cluster through its
 * kubeconfig Secret (the shared ClusterClientRegistry), or the meta-cluster itself through the
 * operator's own connection. It also says what a joining kubelet needs (server URL and CA) and
 * the control plane's version for the skew policy.
 *
 * A cluster that is not there yet, not Ready or unreachable is a reason to wait, returned as
 * `{ wait }` — never thrown into a backoff loop.
 */
import type * as k8s from '@kubernetes/client-node';
import { ClusterConditions, findCondition } from '../../meta-cluster/api/v1alpha1/conditions.js';
import type { Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { META_CLUSTER } from '../../meta-cluster/api/v1alpha1/machine-pool.js';
import type { KubeClient, KubeObject } from '../runtime/client.js';
import type { ClusterClientRegistry } from '../runtime/cluster-clients.js';
import type { Informer } from '../runtime/informer.js';
import { readFileSync } from 'node:fs';

export interface ClusterTarget {
  /** `namespace/name` of the Cluster, or `meta-cluster`. */
  readonly key: string;
  readonly client: KubeClient;
  readonly server: string;
  readonly caPem: string;
  /** Kubernetes version of the control plane ("1.31.10"). */
  readonly version: string;
  /** The Cluster object (absent for the meta-cluster). */
  readonly cluster?: Cluster & KubeObject;
}

export type ClusterLookup = { ok: ClusterTarget } | { wait: string } | { gone: string };

function caOf(kc: k8s.KubeConfig): string {
  const c = kc.getCurrentCluster();
  if (c?.caData) return Buffer.from(c.caData, 'base64').toString('utf8');
  if (c?.caFile) return readFileSync(c.caFile, 'utf8');
  return '';
}

export class ClusterAccess {
  private metaVersion?: string;

  constructor(
    private readonly deps: {
      readonly meta: KubeClient;
      readonly metaKubeConfig: k8s.KubeConfig;
      readonly clusters: Informer<Cluster & KubeObject>;
      readonly registry: ClusterClientRegistry;
    },
  ) {}

  /** The cluster `clusterName` of `namespace` names, or why it cannot be reached now. */
  async lookup(namespace: string, clusterName: string): Promise<ClusterLookup> {
    if (clusterName === META_CLUSTER) return { ok: await this.meta() };
    const key = `${namespace}/${clusterName}`;
    const cluster = this.deps.clusters.get(namespace, clusterName);
    if (!cluster) return { gone: `Cluster ${key} does not exist` };
    if (cluster.metadata.deletionTimestamp) return { gone: `Cluster ${key} is being deleted` };
    const secret = cluster.status?.kubeconfigSecretRef?.name;
    const ready = findCondition(cluster.status?.conditions, ClusterConditions.Ready)?.status === 'True';
    if (!secret || !ready) return { wait: `waiting for Cluster ${key} to be Ready` };
    this.deps.registry.register(key, { secretNamespace: namespace, secretName: secret });
    const conn = await this.deps.registry.get(key);
    if (!conn) return { wait: `Cluster ${key}: no usable kubeconfig yet` };
    if (!conn.healthy) return { wait: `Cluster ${key} is unreachable: ${conn.lastError ?? 'not healthy'}` };
    return {
      ok: { key, client: conn.client, server: conn.server, caPem: caOf(conn.kubeConfig), version: cluster.status?.version ?? cluster.spec.version, cluster },
    };
  }

  forget(namespace: string, clusterName: string): void {
    if (clusterName !== META_CLUSTER) this.deps.registry.unregister(`${namespace}/${clusterName}`);
  }

  /** The meta-cluster's Kubernetes version ("1.31.0"), from its /version, read once. */
  async metaClusterVersion(): Promise<string> {
    if (!this.metaVersion) {
      const v = await this.deps.meta.raw<{ gitVersion?: string }>('/version');
      if (!v.gitVersion) throw new Error('the meta-cluster\'s /version has no gitVersion; its kubelet version skew cannot be checked');
      this.metaVersion = v.gitVersion.replace(/^v/, '').replace(/[-+].*$/, '');
    }
    return this.metaVersion;
  }

  private async meta(): Promise<ClusterTarget> {
    const kc = this.deps.metaKubeConfig;
    return { key: META_CLUSTER, client: this.deps.meta, server: kc.getCurrentCluster()?.server ?? '', caPem: caOf(kc), version: await this.metaClusterVersion() };
  }
}
