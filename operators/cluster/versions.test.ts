import { describe, expect, it } from 'vitest';
import { formatVersion, imageTag, refuseVersionChange, resolveVersion } from './versions.js';

const v = (s: string) => resolveVersion(s)!;

describe('resolveVersion', () => {
  it.each([
    ['1.31', '1.31.10'],
    ['1.31.2', '1.31.2'],
    ['1.28', '1.28.15'],
  ])('%s → %s', (spec, full) => expect(formatVersion(v(spec))).toBe(full));

  it.each(['1.20', '2.0', '1.31.x', 'v1.31', ''])('%s is not supported', (spec) => expect(resolveVersion(spec)).toBeUndefined());

  it('image tags carry a v', () => expect(imageTag(v('1.32.1'))).toBe('v1.32.1'));
});

describe('refuseVersionChange', () => {
  it.each([
    ['1.31.2', '1.31.3', undefined],
    ['1.31.2', '1.31.2', undefined],
    ['1.31.2', '1.32', undefined],
    ['1.31.2', '1.33', /skips a minor version.*next: 1\.32/],
    ['1.31.2', '1.30', /downgrade from 1\.31\.2 to 1\.30\.14/],
    ['1.31.2', '1.31.1', /downgrade/],
  ])('%s → %s', (from, to, refusal) => {
    const why = refuseVersionChange(v(from), v(to));
    if (refusal === undefined) expect(why).toBeUndefined();
    else expect(why).toMatch(refusal);
  });
});
