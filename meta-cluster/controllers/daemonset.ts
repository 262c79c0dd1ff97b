/**
 * The DaemonSet controller: one pod per eligible node. A node is eligible when it matches the
 * template's nodeSelector and required node affinity and every NoSchedule/NoExecute taint on it is
 * tolerated (with the tolerations Kubernetes adds to every daemon pod). Pods are not bound here:
 * each carries a required node affinity on `metadata.name` so the scheduler places it on its node.
 *
 * Pod names are deterministic per node (`<set>-<hash of node name>`), so a stale cache can only
 * meet "already exists". RollingUpdate replaces at most maxUnavailable pods at a time (maxSurge is
 * not implemented: a node's new pod comes once its old one is gone); OnDelete waits for users.
 */
import { isDeepStrictEqual } from 'node:util';
import { isAlreadyExists, isStaleCache, isNotFound, type KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { SharedInformers, type Informer, objectKey } from '../../operators/runtime/informer.js';
import { TerminalError, WorkQueue, type ReconcileResult } from '../../operators/runtime/workqueue.js';
import { controllerOf, isAvailable, isReady, isTerminating, type Pod } from './pod-util.js';
import { resources } from './resources.js';
import { REVISION_LABEL, templateHash } from './statefulset.js';
import { matchNodeSelectorTerm, toleratesTaint } from '../scheduler/predicates.js';
import type { NodeSelectorTerm, Taint, Toleration } from '../scheduler/pod-info.js';

export type DaemonSet = KubeObject;
export type Node = KubeObject;

// Taints, tolerations and node affinity are judged exactly as the scheduler judges them.
export { toleratesTaint, type Taint, type Toleration };

/** The tolerations every daemon pod gets (`AddOrUpdateDaemonPodTolerations`), after its own. */
export function daemonPodTolerations(own: Toleration[] = [], hostNetwork = false): Toleration[] {
  const add: Toleration[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
    ...(hostNetwork ? [{ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' }] : []),
  ];
  const out = [...own];
  for (const t of add) if (!out.some((o) => o.key === t.key && o.effect === t.effect)) out.push(t);
  return out;
}

/** nodeSelector and required node affinity of a pod spec, as the scheduler's filters read them. */
export function podFitsNode(spec: KubeObject['spec'], node: Node): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries((spec?.nodeSelector ?? {}) as Record<string, string>)) if (labels[k] !== v) return false;
  const required = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  const target = { labels: labels as Record<string, string>, name: node.metadata.name! };
  return ((required.nodeSelectorTerms ?? []) as NodeSelectorTerm[]).some((t) => matchNodeSelectorTerm(t, target));
}

/**
 * `NodeShouldRunDaemonPod`: shouldRun — a new pod belongs there; shouldContinueRunning — an existing
 * one may stay (an untolerated NoSchedule taint keeps pods out but does not evict them).
 */
export function nodeShouldRunDaemonPod(node: Node, ds: DaemonSet): { shouldRun: boolean; shouldContinueRunning: boolean } {
  const spec = ds.spec?.template?.spec ?? {};
  if (!podFitsNode(spec, node)) return { shouldRun: false, shouldContinueRunning: false };
  const tolerations = daemonPodTolerations(spec.tolerations, spec.hostNetwork === true);
  const untolerated = (effect: string) =>
    ((node.spec?.taints ?? []) as Taint[]).some((t) => t.effect === effect && !tolerations.some((tol) => toleratesTaint(tol, t)));
  if (untolerated('NoExecute')) return { shouldRun: false, shouldContinueRunning: false };
  if (untolerated('NoSchedule')) return { shouldRun: false, shouldContinueRunning: true };
  return { shouldRun: true, shouldContinueRunning: true };
}

// --- pods ------------------------------------------------------------------------------------------

/** The node a daemon pod is for: its nodeName once bound, before that its metadata.name affinity. */
export function targetNodeName(pod: Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms: NodeSelectorTerm[] = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const t of terms) {
    const f = (t.matchFields ?? []).find((r) => r.key === 'metadata.name' && r.operator === 'In' && r.values?.length === 1);
    if (f) return f.values![0];
  }
  return undefined;
}

export const daemonPodName = (ds: DaemonSet, nodeName: string): string => `${ds.metadata.name}-${templateHash(nodeName)}`;

/** The pod for one node: the template, the revision label, default tolerations, affinity to the node. */
export function newDaemonPod(ds: DaemonSet, nodeName: string): Pod {
  const t = ds.spec?.template ?? {};
  const spec = structuredClone(t.spec ?? {});
  spec.tolerations = daemonPodTolerations(spec.tolerations, spec.hostNetwork === true);
  // `ReplaceDaemonSetPodNodeNameNodeAffinity`: the node requirement replaces any required terms.
  spec.affinity = {
    ...(spec.affinity ?? {}),
    nodeAffinity: {
      ...(spec.affinity?.nodeAffinity ?? {}),
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
      },
    },
  };
  const annotations = t.metadata?.annotations;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: daemonPodName(ds, nodeName),
      namespace: ds.metadata.namespace,
      labels: { ...(t.metadata?.labels ?? {}), [REVISION_LABEL]: templateHash(t) },
      ...(annotations && Object.keys(annotations).length ? { annotations: { ...annotations } } : {}),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: ds.metadata.name!, uid: ds.metadata.uid!, controller: true, blockOwnerDeletion: true }],
    },
    spec,
  };
}

// --- the plan --------------------------------------------------------------------------------------

export interface DaemonSetStatus {
  observedGeneration: number;
  desiredNumberScheduled: number;
  currentNumberScheduled: number;
  numberMisscheduled: number;
  numberReady: number;
  numberAvailable: number;
  numberUnavailable: number;
  updatedNumberScheduled: number;
}

export interface DaemonSetPlan {
  create: Pod[];
  delete: Pod[];
  status: DaemonSetStatus;
  /** Set while a ready pod waits out minReadySeconds. */
  requeueAfterMs?: number;
}

/** `GetScaledValueFromIntOrPercent`: an int, or a percent of `total` rounded up or down. */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) throw new Error(`invalid value for IntOrString: ${JSON.stringify(v)}: must be an integer or a percentage`);
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/** How long until a ready pod has been ready for minReadySeconds. */
export function untilAvailable(pod: Pod, minReadySeconds: number, now: number): number {
  const ready = (pod.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready');
  const since = Date.parse(ready?.lastTransitionTime ?? '');
  return Math.max(10, (Number.isFinite(since) ? since : now) + minReadySeconds * 1000 - now + 10);
}

const byAge = (a: Pod, b: Pod) =>
  Number(isTerminating(a)) - Number(isTerminating(b)) ||
  (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
  a.metadata.name!.localeCompare(b.metadata.name!);

/**
 * The creations and deletions that bring one pod to each eligible node (`manage`), then, when
 * nothing else moved, the next RollingUpdate step (`rollingUpdate` with maxSurge 0).
 */
export function planDaemonSet(ds: DaemonSet, nodes: Node[], pods: Pod[], now = Date.now()): DaemonSetPlan {
  const hash = templateHash(ds.spec?.template);
  const minReady: number = ds.spec?.minReadySeconds ?? 0;
  const byNode = new Map<string, Pod[]>();
  for (const pod of pods) {
    const node = targetNodeName(pod) ?? '';
    byNode.set(node, [...(byNode.get(node) ?? []), pod].sort(byAge));
  }
  const create: Pod[] = [];
  const del: Pod[] = [];
  const status: DaemonSetStatus = {
    observedGeneration: ds.metadata.generation ?? 0,
    desiredNumberScheduled: 0,
    currentNumberScheduled: 0,
    numberMisscheduled: 0,
    numberReady: 0,
    numberAvailable: 0,
    numberUnavailable: 0,
    updatedNumberScheduled: 0,
  };
  let requeueAfterMs: number | undefined;
  const eligible: Array<[string, Pod[]]> = [];
  const known = new Set<string>();
  const deleting = Boolean(ds.metadata.deletionTimestamp);

  for (const node of [...nodes].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!))) {
    const name = node.metadata.name!;
    known.add(name);
    const { shouldRun, shouldContinueRunning } = nodeShouldRunDaemonPod(node, ds);
    const nodePods = byNode.get(name) ?? [];
    const live = nodePods.filter((p) => !isTerminating(p));
    if (shouldRun) {
      eligible.push([name, nodePods]);
      if (nodePods.length === 0) create.push(newDaemonPod(ds, name));
      const failed = live.filter((p) => p.status?.phase === 'Failed');
      del.push(...failed);
      // More than one live pod on a node: keep the oldest.
      del.push(...live.filter((p) => !failed.includes(p)).slice(1));
    } else if (!shouldContinueRunning) {
      del.push(...live);
    }
    // Status counts from the oldest pod of each node, as Kubernetes does.
    const pod = nodePods[0];
    if (!pod) {
      if (shouldRun) status.desiredNumberScheduled++;
      continue;
    }
    if (!shouldRun) {
      status.numberMisscheduled++;
      continue;
    }
    status.desiredNumberScheduled++;
    status.currentNumberScheduled++;
    if (pod.metadata.labels?.[REVISION_LABEL] === hash) status.updatedNumberScheduled++;
    if (isReady(pod)) {
      status.numberReady++;
      if (isAvailable(pod, minReady, now)) status.numberAvailable++;
      else requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, untilAvailable(pod, minReady, now));
    }
  }
  status.numberUnavailable = Math.max(0, status.desiredNumberScheduled - status.numberAvailable);
  // Pods for nodes that are gone (or never named one) have nowhere to run.
  for (const [node, nodePods] of byNode) if (!known.has(node)) del.push(...nodePods.filter((p) => !isTerminating(p)));

  const strategy = ds.spec?.updateStrategy?.type ?? 'RollingUpdate';
  if (!deleting && create.length === 0 && del.length === 0 && strategy === 'RollingUpdate') {
    del.push(...rollingUpdateStep(ds, eligible, hash, minReady, now));
  }
  if (deleting) create.length = 0;
  return { create, delete: del, status, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}

/** Old pods to delete now: unavailable ones at once, available ones within maxUnavailable. */
function rollingUpdateStep(ds: DaemonSet, eligible: Array<[string, Pod[]]>, hash: string, minReady: number, now: number): Pod[] {
  const ru = ds.spec?.updateStrategy?.rollingUpdate ?? {};
  let maxUnavailable = scaledValue(ru.maxUnavailable, eligible.length, true, 1);
  if (maxUnavailable === 0 && !scaledValue(ru.maxSurge, eligible.length, true, 0)) maxUnavailable = 1;
  let unavailable = 0;
  const replaceNow: Pod[] = [];
  const candidates: Pod[] = [];
  for (const [, nodePods] of eligible) {
    const live = nodePods.filter((p) => !isTerminating(p));
    const fresh = live.filter((p) => p.metadata.labels?.[REVISION_LABEL] === hash);
    const old = live.filter((p) => p.metadata.labels?.[REVISION_LABEL] !== hash);
    if (live.length !== 1) {
      unavailable++;
    } else if (fresh.length === 1) {
      if (!isAvailable(fresh[0]!, minReady, now)) unavailable++;
    } else if (!isAvailable(old[0]!, minReady, now)) {
      // Already unavailable: replacing it costs nothing more, but it does use the budget.
      replaceNow.push(old[0]!);
      unavailable++;
    } else if (unavailable < maxUnavailable) {
      candidates.push(old[0]!);
    }
  }
  const room = Math.max(0, Math.min(maxUnavailable - unavailable, candidates.length));
  return [...replaceNow, ...candidates.slice(0, room)];
}

// --- the controller --------------------------------------------------------------------------------

export interface DaemonSetControllerOptions {
  /** Informers shared with the other components of the process. @default this controller's own */
  informers?: SharedInformers;
  /** Parallel reconciles of different sets. @default 4 */
  concurrency?: number;
  /** Informer full relist interval. @default 5 minutes */
  relistIntervalMs?: number;
  /** Where reconcile failures go. @default console.warn, conflicts excepted */
  log?: (message: string, err: unknown) => void;
}

const ignore = (test: (e: unknown) => boolean) => (e: unknown) => {
  if (!test(e)) throw e;
};

export class DaemonSetController {
  private readonly sets: Informer;
  private readonly pods: Informer;
  private readonly nodes: Informer;
  private readonly queue: WorkQueue;

  constructor(
    private readonly client: KubeClient,
    opts: DaemonSetControllerOptions = {},
  ) {
    const relistIntervalMs = opts.relistIntervalMs;
    const informers = opts.informers ?? new SharedInformers(client);
    this.sets = informers.get({ resource: resources.daemonsets, relistIntervalMs });
    this.pods = informers.get({ resource: resources.pods, relistIntervalMs });
    this.nodes = informers.get({ resource: resources.nodes, relistIntervalMs });
    const log = opts.log ?? ((m, e) => console.warn(m, e instanceof Error ? e.message : e));
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      name: 'daemonset',
      concurrency: opts.concurrency,
      onError: (key, err) => isStaleCache(err) || log(`daemonset ${key}: reconcile failed`, err),
    });
    const enqueue = (o: KubeObject) => this.queue.add(objectKey(o));
    this.sets.on({ add: enqueue, update: (_, o) => enqueue(o), delete: enqueue });
    const owner = (p: Pod) => {
      const ref = controllerOf(p);
      if (ref?.kind === 'DaemonSet' && ref.apiVersion.startsWith('apps/')) this.queue.add(`${p.metadata.namespace}/${ref.name}`);
    };
    this.pods.on({ add: owner, update: (_, p) => owner(p), delete: owner });
    // Any node change may change where every set should run.
    const all = () => this.sets.list().forEach(enqueue);
    this.nodes.on({ add: all, update: (a, b) => nodeChanged(a, b) && all(), delete: all });
  }

  async start(): Promise<void> {
    await Promise.all([this.nodes.start(), this.pods.start()]);
    await this.sets.start();
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await this.queue.idle();
    await Promise.all([this.sets.stop(), this.pods.stop(), this.nodes.stop()]);
  }

  private async reconcile(key: string): Promise<ReconcileResult | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const ds = this.sets.get(namespace, name);
    if (!ds) return;
    const pods = this.pods.list(namespace).filter((p) => controllerOf(p)?.uid === ds.metadata.uid);
    let plan: DaemonSetPlan;
    try {
      plan = planDaemonSet(ds, this.nodes.list(), pods);
    } catch (err) {
      // Only a bad spec (a maxUnavailable like "ten") gets here; retrying will not fix it.
      throw new TerminalError(`DaemonSet ${key}: ${(err as Error).message}`);
    }
    await Promise.all(plan.create.map((p) => this.client.create(resources.pods, namespace, p).catch(ignore(isAlreadyExists))));
    await Promise.all(
      plan.delete.map((p) =>
        this.client.delete(resources.pods, namespace, p.metadata.name!, { preconditions: { uid: p.metadata.uid } }).catch(ignore(isNotFound)),
      ),
    );
    if (!isDeepStrictEqual(ds.status ?? {}, { ...(ds.status ?? {}), ...plan.status })) {
      await this.client.patch(resources.daemonsets, namespace, name, 'merge', { metadata: { resourceVersion: ds.metadata.resourceVersion }, status: plan.status }, { sub: 'status' });
    }
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }
}

/** Only labels, taints and existence decide placement; heartbeats do not. */
const nodeChanged = (a: Node, b: Node): boolean =>
  !isDeepStrictEqual(a.metadata.labels ?? {}, b.metadata.labels ?? {}) || !isDeepStrictEqual(a.spec?.taints ?? [], b.spec?.taints ?? []);
