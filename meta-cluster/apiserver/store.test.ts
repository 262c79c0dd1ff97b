import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tempDir } from '../../test/helpers.js';
import { CompactedError, KeyExistsError, Store, type StoreEvent } from './store.js';

const dirs: Array<{ remove(): void }> = [];
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
    store.remove('apps/deployments', 'ns', 'b', b);
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
    store.remove('core/pods', 'ns', 'a', a);
    store.compact(store.revision);
    store.close();
    store = new Store(path);
    expect(store.revision).toBe(3);
    store.close();
  });
});
