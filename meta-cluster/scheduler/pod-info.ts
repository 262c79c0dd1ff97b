/**
 * The parts of a pod that decide where it may run, read once per scheduling attempt so the
 * per-node checks only compare numbers and short lists.
 */
import type { KubeObject } from '../../operators/runtime/client.js';
import { QuantityError } from './quantity.js';
import { emptyResources, isZero, podNonZeroRequests, podRequests, type NonZeroRequests, type Resources } from './resources.js';

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  /** Set on NoExecute taints: evictions count tolerationSeconds from it. */
  timeAdded?: string;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

export interface PodInfo {
  /** `namespace/name`, the informer and queue key. */
  readonly key: string;
  readonly uid: string;
  readonly schedulerName: string;
  readonly requests: Resources;
  /** True when the pod asks for no cpu, memory, storage or extended resources. */
  readonly requestsZero: boolean;
  readonly nonZero: NonZeroRequests;
  /** uid of the controller owner reference: pods of one owner are spread. */
  readonly ownerUid?: string;
  readonly nodeSelector?: ReadonlyArray<readonly [string, string]>;
  /** requiredDuringSchedulingIgnoredDuringExecution terms; undefined when the pod has none. */
  readonly requiredTerms?: readonly NodeSelectorTerm[];
  readonly tolerations: readonly Toleration[];
  /** No nodeSelector and no required node affinity. */
  readonly anyNode: boolean;
  /** Set when the pod cannot be evaluated (a malformed quantity): it fits nowhere. */
  readonly invalid?: string;
}

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

export function podKey(pod: KubeObject): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name}`;
}

export function podInfo(pod: KubeObject): PodInfo {
  const spec = pod.spec ?? {};
  let requests: Resources;
  let nonZero: NonZeroRequests;
  let invalid: string | undefined;
  try {
    requests = podRequests(pod);
    nonZero = podNonZeroRequests(pod);
  } catch (err) {
    if (!(err instanceof QuantityError)) throw err;
    requests = emptyResources();
    nonZero = { milliCPU: 0, memory: 0 };
    invalid = err.message;
  }
  const selector = spec.nodeSelector as Record<string, string> | undefined;
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms as
    | NodeSelectorTerm[]
    | undefined;
  const owner = (pod.metadata.ownerReferences ?? []).find((r) => r.controller);
  const nodeSelector = selector && Object.keys(selector).length ? Object.entries(selector) : undefined;
  // A present but empty list matches no node, as in Kubernetes; only absence means "anywhere".
  const requiredTerms = Array.isArray(terms) ? terms : undefined;
  return {
    key: podKey(pod),
    uid: pod.metadata.uid ?? podKey(pod),
    schedulerName: spec.schedulerName || DEFAULT_SCHEDULER_NAME,
    requests,
    requestsZero: isZero(requests),
    nonZero,
    ownerUid: owner?.uid,
    nodeSelector,
    requiredTerms,
    tolerations: (spec.tolerations ?? []) as Toleration[],
    anyNode: !nodeSelector && !requiredTerms,
    invalid,
  };
}

/** Succeeded and Failed pods hold no resources. */
export const isTerminalPod = (pod: KubeObject): boolean =>
  pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
