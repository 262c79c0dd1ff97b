/**
 * The machine operator process: caches of CloudTargets, MachinePools, Machines and Clusters, one
 * Node cache per cluster with machines, and three controllers — Machine (instances and Nodes),
 * MachinePool (how many machines, of what template) and CloudTarget (usage and cost) — under
 * leader election on kok-system/kok-machine-operator.
 */
import type { CloudTarget } from '../../meta-cluster/api/v1alpha1/cloud-target.js';
import type { Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import type { MachinePool } from '../../meta-cluster/api/v1alpha1/machine-pool.js';
import type { KubeObject } from '../runtime/client.js';
import { ClusterClientRegistry } from '../runtime/cluster-clients.js';
import { beyondStatus, Controller } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/events.js';
import { Informer, stripManagedFields } from '../runtime/informer.js';
import { controllerOf } from '../runtime/objects.js';
import { OperatorProcess, type OperatorProcessOptions, type Running } from '../runtime/operator-process.js';
import { ClusterAccess } from './cluster-access.js';
import { MachineReconciler, type MachineObject } from './machine-reconcile.js';
import { FIELD_MANAGER } from './names.js';
import { NodeCaches } from './node-caches.js';
import { MachinePoolReconciler } from './pool-reconcile.js';
import { Providers } from './providers.js';
import type { SimulatedCloud } from './provider/simulated.js';
import { fleetResources } from '../../meta-cluster/api/resources.js';
import { CloudTargetReconciler } from './target-reconcile.js';

export const LEASE_NAME = 'kok-machine-operator';

/** Machines reconciled at once unless told otherwise. */
export const DEFAULT_CONCURRENCY = 16;
/** How long Machine events wait to enqueue their CloudTarget, so a burst costs one status pass. */
const TARGET_COALESCE_MS = 1_000;

export interface MachineOperatorOptions extends OperatorProcessOptions {
  /** Machines reconciled at once. @default DEFAULT_CONCURRENCY */
  readonly concurrency?: number;
  /** The simulated cloud's file. @default - the path in the Secret kok-system/kok-simulated-cloud */
  readonly simulatedCloudPath?: string;
  /** A simulated cloud already open in this process (tests, `kok up`). */
  readonly simulatedCloud?: SimulatedCloud;
  /** How old an instance without a Machine must be before it is deleted as a leak. @default 120000 */
  readonly orphanGraceMs?: number;
}

export class MachineOperator extends OperatorProcess {
  constructor(private readonly opts: MachineOperatorOptions) {
    // Every reconcile may hold a request, beside the watches, the other controllers and the events.
    super(opts, { lease: LEASE_NAME, fieldManager: FIELD_MANAGER, connections: Math.max(64, (opts.concurrency ?? DEFAULT_CONCURRENCY) + 32) });
  }

  protected async startControllers(): Promise<Running> {
    const { client, metrics, log } = this;
    const informer = <T extends KubeObject>(kind: keyof typeof fleetResources) =>
      new Informer<T>({ client, resource: fleetResources[kind], transform: stripManagedFields, onRestart: metrics.informerRestartHook(kind) });
    const targets = informer<CloudTarget & KubeObject>('CloudTarget');
    const pools = informer<MachinePool & KubeObject>('MachinePool');
    const machines = informer<MachineObject>('Machine');
    const clusters = informer<Cluster & KubeObject>('Cluster');
    const providers = new Providers({ simulatedCloudPath: this.opts.simulatedCloudPath, cloud: this.opts.simulatedCloud });
    await providers.open(client);
    const events = new EventRecorder(client, { component: 'kok-machine-operator' });
    // Every Machine reconcile asks for its cluster's client: the kubeconfig Secret is read at most every 10 s.
    const registry = new ClusterClientRegistry(client, { fieldManager: FIELD_MANAGER, secretMaxAgeMs: 10_000 });
    const access = new ClusterAccess({ meta: client, metaKubeConfig: this.base.kubeConfig, clusters, registry });

    let machineController!: Controller;
    const nodes = new NodeCaches({ onNode: (key) => machineController.queue.add(key), onRestart: metrics.informerRestartHook('nodes') });
    const machineReconciler = new MachineReconciler({ client, machines, pools, targets, clusters: access, nodes, providers, events, log });
    const onError = (controller: string) => (key: string, err: unknown, attempt: number) =>
      log.warn({ controller, key, attempt, err: (err as Error)?.message ?? String(err) }, 'reconcile failed');
    machineController = new Controller({ name: 'machine', reconcile: machineReconciler.reconcile, concurrency: this.opts.concurrency ?? DEFAULT_CONCURRENCY, metrics, onError: onError('machine') });
    // The Machine reconciler alone writes Machine status: the echo of its own write is no news.
    machineController.watch(machines, undefined, { update: beyondStatus });
    // A Cluster becoming Ready (or going) wakes the machines waiting for it.
    machineController.watch(clusters, (c) => machines.list(c.metadata.namespace).filter((m) => m.spec.clusterName === c.metadata.name).map((m) => `${m.metadata.namespace}/${m.metadata.name}`));

    const poolReconciler = new MachinePoolReconciler({ client, pools, machines, targets, clusters, events, log, metaClusterVersion: () => access.metaClusterVersion() });
    // cluster-api's --machineset-concurrency default: pools of many clusters fill at once.
    const poolController = new Controller({ name: 'machinepool', reconcile: poolReconciler.reconcile, concurrency: 10, metrics, onError: onError('machinepool') });
    poolController.watch(pools);
    poolController.watch(machines, (m) => {
      const owner = controllerOf(m);
      return owner?.kind === 'MachinePool' ? [`${m.metadata.namespace}/${owner.name}`] : [];
    });
    poolController.watch(clusters, (c) => pools.list(c.metadata.namespace).filter((p) => p.spec.clusterName === c.metadata.name).map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
    poolController.watch(targets, (t) => pools.list().filter((p) => p.spec.template.targetRef.name === t.metadata.name).map((p) => `${p.metadata.namespace}/${p.metadata.name}`));

    const targetReconciler = new CloudTargetReconciler({ client, targets, providers, machines, events, orphanGraceMs: this.opts.orphanGraceMs });
    const targetController = new Controller({ name: 'cloudtarget', reconcile: targetReconciler.reconcile, concurrency: 2, metrics, onError: onError('cloudtarget') });
    targetController.watch(targets);
    // A target's status sums every instance at its provider: at most one look per second, however many Machines change.
    targetController.watch(machines, (m) => [m.spec.targetRef.name], { coalesceMs: TARGET_COALESCE_MS });

    await Promise.all([machineController.start(), poolController.start(), targetController.start()]);
    log.info('machine controllers started');
    return {
      stop: async () => {
        await Promise.all([machineController.stop(), poolController.stop(), targetController.stop()]);
        await nodes.close();
        registry.close();
        providers.close();
      },
    };
  }
}
