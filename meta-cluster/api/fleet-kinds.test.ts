import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { stringify } from 'yaml';
import { eventually, kubectl, startTestServer, type TestServer } from '../../test/helpers.js';
import { crdFor, crdsYaml } from './crds.js';
import { cloudTargetKind, type CloudTarget, type CloudTargetSpec } from './v1alpha1/cloud-target.js';
import { machinePoolKind, META_CLUSTER, type MachinePool, type MachinePoolSpec } from './v1alpha1/machine-pool.js';
import { machineKind, machinePhases, type Machine, type MachineSpec } from './v1alpha1/machine.js';
import type { JSONSchemaProps, KindDefinition } from './v1alpha1/schema-dsl.js';

/** The openAPIV3Schema of a kind's CRD, walked by property names ('[]' steps into items). */
function schemaAt(def: KindDefinition<any, any>, ...path: string[]): JSONSchemaProps {
  let node: JSONSchemaProps = (crdFor(def as KindDefinition) as any).spec.versions[0].schema.openAPIV3Schema;
  for (const p of path) {
    const next = p === '[]' ? node.items : node.properties?.[p];
    if (!next) throw new Error(`no ${path.join('.')} in ${def.kind}`);
    node = next;
  }
  return node;
}

/**
 * `kubectl get` output as rows of cells keyed by header. Cells are cut at the header's column
 * starts, since kubectl prints a missing value as an empty cell that splitting on spaces would lose.
 */
function table(out: string): Record<string, string>[] {
  const [head, ...rows] = out.trimEnd().split('\n');
  const cols = [...head!.matchAll(/\S+/g)].map((m) => ({ name: m[0], start: m.index! }));
  return rows.map((row) =>
    Object.fromEntries(cols.map((c, i) => [c.name, row.slice(c.start, i + 1 < cols.length ? cols[i + 1]!.start : undefined).trim()])),
  );
}

const crdOf = (def: KindDefinition<any, any>) => crdFor(def as KindDefinition) as any;
const columns = (def: KindDefinition<any, any>) =>
  crdOf(def).spec.versions[0].additionalPrinterColumns.map((c: any) => [c.name, c.jsonPath, c.priority ?? 0]);

describe('CloudTarget', () => {
  const at = (...p: string[]) => schemaAt(cloudTargetKind, ...p);

  it('is cluster-scoped with short name ct in category kok', () => {
    const crd = crdOf(cloudTargetKind);
    expect(crd.metadata.name).toBe('cloudtargets.fleet.kok.dev');
    expect(crd.spec.scope).toBe('Cluster');
    expect(crd.spec.names).toEqual({
      kind: 'CloudTarget',
      listKind: 'CloudTargetList',
      plural: 'cloudtargets',
      singular: 'cloudtarget',
      shortNames: ['ct'],
      categories: ['kok'],
    });
    expect(crd.spec.versions[0].subresources).toEqual({ status: {} });
  });

  it('prints tier, provider, region, use, capacity and cost', () => {
    expect(columns(cloudTargetKind)).toEqual([
      ['Tier', '.spec.tier', 0],
      ['Provider', '.spec.provider', 0],
      ['Region', '.spec.region', 0],
      ['In-Use', '.status.machinesInUse', 0],
      ['Capacity', '.spec.capacity.machines', 0],
      ['Cost/h', '.status.costPerHour', 0],
      ['Age', '.metadata.creationTimestamp', 0],
    ]);
  });

  it('carries enums, bounds and defaults', () => {
    expect(at('spec').required).toEqual(['tier', 'provider', 'region', 'zones', 'machineTypes']);
    expect(at('spec', 'tier').enum).toEqual(['private', 'hybrid', 'public']);
    expect(at('spec', 'provider').description).toContain('Only "simulated" is implemented');
    const label = new RegExp(at('spec', 'provider').pattern!);
    expect(label.test('simulated')).toBe(true);
    for (const bad of ['Simulated', '-aws', 'aws_cn', '']) expect(label.test(bad), bad).toBe(false);
    expect(at('spec', 'zones')).toMatchObject({ minItems: 1, 'x-kubernetes-list-type': 'set' });
    expect(at('spec', 'machineTypes')).toMatchObject({ minItems: 1, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] });
    expect(at('spec', 'machineTypes', '[]').required).toEqual(['name', 'cpu', 'memoryGiB', 'pricePerHour']);
    expect(at('spec', 'machineTypes', '[]', 'cpu').minimum).toBe(1);
    expect(at('spec', 'machineTypes', '[]', 'pricePerHour')).toMatchObject({ type: 'number', minimum: 0 });
    expect(at('spec', 'capacity', 'machines')).toMatchObject({ type: 'integer', minimum: 0 });
    expect(at('spec', 'simulation').default).toEqual({});
    expect(at('spec', 'simulation', 'jitter')).toMatchObject({ type: 'number', minimum: 0, maximum: 1, default: 0 });
    expect(at('spec', 'simulation', 'createFailureRate')).toMatchObject({ minimum: 0, maximum: 1, default: 0 });
    expect(at('spec', 'simulation', 'failureRatePerHour')).toMatchObject({ minimum: 0, default: 0 });
    expect(at('spec', 'simulation', 'failureRatePerHour').maximum).toBeUndefined();
    expect(at('status', 'phase').enum).toEqual(['Ready', 'Full', 'Unavailable']);
  });

  it('gives the static types the schema describes', () => {
    expectTypeOf<CloudTargetSpec['tier']>().toEqualTypeOf<'private' | 'hybrid' | 'public'>();
    expectTypeOf<CloudTargetSpec['zones']>().toEqualTypeOf<string[]>();
    expectTypeOf<CloudTargetSpec['machineTypes'][number]>().toEqualTypeOf<{ name: string; cpu: number; memoryGiB: number; pricePerHour: number }>();
    expectTypeOf<NonNullable<CloudTarget['status']>['phase']>().toEqualTypeOf<'Ready' | 'Full' | 'Unavailable' | undefined>();
    // @ts-expect-error tier, provider, region, zones and machineTypes are required
    const missing: CloudTargetSpec = { tier: 'public' };
    expect(missing).toEqual({ tier: 'public' });
  });
});

describe('MachinePool', () => {
  const at = (...p: string[]) => schemaAt(machinePoolKind, ...p);

  it('is namespaced with short name mp in category kok, and has a scale subresource', () => {
    const crd = crdOf(machinePoolKind);
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toMatchObject({ kind: 'MachinePool', plural: 'machinepools', singular: 'machinepool', shortNames: ['mp'], categories: ['kok'] });
    expect(crd.spec.versions[0].subresources).toEqual({
      status: {},
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
    });
  });

  it('prints cluster, target, type, replicas and phase', () => {
    expect(columns(machinePoolKind).map(([name, path]: string[]) => `${name}=${path}`)).toEqual([
      'Cluster=.spec.clusterName',
      'Target=.spec.template.targetRef.name',
      'Type=.spec.template.machineType',
      'Desired=.spec.replicas',
      'Ready=.status.readyReplicas',
      'Updated=.status.updatedReplicas',
      'Phase=.status.phase',
      'Age=.metadata.creationTimestamp',
    ]);
  });

  it('carries enums, bounds and defaults', () => {
    expect(at('spec').required).toEqual(['clusterName', 'template']);
    expect(at('spec', 'template').required).toEqual(['targetRef', 'machineType']);
    expect(at('spec', 'template', 'targetRef').required).toEqual(['name']);
    expect(at('spec', 'replicas')).toMatchObject({ type: 'integer', minimum: 0, default: 1 });
    expect(at('spec', 'strategy')).toMatchObject({ default: {} });
    expect(at('spec', 'strategy', 'maxSurge')).toMatchObject({ 'x-kubernetes-int-or-string': true, default: 1 });
    expect(at('spec', 'strategy', 'maxUnavailable')).toMatchObject({ 'x-kubernetes-int-or-string': true, default: 0 });
    expect(at('spec', 'healthCheck')).toMatchObject({ default: {} });
    expect(at('spec', 'healthCheck', 'nodeNotReadySeconds')).toMatchObject({ minimum: 1, default: 300 });
    expect(at('spec', 'healthCheck', 'maxUnhealthy')).toMatchObject({ 'x-kubernetes-int-or-string': true, default: '40%' });
    expect(at('spec', 'drainTimeoutSeconds')).toMatchObject({ minimum: 0, default: 300 });
    expect(at('spec', 'drainTimeoutSeconds').description).toContain('0: delete without draining');
    expect(at('spec', 'clusterName').description).toContain(`"${META_CLUSTER}" means the meta-cluster itself`);
    expect(new RegExp(at('spec', 'clusterName').pattern!).test(META_CLUSTER)).toBe(true);
    const version = new RegExp(at('spec', 'template', 'version').pattern!);
    expect(['1.31', '1.30.4'].map((v) => version.test(v))).toEqual([true, true]);
    expect(['v1.31', '1.31.x'].map((v) => version.test(v))).toEqual([false, false]);
    const unit = new RegExp(at('spec', 'unit').pattern!);
    expect(['hz-a', 'Unit_1.b'].map((v) => unit.test(v))).toEqual([true, true]);
    expect(['', '-a', 'a-', 'a b'].map((v) => unit.test(v))).toEqual([false, false, false, false]);
    expect(at('status', 'phase').enum).toEqual(['Pending', 'ScalingUp', 'ScalingDown', 'RollingOut', 'Running', 'Failed', 'Deleting']);
    for (const f of ['replicas', 'readyReplicas', 'availableReplicas', 'updatedReplicas']) {
      expect(at('status', f), f).toMatchObject({ type: 'integer', minimum: 0 });
    }
    expect(at('status', 'selector').type).toBe('string');
  });

  it('gives the static types the schema describes', () => {
    expectTypeOf<MachinePoolSpec['clusterName']>().toEqualTypeOf<string>();
    expectTypeOf<MachinePoolSpec['replicas']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<MachinePoolSpec['template']['targetRef']>().toEqualTypeOf<{ name: string }>();
    expectTypeOf<MachinePoolSpec['template']['zones']>().toEqualTypeOf<string[] | undefined>();
    expectTypeOf<NonNullable<MachinePoolSpec['strategy']>['maxSurge']>().toEqualTypeOf<number | string | undefined>();
    expectTypeOf<NonNullable<MachinePool['status']>['phase']>().toEqualTypeOf<
      'Pending' | 'ScalingUp' | 'ScalingDown' | 'RollingOut' | 'Running' | 'Failed' | 'Deleting' | undefined
    >();
    // @ts-expect-error template.machineType is required
    const missing: MachinePoolSpec = { clusterName: 'c', template: { targetRef: { name: 't' } } };
    expect(missing.clusterName).toBe('c');
  });
});

describe('Machine', () => {
  const at = (...p: string[]) => schemaAt(machineKind, ...p);

  it('is namespaced with short name mach in category kok', () => {
    const crd = crdOf(machineKind);
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toMatchObject({ kind: 'Machine', plural: 'machines', singular: 'machine', shortNames: ['mach'], categories: ['kok'] });
    expect(crd.spec.versions[0].subresources).toEqual({ status: {} });
  });

  it('prints cluster, phase, node, type and zone; target and provider ID only wide', () => {
    expect(columns(machineKind)).toEqual([
      ['Cluster', '.spec.clusterName', 0],
      ['Phase', '.status.phase', 0],
      ['Node', '.status.nodeRef.name', 0],
      ['Type', '.spec.machineType', 0],
      ['Zone', '.spec.zone', 0],
      ['Target', '.spec.targetRef.name', 1],
      ['ProviderID', '.spec.providerID', 1],
      ['Age', '.metadata.creationTimestamp', 0],
    ]);
  });

  it('carries enums, patterns and the pool template\'s field schemas', () => {
    expect(at('spec').required).toEqual(['clusterName', 'targetRef', 'machineType']);
    expect(at('status', 'phase').enum).toEqual([...machinePhases]);
    expect(machinePhases).toEqual(['Pending', 'Provisioning', 'Provisioned', 'Joining', 'Running', 'Deleting', 'Failed']);
    for (const f of ['version', 'machineType', 'targetRef', 'labels']) {
      expect(at('spec', f), f).toEqual(schemaAt(machinePoolKind, 'spec', 'template', f));
    }
    expect(at('spec', 'providerID').description).toContain('never changes');
    const providerID = new RegExp(at('spec', 'providerID').pattern!);
    expect(providerID.test('simulated://public-a/i-0001')).toBe(true);
    expect(providerID.test('i-0001')).toBe(false);
    expect(at('status', 'nodeRef').required).toEqual(['name']);
    expect(at('status', 'addresses', '[]', 'type').enum).toContain('InternalIP');
  });

  it('gives the static types the schema describes', () => {
    expectTypeOf<MachineSpec['targetRef']>().toEqualTypeOf<{ name: string }>();
    expectTypeOf<MachineSpec['providerID']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<NonNullable<Machine['status']>['phase']>().toEqualTypeOf<(typeof machinePhases)[number] | undefined>();
    expectTypeOf<NonNullable<NonNullable<Machine['status']>['nodeRef']>>().toEqualTypeOf<{ name: string; uid?: string }>();
  });
});

describe('CloudTarget, MachinePool and Machine on a real API server', () => {
  let server: TestServer;
  const run = (args: string[], input?: string) => kubectl(server.kubeconfigPath, args, input === undefined ? {} : { input });
  const k = async (...args: string[]) => {
    const r = await run(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const apply = async (obj: object) => {
    const r = await run(['apply', '-f', '-'], stringify(obj));
    if (r.code !== 0) throw new Error(`kubectl apply failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const getJson = async <T>(...args: string[]): Promise<T> => JSON.parse(await k('get', ...args, '-o', 'json')) as T;
  const apiVersion = 'fleet.kok.dev/v1alpha1';

  const pool = (name: string, spec: Record<string, unknown>) => ({ apiVersion, kind: 'MachinePool', metadata: { name, namespace: 'default' }, spec });

  beforeAll(async () => {
    server = await startTestServer();
    const applied = await run(['apply', '-f', '-'], crdsYaml());
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain('machinepools.fleet.kok.dev created');
    await eventually(() => k('get', 'ct,mp,mach', '-A'));
  });
  afterAll(() => server?.destroy());

  it('fills in the defaults of a CloudTarget and prints it cluster-wide', async () => {
    await apply({
      apiVersion,
      kind: 'CloudTarget',
      metadata: { name: 'public-a' },
      spec: {
        tier: 'public',
        provider: 'simulated',
        region: 'cn-east',
        zones: ['cn-east-a', 'cn-east-b'],
        capacity: { machines: 20 },
        machineTypes: [{ name: 'c4m16', cpu: 4, memoryGiB: 16, pricePerHour: 0.5 }],
      },
    });
    const ct = await getJson<CloudTarget>('ct', 'public-a');
    expect(ct.metadata.namespace).toBeUndefined();
    expect(ct.spec.simulation).toEqual({ provisionSeconds: 0, bootSeconds: 0, jitter: 0, createFailureRate: 0, failureRatePerHour: 0 });

    await k('patch', 'ct', 'public-a', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { machinesInUse: 3, costPerHour: 1.5 } }));
    const rows = table(await k('get', 'ct'));
    expect(rows).toEqual([
      { NAME: 'public-a', TIER: 'public', PROVIDER: 'simulated', REGION: 'cn-east', 'IN-USE': '3', CAPACITY: '20', 'COST/H': '1.5', AGE: expect.any(String) },
    ]);
  });

  it('rejects a CloudTarget with an unknown tier, naming the field', async () => {
    const r = await run(
      ['create', '-f', '-'],
      stringify({
        apiVersion,
        kind: 'CloudTarget',
        metadata: { name: 'bad' },
        spec: { tier: 'edge', provider: 'simulated', region: 'r', zones: ['z'], machineTypes: [{ name: 'm', cpu: 1, memoryGiB: 1, pricePerHour: 0 }] },
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.tier');
    expect(r.stderr).toContain('"edge"');
  });

  it('fills in the defaults of a MachinePool that gives only what is required', async () => {
    await apply(pool('workers', { clusterName: 'pay-core', template: { targetRef: { name: 'public-a' }, machineType: 'c4m16' } }));
    const mp = await getJson<MachinePool>('mp', 'workers', '-n', 'default');
    expect(mp.spec).toEqual({
      clusterName: 'pay-core',
      replicas: 1,
      template: { targetRef: { name: 'public-a' }, machineType: 'c4m16' },
      strategy: { maxSurge: 1, maxUnavailable: 0 },
      healthCheck: { nodeNotReadySeconds: 300, maxUnhealthy: '40%' },
      drainTimeoutSeconds: 300,
    });
  });

  it.each([
    { name: 'replicas: -1', spec: { clusterName: 'c', replicas: -1, template: { targetRef: { name: 't' }, machineType: 'm' } }, field: 'spec.replicas' },
    { name: 'no template.machineType', spec: { clusterName: 'c', template: { targetRef: { name: 't' } } }, field: 'spec.template.machineType' },
    { name: 'a version with a "v"', spec: { clusterName: 'c', template: { targetRef: { name: 't' }, machineType: 'm', version: 'v1.31' } }, field: 'spec.template.version' },
    { name: 'an empty zone list', spec: { clusterName: 'c', template: { targetRef: { name: 't' }, machineType: 'm', zones: [] } }, field: 'spec.template.zones' },
  ])('rejects a MachinePool with $name, naming $field', async ({ spec, field }) => {
    const r = await run(['create', '-f', '-'], stringify(pool('bad', spec)));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('is invalid');
    expect(r.stderr).toContain(field);
  });

  it('shows the printer columns in `kubectl get mp`', async () => {
    await k('patch', 'mp', 'workers', '-n', 'default', '--subresource=status', '--type=merge', '-p',
      JSON.stringify({ status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1, phase: 'Running', selector: 'fleet.kok.dev/machine-pool=workers' } }));
    expect(table(await k('get', 'mp', '-n', 'default'))).toEqual([
      {
        NAME: 'workers',
        CLUSTER: 'pay-core',
        TARGET: 'public-a',
        TYPE: 'c4m16',
        DESIRED: '1',
        READY: '1',
        UPDATED: '1',
        PHASE: 'Running',
        AGE: expect.stringMatching(/^\d+s$/),
      },
    ]);
  });

  it('scales with `kubectl scale mp`, and serves the Scale with the selector', async () => {
    expect(await k('scale', 'mp', 'workers', '-n', 'default', '--replicas=4')).toContain('machinepool.fleet.kok.dev/workers scaled');
    const mp = await getJson<MachinePool>('mp', 'workers', '-n', 'default');
    expect(mp.spec.replicas).toBe(4);
    const scale = JSON.parse(await k('get', '--raw', '/apis/fleet.kok.dev/v1alpha1/namespaces/default/machinepools/workers/scale'));
    expect(scale).toMatchObject({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      spec: { replicas: 4 },
      status: { replicas: 1, selector: 'fleet.kok.dev/machine-pool=workers' },
    });
    // kubectl checks --replicas itself; a patch of the subresource reaches the server's check.
    const r = await run(['patch', 'mp', 'workers', '-n', 'default', '--subresource=scale', '--type=merge', '-p', '{"spec":{"replicas":-1}}']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.replicas');
    expect((await getJson<MachinePool>('mp', 'workers', '-n', 'default')).spec.replicas).toBe(4);
  });

  it('prints a Machine, its target and provider ID only with -o wide', async () => {
    await apply({
      apiVersion,
      kind: 'Machine',
      metadata: { name: 'workers-x7k2p', namespace: 'default' },
      spec: {
        clusterName: 'pay-core',
        targetRef: { name: 'public-a' },
        machineType: 'c4m16',
        zone: 'cn-east-a',
        providerID: 'simulated://public-a/i-0001',
      },
    });
    await k('patch', 'mach', 'workers-x7k2p', '-n', 'default', '--subresource=status', '--type=merge', '-p',
      JSON.stringify({ status: { phase: 'Running', nodeRef: { name: 'workers-x7k2p' } } }));
    const narrow = { NAME: 'workers-x7k2p', CLUSTER: 'pay-core', PHASE: 'Running', NODE: 'workers-x7k2p', TYPE: 'c4m16', ZONE: 'cn-east-a' };
    expect(table(await k('get', 'mach', '-n', 'default'))).toEqual([{ ...narrow, AGE: expect.any(String) }]);
    expect(table(await k('get', 'mach', '-n', 'default', '-o', 'wide'))).toEqual([
      { ...narrow, TARGET: 'public-a', PROVIDERID: 'simulated://public-a/i-0001', AGE: expect.any(String) },
    ]);
    // The kok category finds every kind.
    const names = (await k('get', 'kok', '-A', '-o', 'name')).trim().split('\n');
    expect(names).toEqual(
      expect.arrayContaining([
        'cloudtarget.fleet.kok.dev/public-a',
        'machinepool.fleet.kok.dev/workers',
        'machine.fleet.kok.dev/workers-x7k2p',
      ]),
    );
  });

  it('explains the fields with their descriptions', async () => {
    const out = await k('explain', 'machinepool.spec.drainTimeoutSeconds');
    expect(out).toContain('FIELD: drainTimeoutSeconds <integer>');
    expect(out.replace(/\s+/g, ' ')).toContain('deleted anyway. 0: delete without draining.');
  });
});
