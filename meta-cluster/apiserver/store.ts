/**
 * The meta-cluster's storage, shaped after kine: SQLite holds the current objects and an event log;
 * one global revision orders everything. Each write bumps the revision and writes the object row
 * and the event row; only after the COMMIT are events published to watchers, strictly in revision
 * order (writes are synchronous on one thread).
 *
 * Group commit: writes made inside `deferCommits` (the HTTP front's requests) share one SQLite
 * transaction per event-loop turn, committed in the turn's check phase. A COMMIT in WAL mode costs
 * about as much as the writes it carries, so under concurrent load this halves the storage cost.
 * A failing write leaves nothing behind and fails alone (see `write`); callers hold their answers
 * until `whenDurable` reports the COMMIT. Writes outside `deferCommits` (in-process controllers,
 * tests) commit before they return, as before.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { KubeObject } from './types.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rev: number;
  type: EventType;
  resource: string;
  namespace: string;
  name: string;
  object: KubeObject;
  /** The object before this change (absent for ADDED): watchers with selectors need it. */
  prev?: KubeObject;
}

export interface StoredObject {
  object: KubeObject;
  rev: number;
  /** The stored JSON of `object`: a write replacing it logs it as `prev` without serialising again. */
  raw: string;
}

/** The object a write replaces; `raw`, when given, must be its JSON (as read from the store). */
export interface Previous {
  object: KubeObject;
  raw?: string;
}

export interface StoreOptions {
  /** Events older than this are compacted; watches from before them get 410 Expired. */
  compactionWindowMs?: number;
  /** `NORMAL` survives a killed process (WAL); `FULL` also survives power loss. */
  synchronous?: 'NORMAL' | 'FULL';
}

/** A create found the key taken: the caller answers AlreadyExists. */
export class KeyExistsError extends Error {}

/**
 * Checkpoints the WAL of every store in the process from one worker thread with its own
 * connections, so the fsync of a checkpoint never stalls the event loop (SQLite's automatic
 * checkpoint runs inside a committing write). One thread for all: a meta-cluster hosting 100
 * business API servers has 101 stores, and a thread each cost a V8 isolate each (~10 MiB).
 */
const checkpointerSource = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const dbs = new Map();
parentPort.on('message', ({ id, path, released }) => {
  if (path !== undefined) {
    try { const db = new Database(path); db.pragma('busy_timeout = 1000'); dbs.set(id, db); } catch {}
  } else {
    try { dbs.get(id)?.close(); } catch {}
    dbs.delete(id);
    const flag = new Int32Array(released);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  }
});
setInterval(() => { for (const db of dbs.values()) { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} } }, workerData.intervalMs);
`;

const checkpointer = {
  worker: undefined as Worker | undefined,
  stores: 0,
  nextId: 0,
  /** Starts checkpointing the store at `path`; returns what `remove` takes. */
  add(path: string): number {
    if (!this.worker) {
      this.worker = new Worker(checkpointerSource, {
        eval: true,
        workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: 500 },
      });
      this.worker.unref();
    }
    this.stores++;
    const id = this.nextId++;
    this.worker.postMessage({ id, path });
    return id;
  },
  /**
   * Stops checkpointing a store and waits (briefly, blocking) until the thread has closed its
   * connection: the store's own close must be the database's last, which checkpoints the WAL and
   * removes the -wal and -shm files. Closing first would leave them to the thread, which could
   * remove them after the caller has gone on to delete the directory.
   */
  remove(id: number): void {
    if (!this.worker) return;
    const released = new SharedArrayBuffer(4);
    this.worker.postMessage({ id, released });
    Atomics.wait(new Int32Array(released), 0, 0, 5_000);
    if (--this.stores === 0) {
      void this.worker.terminate();
      this.worker = undefined;
    }
  },
};

export class CompactedError extends Error {
  constructor(
    readonly requested: number,
    readonly compacted: number,
  ) {
    super(`too old resource version: ${requested} (${compacted + 1})`);
  }
}

type Listener = (e: StoreEvent) => void;

/** Told once the write it waits on is committed (no argument) or lost with its group (the error). */
export type DurableCallback = (err?: Error) => void;

/** The writes of one event-loop turn: one transaction, published and acknowledged together. */
interface Group {
  /** The revision before the group: restored when the group is lost. */
  base: number;
  events: StoreEvent[];
  waiters: DurableCallback[];
}

interface Row {
  value: string;
  rev: number;
}

/** Calls every waiter, even when one throws: each answers a different client. */
function tell(waiters: DurableCallback[], err?: Error): void {
  for (const done of waiters) {
    try {
      done(err);
    } catch (e) {
      console.error('store: a commit waiter failed', e);
    }
  }
}

export class Store {
  private readonly db: Database.Database;
  private rev: number;
  private compactedRev: number;
  private readonly listeners = new Set<Listener>();
  private readonly windowMs: number;
  private compactTimer?: NodeJS.Timeout;
  private readonly stmt: ReturnType<Store['prepare']>;
  private readonly checkpointId: number;
  /** The open transaction, if writes are waiting for this turn's COMMIT. */
  private group?: Group;
  /** > 0 while inside `deferCommits`. */
  private deferring = 0;
  /** Events waiting for delivery: a listener that writes must not overtake the events before its own. */
  private readonly outbox: StoreEvent[] = [];
  private publishing = false;

  constructor(path: string, opts: StoreOptions = {}) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('wal_autocheckpoint = 0');
    // SQLite's default page cache is 2 MiB: a fleet's objects outgrow it, and every miss is a read.
    this.db.pragma('cache_size = -65536');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS objects (
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        rev INTEGER NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (resource, namespace, name)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS events (
        rev INTEGER PRIMARY KEY, ts INTEGER NOT NULL, type TEXT NOT NULL,
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        value TEXT NOT NULL, prev TEXT
      );
      CREATE INDEX IF NOT EXISTS events_by_resource ON events (resource, rev);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0), ('compacted', 0);
    `);
    this.stmt = this.prepare();
    this.compactedRev = (this.stmt.getMeta.get('compacted') as { value: number }).value;
    // The revision is not written per commit: it is the newest row anywhere (or the compaction point).
    const newest = this.db
      .prepare('SELECT max(coalesce((SELECT max(rev) FROM events), 0), coalesce((SELECT max(rev) FROM objects), 0)) AS rev')
      .get() as { rev: number };
    const legacy = (this.stmt.getMeta.get('revision') as { value: number }).value;
    this.rev = Math.max(newest.rev, this.compactedRev, legacy);
    this.checkpointId = checkpointer.add(path);
    this.windowMs = opts.compactionWindowMs ?? 5 * 60_000;
    this.compactTimer = setInterval(() => this.compact(), Math.min(this.windowMs, 60_000));
    this.compactTimer.unref();
  }

  private prepare() {
    const db = this.db;
    return {
      begin: db.prepare('BEGIN'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('UPDATE meta SET value = ? WHERE key = ?'),
      get: db.prepare('SELECT value, rev FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
      insert: db.prepare('INSERT INTO objects (resource, namespace, name, rev, value) VALUES (?, ?, ?, ?, ?)'),
      upsert: db.prepare(
        'INSERT INTO objects (resource, namespace, name, rev, value) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT (resource, namespace, name) DO UPDATE SET rev = excluded.rev, value = excluded.value',
      ),
      remove: db.prepare('DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
      event: db.prepare(
        'INSERT INTO events (rev, ts, type, resource, namespace, name, value, prev) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      listAll: db.prepare(
        'SELECT value, rev FROM objects WHERE resource = ? AND (namespace > ? OR (namespace = ? AND name > ?)) ' +
          'ORDER BY namespace, name LIMIT ?',
      ),
      listNs: db.prepare(
        'SELECT value, rev FROM objects WHERE resource = ? AND namespace = ? AND name > ? ORDER BY name LIMIT ?',
      ),
      scan: db.prepare('SELECT resource, namespace, name, value FROM objects'),
      countNs: db.prepare('SELECT count(*) AS n FROM objects WHERE resource = ? AND namespace = ?'),
      eventsSince: db.prepare('SELECT * FROM events WHERE rev > ? ORDER BY rev'),
      eventsSinceFor: db.prepare('SELECT * FROM events WHERE resource = ? AND rev > ? ORDER BY rev'),
      compactBefore: db.prepare('SELECT max(rev) AS rev FROM events WHERE ts < ?'),
      deleteEvents: db.prepare('DELETE FROM events WHERE rev <= ?'),
    };
  }

  /** The newest revision: every list and watch is relative to it. */
  get revision(): number {
    return this.rev;
  }

  get compactedRevision(): number {
    return this.compactedRev;
  }

  get(resource: string, namespace: string, name: string): StoredObject | undefined {
    const row = this.stmt.get.get(resource, namespace, name) as Row | undefined;
    return row ? { object: JSON.parse(row.value) as KubeObject, rev: row.rev, raw: row.value } : undefined;
  }

  /**
   * Objects of one resource in (namespace, name) order after `after`, at most `limit`.
   * The revision is read in the same synchronous step as the rows, so they are one snapshot.
   */
  list(
    resource: string,
    namespace: string | undefined,
    opts: { after?: { namespace: string; name: string }; limit?: number } = {},
  ): { items: KubeObject[]; rev: number; more: boolean } {
    const limit = opts.limit && opts.limit > 0 ? opts.limit : -1;
    const fetch = limit > 0 ? limit + 1 : -1;
    const after = opts.after ?? { namespace: '', name: '' };
    const rows = (
      namespace === undefined
        ? this.stmt.listAll.all(resource, after.namespace, after.namespace, after.name, fetch)
        : this.stmt.listNs.all(resource, namespace, after.namespace === namespace ? after.name : '', fetch)
    ) as Row[];
    const more = limit > 0 && rows.length > limit;
    if (more) rows.pop();
    return { items: rows.map((r) => JSON.parse(r.value) as KubeObject), rev: this.rev, more };
  }

  /** Every stored object: for building indexes at start-up. */
  *scan(): Generator<{ resource: string; namespace: string; name: string; object: KubeObject }> {
    for (const row of this.stmt.scan.iterate() as Iterable<{ resource: string; namespace: string; name: string; value: string }>) {
      yield { resource: row.resource, namespace: row.namespace, name: row.name, object: JSON.parse(row.value) as KubeObject };
    }
  }

  count(resource: string, namespace: string): number {
    return (this.stmt.countNs.get(resource, namespace) as { n: number }).n;
  }

  /**
   * Writes an object at the next revision. `build` receives that revision so the stored object
   * carries its own resourceVersion. Returns what was stored; inside `deferCommits` it is
   * committed (and published) at the end of this turn, see `whenDurable`.
   */
  put(
    type: Exclude<EventType, 'DELETED'>,
    resource: string,
    namespace: string,
    name: string,
    build: (rev: number) => KubeObject,
    prev?: Previous,
  ): StoredObject {
    const rev = this.rev + 1;
    const object = build(rev);
    const value = JSON.stringify(object);
    const prevValue = prev ? (prev.raw ?? JSON.stringify(prev.object)) : null;
    this.write(
      { rev, type, resource, namespace, name, object, prev: prev?.object },
      () => {
        if (type !== 'ADDED') return this.stmt.upsert.run(resource, namespace, name, rev, value);
        // A create is a plain INSERT: the primary key, not a read beforehand, detects a taken name.
        try {
          return this.stmt.insert.run(resource, namespace, name, rev, value);
        } catch (err) {
          if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new KeyExistsError(`${resource} ${namespace}/${name}`);
          throw err;
        }
      },
      () => this.stmt.event.run(rev, Date.now(), type, resource, namespace, name, value, prevValue),
    );
    return { object, rev, raw: value };
  }

  /** Removes an object; its last state, stamped with the deletion revision, goes to watchers. */
  remove(resource: string, namespace: string, name: string, last: KubeObject): KubeObject {
    const rev = this.rev + 1;
    const object: KubeObject = { ...last, metadata: { ...last.metadata, resourceVersion: String(rev) } };
    const value = JSON.stringify(object);
    this.write(
      { rev, type: 'DELETED', resource, namespace, name, object, prev: last },
      () => this.stmt.remove.run(resource, namespace, name),
      () => this.stmt.event.run(rev, Date.now(), 'DELETED', resource, namespace, name, value, JSON.stringify(last)),
    );
    return object;
  }

  /**
   * Runs `fn` with its writes joining the group commit of this turn instead of committing one by
   * one. Whoever answers for such a write must wait for `whenDurable` first.
   */
  deferCommits<T>(fn: () => T): T {
    this.deferring++;
    try {
      return fn();
    } finally {
      this.deferring--;
    }
  }

  /**
   * Calls `done` once everything written so far is committed: at once when nothing waits for a
   * COMMIT, else right after the group's COMMIT and the publishing of its events, or with the error
   * when that COMMIT failed and its writes were lost. Answers that read the store in this turn wait
   * too: they may include writes of the group.
   */
  whenDurable(done: DurableCallback): void {
    if (this.group) this.group.waiters.push(done);
    else done();
  }

  /**
   * Stages one write in the open group (opening it): `row` changes the object's row, then `log`
   * appends its event. Both are single statements, which SQLite makes atomic by themselves, so no
   * savepoint per write is needed (two more statements and a copy of every page touched):
   * - `row` failing (a taken name) leaves nothing behind and fails this write alone;
   * - `log` cannot fail but on a broken database (disk full, I/O); its row change could not be
   *   undone alone then, so the whole group is rolled back and refused.
   * Disk and I/O errors may also make SQLite roll the transaction back by itself: the group's
   * earlier writes are lost then, and must not be acknowledged either.
   */
  private write(e: StoreEvent, row: () => void, log: () => void): void {
    const group = this.group ?? this.open();
    try {
      try {
        row();
      } catch (err) {
        if (!this.db.inTransaction) this.abandon(group, err as Error);
        throw err;
      }
      try {
        log();
      } catch (err) {
        this.abandon(group, err as Error);
        throw err;
      }
      this.rev = e.rev;
      group.events.push(e);
    } finally {
      if (this.deferring === 0) this.flush();
    }
  }

  private open(): Group {
    this.stmt.begin.run();
    const group: Group = { base: this.rev, events: [], waiters: [] };
    this.group = group;
    if (this.deferring > 0) setImmediate(this.flushLater);
    return group;
  }

  /**
   * Commits the open group, publishes its events in revision order, then tells its waiters. When
   * the COMMIT fails, the group's writes are rolled back, its waiters get the error and so does
   * the caller.
   */
  flush(): void {
    const group = this.group;
    if (!group) return;
    this.group = undefined;
    try {
      this.stmt.commit.run();
    } catch (err) {
      this.abandon(group, err as Error);
      throw err;
    }
    this.publish(group.events);
    tell(group.waiters);
  }

  /** Rolls a group back (if SQLite has not already): none of its writes happened. */
  private abandon(group: Group, err: Error): void {
    if (this.group === group) this.group = undefined;
    if (this.db.inTransaction) this.stmt.rollback.run();
    this.rev = group.base;
    tell(group.waiters, err);
  }

  private readonly flushLater = () => {
    try {
      this.flush();
    } catch (err) {
      // Every write of the group was answered with this error already.
      console.error('store: group commit failed', err);
    }
  };

  private publish(events: StoreEvent[]): void {
    for (const e of events) this.outbox.push(e);
    // A listener writing synchronously lands here again: its events queue behind the current ones.
    if (this.publishing) return;
    this.publishing = true;
    try {
      for (let i = 0; i < this.outbox.length; i++) {
        const e = this.outbox[i];
        for (const l of this.listeners) {
          try {
            l(e);
          } catch {
            // A broken watcher must not stop delivery to the others; it cleans itself up on close.
          }
        }
      }
    } finally {
      this.outbox.length = 0;
      this.publishing = false;
    }
  }

  /** Subscribe to events committed from now on. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after `rev` (optionally of one resource), oldest first; throws when `rev` was compacted. */
  eventsSince(rev: number, resource?: string): StoreEvent[] {
    if (rev < this.compactedRev) throw new CompactedError(rev, this.compactedRev);
    const rows = (
      resource ? this.stmt.eventsSinceFor.all(resource, rev) : this.stmt.eventsSince.all(rev)
    ) as Array<{
      rev: number;
      type: EventType;
      resource: string;
      namespace: string;
      name: string;
      value: string;
      prev: string | null;
    }>;
    return rows.map((r) => ({
      rev: r.rev,
      type: r.type,
      resource: r.resource,
      namespace: r.namespace,
      name: r.name,
      object: JSON.parse(r.value) as KubeObject,
      prev: r.prev ? (JSON.parse(r.prev) as KubeObject) : undefined,
    }));
  }

  /**
   * Drops events up to `upTo` (default: everything older than the compaction window). Watches
   * starting at or before the compacted revision get 410 Expired and relist.
   */
  compact(upTo?: number): number {
    // Not inside a group: compaction is its own transaction and must not be lost with one.
    this.flushLater();
    const target =
      upTo ?? ((this.stmt.compactBefore.get(Date.now() - this.windowMs) as { rev: number | null }).rev ?? 0);
    if (target <= this.compactedRev) return this.compactedRev;
    const capped = Math.min(target, this.rev);
    this.db.transaction(() => {
      this.stmt.deleteEvents.run(capped);
      this.stmt.setMeta.run(capped, 'compacted');
    })();
    this.compactedRev = capped;
    return capped;
  }

  close(): void {
    clearInterval(this.compactTimer);
    if (this.db.open) this.flushLater();
    this.listeners.clear();
    if (!this.db.open) return;
    checkpointer.remove(this.checkpointId);
    this.db.close();
  }
}
