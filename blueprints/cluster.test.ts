import { describe, expect, it } from 'vitest';
import { FleetChart } from './chart.js';
import { FleetCluster, type FleetClusterProps } from './cluster.js';
import { BlueprintError } from './errors.js';
import { FleetTarget } from './target.js';
import { find, newApp, newChart, synthApp } from './testing.js';
import { Unit } from './unit.js';

function fleet() {
  const app = newApp();
  const chart = new FleetChart(app, 'fleet', { namespace: 'shop' });
  const dc = new FleetTarget(chart, 'dc', { tier: 'private', region: 'cn', zones: ['a', 'b'], machineTypes: [{ name: 'std8', cpu: 8, memoryGiB: 32, pricePerHour: 0.12 }] });
  const cloud = new FleetTarget(chart, 'cloud', {
    tier: 'public',
    region: 'east',
    zones: ['e1', 'e2'],
    machineTypes: [
      { name: 'c8', cpu: 8, memoryGiB: 16, pricePerHour: 0.34 },
      { name: 'c4', cpu: 4, memoryGiB: 8, pricePerHour: 0.17 },
    ],
  });
  return { app, chart, dc, cloud };
}

describe('FleetCluster', () => {
  it('declares a Cluster and a MachinePool per target, in the chart namespace, with the unit of its Unit', () => {
    const { app, chart, dc, cloud } = fleet();
    const c = new FleetCluster(new Unit(chart, 'unit-a'), 'orders', {
      version: '1.31',
      pools: [{ target: dc, replicas: 3 }, { target: cloud, zones: ['e2'], maxSurge: '50%', nodeNotReadySeconds: 120 }],
    });
    const objects = synthApp(app);
    expect(objects).toMatchSnapshot();

    const cluster = find(objects, 'Cluster', 'orders');
    expect(cluster.metadata).toMatchObject({ namespace: 'shop', labels: { 'fleet.kok.dev/unit': 'unit-a' } });
    expect(cluster.spec).toEqual({ version: '1.31', controlPlane: { replicas: 3, datastore: { replicas: 3 } } });
    expect(c.kubeconfigSecretName).toBe('orders-kubeconfig');

    const onDc = find(objects, 'MachinePool', 'orders-dc');
    expect(onDc.spec).toEqual({ clusterName: 'orders', replicas: 3, unit: 'unit-a', template: { targetRef: { name: 'dc' }, machineType: 'std8' } });
    const onCloud = find(objects, 'MachinePool', 'orders-cloud');
    // The cheapest type by default; only what was given, so the CRD's defaults apply to the rest.
    expect(onCloud.spec).toMatchObject({ replicas: 1, template: { machineType: 'c4', zones: ['e2'] }, strategy: { maxSurge: '50%' }, healthCheck: { nodeNotReadySeconds: 120 } });
    expect(onCloud.spec.strategy).not.toHaveProperty('maxUnavailable');

    // kubectl apply -f creates in file order: the namespace first, and every pool after its target.
    const index = (kind: string, name: string) => objects.indexOf(find(objects, kind, name));
    expect(index('Namespace', 'shop')).toBe(0);
    expect(index('MachinePool', 'orders-dc')).toBeGreaterThan(index('CloudTarget', 'dc'));
    expect(index('MachinePool', 'orders-cloud')).toBeGreaterThan(index('CloudTarget', 'cloud'));
  });

  it('takes a target by name when the machine type is given, and a unit without a Unit', () => {
    const { app, chart } = fleet();
    const c = new FleetCluster(chart, 'search', { version: '1.32.1', controlPlaneReplicas: 1, unit: 'unit-b', serviceCIDR: '10.100.0.0/16' });
    c.addPool({ name: 'search-elsewhere', target: 'shared-dc', machineType: 'big', replicas: 2 });
    const objects = synthApp(app);
    expect(find(objects, 'Cluster', 'search').spec).toEqual({
      version: '1.32.1',
      controlPlane: { replicas: 1, datastore: { replicas: 1 } },
      network: { serviceCIDR: '10.100.0.0/16' },
    });
    expect(find(objects, 'MachinePool', 'search-elsewhere').spec).toMatchObject({ unit: 'unit-b', template: { targetRef: { name: 'shared-dc' }, machineType: 'big' } });
    expect(c.pools).toHaveLength(1);
  });

  it('lives in "default" outside a FleetChart, and carries no unit outside a Unit', () => {
    const app = newApp();
    const c = new FleetCluster(newChart(app), 'a', { version: '1.31' });
    expect(c.namespace).toBe('default');
    expect(c.unit).toBeUndefined();
    expect(find(synthApp(app), 'Cluster', 'a').metadata.labels ?? {}).toEqual({});
  });

  it('takes its namespace from props over the FleetChart, which may leave the Namespace to others', () => {
    const app = newApp();
    const c = new FleetCluster(new FleetChart(app, 'x', { createNamespace: false }), 'a', { version: '1.31', namespace: 'team-a' });
    expect(c.namespace).toBe('team-a');
    expect(synthApp(app).map((o) => `${o.kind}/${o.metadata.namespace}`)).toEqual(['Cluster/team-a']);
  });

  const cases: Array<[string, (t: ReturnType<typeof fleet>) => void, RegExp]> = [
    ['an unsupported version', ({ chart }) => new FleetCluster(chart, 'a', { version: '1.19' }), /FleetCluster "shop\/a": props.version "1.19" is not a supported Kubernetes version; use one of/],
    ['an even control plane', ({ chart }) => new FleetCluster(chart, 'a', { version: '1.31', controlPlaneReplicas: 2 as never }), /props.controlPlaneReplicas must be one of 1, 3, 5, 7, not 2/],
    ['a bad namespace', ({ chart }) => new FleetCluster(chart, 'a', { version: '1.31', namespace: 'Shop' }), /props.namespace "Shop" is not a valid namespace/],
    ['a unit contradicting its Unit', ({ chart }) => new FleetCluster(new Unit(chart, 'u1'), 'a', { version: '1.31', unit: 'u2' }), /props.unit "u2" contradicts the enclosing Unit "u1"/],
    ['the unit label set by hand', ({ chart }) => new FleetCluster(chart, 'a', { version: '1.31', labels: { 'fleet.kok.dev/unit': 'x' } }), /props.labels\["fleet.kok.dev\/unit"\] is set from the unit/],
    ['a machine type the target lacks', ({ chart, dc }) => new FleetCluster(chart, 'a', { version: '1.31', pools: [{ target: dc, machineType: 'c4' }] }), /props.pools\[0\].machineType "c4" is not offered by CloudTarget "dc"; it offers "std8"/],
    ['a target by name without a machine type', ({ chart }) => new FleetCluster(chart, 'a', { version: '1.31' }).addPool({ target: 'dc2' }), /addPool\(props\).machineType is required when the target is given by name/],
    ['a zone outside the target', ({ chart, dc }) => new FleetCluster(chart, 'a', { version: '1.31', pools: [{ target: dc, zones: ['z'] }] }), /props.pools\[0\].zones "z" not in CloudTarget "dc"/],
    ['a kubelet newer than the control plane', ({ chart, dc }) => new FleetCluster(chart, 'a', { version: '1.31', pools: [{ target: dc, version: '1.32' }] }), /props.pools\[0\].version kubelet 1.32.\d+ is newer than the control plane/],
    ['two pools of one name', ({ chart, dc }) => new FleetCluster(chart, 'a', { version: '1.31', pools: [{ target: dc }, { target: dc }] }), /props.pools\[1\].name "a-dc" is already a pool of this cluster/],
    ['a bad surge', ({ chart, dc }) => new FleetCluster(chart, 'a', { version: '1.31', pools: [{ target: dc, maxSurge: '150%' }] }), /props.pools\[0\].maxSurge must be a whole number or a percentage such as "25%", not "150%"/],
    ['negative replicas', ({ chart, dc }) => new FleetCluster(chart, 'a', { version: '1.31', pools: [{ target: dc, replicas: -1 }] }), /props.pools\[0\].replicas must be a whole number of at least 0, not -1/],
  ];
  it.each(cases)('refuses %s, naming the prop', (_, declare, message) => {
    const f = fleet();
    expect(() => declare(f)).toThrow(BlueprintError);
    expect(() => declare(fleet())).toThrow(message);
  });

  it('refuses a pod CIDR the API would refuse, through the CRD schema', () => {
    const props: FleetClusterProps = { version: '1.31', podCIDR: '10.244.0.0/33' };
    expect(() => new FleetCluster(fleet().chart, 'a', props)).toThrow(/FleetCluster "shop\/a": the Cluster it declares would be refused by the API: spec.network.podCIDR/);
  });
});

describe('Unit', () => {
  it('is found from any construct inside it', () => {
    const { chart } = fleet();
    const unit = new Unit(chart, 'cell-1', { name: 'unit-1' });
    const c = new FleetCluster(unit, 'a', { version: '1.31' });
    expect(Unit.of(c)).toBe(unit);
    expect(c.unit).toBe('unit-1');
    expect(Unit.of(chart)).toBeUndefined();
  });

  it('refuses a name that is not a label value', () => {
    expect(() => new Unit(fleet().chart, 'u', { name: 'unit a' })).toThrow(/Unit "unit a": props.name "unit a" is not a valid label value/);
  });
});
