/**
 * The ReplicaSet controller: keeps `spec.replicas` active pods per ReplicaSet, as Kubernetes' does.
 * It adopts matching orphans and releases pods that stopped matching, creates missing pods in
 * slow-start batches and deletes extras in the order Kubernetes prefers, replaces pods that went
 * Failed or were deleted, and reports status. Expectations keep a lagging informer cache from
 * causing double creates; a shared limiter bounds the requests in flight.
 */
import { isStaleCache, isNotFound, type KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { SharedInformers, type Informer, objectKey } from '../../operators/runtime/informer.js';
import { WorkQueue, type ReconcileResult } from '../../operators/runtime/workqueue.js';
import { controllerOf, isActive, type Pod } from './pod-util.js';
import { Expectations } from './replicaset-expectations.js';
import pLimit, { type LimitFunction } from 'p-limit';
import { choosePodsToDelete, nextAvailableInMs, podFromTemplate, replicaSetStatus, slowStartBatch } from './replicaset-pods.js';
import { resources } from './resources.js';
import { controllerRefTo, isEmptySelector, OwnerIndex, replaceFields, sameJson, selectorMatches, splitKey, type ReplicaSet } from './workload.js';

export interface ReplicaSetControllerOptions {
  /** Informers shared with the other components of the process. @default this controller's own */
  informers?: SharedInformers;
  /** ReplicaSets synced at once; @default 8 */
  concurrency?: number;
  /** Most pods created or deleted by one sync (Kubernetes' burstReplicas); @default 500 */
  burstReplicas?: number;
  /** Pod creates/deletes in flight across all ReplicaSets; @default 100 */
  maxInFlight?: number;
}

export class ReplicaSetController {
  private readonly replicaSets: Informer<ReplicaSet>;
  private readonly pods: Informer<Pod>;
  private readonly queue: WorkQueue;
  private readonly podIndex = new OwnerIndex();
  readonly expectations = new Expectations();
  private readonly limiter: LimitFunction;
  private readonly burst: number;
  private synced?: Promise<unknown>;

  constructor(
    private readonly client: KubeClient,
    opts: ReplicaSetControllerOptions = {},
  ) {
    this.burst = opts.burstReplicas ?? 500;
    this.limiter = pLimit(opts.maxInFlight ?? 100);
    const informers = opts.informers ?? new SharedInformers(client);
    this.replicaSets = informers.get<ReplicaSet>({ resource: resources.replicasets });
    this.pods = informers.get<Pod>({ resource: resources.pods });
    this.queue = new WorkQueue(
      async (key) => {
        await this.synced;
        return this.sync(key);
      },
      {
        name: 'replicaset',
        concurrency: opts.concurrency ?? 8,
        onError: (key, err, attempt) => {
          // A conflict is a stale cache catching up: worth a line only when it keeps happening.
          if ((attempt === 1 && !isStaleCache(err)) || attempt % 10 === 0) console.error(`replicaset ${key}: sync failed (attempt ${attempt}):`, (err as Error)?.message ?? err);
        },
      },
    );
    this.replicaSets.on({
      add: (rs) => this.queue.add(objectKey(rs)),
      update: (_old, rs) => this.queue.add(objectKey(rs)),
      delete: (rs) => {
        this.expectations.delete(objectKey(rs));
        this.queue.add(objectKey(rs));
      },
    });
    this.pods.on({ add: (p) => this.podAdded(p), update: (old, p) => this.podUpdated(old, p), delete: (p) => this.podDeleted(p) });
  }

  async start(): Promise<void> {
    this.synced = Promise.all([this.replicaSets.start(), this.pods.start()]);
    await this.synced;
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await this.queue.idle();
    await Promise.all([this.replicaSets.stop(), this.pods.stop()]);
  }

  /** Resolves when no sync is queued or running (for tests and benchmarks). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  // --- events: keep the index and expectations current, enqueue the owning ReplicaSet ---

  /** The ReplicaSet controlling the pod, from the cache, if it is the one the reference names. */
  private ownerOf(p: Pod): ReplicaSet | undefined {
    const ref = controllerOf(p);
    if (!ref || ref.kind !== 'ReplicaSet') return undefined;
    const rs = this.replicaSets.get(p.metadata.namespace, ref.name);
    return rs?.metadata.uid === ref.uid ? rs : undefined;
  }

  private enqueueMatching(p: Pod): void {
    for (const rs of this.replicaSets.list(p.metadata.namespace)) {
      if (selectorMatches(rs.spec.selector, p.metadata.labels)) this.queue.add(objectKey(rs));
    }
  }

  private podAdded(p: Pod): void {
    this.podIndex.set(p);
    const rs = this.ownerOf(p);
    if (rs) {
      this.expectations.creationObserved(objectKey(rs));
      if (p.metadata.deletionTimestamp) this.expectations.deletionObserved(objectKey(rs), objectKey(p));
      this.queue.add(objectKey(rs));
    } else if (!controllerOf(p)) {
      this.enqueueMatching(p);
    }
  }

  private podUpdated(old: Pod, p: Pod): void {
    this.podIndex.set(p);
    if (old.metadata.resourceVersion === p.metadata.resourceVersion) return;
    const rs = this.ownerOf(p);
    if (rs && p.metadata.deletionTimestamp && !old.metadata.deletionTimestamp) {
      this.expectations.deletionObserved(objectKey(rs), objectKey(p));
    }
    const oldRef = controllerOf(old);
    const ref = controllerOf(p);
    if (oldRef?.uid !== ref?.uid) {
      const oldRs = this.ownerOf(old);
      if (oldRs) this.queue.add(objectKey(oldRs));
    }
    if (rs) this.queue.add(objectKey(rs));
    else if (!ref) this.enqueueMatching(p);
  }

  private podDeleted(p: Pod): void {
    this.podIndex.delete(p);
    const rs = this.ownerOf(p);
    if (!rs) return;
    this.expectations.deletionObserved(objectKey(rs), objectKey(p));
    this.queue.add(objectKey(rs));
  }

  // --- sync ---

  private async sync(key: string): Promise<ReconcileResult | void> {
    const [namespace, name] = splitKey(key);
    const rs = this.replicaSets.get(namespace, name);
    if (!rs) {
      this.expectations.delete(key);
      return;
    }
    if (isEmptySelector(rs.spec.selector)) return;
    // Read before the pods: if the expected events were seen, the pods below include them.
    const satisfied = this.expectations.satisfied(key);
    const pods = await this.claimPods(rs);
    const active = pods.filter(isActive);
    let manageError: { diff: number; message: string; err: unknown } | undefined;
    if (satisfied && !rs.metadata.deletionTimestamp) {
      const diff = active.length - (rs.spec.replicas ?? 1);
      try {
        await this.manage(rs, active, diff);
      } catch (err) {
        manageError = { diff, message: (err as Error)?.message ?? String(err), err };
      }
    }
    const now = Date.now();
    const status = replicaSetStatus(rs, active, manageError, now);
    if (!sameJson(status, rs.status ?? {})) {
      await this.client.patch(resources.replicasets, namespace, name, 'merge', { status: replaceFields(rs.status as Record<string, unknown>, status as Record<string, unknown>) }, { sub: 'status' }).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    }
    if (manageError) throw manageError.err;
    const wait = nextAvailableInMs(rs, active, now);
    return wait === undefined ? undefined : { requeueAfterMs: wait };
  }

  /**
   * The pods this ReplicaSet controls, after adopting matching orphans and releasing owned pods
   * that no longer match (ClaimPods). A ReplicaSet being deleted adopts nothing.
   */
  private async claimPods(rs: ReplicaSet): Promise<Pod[]> {
    const ns = rs.metadata.namespace!;
    const get = (k: string) => {
      const [pns, pname] = splitKey(k);
      return this.pods.get(pns, pname);
    };
    const owned = this.podIndex.owned(rs.metadata.uid!).map(get).filter((p): p is Pod => Boolean(p));
    const orphans = this.podIndex
      .orphansIn(ns)
      .map(get)
      .filter((p): p is Pod => Boolean(p) && !p!.metadata.deletionTimestamp && selectorMatches(rs.spec.selector, p!.metadata.labels));
    const result: Pod[] = [];
    const release: Pod[] = [];
    for (const p of owned) (selectorMatches(rs.spec.selector, p.metadata.labels) ? result : release).push(p);
    for (const p of release) {
      if (p.metadata.deletionTimestamp) continue;
      const rest = (p.metadata.ownerReferences ?? []).filter((r) => r.uid !== rs.metadata.uid);
      await this.patchOwners(p, rest.length ? rest : null);
    }
    if (orphans.length && !rs.metadata.deletionTimestamp) {
      // Adopt only for a ReplicaSet that still exists and is not being deleted (cache may lag).
      const fresh = await this.client.get<ReplicaSet>(resources.replicasets, ns, rs.metadata.name!).catch((err) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      if (fresh && fresh.metadata.uid === rs.metadata.uid && !fresh.metadata.deletionTimestamp) {
        for (const p of orphans) {
          const adopted = await this.patchOwners(p, [...(p.metadata.ownerReferences ?? []), controllerRefTo(rs, 'ReplicaSet')]);
          if (adopted) result.push(adopted);
        }
      }
    }
    return result;
  }

  private async patchOwners(p: Pod, ownerReferences: KubeObject['metadata']['ownerReferences'] | null): Promise<Pod | undefined> {
    try {
      return await this.client.patch<Pod>(resources.pods, p.metadata.namespace, p.metadata.name!, 'merge', {
        metadata: { resourceVersion: p.metadata.resourceVersion, ownerReferences },
      });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Creates or deletes up to burstReplicas pods so the active count moves to spec.replicas. */
  private async manage(rs: ReplicaSet, active: Pod[], diff: number): Promise<void> {
    const key = objectKey(rs);
    if (diff < 0) {
      const n = Math.min(-diff, this.burst);
      this.expectations.expectCreations(key, n);
      const pod = podFromTemplate(rs);
      const { successes, error } = await slowStartBatch(n, 1, this.limiter, () => this.createPod(rs, pod));
      // Creates that failed or never ran will not show up as events.
      for (let i = successes; i < n; i++) this.expectations.creationObserved(key);
      if (error !== undefined) throw error;
    } else if (diff > 0) {
      const victims = choosePodsToDelete(active, Math.min(diff, this.burst));
      this.expectations.expectDeletions(key, victims.map(objectKey));
      let firstError: unknown;
      await Promise.all(
        victims.map((p) =>
          this.limiter(async () => {
            try {
              await this.client.delete(resources.pods, p.metadata.namespace, p.metadata.name!);
            } catch (err) {
              this.expectations.deletionObserved(key, objectKey(p));
              if (!isNotFound(err)) firstError ??= err;
            }
          }),
        ),
      );
      if (firstError !== undefined) throw firstError;
    }
  }

  private async createPod(rs: ReplicaSet, pod: KubeObject): Promise<void> {
    try {
      await this.client.create(resources.pods, rs.metadata.namespace, pod);
    } catch (err) {
      // A terminating namespace takes the ReplicaSet with it: not a failure of this controller.
      if ((err as { code?: number }).code === 403 && /being terminated/.test((err as Error).message)) {
        this.expectations.creationObserved(objectKey(rs));
        return;
      }
      throw err;
    }
  }
}
