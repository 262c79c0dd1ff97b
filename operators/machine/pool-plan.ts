/**
 * What a MachinePool does next, from what it observes: pure and table-tested. It folds together
 * what cluster-api splits over MachineDeployment (rolling replacement within maxSurge and
 * maxUnavailable), MachineSet (scale up and down, which machines go first) and
 * MachineHealthCheck (replace machines whose Node stayed not Ready too long, unless too many are
 * unhealthy at once).
 */

/** One machine of the pool as the planner sees it. */
export interface PlannedMachine {
  readonly name: string;
  /** Made from the current template. */
  readonly current: boolean;
  /** Its Node is Ready now. */
  readonly ready: boolean;
  /** Failed for good (phase Failed): it will never become ready. */
  readonly failed: boolean;
  /** Since when (epoch ms) its Node has been not Ready, once it had joined; undefined while Ready or not joined. */
  readonly notReadySince?: number;
  /** Being deleted (draining or waiting for its instance to go). */
  readonly deleting: boolean;
  /** creationTimestamp, epoch ms. */
  readonly createdAt: number;
  readonly zone?: string;
}

export interface PoolPolicy {
  readonly replicas: number;
  readonly maxSurge: number | string;
  readonly maxUnavailable: number | string;
  readonly maxUnhealthy: number | string;
  readonly nodeNotReadySeconds: number;
  /** Zones to spread new machines over. */
  readonly zones: readonly string[];
}

export type DeleteReason = 'Unhealthy' | 'ScaleDown' | 'Replaced';

export interface PoolPlan {
  /** Zones of the machines to create now, one entry per machine. */
  readonly create: string[];
  readonly delete: Array<{ name: string; reason: DeleteReason }>;
  readonly unhealthy: number;
  /** False while more machines are unhealthy than maxUnhealthy allows: none of them is replaced. */
  readonly remediationAllowed: boolean;
  /** Resolved bounds, for messages. */
  readonly maxSurge: number;
  readonly maxUnavailable: number;
  readonly maxUnhealthy: number;
}

/** A pool field the schema admits but the planner cannot use (a malformed percentage); the message names it. */
export class InvalidPoolSpec extends Error {
  override readonly name = 'InvalidPoolSpec';
}

/**
 * An int-or-percent against a total, as Kubernetes resolves maxSurge (round up) and
 * maxUnavailable (round down). Throws naming the field on a malformed value.
 */
export function resolveIntOrPercent(value: number | string, total: number, roundUp: boolean, field: string): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new InvalidPoolSpec(`${field}: ${value} must be a non-negative integer or a percentage`);
    return value;
  }
  const m = /^(\d+)%$/.exec(value);
  if (!m) throw new InvalidPoolSpec(`${field}: "${value}" must be a non-negative integer or a percentage like "25%"`);
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** Whether a machine counts as unhealthy now: failed, or its Node not Ready for longer than the timeout. */
export function isUnhealthy(m: PlannedMachine, policy: Pick<PoolPolicy, 'nodeNotReadySeconds'>, now: number): boolean {
  return m.failed || (m.notReadySince !== undefined && now - m.notReadySince >= policy.nodeNotReadySeconds * 1000);
}

/** The zone with the fewest machines; ties go to the zone listed first. */
function leastUsedZone(zones: readonly string[], counts: Map<string, number>): string {
  let best = zones[0]!;
  for (const z of zones) if ((counts.get(z) ?? 0) < (counts.get(best) ?? 0)) best = z;
  return best;
}

/** Scale-down order: not ready before ready, then the newest first (cluster-api's "Newest" policy). */
const scaleDownOrder = (a: PlannedMachine, b: PlannedMachine): number => Number(a.ready) - Number(b.ready) || b.createdAt - a.createdAt;

export function planPool(policy: PoolPolicy, machines: readonly PlannedMachine[], now: number): PoolPlan {
  const { replicas } = policy;
  let maxSurge = resolveIntOrPercent(policy.maxSurge, replicas, true, 'spec.strategy.maxSurge');
  const maxUnavailable = resolveIntOrPercent(policy.maxUnavailable, replicas, false, 'spec.strategy.maxUnavailable');
  // Both zero would leave a rollout no room to move; Kubernetes refuses it, kok surges by one.
  if (maxSurge === 0 && maxUnavailable === 0) maxSurge = 1;
  const maxUnhealthy = resolveIntOrPercent(policy.maxUnhealthy, replicas, false, 'spec.healthCheck.maxUnhealthy');

  const alive = machines.filter((m) => !m.deleting);
  const unhealthy = alive.filter((m) => isUnhealthy(m, policy, now));
  const remediationAllowed = unhealthy.length <= maxUnhealthy;
  const deletions: PoolPlan['delete'] = remediationAllowed ? unhealthy.map((m) => ({ name: m.name, reason: 'Unhealthy' as const })) : [];
  const going = new Set(deletions.map((d) => d.name));
  const live = alive.filter((m) => !going.has(m.name));
  const current = live.filter((m) => m.current);
  const old = live.filter((m) => !m.current);

  let creates = 0;
  if (old.length === 0) {
    if (live.length < replicas) creates = replicas - live.length;
    else if (live.length > replicas) {
      for (const m of [...live].sort(scaleDownOrder).slice(0, live.length - replicas)) deletions.push({ name: m.name, reason: 'ScaleDown' });
    }
  } else {
    // Rolling replacement, as a Deployment rolls its ReplicaSets: new machines while the pool
    // holds at most replicas + maxSurge; old ones while at least replicas - maxUnavailable stay
    // ready, counting new machines that are not ready yet as unavailable.
    creates = Math.max(0, Math.min(replicas - current.length, replicas + maxSurge - live.length));
    const minAvailable = Math.max(0, replicas - maxUnavailable);
    let budget = live.length - minAvailable - current.filter((m) => !m.ready).length;
    let spareReady = live.filter((m) => m.ready).length - minAvailable;
    // Old machines that are not ready cost no availability: they go first.
    for (const m of [...old].sort(scaleDownOrder)) {
      if (budget <= 0) break;
      if (m.ready) {
        if (spareReady <= 0) break;
        spareReady -= 1;
      }
      deletions.push({ name: m.name, reason: 'Replaced' });
      budget -= 1;
    }
  }

  const counts = new Map<string, number>();
  for (const m of live) if (m.zone && !deletions.some((d) => d.name === m.name)) counts.set(m.zone, (counts.get(m.zone) ?? 0) + 1);
  const create: string[] = [];
  for (let i = 0; i < creates; i++) {
    const zone = leastUsedZone(policy.zones, counts);
    create.push(zone);
    counts.set(zone, (counts.get(zone) ?? 0) + 1);
  }
  return { create, delete: deletions, unhealthy: unhealthy.length, remediationAllowed, maxSurge, maxUnavailable, maxUnhealthy };
}
