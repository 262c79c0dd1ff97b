/**
 * The disruption controller: PodDisruptionBudget status as Kubernetes computes it, which the
 * eviction subresource then trusts (it refuses evictions while `disruptionsAllowed` is 0).
 *
 * expectedPods is the number of selected pods for an integer minAvailable, and otherwise the sum of
 * the scales of the selected pods' controllers (a ReplicaSet owned by a Deployment counts as the
 * Deployment); a controller whose scale cannot be read counts the pods it owns. currentHealthy are
 * the Ready pods not being deleted and not recently evicted (`disruptedPods`, kept two minutes).
 */
import { isDeepStrictEqual } from 'node:util';
import { isStaleCache, isNotFound, type KubeClient, type KubeObject, type ResourceRef } from '../../operators/runtime/client.js';
import { SharedInformers, type Informer, objectKey } from '../../operators/runtime/informer.js';
import { WorkQueue, type ReconcileResult } from '../../operators/runtime/workqueue.js';
import { labelSelectorFromObject, matchesLabels } from '../apiserver/selectors.js';
import { controllerOf, isReady, isTerminating, type Pod } from './pod-util.js';
import { resources } from './resources.js';
import { rfc3339 } from '../../operators/runtime/time.js';

export type PodDisruptionBudget = KubeObject;

/** How long an evicted pod may take to go before it counts as healthy again (`DeletionTimeout`). */
export const DELETION_TIMEOUT_MS = 2 * 60_000;

export const DISRUPTION_ALLOWED = 'DisruptionAllowed';
export const REASON_SUFFICIENT_PODS = 'SufficientPods';
export const REASON_INSUFFICIENT_PODS = 'InsufficientPods';
export const REASON_SYNC_FAILED = 'SyncFailed';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface PdbStatus {
  observedGeneration: number;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  expectedPods: number;
  disruptedPods?: Record<string, string>;
  conditions: Condition[];
}

/** A selected pod's controller and how many replicas it wants (undefined: unknown, count its pods). */
export interface ControllerScale {
  uid: string;
  replicas?: number;
}


export function selectedPods(pdb: PodDisruptionBudget, pods: Pod[]): Pod[] {
  const sel = labelSelectorFromObject(pdb.spec?.selector);
  return pods.filter((p) => p.metadata.namespace === pdb.metadata.namespace && matchesLabels(sel, p.metadata.labels));
}

/** Whether expectedPods needs the controllers' scales (maxUnavailable, or a percentage minAvailable). */
export const needsScale = (pdb: PodDisruptionBudget): boolean =>
  pdb.spec?.maxUnavailable !== undefined || typeof pdb.spec?.minAvailable === 'string';

/** `GetScaledValueFromIntOrPercent` with round-up, as the disruption controller uses it. */
function scaled(v: number | string, total: number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) throw new Error(`invalid value ${JSON.stringify(v)}: must be an integer or a percentage`);
  return Math.ceil((Number(m[1]) * total) / 100);
}

/** expectedPods and desiredHealthy (`getExpectedPodCount`). Pods without a controller are ignored for scales. */
export function expectedAndDesired(pdb: PodDisruptionBudget, pods: Pod[], scales: ControllerScale[]): { expected: number; desired: number } {
  const { minAvailable, maxUnavailable } = pdb.spec ?? {};
  if (!needsScale(pdb)) {
    return { expected: pods.length, desired: typeof minAvailable === 'number' ? minAvailable : 0 };
  }
  let expected = 0;
  const counted = new Set<string>();
  for (const s of scales) {
    if (counted.has(s.uid)) continue;
    counted.add(s.uid);
    expected += s.replicas ?? pods.filter((p) => controllerOf(p)?.uid === s.uid).length;
  }
  if (maxUnavailable !== undefined) return { expected, desired: Math.max(0, expected - scaled(maxUnavailable, expected)) };
  return { expected, desired: scaled(minAvailable, expected) };
}

/** `buildDisruptedPodMap`: entries whose pod is gone, already terminating, or overdue are dropped. */
export function pruneDisruptedPods(disrupted: Record<string, string> | undefined, pods: Pod[], now: number): { kept: Record<string, string>; recheckAt?: number } {
  const kept: Record<string, string> = {};
  let recheckAt: number | undefined;
  for (const pod of pods) {
    const at = disrupted?.[pod.metadata.name!];
    if (at === undefined || isTerminating(pod)) continue;
    const expires = Date.parse(at) + DELETION_TIMEOUT_MS;
    if (!(expires > now)) continue;
    kept[pod.metadata.name!] = at;
    recheckAt = Math.min(recheckAt ?? Infinity, expires);
  }
  return recheckAt === undefined ? { kept } : { kept, recheckAt };
}

/** Flips lastTransitionTime only when the status changes. */
function setCondition(old: Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: number): Condition[] {
  const prev = (old ?? []).find((c) => c.type === next.type);
  const lastTransitionTime = prev && prev.status === next.status ? prev.lastTransitionTime : rfc3339(now);
  return [...(old ?? []).filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}

/**
 * The whole status of a budget from the pods it selects and their controllers' scales. A budget
 * whose numbers cannot be computed (a bad percentage) fails safe: no disruption is allowed.
 */
export function computePdbStatus(
  pdb: PodDisruptionBudget,
  selected: Pod[],
  scales: ControllerScale[],
  now = Date.now(),
): { status: PdbStatus; recheckAfterMs?: number } {
  const generation = pdb.metadata.generation ?? 0;
  const { kept, recheckAt } = pruneDisruptedPods(pdb.status?.disruptedPods, selected, now);
  let expected: number;
  let desired: number;
  try {
    ({ expected, desired } = expectedAndDesired(pdb, selected, scales));
  } catch (err) {
    const condition = { type: DISRUPTION_ALLOWED, status: 'False' as const, reason: REASON_SYNC_FAILED, message: (err as Error).message, observedGeneration: generation };
    return {
      status: {
        observedGeneration: generation,
        disruptionsAllowed: 0,
        currentHealthy: pdb.status?.currentHealthy ?? 0,
        desiredHealthy: pdb.status?.desiredHealthy ?? 0,
        expectedPods: pdb.status?.expectedPods ?? 0,
        conditions: setCondition(pdb.status?.conditions, condition, now),
      },
    };
  }
  const healthy = selected.filter((p) => isReady(p) && kept[p.metadata.name!] === undefined).length;
  const allowed = expected > 0 ? Math.max(0, healthy - desired) : 0;
  const condition =
    allowed > 0
      ? { type: DISRUPTION_ALLOWED, status: 'True' as const, reason: REASON_SUFFICIENT_PODS, message: '', observedGeneration: generation }
      : { type: DISRUPTION_ALLOWED, status: 'False' as const, reason: REASON_INSUFFICIENT_PODS, message: '', observedGeneration: generation };
  const status: PdbStatus = {
    observedGeneration: generation,
    disruptionsAllowed: allowed,
    currentHealthy: healthy,
    desiredHealthy: desired,
    expectedPods: expected,
    ...(Object.keys(kept).length ? { disruptedPods: kept } : {}),
    conditions: setCondition(pdb.status?.conditions, condition, now),
  };
  return recheckAt === undefined ? { status } : { status, recheckAfterMs: Math.max(10, recheckAt - now + 10) };
}

// --- the controller --------------------------------------------------------------------------------

export interface DisruptionControllerOptions {
  /** Informers shared with the other components of the process. @default this controller's own */
  informers?: SharedInformers;
  /** Parallel reconciles of different budgets. @default 4 */
  concurrency?: number;
  /** Informer full relist interval. @default 5 minutes */
  relistIntervalMs?: number;
  /** Where reconcile failures go. @default console.warn, conflicts excepted */
  log?: (message: string, err: unknown) => void;
}

/** Where the scale of each supported controller kind is read. */
const scaleTargets: Record<string, ResourceRef> = {
  'apps/ReplicaSet': resources.replicasets,
  'apps/Deployment': resources.deployments,
  'apps/StatefulSet': resources.statefulsets,
  '/ReplicationController': { group: '', version: 'v1', plural: 'replicationcontrollers', namespaced: true },
};

export class DisruptionController {
  private readonly budgets: Informer;
  private readonly pods: Informer;
  private readonly queue: WorkQueue;

  constructor(
    private readonly client: KubeClient,
    opts: DisruptionControllerOptions = {},
  ) {
    const relistIntervalMs = opts.relistIntervalMs;
    const informers = opts.informers ?? new SharedInformers(client);
    this.budgets = informers.get({ resource: resources.poddisruptionbudgets, relistIntervalMs });
    this.pods = informers.get({ resource: resources.pods, relistIntervalMs });
    const log = opts.log ?? ((m, e) => console.warn(m, e instanceof Error ? e.message : e));
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      name: 'disruption',
      concurrency: opts.concurrency,
      onError: (key, err) => isStaleCache(err) || log(`poddisruptionbudget ${key}: reconcile failed`, err),
    });
    const enqueue = (o: KubeObject) => this.queue.add(objectKey(o));
    this.budgets.on({ add: enqueue, update: (_, o) => enqueue(o), delete: enqueue });
    const podChanged = (...versions: Pod[]) => {
      for (const pdb of this.budgets.list(versions[0]!.metadata.namespace)) {
        if (versions.some((p) => selectedPods(pdb, [p]).length > 0)) enqueue(pdb);
      }
    };
    this.pods.on({ add: (p) => podChanged(p), update: (a, b) => podChanged(a, b), delete: (p) => podChanged(p) });
  }

  async start(): Promise<void> {
    await this.pods.start();
    await this.budgets.start();
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await this.queue.idle();
    await Promise.all([this.budgets.stop(), this.pods.stop()]);
  }

  private async reconcile(key: string): Promise<ReconcileResult | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const pdb = this.budgets.get(namespace, name);
    if (!pdb || pdb.metadata.deletionTimestamp) return;
    const selected = selectedPods(pdb, this.pods.list(namespace));
    const scales = needsScale(pdb) ? await this.controllerScales(namespace, selected) : [];
    const { status, recheckAfterMs } = computePdbStatus(pdb, selected, scales);
    if (!isDeepStrictEqual(pdb.status ?? {}, status)) {
      // A PUT with the resourceVersion read: an eviction counted meanwhile makes it conflict and retry.
      await this.client.update(resources.poddisruptionbudgets, { ...pdb, status }, 'status');
    }
    return recheckAfterMs !== undefined ? { requeueAfterMs: recheckAfterMs } : undefined;
  }

  /** The distinct controllers of the selected pods with their spec.replicas (`getExpectedScale`). */
  private async controllerScales(namespace: string, pods: Pod[]): Promise<ControllerScale[]> {
    const out = new Map<string, ControllerScale>();
    for (const pod of pods) {
      const ref = controllerOf(pod);
      if (!ref || out.has(ref.uid)) continue;
      out.set(ref.uid, await this.scaleOf(namespace, ref));
    }
    return [...out.values()];
  }

  private async scaleOf(namespace: string, ref: { apiVersion: string; kind: string; name: string; uid: string }): Promise<ControllerScale> {
    const target = scaleTargets[`${ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : ''}/${ref.kind}`];
    if (!target) return { uid: ref.uid };
    try {
      const owner = await this.client.get(target, namespace, ref.name);
      if (owner.metadata.uid !== ref.uid) return { uid: ref.uid };
      const deployment = ref.kind === 'ReplicaSet' ? controllerOf(owner) : undefined;
      if (deployment?.kind === 'Deployment') {
        // Pods of every ReplicaSet of a Deployment count against the Deployment's replicas, once.
        const d = await this.client.get(resources.deployments, namespace, deployment.name);
        if (d.metadata.uid === deployment.uid) return { uid: deployment.uid, replicas: d.spec?.replicas ?? 1 };
      }
      return { uid: ref.uid, replicas: owner.spec?.replicas ?? 1 };
    } catch (err) {
      if (isNotFound(err)) return { uid: ref.uid };
      throw err;
    }
  }
}
