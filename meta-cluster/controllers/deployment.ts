/**
 * The Deployment controller, after Kubernetes' (pkg/controller/deployment): it owns ReplicaSets
 * named `<deployment>-<pod-template-hash>`, moves replicas from old to new ones by the
 * RollingUpdate or Recreate strategy, scales proportionally, keeps revisionHistoryLimit old
 * ReplicaSets, and reports status and conditions in the shape kubectl's rollout commands read.
 * The arithmetic lives in deployment-rollout.ts, revisions in deployment-revision.ts, status in
 * deployment-status.ts; this file reads the caches and writes through the API.
 */
import { isAlreadyExists, isStaleCache, isNotFound, type KubeClient } from '../../operators/runtime/client.js';
import { SharedInformers, type Informer, objectKey } from '../../operators/runtime/informer.js';
import { WorkQueue, type ReconcileResult } from '../../operators/runtime/workqueue.js';
import {
  desiredReplicasAnnotation,
  equalIgnoreHash,
  findNewReplicaSet,
  maxReplicasAnnotation,
  maxRevision,
  newReplicaSetAnnotations,
  newReplicaSetFor,
  podTemplateHash,
  revisionAnnotation,
} from './deployment-revision.js';
import {
  activeReplicaSets,
  deploymentReplicas,
  isRollingUpdate,
  isScalingEvent,
  maxSurgeOf,
  newRSNewReplicas,
  planOldScaleDown,
  planProportionalScale,
  replicaSetsToCleanup,
  specReplicas,
  totalStatusReplicas,
} from './deployment-rollout.js';
import { calculateStatus, deploymentComplete, deploymentCondition, DeploymentReasons, hasProgressDeadline, pausedConditions, rolloutStatus, withCondition } from './deployment-status.js';
import { formatLabelSelector, labelSelectorFromObject } from '../apiserver/selectors.js';
import { controllerOf, type Pod } from './pod-util.js';
import { resources } from './resources.js';
import {
  controllerRefTo,
  getCondition,
  isEmptySelector,
  OwnerIndex,
  replaceFields,
  revisionOf,
  sameJson,
  selectorMatches,
  splitKey,
  type Deployment,
  type DeploymentStatus,
  type ReplicaSet,
} from './workload.js';

/** How often a Recreate rollout looks whether the old pods are gone. */
const oldPodsPollMs = 500;

/** One sync's view: the Deployment (with the status last written) and its ReplicaSets by uid. */
interface Scope {
  d: Deployment;
  rs: Map<string, ReplicaSet>;
  newUid?: string;
}

const lists = (s: Scope) => {
  const newRS = s.newUid ? s.rs.get(s.newUid) : undefined;
  const oldRSs = [...s.rs.values()].filter((rs) => rs.metadata.uid !== s.newUid);
  return { newRS, oldRSs, allRSs: newRS ? [...oldRSs, newRS] : oldRSs };
};

export class DeploymentController {
  private readonly deployments: Informer<Deployment>;
  private readonly replicaSets: Informer<ReplicaSet>;
  private readonly queue: WorkQueue;
  private readonly rsIndex = new OwnerIndex();
  private synced?: Promise<unknown>;

  constructor(
    private readonly client: KubeClient,
    opts: { concurrency?: number; informers?: SharedInformers } = {},
  ) {
    const informers = opts.informers ?? new SharedInformers(client);
    this.deployments = informers.get<Deployment>({ resource: resources.deployments });
    this.replicaSets = informers.get<ReplicaSet>({ resource: resources.replicasets });
    this.queue = new WorkQueue(
      async (key) => {
        await this.synced;
        return this.sync(key);
      },
      {
        name: 'deployment',
        concurrency: opts.concurrency ?? 4,
        onError: (key, err, attempt) => {
          // A conflict is a stale cache catching up: worth a line only when it keeps happening.
          if ((attempt === 1 && !isStaleCache(err)) || attempt % 10 === 0) console.error(`deployment ${key}: sync failed (attempt ${attempt}):`, (err as Error)?.message ?? err);
        },
      },
    );
    const enqueue = (d: Deployment) => this.queue.add(objectKey(d));
    this.deployments.on({ add: enqueue, update: (_o, d) => enqueue(d), delete: enqueue });
    this.replicaSets.on({
      add: (rs) => {
        this.rsIndex.set(rs);
        this.enqueueForReplicaSet(rs);
      },
      update: (old, rs) => {
        this.rsIndex.set(rs);
        if (controllerOf(old)?.uid !== controllerOf(rs)?.uid) this.enqueueForReplicaSet(old);
        this.enqueueForReplicaSet(rs);
      },
      delete: (rs) => {
        this.rsIndex.delete(rs);
        this.enqueueForReplicaSet(rs);
      },
    });
  }

  async start(): Promise<void> {
    this.synced = Promise.all([this.deployments.start(), this.replicaSets.start()]);
    await this.synced;
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await this.queue.idle();
    await Promise.all([this.deployments.stop(), this.replicaSets.stop()]);
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  private ownedBy<T extends Deployment | ReplicaSet>(inf: Informer<T>, o: ReplicaSet, kind: string): T | undefined {
    const ref = controllerOf(o);
    if (!ref || ref.kind !== kind) return undefined;
    const owner = inf.get(o.metadata.namespace, ref.name);
    return owner?.metadata.uid === ref.uid ? owner : undefined;
  }

  private enqueueForReplicaSet(rs: ReplicaSet): void {
    if (controllerOf(rs)) {
      const d = this.ownedBy(this.deployments, rs, 'Deployment');
      if (d) this.queue.add(objectKey(d));
      return;
    }
    for (const d of this.deployments.list(rs.metadata.namespace)) {
      if (selectorMatches(d.spec.selector, rs.metadata.labels)) this.queue.add(objectKey(d));
    }
  }

  // --- sync (syncDeployment) ---

  private async sync(key: string): Promise<ReconcileResult | void> {
    const [namespace, name] = splitKey(key);
    const cached = this.deployments.get(namespace, name);
    if (!cached) return;
    const d = structuredClone(cached);
    if (isEmptySelector(d.spec.selector)) {
      // Selecting every pod is refused, as Kubernetes does; only acknowledge the generation.
      if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) {
        await this.writeStatus({ d, rs: new Map() }, { ...(d.status ?? {}), observedGeneration: d.metadata.generation });
      }
      return;
    }
    const s: Scope = { d, rs: new Map((await this.claimReplicaSets(d)).map((rs) => [rs.metadata.uid!, rs])) };
    if (d.metadata.deletionTimestamp) return this.syncStatusOnly(s);

    const paused = pausedConditions(d, Date.now());
    if (paused) await this.writeStatus(s, { ...(d.status ?? {}), conditions: paused });
    if (d.spec.paused || isScalingEvent(d, [...s.rs.values()])) return this.syncScale(s);
    return isRollingUpdate(d) ? this.rolloutRolling(s) : this.rolloutRecreate(s);
  }

  /**
   * The ReplicaSets this Deployment controls: owned ones still matching its selector, plus
   * adopted orphans that match; owned ones that stopped matching are released (ClaimReplicaSets).
   */
  private async claimReplicaSets(d: Deployment): Promise<ReplicaSet[]> {
    const ns = d.metadata.namespace!;
    const get = (k: string) => this.replicaSets.get(...splitKey(k));
    const result: ReplicaSet[] = [];
    for (const rs of this.rsIndex.owned(d.metadata.uid!).map(get)) {
      if (!rs) continue;
      if (selectorMatches(d.spec.selector, rs.metadata.labels)) result.push(rs);
      else if (!rs.metadata.deletionTimestamp) {
        const rest = (rs.metadata.ownerReferences ?? []).filter((r) => r.uid !== d.metadata.uid);
        await this.patchReplicaSet(rs, { metadata: { resourceVersion: rs.metadata.resourceVersion, ownerReferences: rest.length ? rest : null } });
      }
    }
    const orphans = this.rsIndex
      .orphansIn(ns)
      .map(get)
      .filter((rs): rs is ReplicaSet => Boolean(rs) && !rs!.metadata.deletionTimestamp && selectorMatches(d.spec.selector, rs!.metadata.labels));
    if (orphans.length && !d.metadata.deletionTimestamp) {
      const fresh = await this.client.get<Deployment>(resources.deployments, ns, d.metadata.name!).catch(() => undefined);
      if (fresh && fresh.metadata.uid === d.metadata.uid && !fresh.metadata.deletionTimestamp) {
        for (const rs of orphans) {
          const owners = [...(rs.metadata.ownerReferences ?? []), controllerRefTo(d, 'Deployment')];
          const adopted = await this.patchReplicaSet(rs, { metadata: { resourceVersion: rs.metadata.resourceVersion, ownerReferences: owners } });
          if (adopted) result.push(adopted);
        }
      }
    }
    return result;
  }

  private async patchReplicaSet(rs: ReplicaSet, patch: unknown): Promise<ReplicaSet | undefined> {
    try {
      return await this.client.patch<ReplicaSet>(resources.replicasets, rs.metadata.namespace, rs.metadata.name!, 'merge', patch);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Writes status through /status when it differs from the last known; keeps the scope current. */
  private async writeStatus(s: Scope, status: DeploymentStatus): Promise<void> {
    if (sameJson(status, s.d.status ?? {})) return;
    const patch = { status: replaceFields(s.d.status as Record<string, unknown>, status as Record<string, unknown>) };
    try {
      const updated = await this.client.patch<Deployment>(resources.deployments, s.d.metadata.namespace, s.d.metadata.name!, 'merge', patch, { sub: 'status' });
      s.d = { ...s.d, status: updated.status };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * The new ReplicaSet (created when `create` and missing) with its revision raised above every
   * old one, and the Deployment's revision annotation (getAllReplicaSetsAndSyncRevision).
   */
  private async syncRevision(s: Scope, create: boolean): Promise<void> {
    const d = s.d;
    const found = findNewReplicaSet(d, [...s.rs.values()]);
    const oldRSs = [...s.rs.values()].filter((rs) => rs !== found);
    const newRevision = maxRevision(oldRSs) + 1;
    let newRS: ReplicaSet;
    if (found) {
      const { annotations, changed } = newReplicaSetAnnotations(d, found, newRevision, true, maxSurgeOf(d));
      const minReady = d.spec.minReadySeconds ?? 0;
      newRS = found;
      if (changed || (found.spec.minReadySeconds ?? 0) !== minReady) {
        const patch = { metadata: { resourceVersion: found.metadata.resourceVersion, annotations }, spec: { minReadySeconds: minReady } };
        newRS = (await this.patchReplicaSet(found, patch)) ?? found;
      }
      if (!getCondition(d.status?.conditions, 'Progressing') && hasProgressDeadline(d)) {
        const msg = `Found new replica set "${newRS.metadata.name}"`;
        await this.writeStatus(s, withCondition(d.status, deploymentCondition('Progressing', 'True', DeploymentReasons.FoundNewReplicaSet, msg, Date.now())));
      }
    } else {
      if (!create) return;
      const hash = podTemplateHash(d.spec.template, d.status?.collisionCount);
      const draft = newReplicaSetFor(d, hash, 0);
      draft.spec.replicas = newRSNewReplicas(d, [...oldRSs, draft], draft);
      draft.metadata.annotations = newReplicaSetAnnotations(d, draft, newRevision, false, maxSurgeOf(d)).annotations;
      try {
        newRS = await this.client.create<ReplicaSet>(resources.replicasets, d.metadata.namespace, draft);
        if (hasProgressDeadline(d)) {
          const msg = `Created new replica set "${newRS.metadata.name}"`;
          await this.writeStatus(s, withCondition(s.d.status, deploymentCondition('Progressing', 'True', DeploymentReasons.NewReplicaSetCreated, msg, Date.now())));
        }
      } catch (err) {
        if (!isAlreadyExists(err)) {
          if (hasProgressDeadline(d)) {
            const msg = `Failed to create new replica set "${draft.metadata.name}": ${(err as Error).message}`;
            await this.writeStatus(s, withCondition(s.d.status, deploymentCondition('Progressing', 'False', DeploymentReasons.FailedReplicaSetCreate, msg, Date.now())));
          }
          throw err;
        }
        // Ours, created by an earlier sync the cache has not caught up with; anything else is a hash collision.
        const existing = await this.client.get<ReplicaSet>(resources.replicasets, d.metadata.namespace, draft.metadata.name!);
        if (controllerOf(existing)?.uid !== d.metadata.uid || !equalIgnoreHash(existing.spec.template, d.spec.template)) {
          throw new Error(`ReplicaSet ${d.metadata.namespace}/${draft.metadata.name} exists with another template or owner: pod-template-hash collision`);
        }
        newRS = existing;
      }
    }
    s.rs.set(newRS.metadata.uid!, newRS);
    s.newUid = newRS.metadata.uid;
    const revision = newRS.metadata.annotations?.[revisionAnnotation];
    if (revision && d.metadata.annotations?.[revisionAnnotation] !== revision) {
      const updated = await this.client.patch<Deployment>(resources.deployments, d.metadata.namespace, d.metadata.name!, 'merge', {
        metadata: { annotations: { [revisionAnnotation]: revision } },
      });
      s.d = { ...s.d, metadata: updated.metadata };
    }
  }

  /** Sets a ReplicaSet's size and its desired/max annotations; true when the size changed. */
  private async scale(s: Scope, rs: ReplicaSet, replicas: number): Promise<boolean> {
    const desired = String(deploymentReplicas(s.d));
    const max = String(deploymentReplicas(s.d) + maxSurgeOf(s.d));
    const a = rs.metadata.annotations ?? {};
    const sizeChanged = specReplicas(rs) !== replicas;
    if (!sizeChanged && a[desiredReplicasAnnotation] === desired && a[maxReplicasAnnotation] === max) return false;
    const updated = await this.patchReplicaSet(rs, {
      metadata: { resourceVersion: rs.metadata.resourceVersion, annotations: { [desiredReplicasAnnotation]: desired, [maxReplicasAnnotation]: max } },
      spec: { replicas },
    });
    if (updated) s.rs.set(updated.metadata.uid!, updated);
    return sizeChanged && Boolean(updated);
  }

  private async cleanup(s: Scope): Promise<void> {
    for (const rs of replicaSetsToCleanup(s.d, lists(s).oldRSs, revisionOf)) {
      await this.client.delete(resources.replicasets, rs.metadata.namespace, rs.metadata.name!, { propagationPolicy: 'Background' }).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
      s.rs.delete(rs.metadata.uid!);
    }
  }

  private async syncRolloutStatus(s: Scope): Promise<ReconcileResult | void> {
    const { allRSs, newRS } = lists(s);
    const { status, requeueAfterMs } = rolloutStatus(s.d, allRSs, newRS, Date.now());
    await this.writeStatus(s, status);
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }

  private async syncStatusOnly(s: Scope): Promise<void> {
    await this.syncRevision(s, false);
    const { allRSs, newRS } = lists(s);
    await this.writeStatus(s, calculateStatus(s.d, allRSs, newRS, Date.now()));
  }

  /** A scaling event or a paused Deployment: resize without rolling (sync). */
  private async syncScale(s: Scope): Promise<void> {
    await this.syncRevision(s, false);
    const { newRS, oldRSs } = lists(s);
    for (const [rs, size] of planProportionalScale(s.d, newRS, oldRSs)) await this.scale(s, s.rs.get(rs.metadata.uid!) ?? rs, size);
    if (s.d.spec.paused) await this.cleanup(s);
    const after = lists(s);
    await this.writeStatus(s, calculateStatus(s.d, after.allRSs, after.newRS, Date.now()));
  }

  private async rolloutRolling(s: Scope): Promise<ReconcileResult | void> {
    await this.syncRevision(s, true);
    const d = s.d;
    let { newRS, allRSs } = lists(s);
    if (newRS && specReplicas(newRS) !== deploymentReplicas(d)) {
      const target = specReplicas(newRS) > deploymentReplicas(d) ? deploymentReplicas(d) : newRSNewReplicas(d, allRSs, newRS);
      if (await this.scale(s, newRS, target)) return this.syncRolloutStatus(s);
    }
    ({ newRS, allRSs } = lists(s));
    let scaledDown = false;
    for (const [name, size] of planOldScaleDown(d, newRS, lists(s).oldRSs)) {
      const rs = allRSs.find((x) => x.metadata.name === name)!;
      if (await this.scale(s, rs, size)) scaledDown = true;
    }
    if (scaledDown) return this.syncRolloutStatus(s);
    if (deploymentComplete(s.d, s.d.status)) await this.cleanup(s);
    return this.syncRolloutStatus(s);
  }

  private async rolloutRecreate(s: Scope): Promise<ReconcileResult | void> {
    await this.syncRevision(s, false);
    let scaledDown = false;
    for (const rs of activeReplicaSets(lists(s).oldRSs)) if (await this.scale(s, rs, 0)) scaledDown = true;
    if (scaledDown) return this.syncRolloutStatus(s);
    const current = lists(s).newRS;
    const scaleUpAhead = !current || specReplicas(current) !== deploymentReplicas(s.d);
    if (scaleUpAhead && (await this.oldPodsRunning(s))) {
      const result = await this.syncRolloutStatus(s);
      // Terminating pods leave no trace in ReplicaSet status: look again until they are gone.
      return { requeueAfterMs: Math.min(result?.requeueAfterMs ?? Infinity, oldPodsPollMs) };
    }
    if (!s.newUid) await this.syncRevision(s, true);
    const { newRS } = lists(s);
    if (newRS && (await this.scale(s, newRS, deploymentReplicas(s.d)))) return this.syncRolloutStatus(s);
    if (deploymentComplete(s.d, s.d.status)) await this.cleanup(s);
    return this.syncRolloutStatus(s);
  }

  /**
   * Old ReplicaSets still report pods, or any of their pods is not finished (terminating counts).
   * Pods are listed only here, when a Recreate is about to start the new pods: caching every pod
   * for this would double the pod watch traffic of the cluster.
   */
  private async oldPodsRunning(s: Scope): Promise<boolean> {
    const { oldRSs } = lists(s);
    if (totalStatusReplicas(oldRSs) > 0) return true;
    const old = new Set(oldRSs.map((rs) => rs.metadata.uid));
    if (old.size === 0) return false;
    const selector = formatLabelSelector(labelSelectorFromObject(s.d.spec.selector));
    const { items } = await this.client.list<Pod>(resources.pods, s.d.metadata.namespace, { labelSelector: selector });
    return items.some((p) => old.has(controllerOf(p)?.uid) && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  }
}
