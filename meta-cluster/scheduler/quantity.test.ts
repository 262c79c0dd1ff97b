import { describe, expect, it } from 'vitest';
import { isQuantity, quantityMilli, quantityValue, QuantityError } from './quantity.js';

describe('quantityMilli (cpu)', () => {
  it.each([
    ['100m', 100],
    ['1', 1000],
    ['1.5', 1500],
    ['1.1', 1100],
    ['0.1', 100],
    ['.5', 500],
    ['2.', 2000],
    ['250m', 250],
    ['1e3', 1_000_000],
    ['1E-3', 1],
    ['+4', 4000],
    ['0', 0],
    ['0.0001', 1], // rounded up, as Quantity.MilliValue does
    ['100u', 1],
    ['500n', 1],
    ['1k', 1_000_000],
    [2, 2000],
  ] as const)('%s → %d', (q, want) => {
    expect(quantityMilli(q)).toBe(want);
  });
});

describe('quantityValue (bytes, counts)', () => {
  it.each([
    ['128Mi', 128 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['8Gi', 8 * 2 ** 30],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['1G', 1e9],
    ['500k', 500_000],
    ['1e3', 1000],
    ['1e-3', 1], // rounded up
    ['110', 110],
    ['1Ki', 1024],
    ['2Ti', 2 * 2 ** 40],
    ['1M', 1e6],
    ['1E', 1e18], // E alone is exa, not an exponent
    ['100m', 1],
    ['-1', -1],
    ['-1.5', -1], // towards +infinity
    ['0Gi', 0],
  ] as const)('%s → %d', (q, want) => {
    expect(quantityValue(q)).toBe(want);
  });

  it('is exact where floating point is not', () => {
    expect(quantityValue('0.3Ki')).toBe(308); // 307.2 rounded up
    expect(quantityMilli('0.07')).toBe(70);
  });

  it('caps absurd exponents instead of building huge numbers', () => {
    expect(quantityValue('1e999999')).toBe(Infinity);
    expect(quantityValue('1e-999999')).toBe(1);
  });
});

describe('invalid quantities', () => {
  it.each(['', 'abc', '1e', '1.2.3', '1 Gi', 'Gi', '1gi', '1Kb', '--1', ' 1'])('%j is rejected', (q) => {
    expect(isQuantity(q)).toBe(false);
    expect(() => quantityValue(q)).toThrow(QuantityError);
    expect(() => quantityValue(q)).toThrow(/is not valid/);
  });

  it.each(['1', '100m', '1.5Gi', '1e3', '1E', '+1', '-1', '.5'])('%j is accepted', (q) => {
    expect(isQuantity(q)).toBe(true);
  });
});
