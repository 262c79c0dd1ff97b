/**
 * Cordon and drain: what the Machine operator does to a machine's Node before it deletes the
 * machine, as cluster-api's machine controller does (which is `kubectl drain --ignore-daemonsets
 * --delete-emptydir-data --force`, run as a non-blocking step of a reconcile that requeues).
 *
 * Pods leave only through the eviction API (policy/v1 Eviction on pods/eviction), so every
 * PodDisruptionBudget is honoured: a refusal (429) leaves the pod for the next pass. No pod is
 * ever deleted directly. When the drain runs out of time the caller deletes the machine anyway:
 * the pods then go with the Node (the node lifecycle controller deletes the pods of a Node that is
 * gone, as kube's pod GC does). That is cluster-api's `nodeDrainTimeout`: a budget that can never
 * be satisfied must not keep a machine, and its cost, alive forever; `drainTimeoutSeconds` on the
 * MachinePool bounds what the budget can hold up.
 */
import pLimit from 'p-limit';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { KubeApiError, isNotFound, type KubeClient, type KubeObject } from '../runtime/client.js';
import { controllerOf } from '../runtime/objects.js';

/** Set by the kubelet on the API's copy of a static pod; such a pod cannot be evicted through the API. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

/**
 * Why a pod stays on the node:
 * - `DaemonSetPod`: its DaemonSet would put it back at once (and tolerates the cordon); it goes with the node;
 * - `MirrorPod`: a static pod, owned by the kubelet's manifest, not by the API;
 * - `DeletionIgnored`: terminating for longer than `skipWaitForDeleteTimeoutSeconds`, on a node
 *   whose kubelet is not there to finish the deletion.
 */
export type SkipReason = 'DaemonSetPod' | 'MirrorPod' | 'DeletionIgnored';

export interface PodSelection {
  /** Pods to evict now, sorted by namespace/name so passes and messages are deterministic. */
  readonly evict: KubeObject[];
  /** Pods already being deleted: not evicted again; the drain waits for them to go. */
  readonly terminating: KubeObject[];
  /** Pods that stay on the node, and why. */
  readonly skipped: Array<{ readonly pod: KubeObject; readonly reason: SkipReason }>;
}

export interface PodSelectionOptions {
  /** Milliseconds since the epoch. @default Date.now() */
  readonly now?: number;
  /**
   * Pods whose deletionTimestamp passed more than this many seconds ago are ignored rather than
   * waited for; 0 waits for every terminating pod. @default 0
   */
  readonly skipWaitForDeleteTimeoutSeconds?: number;
}

const podKey = (pod: KubeObject) => `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
const isFinished = (pod: KubeObject) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/**
 * Which of a node's pods to evict, as kubectl drain and cluster-api choose them. Filters apply in
 * their order and the first that skips a pod wins:
 * 1. terminating longer than `skipWaitForDeleteTimeoutSeconds` (when that is set) → skipped;
 * 2. controlled by a DaemonSet and not finished → skipped (a finished one is evicted: nothing recreates it there);
 * 3. a mirror pod → skipped;
 * then a pod already terminating is waited for, and every other pod is evicted: pods of no
 * controller (`--force`) and pods with emptyDir volumes (`--delete-emptydir-data`) too, since the
 * machine goes away with them either way, and finished pods (the eviction API lets them go
 * without consulting any budget, so they need no separate delete).
 */
export function podsToEvict(pods: readonly KubeObject[], opts: PodSelectionOptions = {}): PodSelection {
  const now = opts.now ?? Date.now();
  const skipAfterMs = (opts.skipWaitForDeleteTimeoutSeconds ?? 0) * 1000;
  const selection: PodSelection = { evict: [], terminating: [], skipped: [] };
  for (const pod of [...pods].sort((a, b) => podKey(a).localeCompare(podKey(b)))) {
    const deletingSince = pod.metadata.deletionTimestamp ? Date.parse(pod.metadata.deletionTimestamp) : undefined;
    if (deletingSince !== undefined && skipAfterMs > 0 && now - deletingSince > skipAfterMs) {
      selection.skipped.push({ pod, reason: 'DeletionIgnored' });
    } else if (controllerOf(pod)?.kind === 'DaemonSet' && !isFinished(pod)) {
      selection.skipped.push({ pod, reason: 'DaemonSetPod' });
    } else if (pod.metadata.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) {
      selection.skipped.push({ pod, reason: 'MirrorPod' });
    } else if (deletingSince !== undefined) {
      selection.terminating.push(pod);
    } else {
      selection.evict.push(pod);
    }
  }
  return selection;
}

/**
 * Marks the Node unschedulable, so no new pod lands on it while it drains. Reads first and writes
 * only when the Node is not cordoned yet. Returns the Node as stored, or undefined when there is
 * no such Node.
 */
export async function cordon(client: KubeClient, nodeName: string): Promise<KubeObject | undefined> {
  try {
    const node = await client.get(resources.nodes, undefined, nodeName);
    if (node.spec?.unschedulable === true) return node;
    // A merge patch touches only this field: no read-modify-write race with the kubelet's status.
    return await client.patch(resources.nodes, undefined, nodeName, 'merge', { spec: { unschedulable: true } });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export interface DrainOptions {
  /**
   * When the drain began, in milliseconds since the epoch. Keep it on the Machine (the
   * lastTransitionTime of its Draining condition, or its deletionTimestamp), not in memory, so an
   * operator restart does not restart the clock.
   */
  readonly startedAt: number;
  /**
   * How long pods are evicted before the drain gives up and reports `timedOut`; 0: do not drain
   * (done at once, the Node is not even cordoned).
   */
  readonly timeoutSeconds: number;
  /** The clock. @default Date.now */
  readonly now?: () => number;
  /**
   * How soon to look again while pods remain (a refused eviction, a pod still terminating); never
   * later than the deadline. @default 5000, kubectl drain's wait after a refused eviction
   */
  readonly retryIntervalMs?: number;
  /** Evictions in flight at once. @default 8 */
  readonly concurrency?: number;
}

export interface BlockedPod {
  /** `<namespace>/<name>`. */
  readonly pod: string;
  /** Why it was not evicted: the disruption budget's own words on a 429, the API's error otherwise. */
  readonly reason: string;
}

export interface DrainResult {
  /** No pod that must leave is left on the node (or there is no node, or timeoutSeconds is 0). */
  readonly done: boolean;
  /** Pods remain and the timeout has passed: the caller deletes the machine anyway. */
  readonly timedOut: boolean;
  /** Pods on their way out: evicted in this pass, or already terminating. */
  readonly evicting: number;
  /** Pods left for the next pass, sorted by namespace/name. */
  readonly blocked: BlockedPod[];
  /** When to call again; 0 once done or timed out. */
  readonly requeueAfterMs: number;
  /** One line for the Machine's Draining / DrainTimeout condition. */
  readonly message: string;
}

const EVICTION_MESSAGE_LIMIT = 5;

/**
 * One pass of the drain, meant for a reconcile that requeues after `requeueAfterMs`: cordons the
 * Node, lists its pods (`spec.nodeName=<node>`), evicts those `podsToEvict` selects and reports
 * what is left. It never waits for a pod to go, and never deletes one: a pod a budget protects
 * stays in `blocked` until the budget allows its eviction or the timeout passes.
 *
 * A Node whose Ready condition is Unknown has no kubelet to finish a deletion: as cluster-api does,
 * evictions there ask for a 1 s grace period and pods deleted more than 1 s ago are no longer
 * waited for.
 *
 * Throws when the Node or its pods cannot be read (the cluster's API is unreachable), so the work
 * queue backs off; once the timeout has passed it reports `timedOut` instead, so an unreachable
 * cluster cannot keep the machine either. A failed eviction is not thrown: the pod is reported in
 * `blocked` with the API's message and tried again on the next pass.
 */
export async function drainStep(client: KubeClient, nodeName: string, opts: DrainOptions): Promise<DrainResult> {
  const { startedAt, timeoutSeconds } = opts;
  if (!Number.isFinite(startedAt)) throw new Error(`drain of Node ${nodeName}: startedAt ${startedAt} is not a time; pass milliseconds since the epoch`);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) {
    throw new Error(`drain of Node ${nodeName}: timeoutSeconds ${timeoutSeconds} is invalid; use 0 (do not drain) or a positive number of seconds`);
  }
  if (timeoutSeconds === 0) {
    return { done: true, timedOut: false, evicting: 0, blocked: [], requeueAfterMs: 0, message: `Node ${nodeName} is not drained: the drain timeout is 0` };
  }
  const now = (opts.now ?? Date.now)();
  const deadline = startedAt + timeoutSeconds * 1000;
  const pastDeadline = now > deadline;

  let node: KubeObject | undefined;
  let pods: KubeObject[];
  try {
    node = await cordon(client, nodeName);
    pods = node ? await podsOnNode(client, nodeName) : [];
  } catch (err) {
    if (!pastDeadline) throw err;
    const why = err instanceof Error ? err.message : String(err);
    return { done: false, timedOut: true, evicting: 0, blocked: [], requeueAfterMs: 0, message: `Drain of Node ${nodeName} timed out after ${timeoutSeconds}s; its pods cannot be read: ${why}` };
  }
  if (!node) {
    return { done: true, timedOut: false, evicting: 0, blocked: [], requeueAfterMs: 0, message: `Node ${nodeName} does not exist: nothing to drain` };
  }

  const unreachable = isUnreachable(node);
  const selection = podsToEvict(pods, { now, skipWaitForDeleteTimeoutSeconds: unreachable ? 1 : 0 });
  const limit = pLimit(opts.concurrency ?? 8);
  const outcomes = await Promise.all(selection.evict.map((pod) => limit(() => evict(client, pod, unreachable ? 1 : undefined))));
  const blocked: BlockedPod[] = [];
  let evicting = selection.terminating.length;
  selection.evict.forEach((pod, i) => {
    const outcome = outcomes[i];
    if (outcome === 'evicted') evicting += 1;
    else if (outcome !== 'gone') blocked.push({ pod: podKey(pod), reason: outcome.blocked });
  });

  const done = evicting === 0 && blocked.length === 0;
  const timedOut = !done && pastDeadline;
  const requeueAfterMs = done || timedOut ? 0 : Math.max(1, Math.min(opts.retryIntervalMs ?? 5000, deadline - now + 1));
  return { done, timedOut, evicting, blocked, requeueAfterMs, message: drainMessage(nodeName, { done, timedOut, evicting, blocked, timeoutSeconds }) };
}

/** All pods bound to the node, in every namespace, page by page. */
async function podsOnNode(client: KubeClient, nodeName: string): Promise<KubeObject[]> {
  const pods: KubeObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.list(resources.pods, undefined, { fieldSelector: `spec.nodeName=${nodeName}`, limit: 500, continue: token });
    pods.push(...page.items);
    token = page.metadata.continue;
  } while (token);
  return pods;
}

/** The kubelet stopped reporting: the node lifecycle controller set Ready to Unknown. */
function isUnreachable(node: KubeObject): boolean {
  const ready = (node.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready');
  return ready?.status === 'Unknown';
}

type EvictionOutcome = 'evicted' | 'gone' | { blocked: string };

/**
 * POSTs a policy/v1 Eviction for the pod, pinned to its uid: a pod of the same name made since the
 * list (a StatefulSet's replacement, maybe on another node) answers 409 and is left alone.
 */
async function evict(client: KubeClient, pod: KubeObject, gracePeriodSeconds: number | undefined): Promise<EvictionOutcome> {
  const { name, namespace, uid } = pod.metadata;
  const eviction = {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name, namespace },
    deleteOptions: { ...(uid ? { preconditions: { uid } } : {}), ...(gracePeriodSeconds !== undefined ? { gracePeriodSeconds } : {}) },
  };
  try {
    await client.createSub(resources.pods, namespace, name!, 'eviction', eviction);
    return 'evicted';
  } catch (err) {
    if (isNotFound(err)) return 'gone';
    if (err instanceof KubeApiError) {
      if (err.code === 409 && /precondition failed: uid/i.test(err.message)) return 'gone';
      if (err.code === 429) return { blocked: budgetMessage(err) };
      return { blocked: `eviction failed (${err.code} ${err.reason}): ${err.message}` };
    }
    return { blocked: `eviction failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/**
 * The budget's own words: kube-apiserver answers "Cannot evict pod as it would violate the pod's
 * disruption budget." and names the budget in details.causes ("The disruption budget web needs 3
 * healthy pods and has 3 currently"); the causes say more, so they are used when present.
 */
export function budgetMessage(err: KubeApiError): string {
  const causes = ((err.status as { details?: { causes?: Array<{ message?: string }> } } | undefined)?.details?.causes ?? [])
    .map((c) => c.message)
    .filter((m): m is string => Boolean(m));
  return causes.length ? causes.join('; ') : err.message;
}

/** The condition message for a pass: what is evicting, and the first few blocked pods with why. */
export function drainMessage(
  nodeName: string,
  r: { done: boolean; timedOut: boolean; evicting: number; blocked: readonly BlockedPod[]; timeoutSeconds: number },
): string {
  if (r.done) return `Node ${nodeName} is drained`;
  const parts: string[] = [];
  if (r.evicting) parts.push(`${r.evicting} pod${r.evicting === 1 ? '' : 's'} terminating`);
  if (r.blocked.length) {
    const shown = r.blocked.slice(0, EVICTION_MESSAGE_LIMIT).map((b) => `${b.pod}: ${b.reason}`);
    const more = r.blocked.length - shown.length;
    parts.push(`${r.blocked.length} not evicted (${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''})`);
  }
  const head = r.timedOut ? `Drain of Node ${nodeName} timed out after ${r.timeoutSeconds}s` : `Draining Node ${nodeName}`;
  return `${head}: ${parts.join(', ')}`;
}
