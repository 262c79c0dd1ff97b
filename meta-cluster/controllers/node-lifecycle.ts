/**
 * The node lifecycle controller, after kube-controller-manager's:
 * - node health: a node whose Lease in `kube-node-lease` (or Ready heartbeat) has not changed for
 *   nodeMonitorGracePeriodSeconds, as observed by this controller's clock, gets its conditions set
 *   to Unknown through nodes/status. Only the kubelet sets Ready=True again.
 * - taints from conditions: Ready=Unknown → `node.kubernetes.io/unreachable`, Ready=False →
 *   `node.kubernetes.io/not-ready`, each NoSchedule and NoExecute; spec.unschedulable →
 *   `node.kubernetes.io/unschedulable:NoSchedule`. They go when the condition does.
 * - NoExecute eviction (the taint manager): a pod on a node with a NoExecute taint it does not
 *   tolerate is deleted at once; one it tolerates for tolerationSeconds is deleted when that runs
 *   out, counted from the taint's timeAdded. No default 300 s tolerations are assumed.
 * - pod GC for lost nodes: no kubelet will finish a graceful deletion on an unreachable or deleted
 *   node, so pods there are deleted with gracePeriodSeconds 0 (terminating ones once their grace
 *   period has passed).
 */
import { isDeepStrictEqual } from 'node:util';
import { isStaleCache, isNotFound, type KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { SharedInformers, type Informer } from '../../operators/runtime/informer.js';
import { WorkQueue } from '../../operators/runtime/workqueue.js';
import { toleratesTaint, type Node, type Taint, type Toleration } from './daemonset.js';
import { isTerminating, type Pod } from './pod-util.js';
import { NODE_LEASE_NAMESPACE, resources } from './resources.js';
import { rfc3339 } from '../../operators/runtime/time.js';

export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

export const REASON_NODE_STATUS_UNKNOWN = 'NodeStatusUnknown';
export const REASON_NODE_STATUS_NEVER_UPDATED = 'NodeStatusNeverUpdated';
export const MESSAGE_STOPPED_POSTING = 'Kubelet stopped posting node status.';
export const MESSAGE_NEVER_POSTED = 'Kubelet never posted node status.';

interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}


const conditionsOf = (node: Node): NodeCondition[] => node.status?.conditions ?? [];
export const readyCondition = (node: Node): NodeCondition | undefined => conditionsOf(node).find((c) => c.type === 'Ready');

/** The kubelet-owned conditions a silent node can no longer vouch for. */
const KUBELET_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

/**
 * Conditions of a node whose kubelet went silent: each kubelet condition becomes Unknown (Ready is
 * added if the kubelet never posted one). Undefined when they already are.
 */
export function unknownConditions(node: Node, now: number): NodeCondition[] | undefined {
  const at = rfc3339(now);
  let changed = false;
  const out = conditionsOf(node).map((c) => {
    if (!KUBELET_CONDITIONS.includes(c.type) || c.status === 'Unknown') return c;
    changed = true;
    return { ...c, status: 'Unknown', reason: REASON_NODE_STATUS_UNKNOWN, message: MESSAGE_STOPPED_POSTING, lastTransitionTime: at };
  });
  if (!out.some((c) => c.type === 'Ready')) {
    changed = true;
    out.push({
      type: 'Ready',
      status: 'Unknown',
      reason: REASON_NODE_STATUS_NEVER_UPDATED,
      message: MESSAGE_NEVER_POSTED,
      lastHeartbeatTime: node.metadata.creationTimestamp,
      lastTransitionTime: at,
    });
  }
  return changed ? out : undefined;
}

/** The node's taints with this controller's set as its conditions say; undefined when unchanged. */
export function desiredNodeTaints(node: Node, now: number): Taint[] | undefined {
  const current: Taint[] = node.spec?.taints ?? [];
  const ready = readyCondition(node)?.status;
  const want: Taint[] = [];
  const condKey = ready === 'Unknown' ? TAINT_UNREACHABLE : ready === 'False' ? TAINT_NOT_READY : undefined;
  if (condKey) want.push({ key: condKey, effect: 'NoSchedule' }, { key: condKey, effect: 'NoExecute', timeAdded: rfc3339(now) });
  if (node.spec?.unschedulable === true) want.push({ key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' });
  const managed = [TAINT_UNREACHABLE, TAINT_NOT_READY, TAINT_UNSCHEDULABLE];
  const same = (a: Taint, b: Taint) => a.key === b.key && a.effect === b.effect;
  const next = current.filter((t) => !managed.includes(t.key) || want.some((w) => same(w, t)));
  for (const w of want) if (!next.some((t) => same(t, w))) next.push(w);
  return isDeepStrictEqual(next, current) ? undefined : next;
}

/**
 * When a pod on a node with these taints must go (epoch ms), or undefined if never. Per NoExecute
 * taint: no matching toleration → now; otherwise the smallest tolerationSeconds among the matching
 * ones after the taint's timeAdded (`fallbackStart` when it has none); none set → tolerated forever.
 */
export function podEvictionTime(pod: Pod, taints: Taint[], now: number, fallbackStart = now): number | undefined {
  const tolerations: Toleration[] = pod.spec?.tolerations ?? [];
  let at: number | undefined;
  for (const taint of taints) {
    if (taint.effect !== 'NoExecute') continue;
    const matching = tolerations.filter((t) => (!t.effect || t.effect === 'NoExecute') && toleratesTaint(t, taint));
    if (matching.length === 0) return now;
    const seconds = matching.map((t) => t.tolerationSeconds).filter((s): s is number => typeof s === 'number');
    if (seconds.length === 0) continue;
    const start = Date.parse(taint.timeAdded ?? '');
    const due = (Number.isFinite(start) ? start : fallbackStart) + Math.max(0, Math.min(...seconds)) * 1000;
    at = Math.min(at ?? Infinity, due);
  }
  return at;
}

// --- the controller --------------------------------------------------------------------------------

export interface NodeLifecycleControllerOptions {
  /** Informers shared with the other components of the process. @default this controller's own */
  informers?: SharedInformers;
  /** How long a node may stay silent before it is Unknown. @default 40 */
  nodeMonitorGracePeriodSeconds?: number;
  /** Parallel reconciles of different nodes. @default 4 */
  concurrency?: number;
  /** Informer full relist interval. @default 5 minutes */
  relistIntervalMs?: number;
  /** Where reconcile failures go. @default console.warn, conflicts excepted */
  log?: (message: string, err: unknown) => void;
}

export class NodeLifecycleController {
  private readonly nodes: Informer;
  private readonly leases: Informer;
  private readonly pods: Informer;
  private readonly queue: WorkQueue;
  private readonly graceMs: number;
  /** Per node: the last heartbeat seen (lease renewTime and Ready heartbeat) and when it was seen. */
  private readonly health = new Map<string, { heartbeat: string; seenAt: number }>();
  /** Per node: the earliest pending wake-up (a grace period or a toleration running out). */
  private readonly wakeups = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  /** When this controller first saw a NoExecute taint without timeAdded, per node/key. */
  private readonly taintSeen = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    opts: NodeLifecycleControllerOptions = {},
  ) {
    this.graceMs = (opts.nodeMonitorGracePeriodSeconds ?? 40) * 1000;
    const relistIntervalMs = opts.relistIntervalMs;
    const informers = opts.informers ?? new SharedInformers(client);
    this.nodes = informers.get({ resource: resources.nodes, relistIntervalMs });
    this.leases = informers.get({ resource: resources.leases, namespace: NODE_LEASE_NAMESPACE, relistIntervalMs });
    this.pods = informers.get({ resource: resources.pods, relistIntervalMs });
    const log = opts.log ?? ((m, e) => console.warn(m, e instanceof Error ? e.message : e));
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      name: 'node-lifecycle',
      concurrency: opts.concurrency,
      onError: (key, err) => isStaleCache(err) || log(`node ${key}: reconcile failed`, err),
    });
    const byName = (o: KubeObject) => this.queue.add(o.metadata.name!);
    this.nodes.on({ add: byName, update: (_, o) => byName(o), delete: byName });
    this.leases.on({ add: byName, update: (_, o) => byName(o), delete: byName });
    // A pod matters here only on a node that has NoExecute taints or is gone.
    const podChanged = (p: Pod) => {
      const nodeName: string | undefined = p.spec?.nodeName;
      if (!nodeName) return;
      const node = this.nodes.get(undefined, nodeName);
      if (!node || (node.spec?.taints ?? []).some((t: Taint) => t.effect === 'NoExecute')) this.queue.add(nodeName);
    };
    this.pods.on({ add: podChanged, update: (_, p) => podChanged(p) });
  }

  async start(): Promise<void> {
    await Promise.all([this.leases.start(), this.pods.start()]);
    await this.nodes.start();
  }

  async stop(): Promise<void> {
    this.queue.stop();
    for (const w of this.wakeups.values()) clearTimeout(w.timer);
    this.wakeups.clear();
    await this.queue.idle();
    await Promise.all([this.nodes.stop(), this.leases.stop(), this.pods.stop()]);
  }

  /** Reconcile `name` again at `at`, unless an earlier wake-up is already pending. */
  private wake(name: string, at: number): void {
    const pending = this.wakeups.get(name);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.wakeups.delete(name);
      this.queue.add(name);
    }, Math.max(0, at - Date.now()) + 5);
    timer.unref();
    this.wakeups.set(name, { at, timer });
  }

  private async reconcile(name: string): Promise<void> {
    const now = Date.now();
    const cached = this.nodes.get(undefined, name);
    // A scan of every pod: done only for a node that is gone or tainted NoExecute, never per heartbeat.
    const onNode = () => this.pods.list().filter((p) => p.spec?.nodeName === name);
    if (!cached) {
      this.health.delete(name);
      return this.collectOrphans(name, onNode());
    }
    let node: Node = cached;

    // Health: a changed heartbeat restarts the grace period, timed by this controller's clock.
    const lease = this.leases.get(NODE_LEASE_NAMESPACE, name);
    const heartbeat = `${lease?.spec?.renewTime ?? ''}|${readyCondition(node)?.lastHeartbeatTime ?? ''}`;
    let seen = this.health.get(name);
    if (!seen || seen.heartbeat !== heartbeat) this.health.set(name, (seen = { heartbeat, seenAt: now }));
    const deadline = seen.seenAt + this.graceMs;
    if (now >= deadline) {
      const conditions = unknownConditions(node, now);
      if (conditions) node = await this.client.update(resources.nodes, { ...node, status: { ...node.status, conditions } }, 'status');
    } else {
      this.wake(name, deadline);
    }

    const taints = desiredNodeTaints(node, now);
    if (taints) node = await this.client.update(resources.nodes, { ...node, spec: { ...node.spec, taints } });
    await this.evict(node, onNode, now);
  }

  /** The taint manager's part: delete the pods whose tolerations ran out. */
  private async evict(node: Node, podsOnNode: () => Pod[], now: number): Promise<void> {
    const name = node.metadata.name!;
    const taints: Taint[] = node.spec?.taints ?? [];
    const unreachable = taints.some((t) => t.key === TAINT_UNREACHABLE && t.effect === 'NoExecute');
    for (const t of taints) if (t.effect === 'NoExecute' && !this.taintSeen.has(`${name}/${t.key}`)) this.taintSeen.set(`${name}/${t.key}`, now);
    for (const key of [...this.taintSeen.keys()]) {
      if (key.startsWith(`${name}/`) && !taints.some((t) => t.effect === 'NoExecute' && `${name}/${t.key}` === key)) this.taintSeen.delete(key);
    }
    if (!taints.some((t) => t.effect === 'NoExecute')) return;
    const firstSeen = Math.min(now, ...taints.map((t) => this.taintSeen.get(`${name}/${t.key}`) ?? now));
    const pods = podsOnNode();
    const deletions: Array<Promise<unknown>> = [];
    for (const pod of pods) {
      if (isTerminating(pod)) {
        if (!unreachable) continue;
        const due = Date.parse(pod.metadata.deletionTimestamp!);
        if (!(due > now)) deletions.push(this.deletePod(pod, 0));
        else this.wake(name, due);
        continue;
      }
      const due = podEvictionTime(pod, taints, now, firstSeen);
      if (due === undefined) continue;
      if (due <= now) deletions.push(this.deletePod(pod, unreachable ? 0 : undefined));
      else this.wake(name, due);
    }
    await Promise.all(deletions);
  }

  /** Pods bound to a node that no longer exists (checked against the API, not just the cache). */
  private async collectOrphans(name: string, pods: Pod[]): Promise<void> {
    if (pods.length === 0) return;
    try {
      await this.client.get(resources.nodes, undefined, name);
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await Promise.all(pods.map((p) => this.deletePod(p, 0)));
  }

  private async deletePod(pod: Pod, gracePeriodSeconds?: number): Promise<void> {
    try {
      await this.client.delete(resources.pods, pod.metadata.namespace, pod.metadata.name!, {
        preconditions: { uid: pod.metadata.uid },
        ...(gracePeriodSeconds !== undefined ? { gracePeriodSeconds } : {}),
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
