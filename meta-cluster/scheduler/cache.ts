/**
 * The scheduler's view of the cluster: every node with the pods on it, kept from informer events,
 * plus pods the scheduler has "assumed" onto a node before the API confirmed the binding, so
 * decisions made while bindings are in flight already see them. An assumed pod is confirmed by the
 * bound-pod informer, dropped when its binding fails, and expired if the informer never confirms
 * it (the pod was deleted during a relist gap).
 */
import type { KubeObject } from '../../operators/runtime/client.js';
import { NodeInfo } from './node-info.js';
import { NodeTable } from './node-table.js';
import { isTerminalPod, podInfo, type PodInfo } from './pod-info.js';
import type { Placement } from './scoring.js';

interface PodEntry {
  info: PodInfo;
  nodeName: string;
  assumed: boolean;
  /** When the binding call returned: the informer should confirm soon after. */
  bindFinishedAt?: number;
}

export class SchedulerCache {
  /** By node name; includes placeholders for nodes that have pods but no Node object. */
  readonly nodes = new Map<string, NodeInfo>();
  private readonly pods = new Map<string, PodEntry>();
  private readonly table = new NodeTable();

  /** Adds or updates a Node; true when the change may let pending pods fit. */
  setNode(node: KubeObject): boolean {
    const ni = this.nodeInfo(node.metadata.name!);
    const changed = ni.setNode(node);
    this.table.sync(ni);
    return changed;
  }

  removeNode(name: string): void {
    const ni = this.nodes.get(name);
    if (!ni) return;
    ni.setNode(undefined);
    this.table.sync(ni);
    this.dropIfEmpty(ni);
  }

  /** The best node for the pod, or why there is none. O(nodes). */
  selectHost(pod: PodInfo): Placement {
    return this.table.selectHost(pod);
  }

  /**
   * A pod the API shows bound (from the bound-pod informer). Returns true when it freed capacity
   * (it finished, or moved off an assumed node).
   */
  addBoundPod(pod: KubeObject): boolean {
    const uid = pod.metadata.uid!;
    if (isTerminalPod(pod)) return this.remove(uid);
    const nodeName = pod.spec?.nodeName as string | undefined;
    if (!nodeName) return this.remove(uid);
    const entry = this.pods.get(uid);
    const info = podInfo(pod);
    if (entry && entry.nodeName === nodeName && sameAccounting(entry.info, info)) {
      entry.assumed = false;
      return false;
    }
    const freed = entry ? this.remove(uid) : false;
    this.attach({ info, nodeName, assumed: false });
    return freed;
  }

  /** A bound pod is gone (deleted, or finished and left the informer's selector). */
  removeBoundPod(pod: KubeObject): boolean {
    return this.remove(pod.metadata.uid!);
  }

  /** Places the pod on the node in the cache before the binding is confirmed. */
  assume(info: PodInfo, nodeName: string): void {
    if (this.pods.has(info.uid)) throw new Error(`pod ${info.key} (${info.uid}) is already in the scheduler cache`);
    this.attach({ info, nodeName, assumed: true });
  }

  finishBinding(uid: string, now = Date.now()): void {
    const entry = this.pods.get(uid);
    if (entry?.assumed) entry.bindFinishedAt = now;
  }

  /** Undoes an assumption whose binding failed; a confirmed pod stays. */
  forget(uid: string): boolean {
    return this.pods.get(uid)?.assumed ? this.remove(uid) : false;
  }

  /** Drops assumed pods bound more than ttlMs ago that no informer event confirmed. */
  expireAssumed(now: number, ttlMs: number): number {
    let n = 0;
    for (const [uid, e] of this.pods) {
      if (e.assumed && e.bindFinishedAt !== undefined && now - e.bindFinishedAt > ttlMs) {
        this.remove(uid);
        n++;
      }
    }
    return n;
  }

  has(uid: string): boolean {
    return this.pods.has(uid);
  }

  isAssumed(uid: string): boolean {
    return this.pods.get(uid)?.assumed === true;
  }

  nodeOf(uid: string): string | undefined {
    return this.pods.get(uid)?.nodeName;
  }

  get podCount(): number {
    return this.pods.size;
  }

  private nodeInfo(name: string): NodeInfo {
    let ni = this.nodes.get(name);
    if (!ni) {
      this.nodes.set(name, (ni = new NodeInfo(name)));
      this.table.add(ni);
    }
    return ni;
  }

  /** Placeholders (no Node object) go once their last pod has. */
  private dropIfEmpty(ni: NodeInfo): void {
    if (ni.node || ni.podCount > 0) return;
    this.table.remove(ni);
    this.nodes.delete(ni.name);
  }

  private attach(entry: PodEntry): void {
    this.pods.set(entry.info.uid, entry);
    const ni = this.nodeInfo(entry.nodeName);
    if (!ni.addPod(entry.info)) return;
    this.table.sync(ni);
    this.table.ownerDelta(entry.info.ownerUid, ni, 1);
  }

  private remove(uid: string): boolean {
    const entry = this.pods.get(uid);
    if (!entry) return false;
    this.pods.delete(uid);
    const ni = this.nodes.get(entry.nodeName);
    if (ni?.removePod(entry.info)) {
      this.table.sync(ni);
      this.table.ownerDelta(entry.info.ownerUid, ni, -1);
      this.dropIfEmpty(ni);
    }
    return true;
  }
}

/** Whether two views of one pod count the same on a node (status updates usually change nothing). */
function sameAccounting(a: PodInfo, b: PodInfo): boolean {
  const [ra, rb] = [a.requests, b.requests];
  return (
    a.ownerUid === b.ownerUid &&
    ra.milliCPU === rb.milliCPU &&
    ra.memory === rb.memory &&
    ra.ephemeralStorage === rb.ephemeralStorage &&
    a.nonZero.milliCPU === b.nonZero.milliCPU &&
    a.nonZero.memory === b.nonZero.memory &&
    JSON.stringify(ra.scalar) === JSON.stringify(rb.scalar)
  );
}
