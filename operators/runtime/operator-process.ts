/**
 * The shell every kok operator runs in: its client, metrics and identity, and leader election on a
 * Lease in kok-system (made by the installer: the chart, or the embedded meta-cluster) so that
 * of several replicas only one runs its controllers. Winning the lease
 * starts them (from a fresh list); losing it stops them. Start and stop never interleave.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeClient } from './client.js';
import { createLogger } from './log.js';
import { LeaderElector } from './leader-election.js';
import { OperatorMetrics } from './metrics.js';

export const OPERATOR_NAMESPACE = 'kok-system';

export interface LeaderElectionTiming {
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
}

export interface OperatorProcessOptions {
  readonly kubeConfig: k8s.KubeConfig;
  /** Unique among replicas. @default - `<hostname>_<uuid>` */
  readonly identity?: string;
  /** Lease timing, or false to run without election (a single replica). @default - 15 s lease */
  readonly leaderElection?: false | LeaderElectionTiming;
  readonly metrics?: OperatorMetrics;
  /** @default - a logger named after the operator's Lease */
  readonly log?: Logger;
}

/** What a leader runs; stopped when leadership is lost. */
export interface Running {
  stop(): Promise<void>;
}

export abstract class OperatorProcess {
  readonly metrics: OperatorMetrics;
  readonly identity: string;
  protected readonly log: Logger;
  protected readonly client: KubeClient;
  private elector?: LeaderElector;
  private running?: Running;
  private transition: Promise<void> = Promise.resolve();

  protected constructor(
    protected readonly base: OperatorProcessOptions,
    /** `connections`: how many requests to the meta-cluster may be in flight at once (default: the client's). */
    private readonly names: { readonly lease: string; readonly fieldManager: string; readonly connections?: number },
  ) {
    this.metrics = base.metrics ?? new OperatorMetrics();
    this.identity = base.identity ?? `${hostname()}_${randomUUID()}`;
    this.log = base.log ?? createLogger({ name: names.lease });
    this.client = new KubeClient(base.kubeConfig, { fieldManager: names.fieldManager, maxSockets: names.connections });
  }

  /** Starts the controllers of a new leader; resolves once they run. */
  protected abstract startControllers(): Promise<Running>;

  get isLeading(): boolean {
    return this.running !== undefined;
  }

  async start(): Promise<void> {
    if (this.base.leaderElection === false) return this.lead();
    this.elector = new LeaderElector({
      kubeConfig: this.base.kubeConfig,
      namespace: OPERATOR_NAMESPACE,
      name: this.names.lease,
      identity: this.identity,
      ...this.base.leaderElection,
      onStartedLeading: () => {
        this.log.info({ identity: this.identity }, 'became leader');
        void this.serialise(() => this.lead());
      },
      onStoppedLeading: () => {
        this.log.info({ identity: this.identity }, 'stopped leading');
        return this.serialise(() => this.follow());
      },
    });
    void this.elector.run();
  }

  async stop(): Promise<void> {
    if (this.elector) await this.elector.stop();
    await this.serialise(() => this.follow());
    this.client.close();
  }

  private serialise(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step).catch((err) => this.log.error({ err }, 'leadership transition failed'));
    return this.transition;
  }

  private async lead(): Promise<void> {
    if (this.running) return;
    this.running = await this.startControllers();
  }

  private async follow(): Promise<void> {
    const r = this.running;
    this.running = undefined;
    await r?.stop();
  }
}
