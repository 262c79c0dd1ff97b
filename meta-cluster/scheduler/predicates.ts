/**
 * Filters: may this pod run on this node? Each returns undefined when it may, or the reasons it
 * may not, worded as kube-scheduler words them so the Unschedulable message reads the same.
 * They run in kube-scheduler's plugin order and stop at the first filter that fails.
 * Pure and allocation-free on the happy path: they run once per node per pod.
 */
import type { NodeInfo } from './node-info.js';
import type { NodeSelectorRequirement, NodeSelectorTerm, PodInfo, Taint, Toleration } from './pod-info.js';

export type Reasons = readonly string[];

export const REASON_NOT_READY = 'node(s) were not ready';
export const REASON_UNSCHEDULABLE = 'node(s) were unschedulable';
export const REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
export const REASON_TOO_MANY_PODS = 'Too many pods';
export const insufficient = (resource: string) => `Insufficient ${resource}`;
export const untoleratedTaint = (t: Taint) => `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;

const NOT_READY: Reasons = Object.freeze([REASON_NOT_READY]);
const UNSCHEDULABLE: Reasons = Object.freeze([REASON_UNSCHEDULABLE]);
const AFFINITY: Reasons = Object.freeze([REASON_AFFINITY]);
const TOO_MANY_PODS: Reasons = Object.freeze([REASON_TOO_MANY_PODS]);

/** Taints the node lifecycle controller would put on a node that is not Ready, or unreachable. */
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

/** Toleration.ToleratesTaint, as in k8s.io/api/core/v1. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? '') {
    case '':
    case 'Equal':
      return (t.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

export function tolerates(tolerations: readonly Toleration[], taint: Taint): boolean {
  for (const t of tolerations) if (toleratesTaint(t, taint)) return true;
  return false;
}

/**
 * The node must be Ready. A pod that tolerates the taint Kubernetes puts on such a node
 * (`node.kubernetes.io/not-ready` or `/unreachable`, NoSchedule) may still go there, as
 * DaemonSet pods do. Once the node lifecycle controller has put that taint on, the taint filter
 * decides and names it, as kube-scheduler (which only looks at taints) would.
 */
export function checkReady(pod: PodInfo, node: NodeInfo): Reasons | undefined {
  if (node.readyStatus === 'True') return undefined;
  const key = node.readyStatus === 'False' ? TAINT_NOT_READY : TAINT_UNREACHABLE;
  for (const t of node.hardTaints) if (t.key === key && t.effect === 'NoSchedule') return undefined;
  return tolerates(pod.tolerations, { key, effect: 'NoSchedule' }) ? undefined : NOT_READY;
}

/** A cordoned node (spec.unschedulable) takes only pods tolerating its unschedulable taint. */
export function checkUnschedulable(pod: PodInfo, node: NodeInfo): Reasons | undefined {
  if (!node.unschedulable) return undefined;
  return tolerates(pod.tolerations, { key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' }) ? undefined : UNSCHEDULABLE;
}

/** NoSchedule and NoExecute taints keep the pod off unless tolerated; the first one names the reason. */
export function checkTaints(pod: PodInfo, node: NodeInfo): Reasons | undefined {
  for (const taint of node.hardTaints) if (!tolerates(pod.tolerations, taint)) return [untoleratedTaint(taint)];
  return undefined;
}

const INTEGER = /^[+-]?\d+$/;

function matchRequirement(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || values.length !== 1 || !INTEGER.test(value) || !INTEGER.test(values[0]!)) return false;
      const [a, b] = [BigInt(value), BigInt(values[0]!)];
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** One term: all its expressions (labels) and fields (only metadata.name) must match. Empty matches nothing. */
export function matchNodeSelectorTerm(term: NodeSelectorTerm, node: Pick<NodeInfo, 'labels' | 'name'>): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  for (const e of exprs) {
    const v = Object.hasOwn(node.labels, e.key) ? node.labels[e.key] : undefined;
    if (!matchRequirement(e, v)) return false;
  }
  for (const f of fields) {
    if (f.key !== 'metadata.name' || (f.operator !== 'In' && f.operator !== 'NotIn')) return false;
    if (!matchRequirement(f, node.name)) return false;
  }
  return true;
}

/** nodeSelector (every label) and required node affinity (any term). */
export function checkNodeAffinity(pod: PodInfo, node: NodeInfo): Reasons | undefined {
  if (pod.nodeSelector) {
    for (const [k, v] of pod.nodeSelector) if (node.labels[k] !== v) return AFFINITY;
  }
  if (pod.requiredTerms) {
    let any = false;
    for (const term of pod.requiredTerms) {
      if (matchNodeSelectorTerm(term, node)) {
        any = true;
        break;
      }
    }
    if (!any) return AFFINITY;
  }
  return undefined;
}

/** NodeResourcesFit: the pod's requests against allocatable minus what the node's pods request. */
export function checkResources(pod: PodInfo, node: NodeInfo): Reasons | undefined {
  // Runs once per node per pod: decide with plain comparisons, build reasons only on failure.
  const alloc = node.allocatable;
  const tooMany = node.podCount + 1 > alloc.pods;
  if (pod.requestsZero) return tooMany ? TOO_MANY_PODS : undefined;
  const r = pod.requests;
  const used = node.requested;
  if (
    !tooMany &&
    r.milliCPU <= alloc.milliCPU - used.milliCPU &&
    r.memory <= alloc.memory - used.memory &&
    r.ephemeralStorage <= alloc.ephemeralStorage - used.ephemeralStorage &&
    (r.scalar === undefined || scalarsFit(r.scalar, node))
  ) {
    return undefined;
  }
  const reasons: string[] = tooMany ? [REASON_TOO_MANY_PODS] : [];
  if (r.milliCPU > 0 && r.milliCPU > alloc.milliCPU - used.milliCPU) reasons.push(insufficient('cpu'));
  if (r.memory > 0 && r.memory > alloc.memory - used.memory) reasons.push(insufficient('memory'));
  if (r.ephemeralStorage > 0 && r.ephemeralStorage > alloc.ephemeralStorage - used.ephemeralStorage) {
    reasons.push(insufficient('ephemeral-storage'));
  }
  for (const [name, v] of Object.entries(r.scalar ?? {})) {
    if (v > 0 && v > (alloc.scalar?.[name] ?? 0) - (node.requested.scalar?.[name] ?? 0)) reasons.push(insufficient(name));
  }
  return reasons.length ? reasons : undefined;
}

function scalarsFit(scalar: Record<string, number>, node: NodeInfo): boolean {
  for (const name in scalar) {
    const v = scalar[name]!;
    if (v > 0 && v > (node.allocatable.scalar?.[name] ?? 0) - (node.requested.scalar?.[name] ?? 0)) return false;
  }
  return true;
}

/** Every filter but resource fit, in kube-scheduler's order. */
export function filterNodeExceptResources(pod: PodInfo, node: NodeInfo): Reasons | undefined {
  if (pod.invalid) return [pod.invalid];
  return checkReady(pod, node) ?? checkUnschedulable(pod, node) ?? checkTaints(pod, node) ?? checkNodeAffinity(pod, node);
}

/** All filters in kube-scheduler's order; the first that fails gives the node's reasons. */
export function filterNode(pod: PodInfo, node: NodeInfo): Reasons | undefined {
  return filterNodeExceptResources(pod, node) ?? checkResources(pod, node);
}

/** Counts how many nodes gave each reason. */
export function addReasons(histogram: Map<string, number>, reasons: Reasons): void {
  for (const r of reasons) histogram.set(r, (histogram.get(r) ?? 0) + 1);
}

/**
 * kube-scheduler's FitError message: `0/3 nodes are available: 1 node(s) had untolerated taint
 * {node.kubernetes.io/unreachable: }, 2 Insufficient cpu.` — "<count> <reason>" strings sorted.
 */
export function fitErrorMessage(numNodes: number, histogram: ReadonlyMap<string, number>): string {
  if (numNodes === 0) return 'no nodes available to schedule pods';
  const parts = [...histogram].map(([reason, n]) => `${n} ${reason}`).sort();
  return `0/${numNodes} nodes are available: ${parts.join(', ')}.`;
}
