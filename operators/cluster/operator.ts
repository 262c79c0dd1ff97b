/**
 * The cluster operator process: caches of Clusters and of everything it creates for them, one
 * controller, and leader election so that of several replicas only one reconciles. Losing the
 * lease stops the controller; the next leader starts from a fresh list.
 */
import type { KubeObject } from '../runtime/client.js';
import { ClusterClientRegistry } from '../runtime/cluster-clients.js';
import { Controller } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/events.js';
import { Informer, stripManagedFields } from '../runtime/informer.js';
import { OperatorProcess, type OperatorProcessOptions, type Running } from '../runtime/operator-process.js';
import { slimmers } from './cache.js';
import { clusterKey, clusterOf, components, FIELD_MANAGER, labels, MANAGED_BY } from './names.js';
import { childResources, clusterResource, ClusterReconciler, type Caches, type ChildKind } from './reconcile.js';

export const LEASE_NAME = 'kok-cluster-operator';
export { OPERATOR_NAMESPACE } from '../runtime/operator-process.js';

/** Clusters reconciled at once unless told otherwise. */
export const DEFAULT_CONCURRENCY = 8;

export interface ClusterOperatorOptions extends OperatorProcessOptions {
  /** Clusters reconciled at once. @default DEFAULT_CONCURRENCY */
  readonly concurrency?: number;
  /** How often business APIs are probed for health. @default 10000 */
  readonly probeIntervalMs?: number;
}

export class ClusterOperator extends OperatorProcess {
  constructor(private readonly opts: ClusterOperatorOptions) {
    super(opts, { lease: LEASE_NAME, fieldManager: FIELD_MANAGER });
  }

  protected async startControllers(): Promise<Running> {
    const { client, metrics, log } = this;
    const informer = <T extends KubeObject>(
      kind: string,
      resource: (typeof childResources)[ChildKind] | typeof clusterResource,
      transform: (o: KubeObject) => KubeObject,
      labelSelector?: string,
    ) => new Informer<T>({ client, resource, labelSelector, onRestart: metrics.informerRestartHook(kind), transform: transform as <X extends KubeObject>(o: X) => X });
    const managed = `${labels.managedBy}=${MANAGED_BY}`;
    const caches = {
      Cluster: informer('clusters', clusterResource, stripManagedFields),
      ...Object.fromEntries(
        (Object.keys(childResources) as ChildKind[]).map((kind) => [
          kind,
          informer(kind, childResources[kind], slimmers[kind], kind === 'Pod' ? `${managed},${labels.component}=${components.apiServer}` : managed),
        ]),
      ),
    } as Caches;
    const events = new EventRecorder(client, { component: 'kok-cluster-operator' });
    let controller!: Controller;
    const clients = new ClusterClientRegistry(client, {
      probeIntervalMs: this.opts.probeIntervalMs ?? 10_000,
      onHealthChange: (key) => controller.queue.add(key),
    });
    const reconciler = new ClusterReconciler({ client, caches, clients, events, log });
    controller = new Controller({
      name: 'cluster',
      reconcile: reconciler.reconcile,
      concurrency: this.opts.concurrency ?? DEFAULT_CONCURRENCY,
      metrics,
      onError: (key, err, attempt) => log.warn({ key, attempt, err: (err as Error)?.message ?? String(err) }, 'reconcile failed'),
    });
    const toCluster = (o: KubeObject) => {
      const ref = clusterOf(o);
      return ref ? [clusterKey(ref)] : [];
    };
    controller.watch(caches.Cluster);
    for (const kind of Object.keys(childResources) as ChildKind[]) controller.watch(caches[kind], toCluster);
    await controller.start();
    log.info('cluster controller started');
    return {
      stop: async () => {
        await controller.stop();
        clients.close();
      },
    };
  }
}
