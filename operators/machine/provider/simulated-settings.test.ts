import { describe, expect, it } from 'vitest';
import { InvalidTargetError } from './errors.js';
import { jitterFactor, resolveSettings, timeToFailureMs, type SimulatedTargetSettings } from './simulated-settings.js';

const valid: SimulatedTargetSettings = {
  zones: ['a'],
  machineTypes: [{ name: 'small', cpu: 2, memoryGiB: 8, pricePerHour: 0.1 }],
};

describe('resolveSettings', () => {
  it('fills in the defaults: no limit, instant instances that never fail', () => {
    const r = resolveSettings('t', valid);
    expect(r).toMatchObject({ zones: ['a'], capacity: undefined, provisionSeconds: 0, bootSeconds: 0, jitter: 0, createFailureRate: 0, failureRatePerHour: 0 });
    expect([...r.machineTypes.keys()]).toEqual(['small']);
  });

  it.each<[string, Partial<SimulatedTargetSettings>, string]>([
    ['no zones', { zones: [] }, 'zones [] is not valid: list at least one zone'],
    ['a duplicate zone', { zones: ['a', 'a'] }, 'zone names must be unique'],
    ['a fractional capacity', { capacity: { machines: 1.5 } }, 'capacity.machines 1.5 is not valid'],
    ['a negative capacity', { capacity: { machines: -1 } }, 'capacity.machines -1 is not valid'],
    ['no machine types', { machineTypes: [] }, 'list at least one machine type'],
    ['a duplicate machine type', { machineTypes: [...valid.machineTypes, ...valid.machineTypes] }, 'machine type names must be unique'],
    ['a negative price', { machineTypes: [{ name: 'x', cpu: 1, memoryGiB: 1, pricePerHour: -1 }] }, 'machineTypes[x].pricePerHour -1'],
    ['a negative latency', { simulation: { bootSeconds: -1 } }, 'simulation.bootSeconds -1 is not valid'],
    ['a jitter above 1', { simulation: { jitter: 1.5 } }, 'simulation.jitter 1.5 is not valid: use a number from 0 to 1'],
    ['a failure rate above 1', { simulation: { createFailureRate: 2 } }, 'simulation.createFailureRate 2'],
    ['a negative death rate', { simulation: { failureRatePerHour: -0.1 } }, 'simulation.failureRatePerHour -0.1'],
    ['a NaN latency', { simulation: { provisionSeconds: NaN } }, 'simulation.provisionSeconds'],
  ])('refuses %s', (_, over, message) => {
    const call = () => resolveSettings('public-eu', { ...valid, ...over });
    expect(call).toThrow(InvalidTargetError);
    expect(call).toThrow(/^CloudTarget public-eu: /);
    expect(call).toThrow(message);
  });
});

describe('jitterFactor', () => {
  it.each([
    [0, 0, 1],
    [0, 0.999, 1],
    [0.5, 0, 0.5],
    [0.5, 0.5, 1],
    [0.5, 0.99999, 1.49999],
    [1, 0, 0],
  ])('jitter %d, u %d → %d', (jitter, u, factor) => {
    expect(jitterFactor(jitter, u)).toBeCloseTo(factor, 9);
  });
});

describe('timeToFailureMs', () => {
  it('never fails at rate 0', () => expect(timeToFailureMs(0, 0.5)).toBeUndefined());
  it('is the median of the exponential at u = 0.5', () => expect(timeToFailureMs(1, 0.5)).toBe(Math.round(Math.LN2 * 3_600_000)));
  it('is immediate at u = 0', () => expect(timeToFailureMs(1, 0)).toBe(0));
  it('is never beyond what a date can hold', () => expect(timeToFailureMs(1e-12, 0.999)).toBeUndefined());
});
