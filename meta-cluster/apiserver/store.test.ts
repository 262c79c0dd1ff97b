import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, tempDir } from '../../test/helpers.js';
import { CompactedError, KeyExistsError, Store, type StoreEvent } from './store.js';

const dirs: Array<{ path: string; remove(): void }> = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

function open(path?: string) {
  const dir = tempDir();
  dirs.push(dir);
  return new Store(path ?? join(dir.path, 'state.db'));
}

const obj = (name: string, extra: Record<string, unknown> = {}) => (rev: number) => ({
  metadata: { name, namespace: 'ns', resourceVersion: String(rev) },
  ...extra,
});

describe('Store', () => {
  it('orders every write by one global revision and publishes after commit in that order', () => {
    const store = open();
    const seen: StoreEvent[] = [];
    store.subscribe((e) => seen.push(e));
    const a = store.put('ADDED', 'core/configmaps', 'ns', 'a', obj('a'));
    const b = store.put('ADDED', 'apps/deployments', 'ns', 'b', obj('b'));
    store.put('MODIFIED', 'core/configmaps', 'ns', 'a', obj('a', { data: { x: '1' } }), a);
    store.remove('apps/deployments', 'ns', 'b', b.object);
    expect(seen.map((e) => [e.rev, e.type, e.name])).toEqual([
      [1, 'ADDED', 'a'],
      [2, 'ADDED', 'b'],
      [3, 'MODIFIED', 'a'],
      [4, 'DELETED', 'b'],
    ]);
    expect(seen[3].object.metadata.resourceVersion).toBe('4');
    expect(store.get('apps/deployments', 'ns', 'b')).toBeUndefined();
    expect(store.get('core/configmaps', 'ns', 'a')?.rev).toBe(3);
    store.close();
  });

  it('checkpoints the WAL of every open store into its database file, off the event loop', async () => {
    const stores = [open(), open()];
    const paths = dirs.map((d) => join(d.path, 'state.db'));
    const before = paths.map((p) => statSync(p).size);
    const big = 'x'.repeat(4096);
    for (const store of stores) for (let i = 0; i < 50; i++) store.put('ADDED', 'core/configmaps', 'ns', `c${i}`, obj(`c${i}`, { data: { big } }));
    // SQLite's own checkpoints are off (wal_autocheckpoint = 0): only the checkpoint thread moves pages.
    await eventually(() => paths.every((p, i) => statSync(p).size > before[i] + 50 * 4096));
    for (const store of stores) store.close();
  });

  it('closes as the last connection to its database, leaving no -wal or -shm file behind', async () => {
    // The checkpoint thread's connection is released before the store's own close returns, so a
    // caller that removes the directory right after (tests, `kok meta-cluster` teardown) races nothing.
    const store = open();
    const path = join(dirs.at(-1)!.path, 'state.db');
    const before = statSync(path).size;
    store.put('ADDED', 'core/configmaps', 'ns', 'a', obj('a', { data: { big: 'x'.repeat(8192) } }));
    await eventually(() => statSync(path).size > before); // the thread has checkpointed: its connection is live
    store.close();
    expect(readdirSync(dirs.at(-1)!.path)).toEqual(['state.db']);
  });

  it('keeps objects, the revision and the event log across a reopen', () => {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir.path, 'state.db');
    let store = new Store(path);
    store.put('ADDED', 'core/configmaps', 'ns', 'a', obj('a'));
    store.put('ADDED', 'core/configmaps', 'ns', 'b', obj('b'));
    store.close();
    store = new Store(path);
    expect(store.revision).toBe(2);
    expect(store.list('core/configmaps', 'ns').items.map((o) => o.metadata.name)).toEqual(['a', 'b']);
    expect(store.eventsSince(1).map((e) => e.name)).toEqual(['b']);
    store.put('ADDED', 'core/configmaps', 'ns', 'c', obj('c'));
    expect(store.revision).toBe(3);
    store.close();
  });

  it('pages lists in (namespace, name) order with a limit', () => {
    const store = open();
    for (const n of ['c', 'a', 'b']) store.put('ADDED', 'core/pods', 'ns', n, obj(n));
    const first = store.list('core/pods', undefined, { limit: 2 });
    expect(first.items.map((o) => o.metadata.name)).toEqual(['a', 'b']);
    expect(first.more).toBe(true);
    const second = store.list('core/pods', undefined, { limit: 2, after: { namespace: 'ns', name: 'b' } });
    expect(second.items.map((o) => o.metadata.name)).toEqual(['c']);
    expect(second.more).toBe(false);
    store.close();
  });

  it('answers a watch from a compacted revision with CompactedError', () => {
    const store = open();
    for (const n of ['a', 'b', 'c']) store.put('ADDED', 'core/pods', 'ns', n, obj(n));
    store.compact(2);
    expect(() => store.eventsSince(1)).toThrow(CompactedError);
    expect(() => store.eventsSince(1)).toThrow('too old resource version: 1 (3)');
    expect(store.eventsSince(2).map((e) => e.name)).toEqual(['c']);
    store.close();
  });
});

describe('Store revision and keys', () => {
  it('refuses a create of a taken key without consuming a revision', () => {
    const store = open();
    store.put('ADDED', 'core/pods', 'ns', 'a', obj('a'));
    expect(() => store.put('ADDED', 'core/pods', 'ns', 'a', obj('a'))).toThrow(KeyExistsError);
    expect(store.revision).toBe(1);
    store.close();
  });

  it('recovers the revision after a delete and a compaction, so resourceVersions never repeat', () => {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir.path, 'state.db');
    let store = new Store(path);
    const a = store.put('ADDED', 'core/pods', 'ns', 'a', obj('a'));
    store.put('ADDED', 'core/pods', 'ns', 'b', obj('b'));
    store.remove('core/pods', 'ns', 'a', a.object);
    store.compact(store.revision);
    store.close();
    store = new Store(path);
    expect(store.revision).toBe(3);
    store.close();
  });
});

describe('Store group commit', () => {
  const cm = (name: string) => (rev: number) => ({ metadata: { name, namespace: 'ns', resourceVersion: String(rev) } });

  it('holds deferred writes back from watchers and waiters until the turn commits them, in revision order', async () => {
    const store = open();
    const seen: number[] = [];
    const durable: string[] = [];
    store.subscribe((e) => seen.push(e.rev));
    store.deferCommits(() => {
      store.put('ADDED', 'core/configmaps', 'ns', 'a', cm('a'));
      store.put('ADDED', 'core/configmaps', 'ns', 'b', cm('b'));
    });
    store.whenDurable((err) => durable.push(err ? `error ${err.message}` : `durable, seen ${seen.join(',')}`));
    // Readable by the writer's own connection at once; nothing published or acknowledged yet.
    expect(store.get('core/configmaps', 'ns', 'b')?.rev).toBe(2);
    expect(seen).toEqual([]);
    expect(durable).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(durable).toEqual(['durable, seen 1,2']);
    let late = false;
    store.whenDurable(() => (late = true));
    expect(late).toBe(true);
    store.close();
  });

  it('fails only the write that failed: the rest of its group commits', async () => {
    const store = open();
    store.put('ADDED', 'core/configmaps', 'ns', 'taken', cm('taken'));
    const results: string[] = [];
    store.deferCommits(() => {
      for (const name of ['a', 'taken', 'b']) {
        try {
          store.put('ADDED', 'core/configmaps', 'ns', name, cm(name));
          results.push(`${name} ok`);
        } catch (err) {
          results.push(`${name} ${(err as Error).constructor.name}`);
        }
      }
    });
    await new Promise((r) => store.whenDurable(r));
    expect(results).toEqual(['a ok', 'taken KeyExistsError', 'b ok']);
    expect(store.revision).toBe(3);
    expect(store.list('core/configmaps', 'ns').items.map((o) => [o.metadata.name, o.metadata.resourceVersion])).toEqual([
      ['a', '2'],
      ['b', '3'],
      ['taken', '1'],
    ]);
    expect(store.eventsSince(0).map((e) => e.rev)).toEqual([1, 2, 3]);
    store.close();
  });

  it('commits an open group at once when a write outside deferCommits comes in, publishing in order', () => {
    const store = open();
    const seen: string[] = [];
    store.subscribe((e) => seen.push(`${e.rev} ${e.name}`));
    store.deferCommits(() => store.put('ADDED', 'core/configmaps', 'ns', 'deferred', cm('deferred')));
    store.put('ADDED', 'core/configmaps', 'ns', 'direct', cm('direct'));
    expect(seen).toEqual(['1 deferred', '2 direct']);
    store.close();
  });

  it('delivers events of writes made by a listener after the events before them', () => {
    const store = open();
    const seen: string[] = [];
    store.subscribe((e) => {
      if (e.name === 'a') store.put('ADDED', 'core/configmaps', 'ns', 'from-listener', cm('from-listener'));
    });
    store.subscribe((e) => seen.push(`${e.rev} ${e.name}`));
    store.deferCommits(() => {
      store.put('ADDED', 'core/configmaps', 'ns', 'a', cm('a'));
      store.put('ADDED', 'core/configmaps', 'ns', 'b', cm('b'));
    });
    store.flush();
    expect(seen).toEqual(['1 a', '2 b', '3 from-listener']);
    store.close();
  });

  it('refuses the whole group when an event cannot be logged, leaving no object row without its event', async () => {
    const store = open();
    const db = (store as unknown as { db: import('better-sqlite3').Database }).db;
    const outcome: string[] = [];
    store.deferCommits(() => {
      store.put('ADDED', 'core/configmaps', 'ns', 'a', cm('a'));
      store.whenDurable((err) => outcome.push(err ? 'a refused' : 'a durable'));
      // Sabotage: the event row the next write needs is taken.
      db.prepare("INSERT INTO events (rev, ts, type, resource, namespace, name, value) VALUES (2, 0, 'ADDED', 'x', 'x', 'x', '{}')").run();
      expect(() => store.put('ADDED', 'core/configmaps', 'ns', 'b', cm('b'))).toThrow(/UNIQUE|PRIMARY/);
    });
    expect(outcome).toEqual(['a refused']);
    await new Promise((r) => setImmediate(r));
    expect(store.revision).toBe(0);
    expect(store.list('core/configmaps', 'ns').items).toEqual([]);
    expect(store.eventsSince(0)).toEqual([]);
    expect(store.put('ADDED', 'core/configmaps', 'ns', 'c', cm('c')).rev).toBe(1);
    store.close();
  });

  it('loses the whole group when its COMMIT fails: waiters get the error, nothing is published or kept', async () => {
    const store = open();
    store.put('ADDED', 'core/configmaps', 'ns', 'before', cm('before'));
    const seen: number[] = [];
    store.subscribe((e) => seen.push(e.rev));
    // A deferred foreign key is only checked at COMMIT: a way to make one fail on purpose.
    const db = (store as unknown as { db: import('better-sqlite3').Database }).db;
    db.pragma('foreign_keys = ON');
    db.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)');
    const outcome: string[] = [];
    store.deferCommits(() => {
      store.put('ADDED', 'core/configmaps', 'ns', 'lost', cm('lost'));
      db.prepare('INSERT INTO child (p) VALUES (42)').run();
    });
    store.whenDurable((err) => outcome.push(err ? 'failed' : 'durable'));
    const logged = console.error;
    console.error = () => undefined;
    try {
      await new Promise((r) => setImmediate(r));
    } finally {
      console.error = logged;
    }
    expect(outcome).toEqual(['failed']);
    expect(seen).toEqual([]);
    expect(store.revision).toBe(1);
    expect(store.get('core/configmaps', 'ns', 'lost')).toBeUndefined();
    // The store goes on: the next write reuses the revision nobody was told about.
    db.pragma('foreign_keys = OFF');
    expect(store.put('ADDED', 'core/configmaps', 'ns', 'after', cm('after')).rev).toBe(2);
    expect(seen).toEqual([2]);
    store.close();
  });
});
