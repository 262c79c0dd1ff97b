import { describe, expect, it } from 'vitest';
import { BlueprintError } from './errors.js';
import { FleetTarget, type FleetTargetProps } from './target.js';
import { find, newChart, synthApp } from './testing.js';

const props: FleetTargetProps = {
  tier: 'public',
  region: 'east-1',
  zones: ['east-1a', 'east-1b'],
  machineTypes: [
    { name: 'c8', cpu: 8, memoryGiB: 16, pricePerHour: 0.34 },
    { name: 'c4', cpu: 4, memoryGiB: 8, pricePerHour: 0.17 },
  ],
};

describe('FleetTarget', () => {
  it('declares a cluster-scoped CloudTarget on the simulated provider', () => {
    const chart = newChart();
    const t = new FleetTarget(chart, 'public-east', { ...props, capacity: 40, simulation: { provisionSeconds: 4, jitter: 0.2 } });
    const objects = synthApp(chart.node.root as never);
    expect(objects).toMatchSnapshot();
    const ct = find(objects, 'CloudTarget', 'public-east');
    expect(ct.metadata.namespace).toBeUndefined();
    expect(ct.spec).toMatchObject({ tier: 'public', provider: 'simulated', capacity: { machines: 40 }, simulation: { provisionSeconds: 4, jitter: 0.2 } });
    expect(t.cheapestMachineType.name).toBe('c4');
  });

  it('leaves out what was not given (no limit, no simulation settings)', () => {
    const chart = newChart();
    new FleetTarget(chart, 'x', props);
    const ct = find(synthApp(chart.node.root as never), 'CloudTarget', 'x');
    expect(Object.keys(ct.spec).sort()).toEqual(['machineTypes', 'provider', 'region', 'tier', 'zones']);
  });

  it.each<[string, Partial<FleetTargetProps>, RegExp]>([
    ['a bad name', { name: 'Public_East' }, /FleetTarget "Public_East": props.name "Public_East" is not a valid CloudTarget name/],
    ['an unknown tier', { tier: 'edge' as never }, /props.tier must be one of "private", "hybrid", "public", not "edge"/],
    ['no zones', { zones: [] }, /props.zones must name at least one/],
    ['a zone twice', { zones: ['a', 'a'] }, /props.zones names "a" twice/],
    ['a machine type twice', { machineTypes: [props.machineTypes[0]!, props.machineTypes[0]!] }, /props.machineTypes names "c8" twice/],
    ['a negative price', { machineTypes: [{ name: 'c4', cpu: 4, memoryGiB: 8, pricePerHour: -1 }] }, /props.machineTypes\[0\].pricePerHour must be a number of at least 0, not -1/],
    ['a fractional capacity', { capacity: 2.5 }, /props.capacity must be a whole number of at least 0, not 2.5/],
    ['a jitter above 1', { simulation: { jitter: 1.5 } }, /props.simulation.jitter must be a number from 0 to 1, not 1.5/],
  ])('refuses %s, naming the prop', (_, bad, message) => {
    const attempt = () => new FleetTarget(newChart(), 'public-east', { ...props, ...bad });
    expect(attempt).toThrow(BlueprintError);
    expect(attempt).toThrow(message);
  });
});
