/**
 * The arithmetic of a Deployment rollout, after Kubernetes' deployment/util and the rolling,
 * recreate and proportional-scaling code of its controller. Pure: given the Deployment and its
 * ReplicaSets, each function says what sizes the ReplicaSets should have next.
 */
import { desiredReplicasAnnotation, maxReplicasAnnotation } from './deployment-revision.js';
import { byCreation, type Deployment, type IntOrString, type ReplicaSet } from './workload.js';

export const specReplicas = (rs: ReplicaSet | undefined): number => (rs ? (rs.spec.replicas ?? 1) : 0);
export const statusReplicas = (rs: ReplicaSet | undefined): number => rs?.status?.replicas ?? 0;
export const availableReplicas = (rs: ReplicaSet | undefined): number => rs?.status?.availableReplicas ?? 0;
export const readyReplicas = (rs: ReplicaSet | undefined): number => rs?.status?.readyReplicas ?? 0;
export const deploymentReplicas = (d: Deployment): number => d.spec.replicas ?? 1;

const sum = (rss: Array<ReplicaSet | undefined>, f: (rs: ReplicaSet | undefined) => number) => rss.reduce((n, rs) => n + (rs ? f(rs) : 0), 0);
export const totalSpecReplicas = (rss: Array<ReplicaSet | undefined>) => sum(rss, specReplicas);
export const totalStatusReplicas = (rss: Array<ReplicaSet | undefined>) => sum(rss, statusReplicas);
export const totalAvailable = (rss: Array<ReplicaSet | undefined>) => sum(rss, availableReplicas);
export const totalReady = (rss: Array<ReplicaSet | undefined>) => sum(rss, readyReplicas);

/** ReplicaSets with pods wanted. */
export const activeReplicaSets = (rss: Array<ReplicaSet | undefined>): ReplicaSet[] =>
  rss.filter((rs): rs is ReplicaSet => Boolean(rs) && specReplicas(rs) > 0);

/**
 * An int or a percentage of `total` (GetScaledValueFromIntOrPercent): percentages round up for
 * maxSurge and down for maxUnavailable.
 */
export function scaledValue(v: IntOrString | undefined, total: number, roundUp: boolean): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) {
    if (/^\d+$/.test(v)) return Number(v);
    throw new Error(`invalid value for IntOrString: ${JSON.stringify(v)} is not an integer or a percentage`);
  }
  const scaled = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

/**
 * maxSurge rounded up and maxUnavailable rounded down against `desired`. The API refuses both
 * zero; should such a spec get through, Kubernetes' controller treats maxUnavailable as 1 so the
 * rollout can still move, and so do we.
 */
export function resolveFenceposts(maxSurge: IntOrString | undefined, maxUnavailable: IntOrString | undefined, desired: number) {
  const surge = scaledValue(maxSurge ?? '25%', desired, true);
  const unavailable = scaledValue(maxUnavailable ?? '25%', desired, false);
  if (surge === 0 && unavailable === 0) return { maxSurge: 0, maxUnavailable: 1 };
  return { maxSurge: surge, maxUnavailable: unavailable };
}

export const isRollingUpdate = (d: Deployment): boolean => (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';

function fenceposts(d: Deployment) {
  const ru = d.spec.strategy?.rollingUpdate ?? {};
  return resolveFenceposts(ru.maxSurge, ru.maxUnavailable, deploymentReplicas(d));
}

export const maxSurgeOf = (d: Deployment): number => (isRollingUpdate(d) ? fenceposts(d).maxSurge : 0);

export function maxUnavailableOf(d: Deployment): number {
  const replicas = deploymentReplicas(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  return Math.min(fenceposts(d).maxUnavailable, replicas);
}

/**
 * How big the new ReplicaSet may grow now (NewRSNewReplicas). Kubernetes counts the ReplicaSets'
 * spec sizes; we count the larger of spec and status per ReplicaSet, so pods an old ReplicaSet was
 * told to drop but still has count until they are gone, and the live total never exceeds
 * replicas + maxSurge (Kubernetes can briefly overshoot while old pods are being deleted).
 */
export function newRSNewReplicas(d: Deployment, allRSs: Array<ReplicaSet | undefined>, newRS: ReplicaSet): number {
  const replicas = deploymentReplicas(d);
  if (!isRollingUpdate(d)) return replicas;
  const maxTotal = replicas + maxSurgeOf(d);
  const current = allRSs.reduce((n, rs) => n + (!rs ? 0 : rs === newRS ? specReplicas(rs) : Math.max(specReplicas(rs), statusReplicas(rs))), 0);
  if (current >= maxTotal) return specReplicas(newRS);
  const up = Math.min(maxTotal - current, replicas - specReplicas(newRS));
  return specReplicas(newRS) + Math.max(0, up);
}

/**
 * Available pods a ReplicaSet will still have once it reaches its size. Its status lags a scale
 * down (it reports pods it is deleting as available), and counting those would let a second
 * scale down take availability below the minimum; Kubernetes has that window, we close it.
 */
const settledAvailable = (rs: ReplicaSet | undefined): number => Math.min(availableReplicas(rs), specReplicas(rs));

/**
 * Old ReplicaSets to scale down in a rolling update (reconcileOldReplicaSets): first the pods that
 * are not available anyway, then available ones down to replicas − maxUnavailable, oldest first,
 * never counting the new ReplicaSet's unavailable pods as headroom. Returns name → new size for
 * those that change.
 */
export function planOldScaleDown(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): Map<string, number> {
  const plan = new Map<string, number>();
  const active = activeReplicaSets(oldRSs).sort(byCreation);
  if (totalSpecReplicas(active) === 0) return plan;
  const allRSs = [...oldRSs, newRS];
  const minAvailable = deploymentReplicas(d) - maxUnavailableOf(d);
  const newUnavailable = specReplicas(newRS) - settledAvailable(newRS);
  const maxScaledDown = totalSpecReplicas(allRSs) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return plan;
  const size = new Map(active.map((rs) => [rs.metadata.name!, specReplicas(rs)]));

  let cleaned = 0;
  for (const rs of active) {
    if (cleaned >= maxScaledDown) break;
    const unhealthy = specReplicas(rs) - settledAvailable(rs);
    if (unhealthy <= 0) continue;
    const n = Math.min(maxScaledDown - cleaned, unhealthy);
    size.set(rs.metadata.name!, specReplicas(rs) - n);
    cleaned += n;
  }

  const available = allRSs.reduce((n, rs) => n + settledAvailable(rs), 0);
  if (available > minAvailable) {
    const toScaleDown = available - minAvailable;
    let scaled = 0;
    for (const rs of active) {
      if (scaled >= toScaleDown) break;
      const current = size.get(rs.metadata.name!)!;
      if (current === 0) continue;
      const n = Math.min(current, toScaleDown - scaled);
      size.set(rs.metadata.name!, current - n);
      scaled += n;
    }
  }
  for (const rs of active) if (size.get(rs.metadata.name!) !== specReplicas(rs)) plan.set(rs.metadata.name!, size.get(rs.metadata.name!)!);
  return plan;
}

/** The new ReplicaSet runs every replica, all available, for this very size (IsSaturated). */
export function isSaturated(d: Deployment, rs: ReplicaSet | undefined): boolean {
  if (!rs) return false;
  const desired = Number(rs.metadata.annotations?.[desiredReplicasAnnotation]);
  const replicas = deploymentReplicas(d);
  return desired === replicas && specReplicas(rs) === replicas && availableReplicas(rs) === replicas;
}

/** The one active ReplicaSet, or the latest when none is active; undefined when several are. */
export function findActiveOrLatest(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): ReplicaSet | undefined {
  const newestFirst = [...oldRSs].sort((a, b) => byCreation(b, a));
  const active = activeReplicaSets([newRS, ...newestFirst]);
  if (active.length === 0) return newRS ?? newestFirst[0];
  return active.length === 1 ? active[0] : undefined;
}

/** The Deployment was scaled since its active ReplicaSets were last sized (isScalingEvent). */
export function isScalingEvent(d: Deployment, rsList: ReplicaSet[]): boolean {
  return activeReplicaSets(rsList).some((rs) => {
    const v = rs.metadata.annotations?.[desiredReplicasAnnotation];
    return v !== undefined && Number(v) !== deploymentReplicas(d);
  });
}

/**
 * Sizes after a scaling event (the controller's `scale`): one active ReplicaSet takes the new
 * size; a saturated new ReplicaSet leaves old ones at zero; during a rolling update the
 * difference is spread in proportion to each ReplicaSet's size, the remainder to the largest.
 * Returns every ReplicaSet to (re)size, including unchanged sizes whose annotations may be stale.
 */
export function planProportionalScale(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): Array<[ReplicaSet, number]> {
  const replicas = deploymentReplicas(d);
  const activeOrLatest = findActiveOrLatest(newRS, oldRSs);
  if (activeOrLatest) return specReplicas(activeOrLatest) === replicas ? [] : [[activeOrLatest, replicas]];
  if (isSaturated(d, newRS)) return activeReplicaSets(oldRSs).map((rs) => [rs, 0]);
  if (!isRollingUpdate(d)) return [];

  const all = activeReplicaSets([...oldRSs, newRS]);
  const allowed = replicas > 0 ? replicas + maxSurgeOf(d) : 0;
  const toAdd = allowed - totalSpecReplicas(all);
  const bySize = (newerFirst: boolean) => (a: ReplicaSet, b: ReplicaSet) =>
    specReplicas(b) - specReplicas(a) || (newerFirst ? byCreation(b, a) : byCreation(a, b));
  if (toAdd > 0) all.sort(bySize(true));
  else if (toAdd < 0) all.sort(bySize(false));

  const sizes = all.map((rs) => specReplicas(rs));
  if (toAdd !== 0) {
    let added = 0;
    all.forEach((rs, i) => {
      const p = proportion(rs, d, toAdd, added);
      sizes[i] += p;
      added += p;
    });
    sizes[0] = Math.max(0, sizes[0] + toAdd - added);
  }
  return all.map((rs, i) => [rs, sizes[i]]);
}

function proportion(rs: ReplicaSet, d: Deployment, toAdd: number, added: number): number {
  if (specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

function replicaSetFraction(rs: ReplicaSet, d: Deployment): number {
  const replicas = deploymentReplicas(d);
  if (replicas === 0) return -specReplicas(rs);
  const deploymentMax = replicas + maxSurgeOf(d);
  const annotated = Number.parseInt(rs.metadata.annotations?.[maxReplicasAnnotation] ?? '', 10);
  const before = Number.isFinite(annotated) ? annotated : (d.status?.replicas ?? 0);
  if (before <= 0) return 0;
  return Math.floor((specReplicas(rs) * deploymentMax) / before + 0.5) - specReplicas(rs);
}

/**
 * Old ReplicaSets beyond revisionHistoryLimit to delete, lowest revision first, skipping any that
 * still have pods or whose status is not current (cleanupDeployment).
 */
export function replicaSetsToCleanup(d: Deployment, oldRSs: ReplicaSet[], revision: (rs: ReplicaSet) => number): ReplicaSet[] {
  const limit = d.spec.revisionHistoryLimit;
  if (limit === undefined || limit === null) return [];
  const cleanable = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp);
  const diff = cleanable.length - limit;
  if (diff <= 0) return [];
  const sorted = [...cleanable].sort((a, b) => revision(a) - revision(b) || byCreation(a, b));
  return sorted
    .slice(0, diff)
    .filter((rs) => statusReplicas(rs) === 0 && specReplicas(rs) === 0 && (rs.metadata.generation ?? 0) <= (rs.status?.observedGeneration ?? 0));
}
