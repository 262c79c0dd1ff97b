/**
 * The pure half of the ReplicaSet controller: the pod a template makes, which pods go first when
 * scaling down, the status a set of pods adds up to, and the slow-start batching of creates.
 */
import type { KubeObject } from '../../operators/runtime/client.js';
import { isAvailable, isReady, type Pod } from './pod-util.js';
import { controllerRefTo, getCondition, nowRfc3339, removeCondition, setCondition, type ReplicaSet, type ReplicaSetStatus } from './workload.js';
import type { LimitFunction } from 'p-limit';

/** A pod of the ReplicaSet: named by the server from `<rs>-`, labelled and annotated like the template. */
export function podFromTemplate(rs: ReplicaSet): KubeObject {
  const meta = rs.spec.template.metadata ?? {};
  const finalizers = meta.finalizers as string[] | undefined;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${rs.metadata.name}-`,
      namespace: rs.metadata.namespace,
      ...(meta.labels ? { labels: { ...meta.labels } } : {}),
      ...(meta.annotations ? { annotations: { ...meta.annotations } } : {}),
      ...(finalizers?.length ? { finalizers: [...finalizers] } : {}),
      ownerReferences: [controllerRefTo(rs, 'ReplicaSet')],
    },
    spec: structuredClone(rs.spec.template.spec ?? {}),
  };
}

const phaseRank: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

const readySince = (p: Pod): string =>
  ((p.status?.conditions ?? []) as Array<{ type: string; lastTransitionTime?: string }>).find((c) => c.type === 'Ready')?.lastTransitionTime ?? '';

const restarts = (p: Pod): number =>
  ((p.status?.containerStatuses ?? []) as Array<{ restartCount?: number }>).reduce((m, c) => Math.max(m, c.restartCount ?? 0), 0);

/**
 * Kubernetes' ActivePods ordering for deletion: unscheduled before scheduled, Pending before
 * Unknown before Running, not ready before ready, ready for less time before more, more restarts
 * before fewer, newer before older (then by name, so the choice is deterministic).
 */
export function deletionOrder(a: Pod, b: Pod): number {
  const an = a.spec?.nodeName ? 1 : 0;
  const bn = b.spec?.nodeName ? 1 : 0;
  if (an !== bn) return an - bn;
  const ap = phaseRank[a.status?.phase ?? 'Pending'] ?? 0;
  const bp = phaseRank[b.status?.phase ?? 'Pending'] ?? 0;
  if (ap !== bp) return ap - bp;
  const ar = isReady(a) ? 1 : 0;
  const br = isReady(b) ? 1 : 0;
  if (ar !== br) return ar - br;
  if (ar && br) {
    const at = readySince(a);
    const bt = readySince(b);
    if (at !== bt) return at > bt ? -1 : 1;
  }
  const rc = restarts(b) - restarts(a);
  if (rc) return rc;
  const ac = a.metadata.creationTimestamp ?? '';
  const bc = b.metadata.creationTimestamp ?? '';
  if (ac !== bc) return ac > bc ? -1 : 1;
  const aName = a.metadata.name ?? '';
  const bName = b.metadata.name ?? '';
  return aName < bName ? 1 : aName > bName ? -1 : 0;
}

/** The `n` pods to delete first. */
export function choosePodsToDelete(pods: Pod[], n: number): Pod[] {
  if (n <= 0) return [];
  return [...pods].sort(deletionOrder).slice(0, n);
}

/** Compacts like the apps/v1 type: `replicas` always, other counters only when non-zero. */
function compact(s: ReplicaSetStatus): ReplicaSetStatus {
  const out: Record<string, unknown> = { replicas: s.replicas ?? 0 };
  for (const [k, v] of Object.entries(s)) if (k !== 'replicas' && v !== undefined && v !== 0 && !(Array.isArray(v) && !v.length)) out[k] = v;
  return out as ReplicaSetStatus;
}

/**
 * Status from the ReplicaSet's active pods (calculateStatus). A failed create or delete sets
 * ReplicaFailure (kept until a sync manages pods without error); success clears it.
 */
export function replicaSetStatus(rs: ReplicaSet, active: Pod[], manageError: { diff: number; message: string } | undefined, now: number): ReplicaSetStatus {
  const minReady = rs.spec.minReadySeconds ?? 0;
  const templateLabels = Object.entries(rs.spec.template.metadata?.labels ?? {});
  let fullyLabeled = 0;
  let ready = 0;
  let available = 0;
  for (const p of active) {
    const labels = p.metadata.labels ?? {};
    if (templateLabels.every(([k, v]) => labels[k] === v)) fullyLabeled++;
    if (isReady(p)) {
      ready++;
      if (isAvailable(p, minReady, now)) available++;
    }
  }
  let conditions = rs.status?.conditions ?? [];
  const failure = getCondition(conditions, 'ReplicaFailure');
  if (manageError && !failure) {
    conditions = setCondition(conditions, {
      type: 'ReplicaFailure',
      status: 'True',
      reason: manageError.diff < 0 ? 'FailedCreate' : 'FailedDelete',
      message: manageError.message,
      lastTransitionTime: nowRfc3339(now),
    });
  } else if (!manageError && failure) {
    conditions = removeCondition(conditions, 'ReplicaFailure');
  }
  return compact({
    replicas: active.length,
    fullyLabeledReplicas: fullyLabeled,
    readyReplicas: ready,
    availableReplicas: available,
    observedGeneration: rs.metadata.generation,
    conditions,
  });
}

/** Milliseconds until the next ready pod counts as available under minReadySeconds, if any. */
export function nextAvailableInMs(rs: ReplicaSet, active: Pod[], now: number): number | undefined {
  const minReady = rs.spec.minReadySeconds ?? 0;
  if (!minReady) return undefined;
  let soonest: number | undefined;
  for (const p of active) {
    if (!isReady(p) || isAvailable(p, minReady, now)) continue;
    const since = Date.parse(readySince(p));
    const wait = Number.isFinite(since) ? since + minReady * 1000 - now : minReady * 1000;
    soonest = soonest === undefined ? wait : Math.min(soonest, wait);
  }
  return soonest === undefined ? undefined : Math.max(soonest, 0) + 50;
}

/**
 * Kubernetes' slowStartBatch: call `fn` `count` times in batches of 1, 2, 4, …, each batch in
 * parallel (through the limiter); stop after the first batch with a failure, so a broken template
 * or a quota costs a handful of requests, not thousands. Returns the successes and first error.
 */
export async function slowStartBatch(
  count: number,
  initial: number,
  limiter: LimitFunction,
  fn: () => Promise<unknown>,
): Promise<{ successes: number; error?: unknown }> {
  let remaining = count;
  let successes = 0;
  for (let batch = Math.min(remaining, initial); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => limiter(fn)));
    let error: unknown;
    for (const r of results) {
      if (r.status === 'fulfilled') successes++;
      else error ??= r.reason;
    }
    if (error !== undefined) return { successes, error };
    remaining -= batch;
  }
  return { successes };
}
