/**
 * One Node informer per cluster that has machines, selecting the Nodes kok's machines registered
 * (label fleet.kok.dev/machine). A Node event enqueues its Machine, so joins and health changes
 * are seen at once instead of by polling ten thousand Nodes. The informer follows the cluster's
 * client: a new client (kubeconfig rotated) gets a new informer.
 */
import { findCondition } from '../../meta-cluster/api/v1alpha1/conditions.js';
import type { KubeClient, KubeObject } from '../runtime/client.js';
import { Informer, stripManagedFields } from '../runtime/informer.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { labels } from './names.js';

export const isNodeReady = (node: KubeObject): boolean => findCondition(node.status?.conditions, 'Ready')?.status === 'True';

export class NodeCaches {
  private readonly caches = new Map<string, { client: KubeClient; informer: Informer }>();

  constructor(private readonly opts: { readonly onNode: (machineKey: string) => void; readonly onRestart?: (reason: string) => void }) {}

  /**
   * The cached Node (undefined: no such Node), or 'syncing' while the cluster's first list is under
   * way — its Nodes then arrive as events that enqueue their Machines, so callers need not wait.
   */
  get(clusterKey: string, client: KubeClient, nodeName: string): KubeObject | undefined | 'syncing' {
    let entry = this.caches.get(clusterKey);
    if (entry && entry.client !== client) {
      void entry.informer.stop();
      entry = undefined;
    }
    if (!entry) {
      const informer = new Informer({ client, resource: resources.nodes, labelSelector: labels.machine, transform: stripManagedFields, onRestart: this.opts.onRestart });
      const enqueue = (n: KubeObject) => {
        const ns = n.metadata.labels?.[labels.machineNamespace];
        const name = n.metadata.labels?.[labels.machine];
        if (ns && name) this.opts.onNode(`${ns}/${name}`);
      };
      // A kubelet registers its Node, then reports it Ready moments later: the add of a Node not
      // Ready yet does not wake its Machine, which is written once, Running, on the update (a
      // Node that stays not Ready is found Joining by the Machine's own poll).
      informer.on({ add: (n) => isNodeReady(n) && enqueue(n), update: (_, n) => enqueue(n), delete: enqueue });
      entry = { client, informer };
      this.caches.set(clusterKey, entry);
      // Never rejects: the informer retries with backoff until it is stopped.
      void informer.start();
    }
    return entry.informer.hasSynced ? entry.informer.get(undefined, nodeName) : 'syncing';
  }

  async forget(clusterKey: string): Promise<void> {
    const entry = this.caches.get(clusterKey);
    this.caches.delete(clusterKey);
    await entry?.informer.stop();
  }

  async close(): Promise<void> {
    await Promise.all([...this.caches.keys()].map((k) => this.forget(k)));
  }
}
