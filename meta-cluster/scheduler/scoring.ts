/**
 * Choosing among the nodes a pod fits on. Preferences, strongest first:
 *   1. fewer pods of the same controller owner (spreads a ReplicaSet's replicas);
 *   2. more room left after placing the pod (kube-scheduler's LeastAllocated on cpu and memory,
 *      an integer 0–100, so nodes with nearly the same load count as equal);
 *   3. fewer PreferNoSchedule taints the pod does not tolerate;
 *   4. the node name, so the choice is deterministic.
 * Pure: `selectHost` also returns kube-scheduler's "0/N nodes are available" message when no node fits.
 */
import type { NodeInfo } from './node-info.js';
import type { PodInfo } from './pod-info.js';
import { addReasons, filterNode, fitErrorMessage, tolerates } from './predicates.js';

export const MAX_NODE_SCORE = 100;

export interface NodeScore {
  /** Pods on the node with the same controller owner as this pod. */
  sameOwner: number;
  /** 0–100: higher means more cpu and memory left after placing the pod. */
  leastRequested: number;
  /** PreferNoSchedule taints on the node that the pod does not tolerate. */
  preferNoSchedule: number;
}

function leastRequested(requested: number, capacity: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return Math.floor(((capacity - requested) * MAX_NODE_SCORE) / capacity);
}

/** LeastAllocated over cpu and memory with equal weights, counting unset requests as kube's defaults. */
export function leastRequestedScore(pod: PodInfo, node: NodeInfo): number {
  const cpu = leastRequested(node.nonZeroRequested.milliCPU + pod.nonZero.milliCPU, node.allocatable.milliCPU);
  const memory = leastRequested(node.nonZeroRequested.memory + pod.nonZero.memory, node.allocatable.memory);
  return Math.floor((cpu + memory) / 2);
}

/** Tolerations that count against PreferNoSchedule taints: those with that effect or none. */
export function intolerablePreferNoSchedule(pod: PodInfo, node: NodeInfo): number {
  let n = 0;
  for (const taint of node.softTaints) {
    let tolerated = false;
    for (const t of pod.tolerations) {
      if ((!t.effect || t.effect === 'PreferNoSchedule') && tolerates([t], taint)) {
        tolerated = true;
        break;
      }
    }
    if (!tolerated) n++;
  }
  return n;
}

export function scoreNode(pod: PodInfo, node: NodeInfo): NodeScore {
  return {
    sameOwner: pod.ownerUid ? (node.ownerCounts.get(pod.ownerUid) ?? 0) : 0,
    leastRequested: leastRequestedScore(pod, node),
    preferNoSchedule: node.softTaints.length ? intolerablePreferNoSchedule(pod, node) : 0,
  };
}

/** Negative when node a (with score sa) is preferred over node b; the order `nodeRank` encodes. */
export function compareScores(sa: NodeScore, a: string, sb: NodeScore, b: string): number {
  return (
    sa.sameOwner - sb.sameOwner ||
    sb.leastRequested - sa.leastRequested ||
    sa.preferNoSchedule - sb.preferNoSchedule ||
    (a < b ? -1 : a > b ? 1 : 0)
  );
}

/**
 * The preferences folded into one number, lower is better, so the hot loop allocates nothing:
 * same-owner count, then room left (100 − LeastAllocated), then untolerated PreferNoSchedule taints.
 */
export function nodeRank(pod: PodInfo, node: NodeInfo): number {
  const sameOwner = pod.ownerUid ? (node.ownerCounts.get(pod.ownerUid) ?? 0) : 0;
  const room = MAX_NODE_SCORE - leastRequestedScore(pod, node);
  const soft = node.softTaints.length ? Math.min(intolerablePreferNoSchedule(pod, node), 999) : 0;
  return sameOwner * 1_000_000 + room * 1000 + soft;
}

export interface Placement {
  /** The chosen node, or undefined when the pod fits nowhere. */
  node?: NodeInfo;
  /** Why no node fits (kube-scheduler's FitError wording); set only when `node` is not. */
  message?: string;
  /** Nodes examined (only those with a Node object count). */
  nodes: number;
}

/** Filters every node, ranks the feasible ones, and picks the best (ties: first name). O(nodes). */
export function selectHost(pod: PodInfo, nodes: Iterable<NodeInfo>): Placement {
  let best: NodeInfo | undefined;
  let bestRank = Infinity;
  let histogram: Map<string, number> | undefined;
  let count = 0;
  for (const node of nodes) {
    if (!node.node) continue;
    count++;
    const reasons = filterNode(pod, node);
    if (reasons) {
      addReasons((histogram ??= new Map()), reasons);
      continue;
    }
    const rank = nodeRank(pod, node);
    if (rank < bestRank || (rank === bestRank && node.name < best!.name)) {
      best = node;
      bestRank = rank;
    }
  }
  if (best) return { node: best, nodes: count };
  return { message: fitErrorMessage(count, histogram ?? new Map()), nodes: count };
}
