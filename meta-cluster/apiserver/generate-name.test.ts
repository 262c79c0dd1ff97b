/**
 * metadata.generateName as the apiserver's SimpleNameGenerator does it: the base cut to 58
 * characters, five characters of utilrand's alphabet, and (since Kubernetes 1.30) a retry when the
 * generated name is taken, so controllers creating thousands of pods never see AlreadyExists.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tempDir } from '../../test/helpers.js';
import { Api } from './api.js';
import { Registry } from './registry.js';
import { Store } from './store.js';

const cleanup: Array<() => void> = [];
afterEach(() => cleanup.splice(0).forEach((c) => c()));

function api(): Api {
  const dir = tempDir();
  const store = new Store(join(dir.path, 'state.db'));
  cleanup.push(() => dir.remove(), () => store.close());
  const a = new Api(store, new Registry());
  a.create(a.registry.lookup('', 'v1', 'namespaces')!, '', { metadata: { name: 'default' } });
  return a;
}

describe('generateName', () => {
  it('appends five characters of the Kubernetes alphabet, cutting a long base to 58', () => {
    const a = api();
    const cms = a.registry.lookup('', 'v1', 'configmaps')!;
    for (let i = 0; i < 50; i++) {
      const { object } = a.create(cms, 'default', { metadata: { generateName: 'web-' } });
      expect(object.metadata.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    }
    const long = 'x'.repeat(70);
    const { object } = a.create(cms, 'default', { metadata: { generateName: long } });
    expect(object.metadata.name).toMatch(new RegExp(`^${'x'.repeat(58)}[bcdfghjklmnpqrstvwxz2456789]{5}$`));
  });

  it('retries a generated name that is taken instead of failing with AlreadyExists', () => {
    const a = api();
    const cms = a.registry.lookup('', 'v1', 'configmaps')!;
    // Names from a tiny base space collide often; each create must still succeed.
    const names = new Set<string>();
    for (let i = 0; i < 3000; i++) names.add(a.create(cms, 'default', { metadata: { generateName: 'c-' } }).object.metadata.name!);
    expect(names.size).toBe(3000);
  });
});
