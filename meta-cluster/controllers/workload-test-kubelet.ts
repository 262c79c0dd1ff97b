/**
 * For the workload controllers' tests only: plays the kubelet without a scheduler or node agent.
 * Pods that appear Pending are marked Running and Ready through pods/status after a delay, and
 * every change is reported so a test can record what the cluster looked like at each step.
 */
import { isNotFound, type KubeClient } from '../../operators/runtime/client.js';
import { Informer } from '../../operators/runtime/informer.js';
import { isActive, isReady, type Pod } from './pod-util.js';
import { resources } from './resources.js';
import { nowRfc3339 } from './workload.js';

export interface TestKubeletOptions {
  /** How long a pod stays Pending before it is marked Ready; @default 0 */
  readyAfterMs?: number;
  /** Pods never to mark ready (a stuck rollout). */
  hold?: (pod: Pod) => boolean;
  /**
   * Binds pods to this (existing) Node before they start, which makes their deletion graceful:
   * the pod stays, terminating, until this kubelet removes it `terminateAfterMs` later.
   */
  node?: string;
  /** @default 0 */
  terminateAfterMs?: number;
}

export class TestKubelet {
  private readonly pods: Informer<Pod>;
  private readonly marked = new Set<string>();
  private readonly terminating = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly observers: Array<(pods: Pod[]) => void> = [];

  constructor(
    private readonly client: KubeClient,
    readonly opts: TestKubeletOptions = {},
  ) {
    this.pods = new Informer<Pod>({ client, resource: resources.pods });
    const changed = (p: Pod) => {
      this.consider(p);
      for (const o of this.observers) o(this.pods.list());
    };
    this.pods.on({ add: changed, update: (_o, p) => changed(p), delete: () => this.observers.forEach((o) => o(this.pods.list())) });
  }

  start(): Promise<void> {
    return this.pods.start();
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await this.pods.stop();
  }

  /** Called with every pod in the cache after each change; returns a function that stops it. */
  observe(fn: (pods: Pod[]) => void): () => void {
    this.observers.push(fn);
    return () => this.observers.splice(this.observers.indexOf(fn), 1);
  }

  list(namespace?: string): Pod[] {
    return this.pods.list(namespace);
  }

  /** Active pods of a namespace, optionally with these labels. */
  active(namespace: string, labels: Record<string, string> = {}): Pod[] {
    return this.pods.list(namespace).filter((p) => isActive(p) && Object.entries(labels).every(([k, v]) => p.metadata.labels?.[k] === v));
  }

  ready(namespace: string, labels: Record<string, string> = {}): Pod[] {
    return this.active(namespace, labels).filter(isReady);
  }

  private consider(p: Pod): void {
    const uid = p.metadata.uid!;
    // Only pods on this kubelet's node: it finishes their graceful termination.
    if (p.metadata.deletionTimestamp && this.opts.node && p.spec?.nodeName === this.opts.node && !this.terminating.has(uid)) {
      this.terminating.add(uid);
      this.after(this.opts.terminateAfterMs ?? 0, () =>
        this.client.delete(resources.pods, p.metadata.namespace, p.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid } }),
      );
    }
    if (this.marked.has(uid) || !isActive(p) || p.status?.phase !== 'Pending' || this.opts.hold?.(p)) return;
    this.marked.add(uid);
    this.after(this.opts.readyAfterMs ?? 0, async () => {
      if (this.opts.node && !p.spec?.nodeName) {
        const target = { apiVersion: 'v1', kind: 'Node', name: this.opts.node };
        await this.client.createSub(resources.pods, p.metadata.namespace, p.metadata.name!, 'binding', { apiVersion: 'v1', kind: 'Binding', metadata: { name: p.metadata.name }, target });
      }
      await this.markReady(p);
    });
  }

  private after(ms: number, fn: () => Promise<unknown>): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn().catch((err) => {
        if (!isNotFound(err) && (err as { code?: number }).code !== 409) console.error('test kubelet:', err);
      });
    }, ms);
    this.timers.add(t);
  }

  /** Running with Ready and ContainersReady True, as a kubelet reports a started pod. */
  async markReady(p: Pod): Promise<void> {
    const now = nowRfc3339();
    const conditions = ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now }));
    try {
      await this.client.patch(resources.pods, p.metadata.namespace, p.metadata.name!, 'merge', { status: { phase: 'Running', startTime: now, conditions } }, { sub: 'status' });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Marks a pod Failed (its containers exited and will not restart). */
  async markFailed(p: Pod): Promise<void> {
    await this.client.patch(resources.pods, p.metadata.namespace, p.metadata.name!, 'merge', { status: { phase: 'Failed', conditions: [] } }, { sub: 'status' });
  }
}
