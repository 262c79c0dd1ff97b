/**
 * The cluster operator process: caches of Clusters and of everything it creates for them, one
 * controller, and leader election so that of several replicas only one reconciles. Losing the
 * lease stops the controller; the next leader starts from a fresh list.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeClient, isAlreadyExists, type KubeObject } from '../runtime/client.js';
import { ClusterClientRegistry } from '../runtime/cluster-clients.js';
import { Controller } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/events.js';
import { Informer, stripManagedFields } from '../runtime/informer.js';
import { LeaderElector } from '../runtime/leader-election.js';
import { createLogger } from '../runtime/log.js';
import { OperatorMetrics } from '../runtime/metrics.js';
import { slimmers } from './cache.js';
import { clusterKey, clusterOf, components, FIELD_MANAGER, labels, MANAGED_BY } from './names.js';
import { childResources, clusterResource, ClusterReconciler, type Caches, type ChildKind } from './reconcile.js';

export const OPERATOR_NAMESPACE = 'kok-system';
export const LEASE_NAME = 'kok-cluster-operator';

export interface ClusterOperatorOptions {
  readonly kubeConfig: k8s.KubeConfig;
  /** Unique among replicas. @default - `<hostname>_<uuid>` */
  readonly identity?: string;
  /** Lease timing, or false to run without election (a single replica). @default - 15 s lease */
  readonly leaderElection?: false | { leaseDurationSeconds?: number; renewDeadlineSeconds?: number; retryPeriodSeconds?: number };
  /** Clusters reconciled at once. @default 8 */
  readonly concurrency?: number;
  readonly metrics?: OperatorMetrics;
  readonly log?: Logger;
  /** How often business APIs are probed for health. @default 10000 */
  readonly probeIntervalMs?: number;
}

export class ClusterOperator {
  readonly metrics: OperatorMetrics;
  readonly identity: string;
  private readonly log: Logger;
  private readonly client: KubeClient;
  private elector?: LeaderElector;
  private running?: { controller: Controller; clients: ClusterClientRegistry };
  private transition: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ClusterOperatorOptions) {
    this.metrics = opts.metrics ?? new OperatorMetrics();
    this.identity = opts.identity ?? `${hostname()}_${randomUUID()}`;
    this.log = opts.log ?? createLogger({ name: 'cluster-operator' });
    this.client = new KubeClient(opts.kubeConfig, { fieldManager: FIELD_MANAGER });
  }

  get isLeading(): boolean {
    return this.running !== undefined;
  }

  async start(): Promise<void> {
    await this.ensureNamespace();
    if (this.opts.leaderElection === false) return this.startController();
    this.elector = new LeaderElector({
      kubeConfig: this.opts.kubeConfig,
      namespace: OPERATOR_NAMESPACE,
      name: LEASE_NAME,
      identity: this.identity,
      ...this.opts.leaderElection,
      onStartedLeading: () => {
        this.log.info({ identity: this.identity }, 'became leader');
        this.serialise(() => this.startController());
      },
      onStoppedLeading: () => {
        this.log.info({ identity: this.identity }, 'stopped leading');
        return this.serialise(() => this.stopController());
      },
    });
    void this.elector.run();
  }

  async stop(): Promise<void> {
    if (this.elector) await this.elector.stop();
    await this.serialise(() => this.stopController());
    this.client.close();
  }

  /** Start and stop never interleave, whatever order leadership events come in. */
  private serialise(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step).catch((err) => this.log.error({ err }, 'leadership transition failed'));
    return this.transition;
  }

  private async ensureNamespace(): Promise<void> {
    try {
      await this.client.create(childResources.Namespace, undefined, { metadata: { name: OPERATOR_NAMESPACE } });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  private async startController(): Promise<void> {
    if (this.running) return;
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
      concurrency: this.opts.concurrency ?? 8,
      metrics,
      onError: (key, err, attempt) => log.warn({ key, attempt, err: (err as Error)?.message ?? String(err) }, 'reconcile failed'),
    });
    const toCluster = (o: KubeObject) => {
      const ref = clusterOf(o);
      return ref ? [clusterKey(ref)] : [];
    };
    controller.watch(caches.Cluster);
    for (const kind of Object.keys(childResources) as ChildKind[]) controller.watch(caches[kind], toCluster);
    this.running = { controller, clients };
    await controller.start();
    log.info('cluster controller started');
  }

  private async stopController(): Promise<void> {
    const r = this.running;
    if (!r) return;
    this.running = undefined;
    await r.controller.stop();
    r.clients.close();
  }
}
