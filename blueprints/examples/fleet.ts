/**
 * The example fleet `kok up` (npm start) applies: two business clusters in namespace `fleet`,
 * three CloudTargets (a private data centre, a partner's hybrid region, a public cloud region, all
 * on the simulated provider) and pools that give each cluster worker Nodes from them.
 * `kok synth blueprints/examples/fleet.ts` writes ./fleet.yaml.
 */
import type { App } from 'cdk8s';
import { FleetChart, FleetCluster, FleetTarget, Unit } from '../index.js';

export default function fleet(app: App): void {
  const chart = new FleetChart(app, 'fleet', { namespace: 'fleet' });
  const std8 = { name: 'std8', cpu: 8, memoryGiB: 32 };
  const shanghai = new FleetTarget(chart, 'dc-shanghai', {
    tier: 'private',
    region: 'cn-east',
    zones: ['sh-a', 'sh-b'],
    capacity: 20,
    machineTypes: [{ ...std8, pricePerHour: 0.12 }],
    simulation: { provisionSeconds: 2, bootSeconds: 1, jitter: 0.2 },
  });
  const hangzhou = new FleetTarget(chart, 'partner-hangzhou', {
    tier: 'hybrid',
    region: 'cn-east-2',
    zones: ['hz-1'],
    capacity: 10,
    machineTypes: [{ ...std8, pricePerHour: 0.25 }],
    simulation: { provisionSeconds: 3, bootSeconds: 1, jitter: 0.2 },
  });
  const east = new FleetTarget(chart, 'public-east', {
    tier: 'public',
    region: 'east-1',
    zones: ['east-1a', 'east-1b', 'east-1c'],
    machineTypes: [
      { name: 'c4', cpu: 4, memoryGiB: 8, pricePerHour: 0.17 },
      { name: 'c8', cpu: 8, memoryGiB: 16, pricePerHour: 0.34 },
    ],
    simulation: { provisionSeconds: 4, bootSeconds: 2, jitter: 0.2, createFailureRate: 0.05 },
  });

  new FleetCluster(new Unit(chart, 'unit-a'), 'pay-core', {
    version: '1.31',
    controlPlaneReplicas: 3,
    pools: [
      { name: 'pay-core-private', target: shanghai, replicas: 3 },
      { name: 'pay-core-hybrid', target: hangzhou, replicas: 1 },
    ],
  });
  new FleetCluster(new Unit(chart, 'unit-b'), 'search', {
    version: '1.32',
    controlPlaneReplicas: 1,
    pools: [
      { name: 'search-private', target: shanghai, replicas: 1 },
      { name: 'search-public', target: east, replicas: 2, machineType: 'c4' },
    ],
  });
}
