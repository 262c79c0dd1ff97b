/**
 * What a pod asks for and what a node offers, in the units the scheduler compares: millicores,
 * bytes, and integer counts for extended resources (`nvidia.com/gpu`, `hugepages-2Mi`).
 * The pod's total follows Kubernetes (k8s.io/component-helpers resource.PodRequests): the sum of
 * its containers, raised to the largest init container (plus the restartable sidecars started
 * before it), plus the sidecars themselves and the pod overhead.
 */
import type { KubeObject } from '../../operators/runtime/client.js';
import { quantityMilli, quantityValue } from './quantity.js';

export interface Resources {
  milliCPU: number;
  memory: number;
  ephemeralStorage: number;
  /** Extended and hugepages resources by name; undefined when there are none. */
  scalar?: Record<string, number>;
}

/** Requests as the scoring functions see them: an unset cpu/memory request counts as a default. */
export interface NonZeroRequests {
  milliCPU: number;
  memory: number;
}

/** kube-scheduler's defaults for containers without a cpu or memory request (scoring only). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

type ResourceList = Record<string, string | number> | undefined;
interface Container {
  resources?: { requests?: ResourceList; limits?: ResourceList };
  restartPolicy?: string;
}

export const emptyResources = (): Resources => ({ milliCPU: 0, memory: 0, ephemeralStorage: 0 });

/** Resource names the scheduler does not account for (they never limit placement). */
const IGNORED = new Set(['pods', 'storage']);

/** Adds one resource list into `into`; cpu in millicores, the rest as integers. */
function addList(into: Resources, list: Record<string, string | number>): void {
  for (const [name, q] of Object.entries(list)) {
    if (name === 'cpu') into.milliCPU += quantityMilli(q);
    else if (name === 'memory') into.memory += quantityValue(q);
    else if (name === 'ephemeral-storage') into.ephemeralStorage += quantityValue(q);
    else if (!IGNORED.has(name)) {
      into.scalar ??= {};
      into.scalar[name] = (into.scalar[name] ?? 0) + quantityValue(q);
    }
  }
}

function add(into: Resources, r: Resources): void {
  into.milliCPU += r.milliCPU;
  into.memory += r.memory;
  into.ephemeralStorage += r.ephemeralStorage;
  if (r.scalar) for (const [k, v] of Object.entries(r.scalar)) (into.scalar ??= {})[k] = (into.scalar[k] ?? 0) + v;
}

function max(into: Resources, r: Resources): void {
  into.milliCPU = Math.max(into.milliCPU, r.milliCPU);
  into.memory = Math.max(into.memory, r.memory);
  into.ephemeralStorage = Math.max(into.ephemeralStorage, r.ephemeralStorage);
  if (r.scalar) for (const [k, v] of Object.entries(r.scalar)) (into.scalar ??= {})[k] = Math.max(into.scalar[k] ?? 0, v);
}

/**
 * One container's requests. The apiserver defaults an unset request to its limit; that is done
 * here too, so a pod stored without defaulting is counted as a real cluster would count it.
 */
function containerRequests(c: Container, nonZero: boolean): Resources {
  const r = emptyResources();
  const requests = c.resources?.requests ?? {};
  const limits = c.resources?.limits ?? {};
  const merged: Record<string, string | number> = { ...limits, ...requests };
  addList(r, merged);
  if (nonZero) {
    if (merged.cpu === undefined) r.milliCPU = DEFAULT_MILLI_CPU_REQUEST;
    if (merged.memory === undefined) r.memory = DEFAULT_MEMORY_REQUEST;
  }
  return r;
}

function computeRequests(pod: KubeObject, nonZero: boolean): Resources {
  const spec = pod.spec ?? {};
  const total = emptyResources();
  for (const c of (spec.containers ?? []) as Container[]) add(total, containerRequests(c, nonZero));
  const sidecars = emptyResources();
  const initMax = emptyResources();
  for (const c of (spec.initContainers ?? []) as Container[]) {
    const r = containerRequests(c, nonZero);
    if (c.restartPolicy === 'Always') {
      // A sidecar runs alongside everything started after it.
      add(total, r);
      add(sidecars, r);
      continue;
    }
    const during = emptyResources();
    add(during, r);
    add(during, sidecars);
    max(initMax, during);
  }
  max(total, initMax);
  // Pod-level resources (KEP-2837), when set, replace the containers' sum for what they name.
  const podLevel = spec.resources?.requests as ResourceList;
  if (podLevel) {
    const p = emptyResources();
    addList(p, podLevel);
    if (podLevel.cpu !== undefined) total.milliCPU = p.milliCPU;
    if (podLevel.memory !== undefined) total.memory = p.memory;
  }
  if (spec.overhead) addList(total, spec.overhead as Record<string, string>);
  return total;
}

/** What the pod needs on its node (resource fit). */
export function podRequests(pod: KubeObject): Resources {
  return computeRequests(pod, false);
}

/** cpu and memory with kube-scheduler's non-zero defaults (least-requested scoring). */
export function podNonZeroRequests(pod: KubeObject): NonZeroRequests {
  const r = computeRequests(pod, true);
  return { milliCPU: r.milliCPU, memory: r.memory };
}

export interface Allocatable extends Resources {
  pods: number;
}

/** The node's `status.allocatable`, falling back to `status.capacity` as the kubelet would. */
export function nodeAllocatable(node: KubeObject): Allocatable {
  const list = (node.status?.allocatable ?? node.status?.capacity ?? {}) as Record<string, string>;
  const r = emptyResources();
  addList(r, list);
  return { ...r, pods: list.pods !== undefined ? quantityValue(list.pods) : 0 };
}

export const isZero = (r: Resources): boolean =>
  r.milliCPU === 0 && r.memory === 0 && r.ephemeralStorage === 0 && (!r.scalar || Object.values(r.scalar).every((v) => v === 0));
