/**
 * The kok-fleet program under `pulumi.runtime.setMocks`, once per stack with that stack's own
 * Pulumi.<stack>.yaml: what it registers (types, names, content), under which parent and
 * provider, in which order (dependsOn), what the stacks do differently, and the stack outputs.
 * Each run sets mocks and config, then imports the program afresh (vi.resetModules).
 */
import { App } from 'cdk8s';
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { KokInstall } from '../blueprints/index.js';
import { allCrds } from '../meta-cluster/api/crds.js';
import { operatorNames } from '../operators/catalog.js';
import { PROJECT_DIR } from './config.js';
import { FLEET_ENVIRONMENT_TYPE } from './fleet-environment.js';
import { runUnderMocks, stackConfig, type Registration, type StackRun } from './testing/mock-stack.js';

const stacks = ['dev', 'staging', 'prod'] as const;
type Stack = (typeof stacks)[number];
const runs = {} as Record<Stack, StackRun>;

beforeAll(async () => {
  for (const stack of stacks) {
    vi.resetModules();
    runs[stack] = await runUnderMocks({ stack, config: stackConfig(stack), load: () => import('./index.js') });
  }
}, 60_000);

/** What a stack's YAML asks for, read here independently of the program's own parser. */
interface StackYaml {
  namespace: string;
  operatorReplicas: number;
  controlPlaneReplicas: number;
  kubernetesVersion: string;
  targets: Array<{ name: string; tier: string; machineTypes: Array<{ name: string; pricePerHour: number }> }>;
  units: Array<{ name: string; clusters: number; kubernetesVersion?: string; pools: Array<{ target: string; machines: number; machineType?: string }> }>;
}
function yamlOf(stack: Stack): StackYaml {
  const c = stackConfig(stack);
  const get = (k: string) => c[`kok-fleet:${k}`];
  return {
    namespace: get('namespace') ?? 'fleet',
    operatorReplicas: Number(get('operatorReplicas') ?? 2),
    controlPlaneReplicas: Number(get('controlPlaneReplicas') ?? 3),
    kubernetesVersion: get('kubernetesVersion')!,
    targets: JSON.parse(get('targets')!),
    units: JSON.parse(get('units')!),
  };
}

const children = (run: StackRun) => run.registrations.filter((r) => r.type.startsWith('kubernetes:'));
const ofKind = (run: StackRun, kind: string) => children(run).filter((r) => r.inputs.kind === kind);
const byUrn = (run: StackRun) => new Map(run.registrations.map((r) => [r.urn, r]));
const component = (run: StackRun) => run.registrations.find((r) => r.type === FLEET_ENVIRONMENT_TYPE)!;
const provider = (run: StackRun) => run.registrations.find((r) => r.type === 'pulumi:providers:kubernetes')!;
const key = (o: { kind: string; metadata: { namespace?: string; name: string } }) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const dependsOn = (run: StackRun, r: Registration) => r.dependencies.map((u) => byUrn(run).get(u)!);

describe.each(stacks)('stack %s', (stack) => {
  const run = () => runs[stack];
  const want = yamlOf(stack);
  const clusterNames = want.units.flatMap((u) => Array.from({ length: u.clusters }, (_, i) => `${u.name}-${i + 1}`));

  it('registers a meta-cluster provider, one FleetEnvironment and, as its children, kok and the fleet', () => {
    const top = run().registrations.filter((r) => r.parent === '');
    expect(top.map((r) => `${r.type} ${r.name}`).sort()).toEqual(['kok:index:FleetEnvironment kok-fleet', 'pulumi:providers:kubernetes meta-cluster']);
    expect(component(run()).custom).toBe(false);
    const kids = children(run());
    expect(kids.length + 2).toBe(run().registrations.length);
    for (const r of kids) {
      expect(r.parent, r.name).toBe(component(run()).urn);
      // Inherited from the component's `provider` option: nothing goes to the ambient kubeconfig.
      expect(r.provider, r.name).toBe(`${provider(run()).urn}::${provider(run()).name}-id`);
      // Pulumi's type tokens spell the core group `core/v1`.
      expect(r.type).toBe(`kubernetes:${r.inputs.apiVersion === 'v1' ? 'core/v1' : r.inputs.apiVersion}:${r.inputs.kind}`);
      expect(r.name).toBe(`kok-fleet:${r.inputs.metadata.namespace ? `${r.inputs.metadata.namespace}/` : ''}${r.inputs.metadata.name}`);
    }
    expect(new Set(kids.map((r) => r.urn)).size).toBe(kids.length);
  });

  it('installs kok exactly as the KokInstall blueprint synthesises it: CRDs, namespace, RBAC, operators, metrics Service', () => {
    const install = new KokInstall(new App(), 'kok', {
      replicas: want.operatorReplicas,
      image: stackConfig(stack)['kok-fleet:operatorImage'],
      concurrency: stackConfig(stack)['kok-fleet:operatorConcurrency'] === undefined ? undefined : Number(stackConfig(stack)['kok-fleet:operatorConcurrency']),
    }).toJson();
    const registered = new Map(children(run()).map((r) => [key(r.inputs as never), r.inputs]));
    for (const o of install) expect(registered.get(key(o)), key(o)).toEqual(o);
    expect(ofKind(run(), 'CustomResourceDefinition').map((r) => r.inputs.metadata.name).sort()).toEqual(allCrds().map((c) => c.metadata.name).sort());
    expect(ofKind(run(), 'CustomResourceDefinition').every((r) => r.type === 'kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition')).toBe(true);
    expect(ofKind(run(), 'Deployment').map((r) => r.inputs.metadata.name).sort()).toEqual(operatorNames.map((n) => `kok-${n}-operator`).sort());
    for (const d of ofKind(run(), 'Deployment')) expect(d.inputs.spec.replicas).toBe(want.operatorReplicas);
  });

  it('declares the fleet of the config: its targets, one Cluster per unit member with its pools, as CustomResources', () => {
    expect(ofKind(run(), 'Namespace').map((r) => r.inputs.metadata.name).sort()).toEqual(['kok-system', want.namespace].sort());
    const targets = ofKind(run(), 'CloudTarget');
    expect(targets.map((r) => r.inputs.metadata.name).sort()).toEqual(want.targets.map((t) => t.name).sort());
    for (const t of want.targets) {
      const r = targets.find((x) => x.inputs.metadata.name === t.name)!;
      expect(r.inputs.spec.tier).toBe(t.tier);
      expect(r.inputs.spec.machineTypes.map((m: any) => [m.name, m.pricePerHour])).toEqual(t.machineTypes.map((m) => [m.name, m.pricePerHour]));
    }
    const clusters = ofKind(run(), 'Cluster');
    expect(clusters.map((r) => r.inputs.metadata.name)).toEqual(clusterNames);
    for (const u of want.units) {
      for (let n = 1; n <= u.clusters; n++) {
        const name = `${u.name}-${n}`;
        const c = clusters.find((r) => r.inputs.metadata.name === name)!;
        expect(c.type).toBe('kubernetes:fleet.kok.dev/v1alpha1:Cluster');
        expect(c.inputs.metadata).toMatchObject({ namespace: want.namespace, labels: { 'fleet.kok.dev/unit': u.name }, annotations: { 'pulumi.com/waitFor': 'condition=Ready' } });
        expect(c.inputs.spec.version).toBe(u.kubernetesVersion ?? want.kubernetesVersion);
        expect(c.inputs.spec.controlPlane).toEqual({ replicas: want.controlPlaneReplicas, datastore: { replicas: want.controlPlaneReplicas } });
        const pools = ofKind(run(), 'MachinePool').filter((p) => p.inputs.spec.clusterName === name);
        expect(pools.map((p) => p.inputs.metadata.name).sort()).toEqual(u.pools.map((p) => `${name}-${p.target}`).sort());
        for (const want of u.pools) {
          const p = pools.find((x) => x.inputs.metadata.name === `${name}-${want.target}`)!;
          const target = yamlOf(stack).targets.find((t) => t.name === want.target)!;
          const cheapest = [...target.machineTypes].sort((a, b) => a.pricePerHour - b.pricePerHour)[0]!.name;
          expect(p.inputs.spec.template.targetRef.name).toBe(want.target);
          expect(p.inputs.spec.replicas).toBe(want.machines);
          expect(p.inputs.spec.template.machineType).toBe(want.machineType ?? cheapest);
          expect(p.inputs.spec.unit).toBe(u.name);
          expect(p.inputs.metadata.namespace).toBe(yamlOf(stack).namespace);
          expect(p.inputs.metadata.annotations).toEqual({ 'pulumi.com/waitFor': 'condition=Ready' });
        }
      }
    }
    const machines = ofKind(run(), 'MachinePool').reduce((n, p) => n + p.inputs.spec.replicas, 0);
    expect(machines).toBe(want.units.reduce((n, u) => n + u.clusters * u.pools.reduce((m, p) => m + p.machines, 0), 0));
  });

  it('orders the graph: namespaces and CRDs first, operators after them, the fleet after all of kok, pools after their targets', () => {
    const r = run();
    const seen = new Set<string>();
    for (const reg of r.registrations) {
      for (const d of reg.dependencies) expect(seen.has(d), `${reg.name} registered before its dependency ${d}`).toBe(true);
      seen.add(reg.urn);
    }
    const kinds = (regs: Registration[]) => regs.map((d) => key(d.inputs as never));
    const crds = ofKind(r, 'CustomResourceDefinition');
    const kokNs = ofKind(r, 'Namespace').find((n) => n.inputs.metadata.name === 'kok-system')!;
    const fleetNs = ofKind(r, 'Namespace').find((n) => n.inputs.metadata.name === want.namespace)!;
    for (const foundation of [...crds, kokNs]) expect(foundation.dependencies, foundation.name).toEqual([]);
    const operatorObjects = children(r).filter((c) => c.inputs.apiVersion !== 'fleet.kok.dev/v1alpha1' && c !== fleetNs && !crds.includes(c) && c !== kokNs);
    expect(operatorObjects.length).toBeGreaterThanOrEqual(11);
    const deployments = ofKind(r, 'Deployment');
    for (const o of operatorObjects.filter((x) => !deployments.includes(x))) expect(kinds(dependsOn(r, o)).sort(), o.name).toEqual(kinds([...crds, kokNs]).sort());
    // A Deployment also comes after its identity and permissions (and goes before them on destroy).
    for (const d of deployments) {
      const operator = d.inputs.metadata.name;
      const access = operatorObjects.filter((o) => o.inputs.metadata.name === operator && ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.inputs.kind));
      expect(access.map((o) => o.inputs.kind).sort(), d.name).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ServiceAccount']);
      expect(kinds(dependsOn(r, d)).sort(), d.name).toEqual(kinds([...crds, kokNs, ...access]).sort());
    }
    const fleetObjects = children(r).filter((c) => c.inputs.apiVersion === 'fleet.kok.dev/v1alpha1');
    for (const o of [fleetNs, ...fleetObjects]) {
      const deps = dependsOn(r, o);
      // Its kind's CRD, and the operators (on destroy the fleet goes while they still run).
      for (const need of [...crds, kokNs, ...deployments]) expect(deps, `${o.name} → ${need.name}`).toContain(need);
      if (o.inputs.metadata.namespace) expect(deps, o.name).toContain(fleetNs);
    }
    for (const pool of ofKind(r, 'MachinePool')) {
      const target = ofKind(r, 'CloudTarget').find((t) => t.inputs.metadata.name === pool.inputs.spec.template.targetRef.name)!;
      expect(dependsOn(r, pool), pool.name).toContain(target);
    }
    // Nothing waits on a Cluster or pool: they are the leaves of the graph.
    const leaves = new Set([...ofKind(r, 'Cluster'), ...ofKind(r, 'MachinePool')].map((x) => x.urn));
    for (const reg of r.registrations) for (const d of reg.dependencies) expect(leaves.has(d), `${reg.name} depends on ${d}`).toBe(false);
  });

  it('exports the clusters and their kubeconfig Secret names, and registers them as the component outputs', () => {
    const expected = {
      clusters: clusterNames.map((n) => `${want.namespace}/${n}`),
      kubeconfigSecrets: clusterNames.map((n) => `${n}-kubeconfig`),
      fleetNamespace: want.namespace,
    };
    expect(run().outputs).toEqual(expected);
    expect(run().componentOutputs.get(component(run()).urn)).toEqual({ clusters: expected.clusters, kubeconfigSecrets: expected.kubeconfigSecrets, namespace: want.namespace });
  });
});

describe('differences between the stacks come from their config', () => {
  const summary = (stack: Stack) => {
    const r = runs[stack];
    const clusters = ofKind(r, 'Cluster');
    return {
      operatorReplicas: [...new Set(ofKind(r, 'Deployment').map((d) => d.inputs.spec.replicas))],
      controlPlaneReplicas: [...new Set(clusters.map((c) => c.inputs.spec.controlPlane.replicas))],
      tiers: [...new Set(ofKind(r, 'CloudTarget').map((t) => t.inputs.spec.tier))].sort(),
      units: new Set(clusters.map((c) => c.inputs.metadata.labels['fleet.kok.dev/unit'])).size,
      clusters: clusters.length,
      machines: ofKind(r, 'MachinePool').reduce((n, p) => n + p.inputs.spec.replicas, 0),
      namespace: r.outputs.fleetNamespace,
      versions: [...new Set(clusters.map((c) => c.inputs.spec.version))].sort(),
    };
  };

  it('dev is small: 1 operator replica, single-replica control planes, private and public machines', () => {
    expect(summary('dev')).toEqual({ operatorReplicas: [1], controlPlaneReplicas: [1], tiers: ['private', 'public'], units: 2, clusters: 2, machines: 4, namespace: 'fleet-dev', versions: ['1.31'] });
  });

  it('staging is medium: 2 operator replicas, three tiers of machines, 4 clusters', () => {
    expect(summary('staging')).toEqual({ operatorReplicas: [2], controlPlaneReplicas: [1], tiers: ['hybrid', 'private', 'public'], units: 2, clusters: 4, machines: 14, namespace: 'fleet-staging', versions: ['1.32'] });
  });

  it('prod: 2 operator replicas, 3 control-plane replicas, three tiers, more units, a canary unit on the next minor', () => {
    expect(summary('prod')).toEqual({ operatorReplicas: [2], controlPlaneReplicas: [3], tiers: ['hybrid', 'private', 'public'], units: 4, clusters: 8, machines: 60, namespace: 'fleet', versions: ['1.31', '1.32'] });
    const canary = ofKind(runs.prod, 'Cluster').filter((c) => c.inputs.metadata.labels['fleet.kok.dev/unit'] === 'canary');
    expect(canary.map((c) => c.inputs.spec.version)).toEqual(['1.32', '1.32']);
    expect(ofKind(runs.prod, 'Deployment').every((d) => d.inputs.spec.template.spec.containers[0].args.join(' ').includes('--concurrency 16'))).toBe(true);
  });

  it('each stack reaches its own meta-cluster: dev the embedded one from kok up, staging and prod their kubeconfig files, always as a secret', () => {
    const kubeconfig = (stack: Stack) => provider(runs[stack]).inputs.kubeconfig;
    for (const stack of stacks) expect(kubeconfig(stack)[pulumi.runtime.specialSigKey], stack).toBe(pulumi.runtime.specialSecretSig);
    expect(kubeconfig('dev').value).toBe(`${PROJECT_DIR.replace(/\/pulumi$/, '')}/.kok/meta-cluster/kubeconfig`);
    expect(kubeconfig('staging').value).toMatch(/\/\.kube\/kok-staging-meta\.yaml$/);
    expect(kubeconfig('prod').value).toMatch(/\/\.kube\/kok-prod-meta\.yaml$/);
  });

});
