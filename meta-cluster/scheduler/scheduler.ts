/**
 * The scheduler: binds pending pods to nodes through the Kubernetes API only (POST
 * pods/{name}/binding and PATCH pods/{name}/status), so it runs unchanged against a real
 * kube-apiserver.
 *
 * Three informers feed it: all nodes, bound pods (`spec.nodeName!=`, not finished) for per-node
 * accounting, and pending pods (`spec.nodeName=`) for the queue. Decisions are synchronous and
 * O(nodes) over a cache kept incrementally from those events; a chosen pod is "assumed" onto its
 * node at once so the next decision sees it, and bound asynchronously with bounded concurrency.
 * Pods that fit nowhere get `PodScheduled=False/Unschedulable` with kube-scheduler's message and
 * are retried when nodes or bound pods change, and every `retryIntervalMs`.
 *
 * One instance runs one term: `stop()` is final (under leader election, start a new Scheduler per
 * term). Not done: priority order and preemption, pod (anti-)affinity, topology spread
 * constraints, volume and port filters, Events.
 */
import { isNotFound, KubeApiError, type KubeClient, type KubeObject, type ResourceRef } from '../../operators/runtime/client.js';
import { Informer } from '../../operators/runtime/informer.js';
import { resources } from '../controllers/resources.js';
import { SchedulerCache } from './cache.js';
import { DEFAULT_SCHEDULER_NAME, isTerminalPod, podInfo, podKey } from './pod-info.js';
import { SchedulingQueue } from './queue.js';

export interface SchedulerOptions {
  /** Pods whose `spec.schedulerName` is this (or unset, for the default) are scheduled. @default 'default-scheduler' */
  schedulerName?: string;
  /** Bindings and status writes in flight at once. @default 48 */
  concurrency?: number;
  /** Unschedulable pods are tried again this often even when nothing changed. @default 10 s */
  retryIntervalMs?: number;
  /** Cluster changes retry unschedulable pods at most this often. @default 250 ms */
  minRetryIntervalMs?: number;
  /** An assumed pod whose binding returned but that no informer confirmed is dropped after this. @default 60 s */
  assumedPodTtlMs?: number;
  /** Informers' full relist interval. @default 5 minutes */
  relistIntervalMs?: number;
  /** API failures that are retried; @default logs to stderr. */
  onError?: (message: string, err: unknown) => void;
}

export interface SchedulerStats {
  /** Pods bound (binding call succeeded). */
  bound: number;
  /** Attempts that found no node. */
  unschedulableAttempts: number;
  /** PodScheduled=False status writes. */
  statusWrites: number;
  /** Binding calls that failed and were retried. */
  bindErrors: number;
  /** Informer watch restarts. */
  informerRestarts: number;
}

const PODSCHEDULED = 'PodScheduled';
const REASON_UNSCHEDULABLE = 'Unschedulable';
const now3339 = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastProbeTime?: string | null;
}

export class Scheduler {
  readonly schedulerName: string;
  readonly stats: SchedulerStats = { bound: 0, unschedulableAttempts: 0, statusWrites: 0, bindErrors: 0, informerRestarts: 0 };
  readonly cache = new SchedulerCache();
  private readonly queue: SchedulingQueue;
  private readonly nodes: Informer;
  private readonly bound: Informer;
  private readonly pending: Informer;
  private readonly concurrency: number;
  private readonly onError: (message: string, err: unknown) => void;
  /** Keys whose binding is in flight: events about them wait for its outcome. */
  private readonly binding = new Set<string>();
  /** The message last written per pod uid and the resourceVersion it was written over. */
  private readonly reported = new Map<string, { message: string; resourceVersion?: string }>();
  private readonly writes = new Set<Promise<void>>();
  private running = false;
  private ready = false;
  private pumpPending = false;
  private moveTimer?: NodeJS.Timeout;
  private lastMove = 0;
  private tick?: NodeJS.Timeout;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: SchedulerOptions = {},
  ) {
    this.schedulerName = opts.schedulerName ?? DEFAULT_SCHEDULER_NAME;
    this.concurrency = Math.max(1, opts.concurrency ?? 48);
    this.onError = opts.onError ?? ((message, err) => console.error(`scheduler: ${message}:`, err instanceof Error ? err.message : err));
    this.queue = new SchedulingQueue(() => this.schedulePump());
    const informer = (resource: ResourceRef, fieldSelector?: string) =>
      new Informer({
        client,
        resource,
        fieldSelector,
        relistIntervalMs: opts.relistIntervalMs,
        onRestart: () => this.stats.informerRestarts++,
      });
    this.nodes = informer(resources.nodes).on({
      add: (n) => this.cache.setNode(n) && this.requestRetry(),
      update: (_old, n) => this.cache.setNode(n) && this.requestRetry(),
      delete: (n) => this.cache.removeNode(n.metadata.name!),
    });
    // Finished pods hold nothing; kube-scheduler's assigned-pod informer leaves them out the same way.
    this.bound = informer(resources.pods, 'spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed').on({
      add: (p) => this.cache.addBoundPod(p) && this.requestRetry(),
      update: (old, p) => {
        const replaced = old.metadata.uid !== p.metadata.uid && this.cache.removeBoundPod(old);
        if (this.cache.addBoundPod(p) || replaced) this.requestRetry();
      },
      delete: (p) => this.cache.removeBoundPod(p) && this.requestRetry(),
    });
    this.pending = informer(resources.pods, 'spec.nodeName=').on({
      add: (p) => this.isOurs(p) && this.queue.add(podKey(p)),
      update: (old, p) => this.onPendingUpdate(old, p),
      delete: (p) => {
        if (!this.binding.has(podKey(p))) this.queue.delete(podKey(p));
        this.reported.delete(p.metadata.uid!);
      },
    });
  }

  /** Starts the informers and the scheduling loop; resolves once the caches are filled. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    // Nodes and bound pods first: the first decisions must already see the whole cluster.
    await Promise.all([this.nodes.start(), this.bound.start()]);
    if (!this.running) return;
    this.ready = true;
    await this.pending.start();
    const interval = this.opts.retryIntervalMs ?? 10_000;
    this.tick = setInterval(() => this.periodic(), interval);
    this.tick.unref();
    this.schedulePump();
  }

  /** Stops scheduling and waits for writes already in flight. */
  async stop(): Promise<void> {
    this.running = false;
    this.ready = false;
    clearInterval(this.tick);
    clearTimeout(this.moveTimer);
    this.queue.stop();
    await Promise.all([this.nodes.stop(), this.bound.stop(), this.pending.stop()]);
    await Promise.allSettled([...this.writes]);
  }

  /** Queue sizes and bindings in flight, for metrics and tests. */
  get pendingCounts(): { active: number; unschedulable: number; backoff: number; binding: number } {
    return { ...this.queue.sizes, binding: this.binding.size };
  }

  private isOurs(p: KubeObject): boolean {
    return (
      (p.spec?.schedulerName || DEFAULT_SCHEDULER_NAME) === this.schedulerName &&
      !p.spec?.nodeName &&
      !p.metadata.deletionTimestamp &&
      !isTerminalPod(p)
    );
  }

  private onPendingUpdate(old: KubeObject, p: KubeObject): void {
    const key = podKey(p);
    if (!this.isOurs(p)) return this.queue.delete(key);
    if (this.binding.has(key)) return;
    if (this.queue.isUnschedulable(key)) {
      // Our own status write comes back as an update too; only the pod's own changes matter.
      const changed =
        old.metadata.uid !== p.metadata.uid ||
        JSON.stringify(old.spec) !== JSON.stringify(p.spec) ||
        JSON.stringify(old.metadata.labels) !== JSON.stringify(p.metadata.labels);
      if (!changed) return;
    }
    this.queue.add(key);
  }

  /** Something freed capacity or changed a node: retry unschedulable pods (coalesced). */
  private requestRetry(): void {
    if (!this.running || this.moveTimer) return;
    const wait = Math.max(0, this.lastMove + (this.opts.minRetryIntervalMs ?? 250) - Date.now());
    this.moveTimer = setTimeout(() => {
      this.moveTimer = undefined;
      this.lastMove = Date.now();
      this.queue.moveAllToActive();
    }, wait);
    this.moveTimer.unref();
  }

  private periodic(): void {
    if (this.cache.expireAssumed(Date.now(), this.opts.assumedPodTtlMs ?? 60_000) > 0) this.requestRetry();
    this.lastMove = Date.now();
    this.queue.moveAllToActive();
  }

  private schedulePump(): void {
    if (this.pumpPending || !this.ready) return;
    this.pumpPending = true;
    setImmediate(() => this.pump());
  }

  /** Decides pods while there is room for writes; yields to I/O every few milliseconds. */
  private pump(): void {
    this.pumpPending = false;
    if (!this.ready) return;
    const deadline = performance.now() + 10;
    while (this.writes.size < this.concurrency) {
      const key = this.queue.pop();
      if (key === undefined) return;
      try {
        this.scheduleOne(key);
      } catch (err) {
        this.onError(`scheduling ${key} failed`, err);
        this.queue.retryLater(key);
      }
      if (performance.now() > deadline) return this.schedulePump();
    }
  }

  private scheduleOne(key: string): void {
    const slash = key.indexOf('/');
    const pod = this.pending.get(key.slice(0, slash), key.slice(slash + 1));
    if (!pod || !this.isOurs(pod)) return;
    // Gated pods wait for the update that removes their last gate.
    if (pod.spec?.schedulingGates?.length) return;
    if (this.cache.has(pod.metadata.uid!)) return; // bound already; the pending informer lags
    const info = podInfo(pod);
    const placement = this.cache.selectHost(info);
    if (!placement.node) {
      this.stats.unschedulableAttempts++;
      this.queue.markUnschedulable(key);
      this.reportUnschedulable(pod, placement.message!);
      return;
    }
    const nodeName = placement.node.name;
    this.cache.assume(info, nodeName);
    this.binding.add(key);
    this.track(this.bind(pod, nodeName));
  }

  /** Counts a write against the concurrency limit until it settles; it never rejects unhandled. */
  private track(write: Promise<void>): void {
    this.writes.add(write);
    void write
      .catch((err: unknown) => console.error('scheduler: unexpected failure', err))
      .finally(() => {
        this.writes.delete(write);
        this.schedulePump();
      });
  }

  private async bind(pod: KubeObject, nodeName: string): Promise<void> {
    const { namespace, name, uid } = pod.metadata;
    const key = podKey(pod);
    try {
      await this.client.createSub(resources.pods, namespace, name!, 'binding', {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name, namespace, uid },
        target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
      });
      this.cache.finishBinding(uid!);
      this.queue.succeeded(key);
      this.stats.bound++;
    } catch (err) {
      if (this.cache.forget(uid!)) this.requestRetry();
      // Gone, or bound or deleted meanwhile: the informers bring the truth.
      if (isNotFound(err) || (err instanceof KubeApiError && err.code === 409)) return;
      this.stats.bindErrors++;
      this.onError(`binding pod ${key} to node ${nodeName} failed`, err);
      this.queue.retryLater(key);
    } finally {
      this.binding.delete(key);
    }
  }

  /** Writes PodScheduled=False/Unschedulable when the message differs from what the pod shows. */
  private reportUnschedulable(pod: KubeObject, message: string): void {
    const uid = pod.metadata.uid!;
    const conditions = (pod.status?.conditions ?? []) as Condition[];
    const current = conditions.find((c) => c.type === PODSCHEDULED);
    if (current?.status === 'False' && current.reason === REASON_UNSCHEDULABLE && current.message === message) return;
    const last = this.reported.get(uid);
    // Written already, and the cache has not seen the write yet.
    if (last?.message === message && last.resourceVersion === pod.metadata.resourceVersion) return;
    this.reported.set(uid, { message, resourceVersion: pod.metadata.resourceVersion });
    const next: Condition = {
      type: PODSCHEDULED,
      status: 'False',
      lastProbeTime: null,
      lastTransitionTime: current?.status === 'False' && current.lastTransitionTime ? current.lastTransitionTime : now3339(),
      reason: REASON_UNSCHEDULABLE,
      message,
    };
    const list = current ? conditions.map((c) => (c === current ? next : c)) : [...conditions, next];
    const { namespace, name } = pod.metadata;
    const write = this.client
      .patch(
        resources.pods,
        namespace,
        name!,
        'merge',
        // conditions is a list, so a merge patch replaces it whole: the resourceVersion keeps a
        // concurrent writer's conditions from being lost (a conflict is retried on the next pass).
        { metadata: { resourceVersion: pod.metadata.resourceVersion }, status: { conditions: list } },
        { sub: 'status' },
      )
      .then(() => {
        this.stats.statusWrites++;
      })
      .catch((err: unknown) => {
        this.reported.delete(uid);
        if (isNotFound(err)) return;
        // The pod changed under us (our cache is behind): decide again once it has caught up.
        if (err instanceof KubeApiError && err.code === 409) return this.queue.retryLater(podKey(pod));
        this.onError(`writing PodScheduled of ${podKey(pod)} failed`, err);
      });
    this.track(write);
  }
}
