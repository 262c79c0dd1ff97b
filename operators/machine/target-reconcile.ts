/**
 * The CloudTarget reconciler: status only. Capacity, machines in use and cost per hour as the
 * provider reports them (the provider's truth, not a count of Machine objects), phase Ready, Full
 * or Unavailable, and a Ready condition. Machines of the target enqueue it when they change.
 */
import { isDeepStrictEqual } from 'node:util';
import type { CloudTarget, CloudTargetStatus } from '../../meta-cluster/api/v1alpha1/cloud-target.js';
import { CloudTargetConditions, CloudTargetReasons, setCondition, type ConditionUpdate } from '../../meta-cluster/api/v1alpha1/conditions.js';
import { isNotFound, type KubeClient, type KubeObject } from '../runtime/client.js';
import type { Informer } from '../runtime/informer.js';
import type { ReconcileResult } from '../runtime/workqueue.js';
import type { EventRecorder } from '../runtime/events.js';
import type { MachineObject, ProviderSource } from './machine-reconcile.js';
import type { Provider } from './provider/provider.js';
import { fleetResources } from '../../meta-cluster/api/resources.js';

/** Cost and usage also change without any Machine event (an instance dies): look again this often. */
const RESYNC_MS = 30_000;
/**
 * An instance whose Machine is not in the cache is a leak only once it is older than this: a
 * Machine just created may not be cached yet when its instance is.
 */
export const DEFAULT_ORPHAN_GRACE_MS = 120_000;

export class CloudTargetReconciler {
  /** The last look for leaked instances per target: when, and how many it deleted. */
  private readonly orphanScans = new Map<string, { at: number; found: number }>();

  constructor(
    private readonly deps: {
      readonly client: KubeClient;
      readonly targets: Informer<CloudTarget & KubeObject>;
      readonly providers: ProviderSource;
      /** Every Machine, to tell leaked instances (no Machine with their uid) from live ones. */
      readonly machines: Informer<MachineObject>;
      readonly events: EventRecorder;
      readonly orphanGraceMs?: number;
      readonly now?: () => Date;
    },
  ) {}

  readonly reconcile = async (name: string): Promise<ReconcileResult | void> => {
    const target = this.deps.targets.get(undefined, name);
    if (!target || target.metadata.deletionTimestamp) {
      this.orphanScans.delete(name);
      return;
    }
    const now = (this.deps.now ?? (() => new Date()))();
    let status: CloudTargetStatus = { ...(target.status ?? {}) };
    const set = (u: ConditionUpdate) => {
      status = { ...status, conditions: setCondition(status.conditions, { observedGeneration: target.metadata.generation, ...u }, now) };
    };
    const provider = this.deps.providers.providerFor(target);
    if ('unsupported' in provider) {
      status.phase = 'Unavailable';
      set({ type: CloudTargetConditions.Ready, status: 'False', reason: CloudTargetReasons.ProviderNotSupported, message: provider.unsupported });
    } else {
      // Listing every instance is the costly part of a pass (10,000 rows at fleet scale, and passes
      // come each second while Machines change): it is done at most every quarter of the grace.
      const grace = this.deps.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS;
      const scanned = this.orphanScans.get(name);
      let orphans = scanned?.found ?? 0;
      if (!scanned || now.getTime() - scanned.at >= Math.min(RESYNC_MS, grace / 4)) {
        orphans = await this.collectOrphans(target, provider, now.getTime());
        this.orphanScans.set(name, { at: now.getTime(), found: orphans });
      }
      const [quota, cost] = await Promise.all([provider.quota(), provider.costPerHour()]);
      const full = quota.capacity !== undefined && quota.inUse >= quota.capacity;
      status = { ...status, machinesInUse: quota.inUse, costPerHour: Math.round(cost * 10_000) / 10_000, orphanedInstances: orphans };
      if (quota.capacity !== undefined) status.capacity = quota.capacity;
      else delete status.capacity;
      status.phase = full ? 'Full' : 'Ready';
      set(
        full
          ? { type: CloudTargetConditions.Ready, status: 'False', reason: CloudTargetReasons.QuotaExceeded, message: `all ${quota.capacity} machines of CloudTarget ${name} are in use; new machines wait` }
          : { type: CloudTargetConditions.Ready, status: 'True', reason: CloudTargetReasons.AsExpected },
      );
    }
    status.observedGeneration = target.metadata.generation;
    if (!isDeepStrictEqual(status, target.status ?? {})) {
      try {
        await this.deps.client.patch(fleetResources.CloudTarget, undefined, name, 'merge', { status }, { sub: 'status' });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return { requeueAfterMs: RESYNC_MS };
  };

  /**
   * Lists the provider (guarantee 6 of provider.ts) and deletes instances no Machine owns any more
   * — an operator that died between a create and its record, a Machine removed by force. Returns
   * how many were found.
   */
  private async collectOrphans(target: CloudTarget & KubeObject, provider: Provider, now: number): Promise<number> {
    const uids = new Set(this.deps.machines.list().map((m) => m.metadata.uid));
    const grace = this.deps.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS;
    const orphans = (await provider.list()).filter((i) => !uids.has(i.machineUid) && now - Date.parse(i.createdAt) >= grace);
    for (const i of orphans) {
      await provider.delete(i.id);
      void this.deps.events.event(target, 'Warning', 'OrphanedInstanceDeleted', `deleted instance ${i.id} (${i.providerID}): its Machine ${i.machineNamespace}/${i.machineName} (uid ${i.machineUid}) no longer exists`);
    }
    return orphans.length;
  }
}
