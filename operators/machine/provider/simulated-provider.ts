/**
 * The Provider of one simulated CloudTarget: requests are checked here, deadlines drawn, and rows
 * written to the shared inventory. The cloud (simulated.ts) owns the file, the clock and the timers,
 * and gives each provider the few hooks below.
 */
import Database from 'better-sqlite3';
import {
  InstanceCreateError,
  InvalidRequestError,
  InvalidTargetError,
  ProviderError,
  ProviderUnavailableError,
  QuotaExceededError,
  UnknownMachineTypeError,
  type MachineRef,
} from './errors.js';
import type { CreateInstanceRequest, Instance, ListOptions, MachineType, Provider, Quota } from './provider.js';
import { instanceIdOf, instanceTags, seqOf, stateAt, toInstance, type Inventory, type InstanceRow } from './simulated-inventory.js';
import { jitterFactor, resolveSettings, timeToFailureMs, type ResolvedSettings, type SimulatedTargetSettings } from './simulated-settings.js';

/** The reason `kill` gives when the caller gives none. */
export const KILLED_REASON = 'killed by a chaos test';

/** What a provider needs of its cloud. */
export interface CloudInternals {
  inventory(): Inventory;
  now(): number;
  random(): number;
  ensureOpen(target: string): void;
  purge(now: number): void;
  created(row: InstanceRow, now: number): void;
  changed(row: InstanceRow, now: number): void;
  observe(row: InstanceRow, now: number): boolean;
  terminated(row: InstanceRow, now: number): void;
}

/** The Provider of one simulated CloudTarget; get it from `SimulatedCloud.provider`. */
export class SimulatedProvider implements Provider {
  private resolved: ResolvedSettings;

  /** @internal use SimulatedCloud.provider */
  constructor(
    private readonly cloud: CloudInternals,
    readonly target: string,
    settings: SimulatedTargetSettings,
  ) {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(target)) {
      throw new InvalidTargetError(target, `the name "${target}" is not valid: use a Kubernetes object name (lower case, digits, "-", ".")`);
    }
    this.resolved = resolveSettings(target, settings);
    this.syncFailureRate();
  }

  /** The settings in force, defaults filled in. */
  get settings(): ResolvedSettings {
    return this.resolved;
  }

  /**
   * Applies changed settings of the CloudTarget. Instances keep the latencies they were created
   * with; a changed failure rate applies to every instance alive now, from now on.
   */
  update(settings: SimulatedTargetSettings): void {
    this.resolved = resolveSettings(this.target, settings);
    this.syncFailureRate();
  }

  /**
   * Redraws the deaths of the instances still alive if the failure rate differs from the one their
   * deaths were drawn with. That rate is kept in the file, so a rate changed while kok was down
   * applies too. Drawing again from now is exact: the exponential has no memory.
   */
  private syncFailureRate(): void {
    const rate = this.resolved.failureRatePerHour;
    this.run(() => {
      const inventory = this.cloud.inventory();
      const now = this.cloud.now();
      const redrawn = inventory.transaction(() => {
        if (inventory.failureRate(this.target) === rate) return [];
        inventory.setFailureRate(this.target, rate);
        return inventory
          .list(this.target)
          .filter((row) => row.diesAt === undefined || row.diesAt > now)
          .map((row) => {
            const ttf = timeToFailureMs(rate, this.cloud.random());
            inventory.setDiesAt(row.seq, ttf === undefined ? undefined : Math.max(now, row.runningAt) + ttf);
            return row.seq;
          });
      });
      for (const seq of redrawn) this.cloud.changed(inventory.get(seq)!, now);
    });
  }

  async create(request: CreateInstanceRequest): Promise<Instance> {
    return this.run(() => {
      const machine = validateRequest(this.target, request);
      const s = this.resolved;
      const inventory = this.cloud.inventory();
      const now = this.cloud.now();
      const { row, created } = inventory.transaction(() => {
        this.cloud.purge(now);
        const existing = inventory.byMachine(this.target, request.machineUid);
        if (existing) return { row: sameRequest(this.target, existing, request, machine), created: false };

        const type = s.machineTypes.get(request.machineType);
        if (!type) throw new UnknownMachineTypeError(this.target, request.machineType, [...s.machineTypes.keys()], machine);
        if (request.zone !== undefined && !s.zones.includes(request.zone)) {
          throw new InvalidRequestError(this.target, `zone "${request.zone}" is not one of the target's zones (${s.zones.join(', ')})`, machine);
        }
        const inUse = inventory.countLive(this.target);
        if (s.capacity !== undefined && inUse >= s.capacity) throw new QuotaExceededError(this.target, machine, s.capacity, inUse);
        if (this.cloud.random() < s.createFailureRate) {
          throw new InstanceCreateError(this.target, machine, 'the simulated cloud refused it (simulation.createFailureRate); nothing was created');
        }

        const bootingAt = now + Math.round(s.provisionSeconds * 1000 * jitterFactor(s.jitter, this.cloud.random()));
        const runningAt = bootingAt + Math.round(s.bootSeconds * 1000 * jitterFactor(s.jitter, this.cloud.random()));
        const ttf = timeToFailureMs(s.failureRatePerHour, this.cloud.random());
        const row = inventory.insert(
          {
            target: this.target,
            machineUid: request.machineUid,
            machineNamespace: request.machineNamespace,
            machineName: request.machineName,
            cluster: request.cluster,
            machineType: type.name,
            pricePerHour: type.pricePerHour,
            zone: request.zone ?? this.leastUsedZone(),
            tags: instanceTags(this.target, request),
            createdAt: now,
            bootingAt,
            runningAt,
            ...(ttf !== undefined ? { diesAt: runningAt + ttf } : {}),
          },
          request.userData,
        );
        return { row, created: true };
      });
      if (created) this.cloud.created(row, now);
      else this.cloud.observe(row, now);
      return toInstance(row, now);
    });
  }

  async describe(instanceId: string): Promise<Instance | undefined> {
    return this.run(() => {
      const row = this.row(instanceId);
      return row && this.show(row, this.cloud.now());
    });
  }

  async findByMachine(machineUid: string): Promise<Instance | undefined> {
    return this.run(() => {
      const row = this.cloud.inventory().byMachine(this.target, machineUid);
      return row && this.show(row, this.cloud.now());
    });
  }

  async delete(instanceId: string): Promise<void> {
    this.run(() => {
      const inventory = this.cloud.inventory();
      const now = this.cloud.now();
      const row = inventory.transaction(() => {
        this.cloud.purge(now);
        const row = this.row(instanceId);
        return row && inventory.terminate(row.seq, now) ? inventory.get(row.seq) : undefined;
      });
      if (row) this.cloud.terminated(row, now);
    });
  }

  async list(options: ListOptions = {}): Promise<Instance[]> {
    return this.run(() => {
      const now = this.cloud.now();
      return this.cloud
        .inventory()
        .list(this.target, options.includeTerminated)
        .map((row) => this.show(row, now));
    });
  }

  async quota(): Promise<Quota> {
    return this.run(() => ({ capacity: this.resolved.capacity, inUse: this.cloud.inventory().countLive(this.target) }));
  }

  async machineTypes(): Promise<readonly MachineType[]> {
    return [...this.resolved.machineTypes.values()];
  }

  async price(machineType: string): Promise<number> {
    const type = this.resolved.machineTypes.get(machineType);
    if (!type) throw new UnknownMachineTypeError(this.target, machineType, [...this.resolved.machineTypes.keys()]);
    return type.pricePerHour;
  }

  /** Live instances at today's price of their type, or the price they were created at if it is no longer offered. */
  async costPerHour(): Promise<number> {
    return this.run(() =>
      this.cloud
        .inventory()
        .liveByType(this.target)
        .reduce((sum, t) => sum + t.n * (this.resolved.machineTypes.get(t.machineType)?.pricePerHour ?? t.pricePerHour), 0),
    );
  }

  /** The user data the instance boots with (its disk); undefined once terminated or if unknown. */
  userDataOf(instanceId: string): string | undefined {
    return this.run(() => {
      const row = this.row(instanceId);
      return row && this.cloud.inventory().userData(row.seq);
    });
  }

  /**
   * Chaos: the instance dies now, as if its host failed, and stays `failed` until deleted.
   * Returns the instance; one already failed or terminated is left as it is; undefined if unknown.
   */
  kill(instanceId: string, reason: string = KILLED_REASON): Instance | undefined {
    return this.run(() => {
      const inventory = this.cloud.inventory();
      const now = this.cloud.now();
      const row = this.row(instanceId);
      if (!row) return undefined;
      const state = stateAt(row, now);
      if (state === 'failed' || state === 'terminated') return this.show(row, now);
      inventory.kill(row.seq, now, reason);
      const killed = inventory.get(row.seq)!;
      this.cloud.changed(killed, now);
      return toInstance(killed, now);
    });
  }

  private row(instanceId: string): InstanceRow | undefined {
    const seq = seqOf(instanceId);
    const row = seq === undefined ? undefined : this.cloud.inventory().get(seq);
    return row?.target === this.target ? row : undefined;
  }

  private show(row: InstanceRow, now: number): Instance {
    this.cloud.observe(row, now);
    return toInstance(row, now);
  }

  /** The zone with the fewest live instances; ties go to the earlier zone in the settings. */
  private leastUsedZone(): string {
    const used = this.cloud.inventory().liveByZone(this.target);
    return this.resolved.zones.reduce((best, z) => ((used.get(z) ?? 0) < (used.get(best) ?? 0) ? z : best));
  }

  /** Runs an operation against the inventory; a failing database is an unavailable provider. */
  private run<T>(fn: () => T): T {
    this.cloud.ensureOpen(this.target);
    try {
      return fn();
    } catch (err) {
      if (err instanceof ProviderError || !(err instanceof Database.SqliteError)) throw err;
      throw new ProviderUnavailableError(this.target, `the simulated cloud's inventory failed (${err.code})`, { cause: err });
    }
  }
}

function validateRequest(target: string, r: CreateInstanceRequest): MachineRef {
  const machine = { namespace: String(r.machineNamespace), name: String(r.machineName) };
  for (const field of ['machineUid', 'machineNamespace', 'machineName', 'cluster', 'machineType'] as const) {
    if (typeof r[field] !== 'string' || r[field] === '') {
      throw new InvalidRequestError(target, `${field} must be a non-empty string`, machine);
    }
  }
  if (r.zone !== undefined && (typeof r.zone !== 'string' || r.zone === '')) {
    throw new InvalidRequestError(target, 'zone must be a non-empty string or left out', machine);
  }
  // Only the type is checked: the value is a secret and is never echoed.
  if (typeof r.userData !== 'string') throw new InvalidRequestError(target, 'userData must be a string', machine);
  for (const [k, v] of Object.entries(r.tags ?? {})) {
    if (typeof v !== 'string') throw new InvalidRequestError(target, `tag "${k}" must have a string value`, machine);
  }
  return machine;
}

/** The existing instance, if a retried create asks for what it is; an InvalidRequestError if not. */
function sameRequest(target: string, row: InstanceRow, r: CreateInstanceRequest, machine: MachineRef): InstanceRow {
  const differs = row.machineType !== r.machineType || (r.zone !== undefined && row.zone !== r.zone);
  if (!differs) return row;
  throw new InvalidRequestError(
    target,
    `the Machine (uid ${r.machineUid}) already has instance ${instanceIdOf(row.seq)} of type "${row.machineType}" ` +
      `in zone "${row.zone}"; a retried create must ask for the same type and zone, not "${r.machineType}" in ` +
      `${r.zone === undefined ? 'any zone' : `"${r.zone}"`}`,
    machine,
  );
}
