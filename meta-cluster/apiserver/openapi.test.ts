import { describe, expect, it } from 'vitest';
import { builtinOpenApiSchema } from './builtin-schema.js';
import {
  builtinOpenApiResource,
  definitionNameOf,
  hashDocument,
  openApiDocument,
  openApiIndex,
  openApiV2Minimal,
  serializeDocument,
} from './openapi.js';
import type { ResourceInfo } from './types.js';

const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const deployments: ResourceInfo = {
  group: 'apps', version: 'v1', plural: 'deployments', singular: 'deployment', kind: 'Deployment', listKind: 'DeploymentList',
  namespaced: true, shortNames: ['deploy'], categories: ['all'], verbs, status: true, custom: false,
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
};
const clusters: ResourceInfo = {
  group: 'fleet.kok.dev', version: 'v1alpha1', plural: 'clusters', singular: 'cluster', kind: 'Cluster', listKind: 'ClusterList',
  namespaced: false, shortNames: [], categories: [], verbs, status: true, custom: true, storageVersion: 'v1alpha1',
};
const clusterSchema = {
  type: 'object',
  properties: { spec: { type: 'object', properties: { version: { type: 'string' } } }, status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
};

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; [k: string]: unknown }>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};
const apps = openApiDocument('apps/v1', [builtinOpenApiResource(deployments, 'V1Deployment')]) as Doc;
const fleet = openApiDocument('fleet.kok.dev/v1alpha1', [{ info: clusters, schema: clusterSchema }]) as Doc;

/** What kubectl's query-param verifier does: every PATCH tagged with the GVK must list the parameter. */
function patchOps(doc: Doc, gvk: { group: string; version: string; kind: string }) {
  return Object.entries(doc.paths)
    .filter(([, item]) => {
      const tagged = item.patch?.['x-kubernetes-group-version-kind'] as typeof gvk | undefined;
      return tagged?.group === gvk.group && tagged.version === gvk.version && tagged.kind === gvk.kind;
    })
    .map(([path, item]) => ({ path, params: (item.patch.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name) }));
}

describe('openApiIndex', () => {
  it('maps group versions to URLs carrying their hash', () => {
    expect(openApiIndex(['apps/v1', 'v1'], (gv) => `H-${gv}`)).toEqual({
      paths: {
        'api/v1': { serverRelativeURL: '/openapi/v3/api/v1?hash=H-v1' },
        'apis/apps/v1': { serverRelativeURL: '/openapi/v3/apis/apps/v1?hash=H-apps/v1' },
      },
    });
  });
});

describe('openApiDocument', () => {
  it.each([
    ['built-in', apps, { group: 'apps', version: 'v1', kind: 'Deployment' }, ['/apis/apps/v1/namespaces/{namespace}/deployments/{name}', '/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status']],
    ['custom', fleet, { group: 'fleet.kok.dev', version: 'v1alpha1', kind: 'Cluster' }, ['/apis/fleet.kok.dev/v1alpha1/clusters/{name}', '/apis/fleet.kok.dev/v1alpha1/clusters/{name}/status']],
  ])('%s: every PATCH for the kind offers dryRun, fieldManager, fieldValidation, force', (_n, doc, gvk, paths) => {
    const ops = patchOps(doc, gvk);
    expect(ops.map((o) => o.path).sort()).toEqual(paths);
    for (const op of ops) expect(op.params).toEqual(expect.arrayContaining(['dryRun', 'fieldManager', 'fieldValidation', 'force']));
  });

  it('lays out namespaced collection, item, all-namespaces and subresource paths', () => {
    expect(Object.keys(apps.paths).sort()).toEqual([
      '/apis/apps/v1/deployments',
      '/apis/apps/v1/namespaces/{namespace}/deployments',
      '/apis/apps/v1/namespaces/{namespace}/deployments/{name}',
      '/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale',
      '/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status',
    ]);
    const item = apps.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'];
    expect(Object.keys(item).sort()).toEqual(['delete', 'get', 'parameters', 'patch', 'put']);
    expect(item.patch).toMatchObject({ operationId: 'patchAppsV1NamespacedDeployment', 'x-kubernetes-action': 'patch' });
    expect(apps.paths['/apis/apps/v1/deployments'].get).toMatchObject({ operationId: 'listAppsV1DeploymentForAllNamespaces', 'x-kubernetes-action': 'list' });
    expect(apps.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'].patch['x-kubernetes-group-version-kind']).toEqual({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
  });

  it('tags every operation with a GVK object and an action', () => {
    for (const doc of [apps, fleet]) {
      for (const item of Object.values(doc.paths)) {
        for (const [method, op] of Object.entries(item)) {
          if (method === 'parameters') continue;
          const o = op as Record<string, unknown>;
          expect(o['x-kubernetes-group-version-kind']).toEqual(expect.objectContaining({ kind: expect.any(String) }));
          expect(Array.isArray(o['x-kubernetes-group-version-kind'])).toBe(false);
          expect(o['x-kubernetes-action']).toMatch(/^(get|list|post|put|patch|delete|deletecollection)$/);
        }
      }
    }
  });

  it('offers strategic merge patch for built-ins only', () => {
    const types = (doc: Doc, path: string) => Object.keys((doc.paths[path].patch.requestBody as { content: object }).content);
    expect(types(apps, '/apis/apps/v1/namespaces/{namespace}/deployments/{name}')).toContain('application/strategic-merge-patch+json');
    expect(types(fleet, '/apis/fleet.kok.dev/v1alpha1/clusters/{name}')).not.toContain('application/strategic-merge-patch+json');
  });

  it('puts kind schemas in components with a GVK array, as kubectl explain wants', () => {
    expect(apps.components.schemas['io.k8s.api.apps.v1.Deployment']['x-kubernetes-group-version-kind']).toEqual([{ group: 'apps', version: 'v1', kind: 'Deployment' }]);
    expect(apps.components.schemas['io.k8s.api.apps.v1.DeploymentList']['x-kubernetes-group-version-kind']).toEqual([{ group: 'apps', version: 'v1', kind: 'DeploymentList' }]);
    expect(fleet.components.schemas['dev.kok.fleet.v1alpha1.Cluster']['x-kubernetes-group-version-kind']).toEqual([{ group: 'fleet.kok.dev', version: 'v1alpha1', kind: 'Cluster' }]);
  });

  it('wraps a CRD schema with apiVersion, kind and an ObjectMeta reference', () => {
    const cluster = fleet.components.schemas['dev.kok.fleet.v1alpha1.Cluster'] as { properties: Record<string, unknown> };
    expect(cluster.properties.metadata).toEqual({ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' });
    expect(cluster.properties.apiVersion).toMatchObject({ type: 'string' });
    expect(cluster.properties.spec).toEqual(clusterSchema.properties.spec);
    expect(clusterSchema.properties).not.toHaveProperty('metadata'); // input untouched
  });

  it.each([
    ['built-in', apps],
    ['custom', fleet],
  ])('%s: every $ref resolves inside the document', (_n, doc) => {
    const refs = new Set([...JSON.stringify(doc).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]));
    expect(refs).toContain('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    for (const r of refs) expect(doc.components.schemas, r).toHaveProperty([r]);
  });

  it('completes built-in refs when handed only the kind schema', () => {
    const doc = openApiDocument('apps/v1', [{ info: deployments, schema: builtinOpenApiSchema('V1Deployment').schema }]) as Doc;
    expect(doc.components.schemas).toHaveProperty(['io.k8s.api.core.v1.PodSpec']);
    expect(hashDocument(doc)).toBe(hashDocument(apps));
  });

  it('does not leak GVK annotations into the cached built-in schemas', () => {
    expect(builtinOpenApiSchema('V1Deployment').schema).not.toHaveProperty(['x-kubernetes-group-version-kind']);
  });
});

describe('definitionNameOf', () => {
  it.each([
    [{ group: 'fleet.kok.dev', version: 'v1alpha1', kind: 'Cluster', custom: true }, 'dev.kok.fleet.v1alpha1.Cluster'],
    [{ group: 'apps', version: 'v1', kind: 'Deployment', custom: false }, 'io.k8s.api.apps.v1.Deployment'],
    [{ group: '', version: 'v1', kind: 'Pod', custom: false }, 'io.k8s.api.core.v1.Pod'],
  ])('%j → %s', (info, name) => {
    expect(definitionNameOf(info)).toBe(name);
  });
});

describe('hashing and serialisation', () => {
  it('is stable across key order and sensitive to content', () => {
    const a = hashDocument({ b: 1, a: { y: [1, 2], x: 'z' } });
    expect(a).toMatch(/^[0-9A-F]{128}$/);
    expect(hashDocument({ a: { x: 'z', y: [1, 2] }, b: 1 })).toBe(a);
    expect(hashDocument({ a: { x: 'z', y: [2, 1] }, b: 1 })).not.toBe(a);
  });

  it('builds the same bytes for the same resources in any order', () => {
    const both = [builtinOpenApiResource(deployments, 'V1Deployment'), builtinOpenApiResource({ ...deployments, plural: 'replicasets', kind: 'ReplicaSet', listKind: 'ReplicaSetList', scale: undefined }, 'V1ReplicaSet')];
    expect(serializeDocument(openApiDocument('apps/v1', both))).toBe(serializeDocument(openApiDocument('apps/v1', [...both].reverse())));
  });

  it('serves a minimal swagger 2.0 protobuf for old kubectl', () => {
    expect([...openApiV2Minimal()]).toEqual([0x0a, 0x03, 0x32, 0x2e, 0x30]);
  });
});
