import { readFileSync } from 'node:fs';
import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { eventually, kubectl, startTestServer, tempDir, type TestServer } from '../../test/helpers.js';
import { startEmbeddedCluster } from '../cluster.js';
import { allCrds, crdFor, crdsYaml, fleetKinds, installCrds } from './crds.js';
import { clusterKind, type Cluster, type ClusterSpec } from './v1alpha1/cluster.js';
import type { JSONSchemaProps } from './v1alpha1/schema-dsl.js';

const group = 'fleet.kok.dev';
const version = 'v1alpha1';
const plural = 'clusters';

/** The openAPIV3Schema of the Cluster CRD, walked by property names. */
function clusterSchemaAt(...path: string[]): JSONSchemaProps {
  const crd = crdFor(clusterKind) as any;
  let node: JSONSchemaProps = crd.spec.versions[0].schema.openAPIV3Schema;
  for (const p of path) node = p === '[]' ? node.items! : node.properties![p]!;
  return node;
}

function walk(node: JSONSchemaProps, path: string, visit: (node: JSONSchemaProps, path: string) => void): void {
  visit(node, path);
  for (const [k, p] of Object.entries(node.properties ?? {})) walk(p, `${path}.${k}`, visit);
  if (node.items) walk(node.items, `${path}[]`, visit);
  if (node.additionalProperties) walk(node.additionalProperties, `${path}{}`, visit);
}

/** Paths of the properties under `node` that have no description. */
function undescribed(node: JSONSchemaProps, path: string): string[] {
  const out: string[] = [];
  walk(node, path, (n, p) => {
    for (const [k, child] of Object.entries(n.properties ?? {})) if (!child.description) out.push(`${p}.${k}`);
  });
  if (!node.description) out.push(path);
  return out;
}

describe('generated CRDs', () => {
  it('match the committed meta-cluster/api/crds.yaml', () => {
    const committed = readFileSync(new URL('./crds.yaml', import.meta.url), 'utf8');
    expect(
      committed === crdsYaml(),
      'meta-cluster/api/crds.yaml drifted from the types in meta-cluster/api/v1alpha1; regenerate it: npx kok crds > meta-cluster/api/crds.yaml',
    ).toBe(true);
  });

  it('are deterministic', () => {
    expect(crdsYaml()).toBe(crdsYaml());
  });

  it('name the Cluster CRD with status subresource, short name, category and printer columns', () => {
    const crd = allCrds().find((c) => c.metadata.name === 'clusters.fleet.kok.dev') as any;
    expect(crd).toBeTruthy();
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toMatchObject({ kind: 'Cluster', plural: 'clusters', shortNames: ['kc'], categories: ['kok'] });
    expect(crd.spec.versions[0].subresources).toEqual({ status: {} });
    expect(crd.spec.versions[0].additionalPrinterColumns.map((c: any) => c.name)).toEqual(['Phase', 'Version', 'Endpoint', 'Ready', 'Age']);
  });

  it('are one per fleet.kok.dev kind, in a stable order', () => {
    expect(allCrds().map((c) => c.metadata.name)).toEqual([
      'cloudtargets.fleet.kok.dev',
      'clusters.fleet.kok.dev',
      'machinepools.fleet.kok.dev',
      'machines.fleet.kok.dev',
    ]);
    const shortNames = fleetKinds.flatMap((k) => k.shortNames);
    expect(new Set(shortNames).size, shortNames.join(',')).toBe(shortNames.length);
  });

  describe.each(fleetKinds.map((def) => ({ kind: def.kind, def })))('$kind', ({ def }) => {
    const root = (crdFor(def) as any).spec.versions[0].schema.openAPIV3Schema as JSONSchemaProps;

    it('describes every field of spec and status', () => {
      expect(undescribed(root.properties!.spec!, 'spec').concat(undescribed(root.properties!.status!, 'status'))).toEqual([]);
    });

    // A real API server refuses a CRD whose list-map keys are neither required nor defaulted.
    it('requires the keys of its map lists', () => {
      const bad: string[] = [];
      walk(root, '', (node, path) => {
        for (const key of node['x-kubernetes-list-map-keys'] ?? []) {
          const item = node.items!;
          if (!item.required?.includes(key) && item.properties?.[key]?.default === undefined) bad.push(`${path}[].${key}`);
        }
      });
      expect(bad).toEqual([]);
    });

    it('has a status subresource, and a scale subresource only with paths to an integer and a string', () => {
      const sub = (crdFor(def) as any).spec.versions[0].subresources;
      expect(sub.status).toEqual({});
      if (!def.scale) return expect(sub.scale).toBeUndefined();
      const at = (path: string) => path.slice(1).split('.').reduce<JSONSchemaProps | undefined>((n, p) => n?.properties?.[p], root);
      expect(at(def.scale.specReplicasPath)?.type).toBe('integer');
      expect(at(def.scale.statusReplicasPath)?.type).toBe('integer');
      if (def.scale.labelSelectorPath) expect(at(def.scale.labelSelectorPath)?.type).toBe('string');
    });
  });

  it('carry enums, patterns, bounds and defaults', () => {
    expect(clusterSchemaAt('status', 'phase').enum).toEqual(['Pending', 'Provisioning', 'Ready', 'Upgrading', 'Failed', 'Deleting']);
    expect(clusterSchemaAt('spec').required).toEqual(['version']);
    const versionPattern = new RegExp(clusterSchemaAt('spec', 'version').pattern!);
    for (const ok of ['1.31', '1.31.2', '1.9.0']) expect(versionPattern.test(ok), ok).toBe(true);
    for (const bad of ['v1.31', '1.31.', '1.031', '2.0', '1']) expect(versionPattern.test(bad), bad).toBe(false);
    expect(clusterSchemaAt('spec', 'controlPlane', 'replicas')).toMatchObject({ type: 'integer', enum: [1, 3, 5, 7], default: 3 });
    expect(clusterSchemaAt('spec', 'controlPlane', 'datastore', 'type')).toMatchObject({ enum: ['etcd'], default: 'etcd' });
    expect(clusterSchemaAt('spec', 'controlPlane')).toMatchObject({ default: {} });
    expect(clusterSchemaAt('spec', 'network', 'serviceCIDR').default).toBe('10.96.0.0/12');
    expect(clusterSchemaAt('status', 'conditions', '[]', 'status').enum).toEqual(['True', 'False', 'Unknown']);
    expect(clusterSchemaAt('status', 'readyControlPlaneReplicas').minimum).toBe(0);
  });

  it('give the static types the schema describes', () => {
    expectTypeOf<ClusterSpec['version']>().toEqualTypeOf<string>();
    expectTypeOf<NonNullable<ClusterSpec['controlPlane']>['replicas']>().toEqualTypeOf<1 | 3 | 5 | 7 | undefined>();
    expectTypeOf<NonNullable<Cluster['status']>['phase']>().toEqualTypeOf<
      'Pending' | 'Provisioning' | 'Ready' | 'Upgrading' | 'Failed' | 'Deleting' | undefined
    >();
    // @ts-expect-error version is required
    const missing: ClusterSpec = {};
    expect(missing).toEqual({});
  });
});

describe('the Cluster CRD on a real API server', () => {
  let server: TestServer;
  let custom: CustomObjectsApi;
  const k = async (...args: string[]) => {
    const r = await kubectl(server.kubeconfigPath, args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };

  beforeAll(async () => {
    server = await startTestServer();
    custom = server.kubeConfig.makeApiClient(CustomObjectsApi);
    const applied = await kubectl(server.kubeconfigPath, ['apply', '-f', '-'], { input: crdsYaml() });
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain('customresourcedefinition.apiextensions.k8s.io/clusters.fleet.kok.dev');
    await eventually(() => k('get', 'kc', '-n', 'default'));
  });
  afterAll(() => server?.destroy());

  it('fills in the defaults of a Cluster that gives only spec.version', async () => {
    await custom.createNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural,
      body: { apiVersion: `${group}/${version}`, kind: 'Cluster', metadata: { name: 'pay-core' }, spec: { version: '1.31' } },
    });
    const read = (await custom.getNamespacedCustomObject({ group, version, namespace: 'default', plural, name: 'pay-core' })) as Cluster;
    expect(read.spec).toEqual({
      version: '1.31',
      controlPlane: { replicas: 3, datastore: { type: 'etcd', replicas: 3 } },
      network: { serviceCIDR: '10.96.0.0/12', podCIDR: '10.244.0.0/16', dnsDomain: 'cluster.local' },
    });
  });

  it('rejects an invalid version with 422 naming spec.version', async () => {
    let error: unknown;
    try {
      await custom.createNamespacedCustomObject({
        group,
        version,
        namespace: 'default',
        plural,
        body: { apiVersion: `${group}/${version}`, kind: 'Cluster', metadata: { name: 'bad' }, spec: { version: 'v1.31' } },
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ApiException);
    const e = error as ApiException<unknown>;
    expect(e.code).toBe(422);
    const body = typeof e.body === 'string' ? JSON.parse(e.body) : (e.body as any);
    expect(body.message).toContain('spec.version');
    expect(body.details.causes).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'spec.version' })]));
  });

  it('shows the printer columns in `kubectl get kc`', async () => {
    await custom.patchNamespacedCustomObjectStatus(
      {
        group,
        version,
        namespace: 'default',
        plural,
        name: 'pay-core',
        body: [
          {
            op: 'add',
            path: '/status',
            value: {
              phase: 'Ready',
              endpoint: 'https://127.0.0.1:6443',
              conditions: [{ type: 'Ready', status: 'True', reason: 'AsExpected', lastTransitionTime: '2025-01-01T00:00:00Z' }],
            },
          },
        ],
      },
    );
    const out = await k('get', 'kc', '-n', 'default');
    const [head, row] = out.trim().split('\n');
    expect(head!.split(/\s+/)).toEqual(['NAME', 'PHASE', 'VERSION', 'ENDPOINT', 'READY', 'AGE']);
    expect(row!.split(/\s+/).slice(0, 5)).toEqual(['pay-core', 'Ready', '1.31', 'https://127.0.0.1:6443', 'True']);
    // The category finds it too; with several kinds in it, kubectl prefixes names with the resource.
    expect(await k('get', 'kok', '-n', 'default')).toMatch(/^cluster\.fleet\.kok\.dev\/pay-core\s+Ready\s+1\.31/m);
  });

  it('explains the spec with its descriptions', async () => {
    const out = await k('explain', 'cluster.spec');
    expect(out).toContain('KIND:');
    expect(out).toContain('Cluster');
    expect(out).toContain('Kubernetes version of the control plane');
    expect(out).toMatch(/controlPlane\s+<Object>/);
  });
});

describe('installCrds', () => {
  it('serves every fleet.kok.dev kind from a fresh embedded cluster, and writes nothing on restart', async () => {
    const dir = tempDir('kok-crds-');
    try {
      const first = await startEmbeddedCluster({ dataDir: dir.path, nodes: 0 });
      try {
        const r = await kubectl(first.apiServer.kubeconfigPath, ['api-resources', '--api-group=fleet.kok.dev', '--no-headers']);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/^clusters\s+kc\s+fleet\.kok\.dev\/v1alpha1\s+true\s+Cluster$/m);
        expect(r.stdout).toMatch(/^cloudtargets\s+ct\s+fleet\.kok\.dev\/v1alpha1\s+false\s+CloudTarget$/m);
        expect(r.stdout).toMatch(/^machinepools\s+mp\s+fleet\.kok\.dev\/v1alpha1\s+true\s+MachinePool$/m);
        expect(r.stdout).toMatch(/^machines\s+mach\s+fleet\.kok\.dev\/v1alpha1\s+true\s+Machine$/m);
        expect(installCrds(first.apiServer.api)).toEqual([]);
      } finally {
        await first.stop();
      }
      const again = await startEmbeddedCluster({ dataDir: dir.path, nodes: 0 });
      try {
        expect(installCrds(again.apiServer.api)).toEqual([]);
      } finally {
        await again.stop();
      }
    } finally {
      dir.remove();
    }
  });

  it('updates a CRD that differs from the generated one', async () => {
    const server = await startTestServer();
    try {
      expect(installCrds(server.api)).toEqual(allCrds().map((c) => c.metadata.name));
      expect(installCrds(server.api)).toEqual([]);
      const r = server.api.registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
      server.api.mutate(r, '', 'clusters.fleet.kok.dev', (o: any) => {
        o.spec.names.shortNames = ['old'];
      });
      expect(installCrds(server.api)).toEqual(['clusters.fleet.kok.dev']);
      expect((server.api.get(r, '', 'clusters.fleet.kok.dev') as any).spec.names.shortNames).toEqual(['kc']);
    } finally {
      await server.destroy();
    }
  });
});
