/**
 * The MachinePool reconciler: checks the pool against its Cluster and CloudTarget (the target and
 * machine type exist, the kubelet version respects the skew policy — else nothing is touched and
 * a condition says why), plans with planPool (scale, rolling replacement, health remediation),
 * creates Machines under deterministic names and deletes the ones the plan names (each Machine
 * drains its Node before it goes), then computes the status. The pool is owned by its Cluster, so
 * deleting the Cluster deletes the pool, its Machines and their instances.
 */
import { isDeepStrictEqual } from 'node:util';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { CloudTarget } from '../../meta-cluster/api/v1alpha1/cloud-target.js';
import { findCondition, MachineConditions, MachinePoolConditions, MachinePoolReasons, setCondition, type ConditionUpdate } from '../../meta-cluster/api/v1alpha1/conditions.js';
import { clusterKind, type Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { machineKind } from '../../meta-cluster/api/v1alpha1/machine.js';
import { META_CLUSTER, type MachinePool, type MachinePoolStatus } from '../../meta-cluster/api/v1alpha1/machine-pool.js';
import type { KindDefinition } from '../../meta-cluster/api/v1alpha1/schema-dsl.js';
import { isAlreadyExists, isNotFound, type KubeClient, type KubeObject } from '../runtime/client.js';
import type { EventRecorder } from '../runtime/events.js';
import { byControllerUid, parseObjectKey, type Informer } from '../runtime/informer.js';
import { controllerRef } from '../runtime/objects.js';
import type { ReconcileResult } from '../runtime/workqueue.js';
import type { MachineObject } from './machine-reconcile.js';
import { labels, MACHINE_FINALIZER, machineName, stableHash } from './names.js';
import { InvalidPoolSpec, isUnhealthy, planPool, type PlannedMachine, type PoolPlan } from './pool-plan.js';
import { apiVersionOf, fleetResources } from '../../meta-cluster/api/resources.js';
import { kubeletSkewProblem } from './skew.js';

export type PoolObject = MachinePool & KubeObject;

/** Machines of one pool created at once: a pool of 1,000 is asked for in seconds, not one by one. */
const CREATE_CONCURRENCY = 16;

export interface PoolReconcilerDeps {
  readonly client: KubeClient;
  readonly pools: Informer<PoolObject>;
  readonly machines: Informer<MachineObject>;
  readonly targets: Informer<CloudTarget & KubeObject>;
  readonly clusters: Informer<Cluster & KubeObject>;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly now?: () => Date;
  /** The meta-cluster's Kubernetes version, for pools that add Nodes to it. */
  readonly metaClusterVersion?: () => Promise<string>;
}

/** The hash of what a machine is made from: a change replaces the machines. */
export const templateHash = (pool: MachinePool): string => stableHash({ template: pool.spec.template, unit: pool.spec.unit ?? null });

const isReadyMachine = (m: MachineObject): boolean => findCondition(m.status?.conditions, MachineConditions.Ready)?.status === 'True';

export function toPlanned(m: MachineObject, hash: string): PlannedMachine {
  const healthy = findCondition(m.status?.conditions, MachineConditions.NodeHealthy);
  return {
    name: m.metadata.name!,
    current: m.metadata.labels?.[labels.templateHash] === hash,
    ready: isReadyMachine(m),
    failed: m.status?.phase === 'Failed',
    notReadySince: healthy?.status === 'False' ? Date.parse(healthy.lastTransitionTime) : undefined,
    deleting: Boolean(m.metadata.deletionTimestamp),
    createdAt: Date.parse(m.metadata.creationTimestamp ?? '') || 0,
    zone: m.spec.zone,
  };
}

/** The machines informer's index of a pool's Machines (by their controller's uid): each reconcile reads one pool's, not every Machine. */
const MACHINES_OF_POOL = 'pool';

export class MachinePoolReconciler {
  private readonly now: () => Date;

  /** Adds its index to `deps.machines`, which must not have started yet. */
  constructor(private readonly deps: PoolReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    deps.machines.addIndex(MACHINES_OF_POOL, byControllerUid);
  }

  readonly reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const { namespace, name } = parseObjectKey(key);
    const pool = this.deps.pools.get(namespace, name);
    if (!pool || pool.metadata.deletionTimestamp) return;
    const now = this.now();
    const machines = this.deps.machines.byIndex(MACHINES_OF_POOL, pool.metadata.uid!);
    const hash = templateHash(pool);
    let status: MachinePoolStatus = structuredClone(pool.status ?? {});
    const set = (u: ConditionUpdate) => {
      status = { ...status, conditions: setCondition(status.conditions, { observedGeneration: pool.metadata.generation, ...u }, now) };
    };
    let plan: PoolPlan | undefined;
    let requeueAfterMs: number | undefined;
    try {
      const blocked = await this.precondition(pool);
      if (blocked) {
        set({ type: MachinePoolConditions.Ready, status: 'False', reason: blocked.reason, message: blocked.message });
        if (findCondition(pool.status?.conditions, MachinePoolConditions.Ready)?.reason !== blocked.reason) {
          void this.deps.events.event(pool, 'Warning', blocked.reason, blocked.message);
        }
        status.phase = blocked.reason === MachinePoolReasons.VersionSkew || blocked.reason === MachinePoolReasons.InvalidTemplate ? 'Failed' : 'Pending';
        return blocked.retry ? { requeueAfterMs: 10_000 } : undefined;
      }
      if (pool.spec.paused) return;
      const target = this.deps.targets.get(undefined, pool.spec.template.targetRef.name)!;
      plan = planPool(
        {
          replicas: pool.spec.replicas ?? 1,
          maxSurge: pool.spec.strategy?.maxSurge ?? 1,
          maxUnavailable: pool.spec.strategy?.maxUnavailable ?? 0,
          maxUnhealthy: pool.spec.healthCheck?.maxUnhealthy ?? '40%',
          nodeNotReadySeconds: pool.spec.healthCheck?.nodeNotReadySeconds ?? 300,
          zones: pool.spec.template.zones?.length ? pool.spec.template.zones : target.spec.zones,
        },
        machines.map((m) => toPlanned(m, hash)),
        now.getTime(),
      );
      await this.apply(pool, machines, hash, plan);
      requeueAfterMs = this.nextHealthCheck(pool, machines, hash, now.getTime());
    } catch (err) {
      if (err instanceof InvalidPoolSpec) {
        set({ type: MachinePoolConditions.Ready, status: 'False', reason: MachinePoolReasons.InvalidTemplate, message: `MachinePool ${key}: ${err.message}` });
        status.phase = 'Failed';
        return;
      }
      throw err;
    } finally {
      if (plan) {
        const summary = this.summarise(pool, machines, hash, plan, set);
        status = { ...status, ...summary };
      }
      await this.patchStatus(pool, status);
    }
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  };

  /** Why the pool may not act now, if it may not: a missing Cluster or target, a bad type, version skew. */
  private async precondition(pool: PoolObject): Promise<{ reason: string; message: string; retry: boolean } | undefined> {
    const ns = pool.metadata.namespace!;
    const ref = `MachinePool ${ns}/${pool.metadata.name}`;
    let clusterVersion: string;
    if (pool.spec.clusterName === META_CLUSTER) {
      if (!this.deps.metaClusterVersion) return { reason: MachinePoolReasons.ClusterNotFound, message: `${ref}: this operator does not manage meta-cluster machines`, retry: false };
      clusterVersion = await this.deps.metaClusterVersion();
    } else {
      const cluster = this.deps.clusters.get(ns, pool.spec.clusterName);
      if (!cluster) return { reason: MachinePoolReasons.ClusterNotFound, message: `${ref}: Cluster ${ns}/${pool.spec.clusterName} does not exist`, retry: true };
      await this.ensureOwnedByCluster(pool, cluster);
      clusterVersion = cluster.status?.version ?? cluster.spec.version;
    }
    const target = this.deps.targets.get(undefined, pool.spec.template.targetRef.name);
    if (!target) return { reason: MachinePoolReasons.TargetNotFound, message: `${ref}: CloudTarget ${pool.spec.template.targetRef.name} does not exist`, retry: true };
    const types = target.spec.machineTypes ?? [];
    if (!types.some((t) => t.name === pool.spec.template.machineType)) {
      return {
        reason: MachinePoolReasons.InvalidTemplate,
        message: `${ref}: spec.template.machineType "${pool.spec.template.machineType}" is not offered by CloudTarget ${target.metadata.name} (it offers ${types.map((t) => t.name).join(', ')})`,
        retry: false,
      };
    }
    const zones = pool.spec.template.zones ?? [];
    const unknown = zones.filter((z) => !target.spec.zones.includes(z));
    if (unknown.length) {
      return { reason: MachinePoolReasons.InvalidTemplate, message: `${ref}: spec.template.zones ${unknown.join(', ')} are not zones of CloudTarget ${target.metadata.name} (${target.spec.zones.join(', ')})`, retry: false };
    }
    const skew = kubeletSkewProblem(pool.spec.template.version ?? clusterVersion, clusterVersion);
    if (skew) return { reason: MachinePoolReasons.VersionSkew, message: `${ref}: spec.template.version: ${skew}`, retry: false };
    return undefined;
  }

  /** The Cluster owns its pools (not as controller): deleting it deletes them, their machines and instances. */
  private async ensureOwnedByCluster(pool: PoolObject, cluster: Cluster & KubeObject): Promise<void> {
    const refs = pool.metadata.ownerReferences ?? [];
    if (refs.some((r) => r.uid === cluster.metadata.uid)) return;
    const owner = { apiVersion: apiVersionOf(clusterKind as KindDefinition), kind: 'Cluster', name: cluster.metadata.name!, uid: cluster.metadata.uid! };
    await this.deps.client.patch(fleetResources.MachinePool, pool.metadata.namespace, pool.metadata.name!, 'merge', {
      metadata: { ownerReferences: [...refs, owner], resourceVersion: pool.metadata.resourceVersion },
    });
  }

  private async apply(pool: PoolObject, machines: MachineObject[], hash: string, plan: PoolPlan): Promise<void> {
    const ns = pool.metadata.namespace!;
    const taken = new Set(machines.map((m) => m.metadata.name));
    let n = 0;
    const names = plan.create.map(() => {
      let name: string;
      do name = machineName(pool.metadata.name!, hash, n++);
      while (taken.has(name));
      taken.add(name);
      return name;
    });
    const t = pool.spec.template;
    const limit = pLimit(CREATE_CONCURRENCY);
    await Promise.all(plan.create.map((zone, i) => limit(async () => {
      try {
        await this.deps.client.create(fleetResources.Machine, ns, {
          apiVersion: apiVersionOf(machineKind as KindDefinition),
          kind: 'Machine',
          metadata: {
            name: names[i],
            labels: { [labels.pool]: pool.metadata.name!, [labels.cluster]: pool.spec.clusterName, [labels.templateHash]: hash },
            ownerReferences: [controllerRef(pool, { apiVersion: apiVersionOf(machineKind as KindDefinition), kind: 'MachinePool' })],
            // The machine operator's own finalizer from the start: one write and one reconcile less per machine.
            finalizers: [MACHINE_FINALIZER],
          },
          spec: {
            clusterName: pool.spec.clusterName,
            targetRef: t.targetRef,
            machineType: t.machineType,
            zone,
            ...(t.version ? { version: t.version } : {}),
            ...(pool.spec.unit ? { unit: pool.spec.unit } : {}),
            ...(t.labels ? { labels: t.labels } : {}),
          },
        });
      } catch (err) {
        // A machine the cache has not shown yet: the name is deterministic, so this is no duplicate.
        if (!isAlreadyExists(err)) throw err;
      }
    })));
    await Promise.all(plan.delete.map((d) => limit(async () => {
      const m = machines.find((x) => x.metadata.name === d.name)!;
      try {
        await this.deps.client.delete(fleetResources.Machine, ns, d.name, { preconditions: { uid: m.metadata.uid } });
        void this.deps.events.event(pool, 'Normal', d.reason === 'Unhealthy' ? 'MachineRemediated' : d.reason === 'Replaced' ? 'MachineReplaced' : 'ScaledDown', `deleting Machine ${d.name} (${d.reason})`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    })));
    if (!plan.remediationAllowed) this.deps.log.info({ pool: `${ns}/${pool.metadata.name}`, unhealthy: plan.unhealthy, maxUnhealthy: plan.maxUnhealthy }, 'remediation paused');
  }

  /** When the next not-Ready Node reaches the health-check timeout, if any is on its way there. */
  private nextHealthCheck(pool: PoolObject, machines: MachineObject[], hash: string, now: number): number | undefined {
    const timeoutMs = (pool.spec.healthCheck?.nodeNotReadySeconds ?? 300) * 1000;
    let soonest: number | undefined;
    for (const m of machines) {
      const p = toPlanned(m, hash);
      if (p.deleting || p.notReadySince === undefined || isUnhealthy(p, { nodeNotReadySeconds: timeoutMs / 1000 }, now)) continue;
      const due = p.notReadySince + timeoutMs - now + 100;
      soonest = Math.min(soonest ?? Infinity, due);
    }
    return soonest;
  }

  /** Sets the conditions through `set`; returns the phase and replica counts. */
  private summarise(pool: PoolObject, machines: MachineObject[], hash: string, plan: PoolPlan, set: (u: ConditionUpdate) => void): MachinePoolStatus {
    const alive = machines.filter((m) => !m.metadata.deletionTimestamp);
    const replicas = pool.spec.replicas ?? 1;
    const ready = alive.filter(isReadyMachine).length;
    const updated = alive.filter((m) => m.metadata.labels?.[labels.templateHash] === hash).length;
    const ref = `MachinePool ${pool.metadata.namespace}/${pool.metadata.name}`;
    const waitingForQuota = alive.filter((m) => findCondition(m.status?.conditions, MachineConditions.InstanceProvisioned)?.reason === 'QuotaExceeded').length;
    const machinesReady = ready >= replicas && alive.length === replicas;
    set(
      machinesReady
        ? { type: MachinePoolConditions.MachinesReady, status: 'True', reason: MachinePoolReasons.AsExpected }
        : {
            type: MachinePoolConditions.MachinesReady,
            status: 'False',
            reason: waitingForQuota ? MachinePoolReasons.QuotaExceeded : MachinePoolReasons.WaitingForMachines,
            message: `${ready} of ${replicas} machines ready${waitingForQuota ? `; ${waitingForQuota} wait for room in CloudTarget ${pool.spec.template.targetRef.name}` : ''}`,
          },
    );
    const upToDate = updated === alive.length;
    set(
      upToDate
        ? { type: MachinePoolConditions.MachinesUpToDate, status: 'True', reason: MachinePoolReasons.AsExpected }
        : { type: MachinePoolConditions.MachinesUpToDate, status: 'False', reason: MachinePoolReasons.RollingOut, message: `${updated} of ${alive.length} machines have the current template` },
    );
    set(
      plan.remediationAllowed
        ? { type: MachinePoolConditions.RemediationAllowed, status: 'True', reason: MachinePoolReasons.AsExpected }
        : {
            type: MachinePoolConditions.RemediationAllowed,
            status: 'False',
            reason: MachinePoolReasons.TooManyUnhealthy,
            message: `${ref}: ${plan.unhealthy} machines are unhealthy, more than maxUnhealthy (${plan.maxUnhealthy}); none is replaced until fewer are`,
          },
    );
    const ok = machinesReady && upToDate && plan.remediationAllowed;
    set(ok ? { type: MachinePoolConditions.Ready, status: 'True', reason: MachinePoolReasons.AsExpected } : { type: MachinePoolConditions.Ready, status: 'False', reason: !upToDate ? MachinePoolReasons.RollingOut : alive.length < replicas ? MachinePoolReasons.ScalingUp : alive.length > replicas ? MachinePoolReasons.ScalingDown : MachinePoolReasons.WaitingForMachines, message: `${ready} of ${replicas} machines ready, ${updated} up to date` });
    const phase = ok ? 'Running' : !upToDate ? 'RollingOut' : alive.length > replicas ? 'ScalingDown' : 'ScalingUp';
    return { phase, replicas: alive.length, readyReplicas: ready, availableReplicas: ready, updatedReplicas: updated, selector: `${labels.pool}=${pool.metadata.name}` };
  }

  private async patchStatus(pool: PoolObject, status: MachinePoolStatus): Promise<void> {
    const next = { ...status, observedGeneration: pool.metadata.generation };
    if (isDeepStrictEqual(next, pool.status ?? {})) return;
    try {
      await this.deps.client.patch(fleetResources.MachinePool, pool.metadata.namespace, pool.metadata.name!, 'merge', { status: next }, { sub: 'status' });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
