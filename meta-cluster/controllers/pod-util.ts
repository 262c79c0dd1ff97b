/** Pod status questions every workload controller asks, as Kubernetes answers them. */
import type { KubeObject } from '../../operators/runtime/client.js';

export type Pod = KubeObject;

const condition = (pod: Pod, type: string) =>
  (pod.status?.conditions ?? []).find((c: { type: string }) => c.type === type) as
    | { status: string; lastTransitionTime?: string }
    | undefined;

export const isTerminating = (pod: Pod): boolean => Boolean(pod.metadata.deletionTimestamp);

export const isTerminal = (pod: Pod): boolean => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/** Counted by controllers: not terminating and not finished. */
export const isActive = (pod: Pod): boolean => !isTerminating(pod) && !isTerminal(pod);

export const isReady = (pod: Pod): boolean => isActive(pod) && condition(pod, 'Ready')?.status === 'True';

/** Ready for at least minReadySeconds (Deployment/ReplicaSet "available"). */
export function isAvailable(pod: Pod, minReadySeconds: number, now = Date.now()): boolean {
  if (!isReady(pod)) return false;
  if (!minReadySeconds) return true;
  const since = Date.parse(condition(pod, 'Ready')?.lastTransitionTime ?? '');
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now;
}

/** The controller owner reference of an object, if any. */
export const controllerOf = (o: KubeObject) => (o.metadata.ownerReferences ?? []).find((r) => r.controller);
