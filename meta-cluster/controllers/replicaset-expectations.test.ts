import { describe, expect, it } from 'vitest';
import { Expectations } from './replicaset-expectations.js';

describe('Expectations', () => {
  it('is satisfied once every expected create has been observed', () => {
    const e = new Expectations();
    expect(e.satisfied('ns/rs')).toBe(true);
    e.expectCreations('ns/rs', 2);
    expect(e.satisfied('ns/rs')).toBe(false);
    e.creationObserved('ns/rs');
    expect(e.satisfied('ns/rs')).toBe(false);
    e.creationObserved('ns/rs');
    expect(e.satisfied('ns/rs')).toBe(true);
  });

  it('counts each expected delete once, whatever the number of events', () => {
    const e = new Expectations();
    e.expectDeletions('ns/rs', ['ns/a', 'ns/b']);
    e.deletionObserved('ns/rs', 'ns/a');
    e.deletionObserved('ns/rs', 'ns/a');
    e.deletionObserved('ns/rs', 'ns/other');
    expect(e.pending('ns/rs')).toEqual({ add: 0, del: 1 });
    expect(e.satisfied('ns/rs')).toBe(false);
    e.deletionObserved('ns/rs', 'ns/b');
    expect(e.satisfied('ns/rs')).toBe(true);
  });

  it('gives up waiting after the TTL, in case an event was lost', () => {
    let now = 0;
    const e = new Expectations(1000, () => now);
    e.expectCreations('k', 1);
    now = 999;
    expect(e.satisfied('k')).toBe(false);
    now = 1001;
    expect(e.satisfied('k')).toBe(true);
    e.delete('k');
    expect(e.pending('k')).toBeUndefined();
  });
});
