/**
 * Deployment status as Kubernetes computes it: counts summed from the ReplicaSets' statuses, the
 * `Available` condition against replicas − maxUnavailable, and the `Progressing` condition whose
 * lastUpdateTime is the clock for progressDeadlineSeconds. Pure; `now` is passed in.
 */
import {
  deploymentReplicas,
  maxUnavailableOf,
  statusReplicas,
  totalAvailable,
  totalReady,
  totalSpecReplicas,
  totalStatusReplicas,
} from './deployment-rollout.js';
import { getCondition, nowRfc3339, removeCondition, setCondition, type Condition, type Deployment, type DeploymentStatus, type ReplicaSet } from './workload.js';

export const DeploymentConditions = { Available: 'Available', Progressing: 'Progressing', ReplicaFailure: 'ReplicaFailure' } as const;

export const DeploymentReasons = {
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  MinimumReplicasUnavailable: 'MinimumReplicasUnavailable',
  NewReplicaSetCreated: 'NewReplicaSetCreated',
  FoundNewReplicaSet: 'FoundNewReplicaSet',
  ReplicaSetUpdated: 'ReplicaSetUpdated',
  NewReplicaSetAvailable: 'NewReplicaSetAvailable',
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  FailedReplicaSetCreate: 'ReplicaSetCreateError',
  DeploymentPaused: 'DeploymentPaused',
  DeploymentResumed: 'DeploymentResumed',
} as const;

export function deploymentCondition(type: string, status: Condition['status'], reason: string, message: string, now: number): Condition {
  const t = nowRfc3339(now);
  return { type, status, lastUpdateTime: t, lastTransitionTime: t, reason, message };
}

export const hasProgressDeadline = (d: Deployment): boolean => {
  const s = d.spec.progressDeadlineSeconds;
  return s !== undefined && s !== null && s !== 2147483647;
};

/** Drops zero counters, as the apps/v1 types (all `omitempty`) serialise them. */
function compact(s: DeploymentStatus): DeploymentStatus {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (v !== undefined && v !== 0 && !(Array.isArray(v) && v.length === 0)) out[k] = v;
  return out as DeploymentStatus;
}

/** Counts and the Available condition (calculateStatus); other conditions carry over. */
export function calculateStatus(d: Deployment, allRSs: ReplicaSet[], newRS: ReplicaSet | undefined, now: number): DeploymentStatus {
  const available = totalAvailable(allRSs);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation,
    replicas: totalStatusReplicas(allRSs),
    updatedReplicas: statusReplicas(newRS),
    readyReplicas: totalReady(allRSs),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, totalSpecReplicas(allRSs) - available),
    collisionCount: d.status?.collisionCount,
    conditions: [...(d.status?.conditions ?? [])],
  };
  const enough = available >= deploymentReplicas(d) - maxUnavailableOf(d);
  status.conditions = setCondition(
    status.conditions,
    enough
      ? deploymentCondition(DeploymentConditions.Available, 'True', DeploymentReasons.MinimumReplicasAvailable, 'Deployment has minimum availability.', now)
      : deploymentCondition(DeploymentConditions.Available, 'False', DeploymentReasons.MinimumReplicasUnavailable, 'Deployment does not have minimum availability.', now),
  );
  return compact(status);
}

/** Every replica updated and available, and the status is for this generation. */
export function deploymentComplete(d: Deployment, s: DeploymentStatus | undefined): boolean {
  const replicas = deploymentReplicas(d);
  return (
    (s?.updatedReplicas ?? 0) === replicas &&
    (s?.replicas ?? 0) === replicas &&
    (s?.availableReplicas ?? 0) === replicas &&
    (s?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0)
  );
}

/** Something moved since the last status: more updated, ready or available pods, or fewer old ones. */
export function deploymentProgressing(d: Deployment, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (
    (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
    (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0)
  );
}

/** Milliseconds until the progress deadline passes (≤ 0: passed), or undefined when none applies. */
export function progressDeadlineIn(d: Deployment, conditions: Condition[] | undefined, now: number): number | undefined {
  if (!hasProgressDeadline(d)) return undefined;
  const c = getCondition(conditions, DeploymentConditions.Progressing);
  if (!c || c.reason === DeploymentReasons.NewReplicaSetAvailable || c.reason === DeploymentReasons.ProgressDeadlineExceeded) return undefined;
  const from = Date.parse(c.lastUpdateTime ?? c.lastTransitionTime ?? '');
  if (!Number.isFinite(from)) return undefined;
  return from + d.spec.progressDeadlineSeconds! * 1000 - now;
}

/**
 * The status after a rollout step (syncRolloutStatus): counts, Available, Progressing
 * (complete / progressing / timed out) and ReplicaFailure copied from the ReplicaSets; plus when to
 * look again to notice a missed progress deadline.
 */
export function rolloutStatus(
  d: Deployment,
  allRSs: ReplicaSet[],
  newRS: ReplicaSet | undefined,
  now: number,
): { status: DeploymentStatus; requeueAfterMs?: number } {
  const s = calculateStatus(d, allRSs, newRS, now);
  let conditions = s.conditions ?? [];
  if (!hasProgressDeadline(d)) conditions = removeCondition(conditions, DeploymentConditions.Progressing);
  const current = getCondition(conditions, DeploymentConditions.Progressing);
  const isComplete = (s.replicas ?? 0) === (s.updatedReplicas ?? 0) && current?.reason === DeploymentReasons.NewReplicaSetAvailable;
  const name = newRS?.metadata.name;
  if (hasProgressDeadline(d) && !isComplete) {
    if (deploymentComplete(d, s)) {
      const msg = name ? `ReplicaSet "${name}" has successfully progressed.` : 'Deployment has successfully progressed.';
      conditions = setCondition(conditions, deploymentCondition('Progressing', 'True', DeploymentReasons.NewReplicaSetAvailable, msg, now));
    } else if (deploymentProgressing(d, s)) {
      const msg = name ? `ReplicaSet "${name}" is progressing.` : 'Deployment is progressing.';
      const c = deploymentCondition('Progressing', 'True', DeploymentReasons.ReplicaSetUpdated, msg, now);
      if (current?.status === 'True') c.lastTransitionTime = current.lastTransitionTime;
      conditions = [...removeCondition(conditions, 'Progressing'), c];
    } else if ((progressDeadlineIn(d, conditions, now) ?? 1) <= 0 || current?.reason === DeploymentReasons.ProgressDeadlineExceeded) {
      const msg = name ? `ReplicaSet "${name}" has timed out progressing.` : 'Deployment has timed out progressing.';
      conditions = setCondition(conditions, deploymentCondition('Progressing', 'False', DeploymentReasons.ProgressDeadlineExceeded, msg, now));
    }
  }
  const failure = allRSs.map((rs) => getCondition(rs.status?.conditions, 'ReplicaFailure')).find((c) => c?.status === 'True');
  if (failure) {
    conditions = setCondition(conditions, deploymentCondition('ReplicaFailure', failure.status, failure.reason ?? '', failure.message ?? '', now));
  } else {
    conditions = removeCondition(conditions, DeploymentConditions.ReplicaFailure);
  }
  const status = { ...s, conditions } as DeploymentStatus;
  if (!conditions.length) delete status.conditions;
  // Nothing else would wake us when the deadline passes while the rollout sits still.
  const left = deploymentComplete(d, status) ? undefined : progressDeadlineIn(d, conditions, now);
  return { status, requeueAfterMs: left === undefined ? undefined : left < 1000 ? 1000 : left + 1000 };
}

/** The Progressing condition a pause or resume sets (checkPausedConditions); undefined: no change. */
export function pausedConditions(d: Deployment, now: number): Condition[] | undefined {
  if (!hasProgressDeadline(d)) return undefined;
  const current = getCondition(d.status?.conditions, DeploymentConditions.Progressing);
  if (current?.reason === DeploymentReasons.ProgressDeadlineExceeded) return undefined;
  const pausedCond = current?.reason === DeploymentReasons.DeploymentPaused;
  if (d.spec.paused && !pausedCond) {
    return setCondition(d.status?.conditions, deploymentCondition('Progressing', 'Unknown', DeploymentReasons.DeploymentPaused, 'Deployment is paused', now));
  }
  if (!d.spec.paused && pausedCond) {
    return setCondition(d.status?.conditions, deploymentCondition('Progressing', 'Unknown', DeploymentReasons.DeploymentResumed, 'Deployment is resumed', now));
  }
  return undefined;
}

/** Sets a condition on a working status (the new ReplicaSet was created, found or failed). */
export function withCondition(s: DeploymentStatus | undefined, c: Condition): DeploymentStatus {
  return { ...(s ?? {}), conditions: setCondition(s?.conditions, c) };
}
