import { describe, expect, it } from 'vitest';
import { jsonEqual } from './json-equal.js';

describe('jsonEqual', () => {
  it.each([
    ['key order does not matter', { a: 1, b: { c: [1, 2], d: 'x' } }, { b: { d: 'x', c: [1, 2] }, a: 1 }, true],
    ['undefined members count as absent', { a: 1, b: undefined }, { a: 1 }, true],
    ['a missing member differs from null', { a: 1, b: null }, { a: 1 }, false],
    ['array order matters', { a: [1, 2] }, { a: [2, 1] }, false],
    ['an extra member differs', { a: 1 }, { a: 1, b: 2 }, false],
    ['a different scalar differs', { a: { b: 'x' } }, { a: { b: 'y' } }, false],
    ['an array is not an object', { a: [] }, { a: {} }, false],
    ['a number is not its string', { a: 1 }, { a: '1' }, false],
  ])('%s', (_, a, b, equal) => {
    expect(jsonEqual(a, b)).toBe(equal);
    expect(jsonEqual(b, a)).toBe(equal);
  });

  it('ignores the skipped top-level members only', () => {
    const skip = new Set(['metadata']);
    expect(jsonEqual({ metadata: { a: 1 }, spec: { x: 1 } }, { metadata: { a: 2 }, spec: { x: 1 } }, skip)).toBe(true);
    expect(jsonEqual({ metadata: 1, spec: { metadata: 1 } }, { metadata: 2, spec: { metadata: 2 } }, skip)).toBe(false);
    expect(jsonEqual({ metadata: 1 }, {}, skip)).toBe(true);
  });
});
