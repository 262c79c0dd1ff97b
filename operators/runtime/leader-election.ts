/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it:
 * a candidate GETs the lease, creates it when missing, takes it over once the holder's lease has
 * expired (renewTime + leaseDurationSeconds) and renews it every retry period with a PUT carrying
 * the resourceVersion it read, so two candidates can never both win the same write (409).
 * A leader that cannot renew within the renew deadline, or sees another holder, stops leading.
 *
 * Expiry is judged on the lease's renewTime rather than client-go's local "observed at" clock, so
 * a new candidate takes over a dead holder's lease at once; holders' clocks must roughly agree.
 *
 * Lease times are MicroTime on the wire (six fractional digits), sent as strings built by
 * `microTime()`.
 *
 * Requests go through kok's KubeClient, whose agent keeps its connection alive: a candidate polls
 * every retry period for as long as it runs, and client-node's generated APIs open a new TLS
 * connection (new secure context, full handshake on both ends) for every call.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { isAlreadyExists, isConflict, isNotFound, KubeClient, type KubeObject } from './client.js';
import { microTime } from './time.js';

export { microTime };

export interface LeaderElectorOptions {
  readonly kubeConfig: KubeConfig;
  /** Namespace of the Lease; it must exist. */
  readonly namespace: string;
  /** Name of the Lease that candidates compete for. */
  readonly name: string;
  /** This candidate's identity, unique among candidates (e.g. `${hostname}_${uuid}`). */
  readonly identity: string;
  /** How long a holder's lease lasts after its last renewal. @default 15 */
  readonly leaseDurationSeconds?: number;
  /** How long a leader keeps retrying a failing renewal before it steps down. @default 10 */
  readonly renewDeadlineSeconds?: number;
  /** Time between acquire and renew attempts. @default 2 */
  readonly retryPeriodSeconds?: number;
  /** Called when this candidate becomes leader; `signal` aborts when leadership ends. Not awaited. */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called when this candidate stops leading (lost the lease, or `stop()`); awaited before moving on. */
  readonly onStoppedLeading: () => void | Promise<void>;
  /** Called whenever the observed holder changes, this candidate included. Not awaited. */
  readonly onNewLeader?: (identity: string) => void | Promise<void>;
}

/** client-go's JitterFactor: acquisition retries wait between 1 and 1.2 retry periods. */
const jitterFactor = 1.2;

interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions: number;
}

/** A Lease as JSON: its times are MicroTime strings. */
interface Lease extends KubeObject {
  spec?: Partial<LeaseRecord>;
}

function timeOf(v: string | undefined): number | undefined {
  const t = v === undefined ? NaN : Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function recordOf(lease: Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: spec.acquireTime ?? undefined,
    renewTime: spec.renewTime ?? undefined,
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private leading = false;
  private stopped = false;
  private done?: Promise<void>;
  private leadership?: AbortController;
  /** The holder as last read or written, and when this candidate last saw the record change. */
  private observed?: LeaseRecord;
  /** The Lease as this candidate last read or wrote it: a leader renews from it without reading first. */
  private lease?: Lease;
  private observedAt = 0;
  private reportedLeader?: string;
  private wake?: () => void;

  constructor(private readonly opts: LeaderElectorOptions) {
    const lease = opts.leaseDurationSeconds ?? 15;
    const renew = opts.renewDeadlineSeconds ?? 10;
    const retry = opts.retryPeriodSeconds ?? 2;
    const where = `leader election on lease ${opts.namespace}/${opts.name}`;
    if (!opts.identity) throw new Error(`${where}: identity must not be empty; give each candidate a unique identity`);
    if (!opts.namespace || !opts.name) throw new Error(`${where}: namespace and name of the lease are required`);
    if (!Number.isInteger(lease) || lease < 1) {
      throw new Error(`${where}: leaseDurationSeconds (${lease}) must be a whole number of seconds, at least 1`);
    }
    if (!(retry > 0)) throw new Error(`${where}: retryPeriodSeconds (${retry}) must be greater than 0`);
    if (!(lease > renew)) {
      throw new Error(`${where}: leaseDurationSeconds (${lease}) must be greater than renewDeadlineSeconds (${renew})`);
    }
    if (!(renew > jitterFactor * retry)) {
      throw new Error(
        `${where}: renewDeadlineSeconds (${renew}) must be greater than ${jitterFactor} × retryPeriodSeconds (${retry})`,
      );
    }
    this.client = new KubeClient(opts.kubeConfig, { maxSockets: 2 });
    this.leaseMs = lease * 1000;
    this.renewDeadlineMs = renew * 1000;
    this.retryMs = retry * 1000;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Competes for the lease until `stop()`: acquire, lead while renewals succeed, and after losing
   * the lease become a candidate again. Resolves once stopped (and the lease released).
   */
  run(): Promise<void> {
    if (this.done) {
      return Promise.reject(new Error(`leader election on lease ${this.opts.namespace}/${this.opts.name} is already running`));
    }
    this.stopped = false;
    this.done = this.loop();
    return this.done;
  }

  /** Stops competing; a leader releases the lease (clears holderIdentity) so another takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.done;
  }

  private async loop(): Promise<void> {
    try {
      while (!this.stopped) {
        const acquired = await this.attempt();
        if (this.stopped) {
          // Stopped while the request was in flight: give back what it may have won, without leading.
          if (acquired) await this.release();
          break;
        }
        if (!acquired) {
          await this.sleep(this.retryMs * (1 + Math.random() * (jitterFactor - 1)));
          continue;
        }
        this.startLeading();
        await this.renewWhileLeading();
        if (this.leading && !this.stopped) await this.stopLeading();
      }
    } finally {
      if (this.leading) {
        // The leader's work ends before the lease is given up, as client-go's ReleaseOnCancel does.
        this.leadership?.abort();
        await this.release();
        await this.stopLeading();
      }
      // Its idle keep-alive connection closes with it (a later run() opens a new one).
      this.client.close();
      this.done = undefined;
    }
  }

  /** Renews every retry period; returns when a renewal failed past the deadline, another took over, or on stop. */
  private async renewWhileLeading(): Promise<void> {
    let lastRenewed = Date.now();
    while (!this.stopped) {
      await this.sleep(this.retryMs);
      if (this.stopped) return;
      // A renewal may only use what is left of the deadline, so a hung request cannot extend it.
      if (await this.attempt(Math.max(1, lastRenewed + this.renewDeadlineMs - Date.now()))) {
        lastRenewed = Date.now();
        continue;
      }
      const takenOver = this.observed !== undefined && this.observed.holderIdentity !== this.opts.identity;
      if (takenOver || Date.now() - lastRenewed >= this.renewDeadlineMs) return;
    }
  }

  /** One tryAcquireOrRenew that counts as failed once `timeoutMs` has passed. */
  private async attempt(timeoutMs = this.renewDeadlineMs): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.tryAcquireOrRenew(), timeout]);
    } catch (err) {
      this.report('acquiring or renewing the lease failed', err);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const now = new Date();
    // client-go's fast path: a leader whose lease is still valid writes the renewal over the Lease
    // it last wrote — one request instead of a read and a write. A conflict (someone else wrote
    // the Lease) or any error falls through to the read below.
    if (this.leading && this.lease && this.observed?.holderIdentity === identity && !this.expired(this.observed, now.getTime())) {
      const next: LeaseRecord = { ...this.observed, leaseDurationSeconds: this.leaseMs / 1000, renewTime: microTime(now) };
      try {
        if (await this.replace(this.lease, next)) {
          this.observe(next);
          return true;
        }
      } catch (err) {
        this.report('renewing the lease optimistically failed; reading it again', err);
      }
    }
    let current: Lease;
    try {
      current = await this.client.get<Lease>(resources.leases, namespace, name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const record: LeaseRecord = {
        holderIdentity: identity,
        leaseDurationSeconds: this.leaseMs / 1000,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      };
      try {
        this.lease = await this.client.create<Lease>(resources.leases, namespace, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: record });
      } catch (createErr) {
        // Another candidate created it first: it holds the lease; try again next period.
        if (isAlreadyExists(createErr)) return false;
        if (isNotFound(createErr)) {
          throw new Error(`Lease ${namespace}/${name}: namespace ${namespace} does not exist; kok's install chart creates it (or: kubectl create namespace ${namespace})`);
        }
        throw createErr;
      }
      this.observe(record);
      return true;
    }

    this.lease = current;
    const old = recordOf(current);
    this.observe(old);
    if (old.holderIdentity && old.holderIdentity !== identity && !this.expired(old, now.getTime())) return false;

    const mine = old.holderIdentity === identity;
    const next: LeaseRecord = {
      holderIdentity: identity,
      leaseDurationSeconds: this.leaseMs / 1000,
      acquireTime: mine && old.acquireTime ? old.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: mine ? old.leaseTransitions : old.leaseTransitions + 1,
    };
    if (!(await this.replace(current, next))) return false;
    this.observe(next);
    return true;
  }

  /** PUT with the resourceVersion that was read; false when someone else wrote the lease in between. */
  private async replace(current: Lease, record: LeaseRecord): Promise<boolean> {
    const { namespace, name } = this.opts;
    const m = current.metadata ?? {};
    try {
      this.lease = await this.client.update<Lease>(resources.leases, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        // A plain metadata copy: timestamps stay the server's, managedFields are kept server-side.
        metadata: {
          name,
          namespace,
          uid: m.uid,
          resourceVersion: m.resourceVersion,
          labels: m.labels,
          annotations: m.annotations,
          ownerReferences: m.ownerReferences,
          finalizers: m.finalizers,
        },
        spec: record,
      });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private expired(r: LeaseRecord, now: number): boolean {
    // Without a readable renewTime, fall back to when this candidate first saw the record.
    const renewed = timeOf(r.renewTime) ?? this.observedAt;
    return renewed + r.leaseDurationSeconds * 1000 <= now;
  }

  private observe(r: LeaseRecord): void {
    const changed = JSON.stringify(r) !== JSON.stringify(this.observed);
    this.observed = r;
    if (changed) this.observedAt = Date.now();
    if (r.holderIdentity && r.holderIdentity !== this.reportedLeader) {
      this.reportedLeader = r.holderIdentity;
      const handler = this.opts.onNewLeader;
      if (handler) void this.callHandler('onNewLeader', () => handler(r.holderIdentity));
    }
  }

  private startLeading(): void {
    this.leading = true;
    this.leadership = new AbortController();
    const signal = this.leadership.signal;
    void this.callHandler('onStartedLeading', () => this.opts.onStartedLeading(signal));
  }

  private async stopLeading(): Promise<void> {
    this.leading = false;
    this.leadership?.abort();
    this.leadership = undefined;
    await this.callHandler('onStoppedLeading', () => this.opts.onStoppedLeading());
  }

  /** Gives the lease up so the next candidate need not wait for it to expire. */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.opts;
    try {
      const current = await this.client.get<Lease>(resources.leases, namespace, name);
      const old = recordOf(current);
      if (old.holderIdentity !== identity) return;
      const now = microTime(new Date());
      await this.replace(current, {
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: old.leaseTransitions,
      });
    } catch (err) {
      this.report('releasing the lease failed; the next leader waits for it to expire', err);
    }
  }

  /** Runs a user handler; its throw or rejection is reported, never left unhandled. */
  private callHandler(what: string, fn: () => void | Promise<void>): Promise<void> {
    return Promise.resolve()
      .then(fn)
      .catch((err) => this.report(`${what} handler failed`, err));
  }

  /** One line per failure: an unreachable API repeats it every retry period, and a stack says nothing more. */
  private report(what: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`leader election ${this.opts.namespace}/${this.opts.name} (${this.opts.identity}): ${what}: ${message}`);
  }

  /** Waits, unless `stop()` comes first. */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
