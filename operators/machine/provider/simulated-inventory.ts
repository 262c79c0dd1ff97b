/**
 * The simulated cloud's inventory: every instance of every target in one SQLite file (WAL), so a
 * restarted kok finds the instances it had. An instance's state is not stored: it is a function of
 * the time and of deadlines drawn once at create (`stateAt`), so states keep advancing by the wall
 * clock across restarts and every reader agrees on them.
 *
 * A second table keeps, per target, the failure rate the deaths were drawn with.
 *
 * One row per instance, unique per (target, machine uid): the constraint is what makes create
 * idempotent, even for two processes sharing the file. The user data is a column of its own that
 * only `userData()` reads, so it never rides along in a row.
 */
import Database from 'better-sqlite3';
import { TAG_CLOUD_TARGET, TAG_CLUSTER, TAG_MACHINE, TAG_MACHINE_UID, type Instance, type InstanceState } from './provider.js';

const SCHEMA_VERSION = 1;

/** An instance as stored; times are milliseconds since the epoch. */
export interface InstanceRow {
  /** Database key; the instance id and address are derived from it. */
  readonly seq: number;
  readonly target: string;
  readonly machineUid: string;
  readonly machineNamespace: string;
  readonly machineName: string;
  readonly cluster: string;
  readonly machineType: string;
  /** The price when created: costs fall back to it once the type is no longer offered. */
  readonly pricePerHour: number;
  readonly zone: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly createdAt: number;
  readonly bootingAt: number;
  readonly runningAt: number;
  /** When it dies (drawn at create, redrawn when the failure rate changes, or the time of a kill). */
  readonly diesAt?: number;
  /** Set by a kill; natural deaths use DEFAULT_FAILURE_REASON. */
  readonly failureReason?: string;
  readonly terminatedAt?: number;
}

export type NewInstanceRow = Omit<InstanceRow, 'seq'>;

export const DEFAULT_FAILURE_REASON = 'the simulated host of the instance failed (simulation.failureRatePerHour)';

export function stateAt(row: InstanceRow, now: number): InstanceState {
  if (row.terminatedAt !== undefined) return 'terminated';
  if (row.diesAt !== undefined && row.diesAt <= now) return 'failed';
  if (now >= row.runningAt) return 'running';
  if (now >= row.bootingAt) return 'booting';
  return 'provisioning';
}

/** `i-` and the sequence in hex: unique in the file, never reused (AUTOINCREMENT). */
export const instanceIdOf = (seq: number): string => `i-${seq.toString(16).padStart(10, '0')}`;

export function seqOf(instanceId: string): number | undefined {
  const m = /^i-([0-9a-f]{10,13})$/.exec(instanceId);
  return m ? parseInt(m[1], 16) : undefined;
}

/**
 * Addresses come from 172.16.0.0/12, apart from the node agent's 10.0.0.0/10 and the pod networks.
 * They are derived from the sequence, so they repeat only after a million instances.
 */
export function instanceAddress(seq: number): string {
  const n = ((seq - 1) % (2 ** 20 - 2)) + 1;
  return `172.${16 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

export const simulatedProviderID = (target: string, zone: string, instanceId: string): string =>
  `simulated://${target}/${zone}/${instanceId}`;

/** The parts of a `simulated://<target>/<zone>/<id>` provider ID; undefined for any other. */
export function parseSimulatedProviderID(providerID: string): { target: string; zone: string; instanceId: string } | undefined {
  const m = /^simulated:\/\/([^/]+)\/([^/]+)\/(i-[0-9a-f]+)$/.exec(providerID);
  return m ? { target: m[1], zone: m[2], instanceId: m[3] } : undefined;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The Instance a row shows at `now`: frozen plain data, without the user data. */
export function toInstance(row: InstanceRow, now: number): Instance {
  const state = stateAt(row, now);
  const id = instanceIdOf(row.seq);
  const end = Math.min(row.diesAt ?? Infinity, row.terminatedAt ?? Infinity);
  const failed = row.diesAt !== undefined && row.diesAt <= now && row.diesAt <= (row.terminatedAt ?? Infinity);
  const instance: Instance = {
    id,
    providerID: simulatedProviderID(row.target, row.zone, id),
    target: row.target,
    machineUid: row.machineUid,
    machineNamespace: row.machineNamespace,
    machineName: row.machineName,
    cluster: row.cluster,
    machineType: row.machineType,
    zone: row.zone,
    state,
    address: instanceAddress(row.seq),
    createdAt: iso(row.createdAt),
    ...(row.runningAt <= now && row.runningAt < end ? { runningSince: iso(row.runningAt) } : {}),
    ...(failed ? { failedAt: iso(row.diesAt!), failureReason: row.failureReason ?? DEFAULT_FAILURE_REASON } : {}),
    ...(row.terminatedAt !== undefined ? { terminatedAt: iso(row.terminatedAt) } : {}),
    tags: Object.freeze({ ...row.tags }),
  };
  return Object.freeze(instance);
}

/** The tags of a new instance: the request's, then kok's own, which win. */
export function instanceTags(
  target: string,
  req: { machineUid: string; machineNamespace: string; machineName: string; cluster: string; tags?: Readonly<Record<string, string>> },
): Record<string, string> {
  return {
    ...req.tags,
    [TAG_MACHINE_UID]: req.machineUid,
    [TAG_MACHINE]: `${req.machineNamespace}/${req.machineName}`,
    [TAG_CLUSTER]: req.cluster,
    [TAG_CLOUD_TARGET]: target,
  };
}

interface DbRow {
  seq: number;
  target: string;
  machine_uid: string;
  machine_namespace: string;
  machine_name: string;
  cluster: string;
  machine_type: string;
  price_per_hour: number;
  zone: string;
  tags: string;
  created_at: number;
  booting_at: number;
  running_at: number;
  dies_at: number | null;
  failure_reason: string | null;
  terminated_at: number | null;
}

const COLUMNS =
  'seq, target, machine_uid, machine_namespace, machine_name, cluster, machine_type, price_per_hour, zone, tags, ' +
  'created_at, booting_at, running_at, dies_at, failure_reason, terminated_at';

function fromDb(r: DbRow): InstanceRow {
  return {
    seq: r.seq,
    target: r.target,
    machineUid: r.machine_uid,
    machineNamespace: r.machine_namespace,
    machineName: r.machine_name,
    cluster: r.cluster,
    machineType: r.machine_type,
    pricePerHour: r.price_per_hour,
    zone: r.zone,
    tags: JSON.parse(r.tags) as Record<string, string>,
    createdAt: r.created_at,
    bootingAt: r.booting_at,
    runningAt: r.running_at,
    ...(r.dies_at !== null ? { diesAt: r.dies_at } : {}),
    ...(r.failure_reason !== null ? { failureReason: r.failure_reason } : {}),
    ...(r.terminated_at !== null ? { terminatedAt: r.terminated_at } : {}),
  };
}

export class Inventory {
  private readonly db: Database.Database;
  private readonly stmt: ReturnType<Inventory['prepare']>;

  constructor(path: string) {
    this.db = new Database(path);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new Error(`simulated cloud ${path}: inventory schema ${version} is newer than this kok knows (${SCHEMA_VERSION})`);
      }
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS instances (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          target TEXT NOT NULL,
          machine_uid TEXT NOT NULL,
          machine_namespace TEXT NOT NULL,
          machine_name TEXT NOT NULL,
          cluster TEXT NOT NULL,
          machine_type TEXT NOT NULL,
          price_per_hour REAL NOT NULL,
          zone TEXT NOT NULL,
          tags TEXT NOT NULL,
          user_data TEXT,
          created_at INTEGER NOT NULL,
          booting_at INTEGER NOT NULL,
          running_at INTEGER NOT NULL,
          dies_at INTEGER,
          failure_reason TEXT,
          terminated_at INTEGER,
          UNIQUE (target, machine_uid)
        );
        CREATE INDEX IF NOT EXISTS instances_by_target ON instances (target, terminated_at);
        CREATE TABLE IF NOT EXISTS targets (
          name TEXT PRIMARY KEY,
          failure_rate_per_hour REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS instances_terminated ON instances (terminated_at) WHERE terminated_at IS NOT NULL;
        -- For changes(): the deadlines at which an instance's state changes with no write.
        CREATE INDEX IF NOT EXISTS instances_running_at ON instances (running_at);
        CREATE INDEX IF NOT EXISTS instances_dies_at ON instances (dies_at) WHERE dies_at IS NOT NULL;
        PRAGMA user_version = ${SCHEMA_VERSION};
      `);
      this.stmt = this.prepare();
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  private prepare() {
    const db = this.db;
    return {
      bySeq: db.prepare(`SELECT ${COLUMNS} FROM instances WHERE seq = ?`),
      byUid: db.prepare(`SELECT ${COLUMNS} FROM instances WHERE target = ? AND machine_uid = ?`),
      live: db.prepare(`SELECT ${COLUMNS} FROM instances WHERE target = ? AND terminated_at IS NULL ORDER BY seq`),
      all: db.prepare(`SELECT ${COLUMNS} FROM instances WHERE target = ? ORDER BY seq`),
      liveEverywhere: db.prepare(`SELECT ${COLUMNS} FROM instances WHERE terminated_at IS NULL ORDER BY seq`),
      lastSeq: db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM instances'),
      changedSince: db.prepare(
        `SELECT ${COLUMNS} FROM instances WHERE seq > @seq OR (running_at > @dueFrom AND running_at <= @to) ` +
          // No ORDER BY: it would turn SQLite's one index search per term into a scan of the table.
          'OR dies_at BETWEEN @from AND @to OR terminated_at BETWEEN @from AND @to',
      ),
      countLive: db.prepare('SELECT count(*) AS n FROM instances WHERE target = ? AND terminated_at IS NULL'),
      liveByZone: db.prepare('SELECT zone, count(*) AS n FROM instances WHERE target = ? AND terminated_at IS NULL GROUP BY zone'),
      liveByType: db.prepare(
        'SELECT machine_type AS machineType, price_per_hour AS pricePerHour, count(*) AS n FROM instances WHERE target = ? AND terminated_at IS NULL GROUP BY machine_type, price_per_hour',
      ),
      userData: db.prepare('SELECT user_data FROM instances WHERE seq = ?'),
      insert: db.prepare(
        'INSERT INTO instances (target, machine_uid, machine_namespace, machine_name, cluster, machine_type, price_per_hour, ' +
          'zone, tags, user_data, created_at, booting_at, running_at, dies_at) ' +
          'VALUES (@target, @machineUid, @machineNamespace, @machineName, @cluster, @machineType, @pricePerHour, ' +
          '@zone, @tags, @userData, @createdAt, @bootingAt, @runningAt, @diesAt) ON CONFLICT (target, machine_uid) DO NOTHING',
      ),
      // The disk goes with the instance: the bootstrap credentials in the user data do not outlive it.
      terminate: db.prepare('UPDATE instances SET terminated_at = ?, user_data = NULL WHERE seq = ? AND terminated_at IS NULL'),
      kill: db.prepare('UPDATE instances SET dies_at = ?, failure_reason = ? WHERE seq = ?'),
      setDiesAt: db.prepare('UPDATE instances SET dies_at = ? WHERE seq = ?'),
      failureRate: db.prepare('SELECT failure_rate_per_hour AS rate FROM targets WHERE name = ?'),
      setFailureRate: db.prepare(
        'INSERT INTO targets (name, failure_rate_per_hour) VALUES (?, ?) ' +
          'ON CONFLICT (name) DO UPDATE SET failure_rate_per_hour = excluded.failure_rate_per_hour',
      ),
      purge: db.prepare('DELETE FROM instances WHERE terminated_at IS NOT NULL AND terminated_at < ?'),
    };
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE: another process sharing the file waits). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  get(seq: number): InstanceRow | undefined {
    const r = this.stmt.bySeq.get(seq) as DbRow | undefined;
    return r && fromDb(r);
  }

  byMachine(target: string, machineUid: string): InstanceRow | undefined {
    const r = this.stmt.byUid.get(target, machineUid) as DbRow | undefined;
    return r && fromDb(r);
  }

  /** The target's instances in order of creation; live ones only unless `includeTerminated`. */
  list(target: string, includeTerminated = false): InstanceRow[] {
    return ((includeTerminated ? this.stmt.all : this.stmt.live).all(target) as DbRow[]).map(fromDb);
  }

  /** Live instances of every target: what a restarted cloud resumes. */
  liveEverywhere(): InstanceRow[] {
    return (this.stmt.liveEverywhere.all() as DbRow[]).map(fromDb);
  }

  /**
   * In one read snapshot: the highest sequence in the file and, with `since`, the instances
   * inserted after `afterSeq`, whose running time falls in (dueFrom, to], or whose death or
   * termination time falls in [from, to] (those are written, stamped a little before they
   * commit); without `since`, every live instance. Through the indexes, the cost follows the rows
   * found, not the size of the file.
   */
  changes(since?: { afterSeq: number; dueFrom: number; from: number; to: number }): { rows: InstanceRow[]; lastSeq: number } {
    return this.db.transaction(() => ({
      rows: since
        ? (this.stmt.changedSince.all({ seq: since.afterSeq, dueFrom: since.dueFrom, from: since.from, to: since.to }) as DbRow[])
            .sort((a, b) => a.seq - b.seq)
            .map(fromDb)
        : this.liveEverywhere(),
      lastSeq: (this.stmt.lastSeq.get() as { seq: number }).seq,
    }))();
  }

  countLive(target: string): number {
    return (this.stmt.countLive.get(target) as { n: number }).n;
  }

  /** Live instances counted by machine type and the price they were created at: a target's cost without reading every row. */
  liveByType(target: string): Array<{ machineType: string; pricePerHour: number; n: number }> {
    return this.stmt.liveByType.all(target) as Array<{ machineType: string; pricePerHour: number; n: number }>;
  }

  liveByZone(target: string): Map<string, number> {
    return new Map((this.stmt.liveByZone.all(target) as Array<{ zone: string; n: number }>).map((r) => [r.zone, r.n]));
  }

  userData(seq: number): string | undefined {
    const r = this.stmt.userData.get(seq) as { user_data: string | null } | undefined;
    return r?.user_data ?? undefined;
  }

  /** Inserts the instance unless the machine uid has one already; either way returns the one it has. */
  insert(row: NewInstanceRow, userData: string): InstanceRow {
    this.stmt.insert.run({
      ...row,
      tags: JSON.stringify(row.tags),
      userData,
      diesAt: row.diesAt ?? null,
    });
    return this.byMachine(row.target, row.machineUid)!;
  }

  /** Marks the instance terminated and wipes its user data; false if it already was. */
  terminate(seq: number, at: number): boolean {
    return this.stmt.terminate.run(at, seq).changes > 0;
  }

  kill(seq: number, at: number, reason: string): void {
    this.stmt.kill.run(at, reason, seq);
  }

  setDiesAt(seq: number, diesAt: number | undefined): void {
    this.stmt.setDiesAt.run(diesAt ?? null, seq);
  }

  /** The failure rate the target's deaths were drawn with; undefined for a target never seen. */
  failureRate(target: string): number | undefined {
    return (this.stmt.failureRate.get(target) as { rate: number } | undefined)?.rate;
  }

  setFailureRate(target: string, ratePerHour: number): void {
    this.stmt.setFailureRate.run(target, ratePerHour);
  }

  /** Forgets instances terminated before `before`; returns how many. */
  purge(before: number): number {
    return this.stmt.purge.run(before).changes;
  }

  close(): void {
    this.db.close();
  }
}
