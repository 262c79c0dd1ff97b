/**
 * The `simulated` provider: a cloud that exists only in a SQLite file, with the latencies,
 * capacity, failures and prices a CloudTarget's settings give it. It is what kok's embedded mode
 * runs machines on, and the reference for the guarantees of `Provider` (provider.ts).
 *
 * `SimulatedCloud` holds the instances of any number of targets in one file and runs their clocks;
 * `cloud.provider(target, settings)` gives the `Provider` of one target (simulated-provider.ts).
 *
 * How the simulation behaves, and why:
 * - An instance's state is a function of time. At create the cloud draws the instance's deadlines
 *   (provisioning for provisionSeconds×f, then booting for bootSeconds×f', f and f' uniform in
 *   [1-jitter, 1+jitter]) and the moment it dies, and stores them; so states advance by the wall
 *   clock across restarts, and every reader sees the same thing.
 * - Deaths are a Poisson process of failureRatePerHour per running instance: the time to failure
 *   is drawn at create (exponential, counted from running). When the rate changes, the instances
 *   still alive draw again from now, which is exact because the exponential has no memory.
 * - A create fails with probability createFailureRate, before anything is stored: no instance, no
 *   quota held, and the retry (same uid) may succeed. Real clouds mostly fail this way too
 *   (InsufficientInstanceCapacity); one that leaves a failed instance behind is covered by `kill`.
 * - Capacity counts live instances: everything not terminated, failed ones included, because a
 *   dead VM holds its quota until someone deletes it.
 * - Delete marks the instance terminated at once and wipes its user data (the disk). Terminated
 *   instances are remembered for `terminatedRetentionSeconds`: a retried create for their uid
 *   returns them (like a client token) instead of making a second instance; after that they are
 *   forgotten. `list()` shows them only when asked.
 * - The cloud tells `watch` listeners when an instance becomes running (with its user data, so a
 *   simulated VM can boot the node agent with it), fails, or is terminated, by timers set at
 *   create and at load, cleared by close().
 * - Another process sharing the file (the Machine operator's) is heard of through
 *   `changedSince`, which the cloud's data plane polls (simulated-host.ts).
 */
import { createLogger, type Logger } from '../../runtime/log.js';
import { ProviderUnavailableError } from './errors.js';
import type { Instance, InstanceState } from './provider.js';
import { Inventory, seqOf, stateAt, toInstance, type InstanceRow } from './simulated-inventory.js';
import { SimulatedProvider, type CloudInternals } from './simulated-provider.js';
import type { SimulatedTargetSettings } from './simulated-settings.js';

export type { SimulatedTargetSettings, SimulationSettings, ResolvedSettings } from './simulated-settings.js';
export { KILLED_REASON, SimulatedProvider } from './simulated-provider.js';
export { parseSimulatedProviderID, simulatedProviderID } from './simulated-inventory.js';

export interface SimulatedCloudOptions {
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  /** Uniform in [0, 1): every draw of the simulation comes from it. @default Math.random */
  readonly random?: () => number;
  /** How long terminated instances are remembered (at least). @default 3600 */
  readonly terminatedRetentionSeconds?: number;
  /** Where failing listeners are reported. @default - a logger named 'simulated-cloud' */
  readonly logger?: Logger;
}

/** An instance became running, failed, or was terminated. */
export interface InstanceChange {
  readonly target: string;
  /** The instance as it is now; `instance.state` says which change this is. */
  readonly instance: Instance;
  /**
   * The instance's user data, when it became running: what its node agent boots with. Not
   * enumerable, so logging or serialising a change never shows it.
   */
  readonly userData?: string;
}

export type InstanceListener = (change: InstanceChange) => void;

/** Where `SimulatedCloud.changedSince` resumes: the last instance created and the time, when last asked. */
export interface ChangeCursor {
  readonly seq: number;
  /** Milliseconds since the epoch, by the cloud's clock. */
  readonly at: number;
}

/**
 * How long before a write commits the time it stamps may lie: a delete or kill reads the clock,
 * then may wait for the file's lock (busy_timeout, 5 s). changedSince looks back this far for them.
 */
export const CHANGE_WINDOW_MS = 10_000;

/** setTimeout's limit (about 24.8 days); a later deadline is reached in several steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SimulatedCloud {
  readonly now: () => number;
  readonly random: () => number;
  private readonly inventory: Inventory;
  private readonly retentionMs: number;
  private readonly log: Logger;
  private readonly providers = new Map<string, SimulatedProvider>();
  private readonly listeners = new Set<InstanceListener>();
  private readonly timers = new Map<number, NodeJS.Timeout>();
  /** The state each live instance was last seen in, so each change is told once. */
  private readonly seen = new Map<number, InstanceState>();
  private closed = false;

  /** Opens (or creates) the inventory at `path` and resumes the clocks of the instances in it. */
  constructor(path: string, options: SimulatedCloudOptions = {}) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    const retention = options.terminatedRetentionSeconds ?? 3600;
    if (!(Number.isFinite(retention) && retention >= 0)) {
      throw new RangeError(`simulated cloud ${path}: terminatedRetentionSeconds ${retention} is not valid: use 0 or more seconds`);
    }
    this.retentionMs = retention * 1000;
    this.log = options.logger ?? createLogger({ name: 'simulated-cloud' });
    this.inventory = new Inventory(path);
    const now = this.now();
    this.inventory.purge(now - this.retentionMs);
    // Instances that are running now are not announced: `watch` replays them to each listener.
    for (const row of this.inventory.liveEverywhere()) this.track(row, now);
  }

  /**
   * The provider of one target. Asking again for the same target returns the same provider with
   * its settings updated, so there is one view of each target's settings.
   */
  provider(target: string, settings: SimulatedTargetSettings): SimulatedProvider {
    this.ensureOpen(target);
    const existing = this.providers.get(target);
    if (existing) {
      existing.update(settings);
      return existing;
    }
    const provider = new SimulatedProvider(this.internals, target, settings);
    this.providers.set(target, provider);
    return provider;
  }

  /**
   * Tells `listener` about every instance that becomes running, fails or is terminated, in any
   * target. First, synchronously, it hears of every instance running now (as an informer lists
   * before it watches). Returns the function that stops it.
   */
  watch(listener: InstanceListener): () => void {
    if (this.closed) throw new Error('simulated cloud: watch() after close()');
    this.listeners.add(listener);
    const now = this.now();
    for (const row of this.inventory.liveEverywhere()) {
      if (this.observe(row, now)) continue; // just told everyone, this listener included
      if (stateAt(row, now) === 'running') this.tell([listener], row, now);
    }
    return () => this.listeners.delete(listener);
  }

  /**
   * The instances of every target that may have changed state since `cursor`, whichever process
   * changed them, and the cursor to ask from next time; without a cursor, every live instance.
   * It never misses a change but may repeat one (a death or deletion is found again for
   * CHANGE_WINDOW_MS): the caller compares with what it knows. Cross-process: `watch` only hears
   * of what this process's providers did and of deadlines of instances it created or loaded.
   * Costs O(instances found), not O(instances in the file), so a simulated data plane can poll it.
   */
  changedSince(cursor?: ChangeCursor): { instances: Instance[]; cursor: ChangeCursor } {
    if (this.closed) throw new Error('simulated cloud: changedSince() after close()');
    const now = this.now();
    // New rows come by sequence and running times are drawn at create: only the times that writes
    // stamp (a kill's death, a delete) are looked for over the window.
    const { rows, lastSeq } = this.inventory.changes(cursor && { afterSeq: cursor.seq, dueFrom: cursor.at, from: cursor.at - CHANGE_WINDOW_MS, to: now });
    const instances = rows.map((row) => {
      this.observe(row, now);
      return toInstance(row, now);
    });
    return { instances, cursor: { seq: Math.max(lastSeq, cursor?.seq ?? 0), at: now } };
  }

  /**
   * The user data an instance of any target boots with (what its simulated VM reads from its
   * disk); undefined once it is terminated, or for an unknown id. A secret: never log it.
   */
  userDataOf(instanceId: string): string | undefined {
    if (this.closed) throw new Error('simulated cloud: userDataOf() after close()');
    const seq = seqOf(instanceId);
    return seq === undefined ? undefined : this.inventory.userData(seq);
  }

  /** Stops every timer and closes the file. Providers of this cloud answer ProviderUnavailableError afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.listeners.clear();
    this.inventory.close();
  }

  /** What the providers of this cloud use; not part of the public API. */
  private readonly internals: CloudInternals = {
    inventory: () => this.inventory,
    now: () => this.now(),
    random: () => this.random(),
    ensureOpen: (target) => this.ensureOpen(target),
    purge: (now) => this.inventory.purge(now - this.retentionMs),
    created: (row, now) => {
      // Not yet seen by anyone: one that runs at once (no latency) is told as running.
      this.seen.set(row.seq, 'provisioning');
      this.changed(row, now);
    },
    changed: (row, now) => this.changed(row, now),
    observe: (row, now) => this.observe(row, now),
    terminated: (row, now) => this.terminated(row, now),
  };

  private ensureOpen(target: string): void {
    if (this.closed) throw new ProviderUnavailableError(target, 'the simulated cloud is closed');
  }

  /** Resumes an instance found in the file: its state now is taken as known (`watch` replays the running). */
  private track(row: InstanceRow, now: number): void {
    this.seen.set(row.seq, stateAt(row, now));
    this.schedule(row, now);
  }

  /** After the instance's deadlines changed (created, killed, redrawn): tells what changed, resets its timer. */
  private changed(row: InstanceRow, now: number): void {
    this.observe(row, now);
    this.schedule(row, now);
  }

  /**
   * Tells listeners if the instance has become running or failed since it was last seen; true if
   * it told them. Timers call it at the deadlines; reads call it too, so no one can see a change
   * before the listeners have heard of it.
   */
  private observe(row: InstanceRow, now: number): boolean {
    const state = stateAt(row, now);
    if (state === 'terminated') {
      // Told by `terminated`, in the process that deleted it; here it is only forgotten.
      this.seen.delete(row.seq);
      return false;
    }
    const before = this.seen.get(row.seq);
    this.seen.set(row.seq, state);
    if (state === before || (state !== 'running' && state !== 'failed')) return false;
    this.tell(this.listeners, row, now);
    return true;
  }

  private terminated(row: InstanceRow, now: number): void {
    const timer = this.timers.get(row.seq);
    if (timer) clearTimeout(timer);
    this.timers.delete(row.seq);
    this.seen.delete(row.seq);
    this.tell(this.listeners, row, now);
  }

  private tell(listeners: Iterable<InstanceListener>, row: InstanceRow, now: number): void {
    const instance = toInstance(row, now);
    const change: InstanceChange = { target: row.target, instance };
    if (instance.state === 'running') {
      Object.defineProperty(change, 'userData', { value: this.inventory.userData(row.seq), enumerable: false });
    }
    for (const listener of [...listeners]) {
      try {
        listener(change);
      } catch (err) {
        this.log.error({ err, target: row.target, instance: instance.id, state: instance.state }, 'an instance listener failed');
      }
    }
  }

  /** Sets the timer for the instance's next running or failed deadline, if it has one to come. */
  private schedule(row: InstanceRow, now: number): void {
    const existing = this.timers.get(row.seq);
    if (existing) clearTimeout(existing);
    this.timers.delete(row.seq);
    if (this.closed || row.terminatedAt !== undefined) return;
    const next = Math.min(...[row.runningAt, row.diesAt ?? Infinity].filter((t) => t > now));
    if (next === Infinity) return;
    const timer = setTimeout(() => this.onDeadline(row.seq), Math.min(next - now, MAX_TIMER_MS));
    // A simulated VM does not keep the process alive; whoever runs the cloud does.
    timer.unref();
    this.timers.set(row.seq, timer);
  }

  private onDeadline(seq: number): void {
    this.timers.delete(seq);
    if (this.closed) return;
    try {
      const row = this.inventory.get(seq);
      if (!row || row.terminatedAt !== undefined) return;
      const now = this.now();
      this.observe(row, now);
      // A timer that fired early (or a clock that has not moved) simply waits again.
      this.schedule(row, now);
    } catch (err) {
      this.log.error({ err, instance: seq }, 'simulated cloud: checking an instance deadline failed');
    }
  }
}
