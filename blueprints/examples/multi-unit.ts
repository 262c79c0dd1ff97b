/**
 * A multi-unit fleet: three units, each with a cluster on private machines and capacity from the
 * hybrid and public tiers, plus a shared public target for a unit's bursts. Small enough to bring
 * up on one machine: `kok synth blueprints/examples/multi-unit.ts | kubectl apply -f -`.
 */
import type { App } from 'cdk8s';
import { FleetChart, FleetCluster, FleetTarget, Unit } from '../index.js';

export default function multiUnit(app: App): void {
  const chart = new FleetChart(app, 'shop', { namespace: 'shop' });
  const dc = new FleetTarget(chart, 'dc-beijing', {
    tier: 'private',
    region: 'cn-north',
    zones: ['bj-a', 'bj-b'],
    capacity: 30,
    machineTypes: [{ name: 'std16', cpu: 16, memoryGiB: 64, pricePerHour: 0.2 }],
  });
  const partner = new FleetTarget(chart, 'partner-tianjin', {
    tier: 'hybrid',
    region: 'cn-north-2',
    zones: ['tj-1'],
    capacity: 10,
    machineTypes: [{ name: 'std8', cpu: 8, memoryGiB: 32, pricePerHour: 0.3 }],
  });
  const cloud = new FleetTarget(chart, 'public-north', {
    tier: 'public',
    region: 'north-1',
    zones: ['north-1a', 'north-1b'],
    machineTypes: [
      { name: 'c4', cpu: 4, memoryGiB: 8, pricePerHour: 0.17 },
      { name: 'c8', cpu: 8, memoryGiB: 16, pricePerHour: 0.34 },
    ],
    simulation: { provisionSeconds: 1, bootSeconds: 1, jitter: 0.2 },
  });

  const units = [
    { unit: 'unit-east', clusters: ['orders-east'], version: '1.31' },
    { unit: 'unit-west', clusters: ['orders-west'], version: '1.31' },
    { unit: 'unit-central', clusters: ['payments'], version: '1.32' },
  ];
  for (const u of units) {
    const unit = new Unit(chart, u.unit);
    for (const name of u.clusters) {
      const cluster = new FleetCluster(unit, name, { version: u.version, controlPlaneReplicas: 1 });
      cluster.addPool({ name: `${name}-dc`, target: dc, replicas: 2 });
      cluster.addPool({ name: `${name}-partner`, target: partner, replicas: 1 });
      cluster.addPool({ name: `${name}-cloud`, target: cloud, replicas: 1, machineType: 'c8', maxSurge: '50%' });
    }
  }
}
