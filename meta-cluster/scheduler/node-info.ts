/**
 * One node as the scheduler sees it: the placement-relevant parts of the Node object, read once
 * per change, and running totals of the pods on it, kept incrementally as pods come and go.
 * A NodeInfo may exist without its Node (pods bound to a node the cache has not seen yet, or to a
 * deleted one) so that accounting is right whenever the Node appears.
 */
import type { KubeObject } from '../../operators/runtime/client.js';
import type { PodInfo, Taint } from './pod-info.js';
import { QuantityError } from './quantity.js';
import { emptyResources, nodeAllocatable, type Allocatable, type NonZeroRequests, type Resources } from './resources.js';

export class NodeInfo {
  node?: KubeObject;
  labels: Readonly<Record<string, string>> = {};
  /** The Ready condition's status: 'True', 'False' or 'Unknown' (also when absent). */
  readyStatus = 'Unknown';
  unschedulable = false;
  /** NoSchedule and NoExecute taints: they keep pods off unless tolerated. */
  hardTaints: readonly Taint[] = [];
  /** PreferNoSchedule taints: they only lower the score. */
  softTaints: readonly Taint[] = [];
  allocatable: Allocatable = { ...emptyResources(), pods: 0 };
  /** Ready, not cordoned, no NoSchedule/NoExecute taints: only resources can keep a pod off. */
  plain = false;
  /** What decides placement, as a string: when it changes, pending pods may fit now. */
  signature = '';

  readonly requested: Resources = emptyResources();
  readonly nonZeroRequested: NonZeroRequests = { milliCPU: 0, memory: 0 };
  podCount = 0;
  /** Pods per controller owner uid. */
  readonly ownerCounts = new Map<string, number>();
  /** Pods on this node by uid. */
  readonly pods = new Map<string, PodInfo>();
  /** Row in the cache's NodeTable; -1 when not in one. */
  slot = -1;

  constructor(readonly name: string) {}

  /** A node with the given pods on it (tests and one-off checks). */
  static of(node: KubeObject, pods: Iterable<PodInfo> = []): NodeInfo {
    const ni = new NodeInfo(node.metadata.name!);
    ni.setNode(node);
    for (const p of pods) ni.addPod(p);
    return ni;
  }

  /** Replaces the Node object (undefined when it was deleted); returns whether placement may differ. */
  setNode(node: KubeObject | undefined): boolean {
    this.node = node;
    const before = this.signature;
    if (!node) {
      this.plain = false;
      this.signature = '';
      return before !== '';
    }
    this.labels = node.metadata.labels ?? {};
    const ready = ((node.status?.conditions ?? []) as Array<{ type: string; status: string }>).find((c) => c.type === 'Ready');
    this.readyStatus = ready?.status ?? 'Unknown';
    this.unschedulable = node.spec?.unschedulable === true;
    const taints = (node.spec?.taints ?? []) as Taint[];
    this.hardTaints = taints.filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
    this.softTaints = taints.filter((t) => t.effect === 'PreferNoSchedule');
    try {
      this.allocatable = nodeAllocatable(node);
    } catch (err) {
      // A node reporting a malformed quantity offers nothing until it reports a good one.
      if (!(err instanceof QuantityError)) throw err;
      this.allocatable = { ...emptyResources(), pods: 0 };
    }
    this.plain = this.readyStatus === 'True' && !this.unschedulable && this.hardTaints.length === 0;
    this.signature = JSON.stringify([this.labels, this.readyStatus, this.unschedulable, taints, this.allocatable]);
    return this.signature !== before;
  }

  /** Counts the pod on this node; false when it was already counted. */
  addPod(p: PodInfo): boolean {
    if (this.pods.has(p.uid)) return false;
    this.pods.set(p.uid, p);
    this.podCount++;
    this.apply(p, 1);
    return true;
  }

  removePod(p: PodInfo): boolean {
    if (!this.pods.delete(p.uid)) return false;
    this.podCount--;
    this.apply(p, -1);
    return true;
  }

  private apply(p: PodInfo, sign: 1 | -1): void {
    const r = p.requests;
    this.requested.milliCPU += sign * r.milliCPU;
    this.requested.memory += sign * r.memory;
    this.requested.ephemeralStorage += sign * r.ephemeralStorage;
    if (r.scalar) {
      const s = (this.requested.scalar ??= {});
      for (const [k, v] of Object.entries(r.scalar)) s[k] = (s[k] ?? 0) + sign * v;
    }
    this.nonZeroRequested.milliCPU += sign * p.nonZero.milliCPU;
    this.nonZeroRequested.memory += sign * p.nonZero.memory;
    if (p.ownerUid) {
      const n = (this.ownerCounts.get(p.ownerUid) ?? 0) + sign;
      if (n > 0) this.ownerCounts.set(p.ownerUid, n);
      else this.ownerCounts.delete(p.ownerUid);
    }
  }
}
