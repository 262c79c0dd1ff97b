import * as clientNode from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  builtinOpenApiSchema,
  definitionNameOfBuiltin,
  definitionNameOfModel,
  unknownBuiltinFields,
} from './builtin-schema.js';

const deployment = (container: Record<string, unknown>) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' }, managedFields: [{ manager: 'x', fieldsV1: { 'f:spec': {} } }] },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'nginx', resources: { limits: { cpu: 1 } }, ...container }] },
    },
  },
});

describe('unknownBuiltinFields', () => {
  it.each<[string, string, unknown, string[]]>([
    ['clean Deployment', 'V1Deployment', deployment({}), []],
    ['typo in a container', 'V1Deployment', deployment({ imagee: 'nginx' }), ['spec.template.spec.containers[0].imagee']],
    ['typo in metadata', 'V1ConfigMap', { metadata: { name: 'c', labelz: {} }, data: { any: 'key' } }, ['metadata.labelz']],
    ['several at once', 'V1ConfigMap', { metadata: { name: 'c' }, dat: {}, extra: 1 }, ['dat', 'extra']],
    ['prefixed model', 'CoreV1Event', { metadata: { name: 'e' }, involvedObject: { kind: 'Pod', bogus: 1 } }, ['involvedObject.bogus']],
    [
      'map values that are models (CRD schema properties)',
      'V1CustomResourceDefinition',
      {
        spec: {
          versions: [
            { name: 'v1', schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', typo: 1, 'x-kubernetes-preserve-unknown-fields': true } } } } },
          ],
        },
      },
      ['spec.versions[0].schema.openAPIV3Schema.properties.spec.typo'],
    ],
    ['any-typed fields are open', 'V1ControllerRevision', { data: { whatever: { deep: 1 } }, revision: 1 }, []],
  ])('%s', (_name, model, obj, expected) => {
    expect(unknownBuiltinFields(model, obj)).toEqual(expected);
  });

  it('rejects a model name client-node does not have', () => {
    expect(() => unknownBuiltinFields('V1NoSuchThing', {})).toThrow(/V1NoSuchThing/);
  });
});

describe('definition names', () => {
  it.each([
    ['V1Deployment', 'io.k8s.api.apps.v1.Deployment'],
    ['V1PodSpec', 'io.k8s.api.core.v1.PodSpec'],
    ['CoreV1Event', 'io.k8s.api.core.v1.Event'],
    ['RbacV1Subject', 'io.k8s.api.rbac.v1.Subject'],
    ['V1ObjectMeta', 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'],
    ['V1Lease', 'io.k8s.api.coordination.v1.Lease'],
    ['V1Ingress', 'io.k8s.api.networking.v1.Ingress'],
    ['V1PodDisruptionBudget', 'io.k8s.api.policy.v1.PodDisruptionBudget'],
    ['V1JSONSchemaProps', 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps'],
    ['ApiextensionsV1WebhookClientConfig', 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.WebhookClientConfig'],
  ])('%s → %s', (model, name) => {
    expect(definitionNameOfModel(model)).toBe(name);
  });

  it.each([
    ['', 'v1', 'Pod', 'io.k8s.api.core.v1.Pod'],
    ['apps', 'v1', 'Deployment', 'io.k8s.api.apps.v1.Deployment'],
    ['rbac.authorization.k8s.io', 'v1', 'Role', 'io.k8s.api.rbac.v1.Role'],
    ['apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition'],
  ])('by group %j %s %s', (group, version, kind, name) => {
    expect(definitionNameOfBuiltin(group, version, kind)).toBe(name);
  });

  // Two models landing on one name would silently merge two schemas in a document.
  it('gives every model reachable from the served kinds its own name', () => {
    const roots = [
      'V1Pod', 'V1Service', 'V1Node', 'V1Namespace', 'CoreV1Event', 'V1Endpoints', 'V1Secret', 'V1ServiceAccount',
      'V1Deployment', 'V1StatefulSet', 'V1DaemonSet', 'V1ReplicaSet', 'V1Lease', 'V1CustomResourceDefinition',
      'V1Ingress', 'V1NetworkPolicy', 'V1PodDisruptionBudget', 'V1Eviction', 'V1ClusterRoleBinding', 'V1Role', 'V1Scale',
    ];
    const models = clientNode as unknown as Record<string, { attributeTypeMap?: { type: string }[] }>;
    const reachable = new Set<string>();
    const visit = (model: string) => {
      if (reachable.has(model)) return;
      reachable.add(model);
      for (const a of models[model].attributeTypeMap ?? []) {
        for (const id of a.type.match(/\w+/g) ?? []) if (models[id]?.attributeTypeMap) visit(id);
      }
    };
    roots.forEach(visit);
    const owner = new Map<string, string>();
    for (const model of reachable) {
      const name = definitionNameOfModel(model);
      expect(owner.get(name) ?? model, name).toBe(model);
      owner.set(name, model);
    }
    expect(reachable.size).toBeGreaterThan(150);
    // …and the schemas' components are exactly those models plus the named scalar types.
    const components = new Set(roots.flatMap((r) => Object.keys(builtinOpenApiSchema(r).components)));
    expect([...components].filter((c) => !owner.has(c)).sort()).toEqual([
      'io.k8s.apimachinery.pkg.api.resource.Quantity',
      'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime',
      'io.k8s.apimachinery.pkg.apis.meta.v1.Time',
      'io.k8s.apimachinery.pkg.util.intstr.IntOrString',
    ]);
  });
});

describe('builtinOpenApiSchema', () => {
  const { definitionName, schema, components } = builtinOpenApiSchema('V1Deployment');

  it('names the kind and refers to nested models', () => {
    expect(definitionName).toBe('io.k8s.api.apps.v1.Deployment');
    expect(schema).toMatchObject({
      type: 'object',
      properties: {
        apiVersion: { type: 'string' },
        metadata: { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' },
        spec: { $ref: '#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec' },
      },
    });
  });

  it('collects every referenced definition, so each $ref resolves', () => {
    const refs = [...JSON.stringify(components).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(50);
    for (const r of new Set(refs)) expect(components, r).toHaveProperty([r]);
  });

  it('renders scalars, lists, maps and the special string types', () => {
    const podSpec = components['io.k8s.api.core.v1.PodSpec'] as { properties: Record<string, unknown> };
    expect(podSpec.properties.containers).toEqual({
      type: 'array',
      items: { $ref: '#/components/schemas/io.k8s.api.core.v1.Container' },
      'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-patch-strategy': 'merge',
    });
    expect(podSpec.properties.nodeSelector).toEqual({ type: 'object', additionalProperties: { type: 'string' } });
    expect(podSpec.properties.terminationGracePeriodSeconds).toEqual({ type: 'integer', format: 'int64' });
    const rr = components['io.k8s.api.core.v1.ResourceRequirements'] as { properties: Record<string, unknown> };
    expect(rr.properties.limits).toEqual({ type: 'object', additionalProperties: { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity' } });
    const meta = components['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'] as { properties: Record<string, unknown> };
    expect(meta.properties.creationTimestamp).toEqual({ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Time' });
    expect(components['io.k8s.apimachinery.pkg.util.intstr.IntOrString']).toMatchObject({ format: 'int-or-string' });
  });

  it('handles self-referencing models', () => {
    const crd = builtinOpenApiSchema('V1CustomResourceDefinition').components;
    const props = crd['io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps'] as { properties: Record<string, unknown> };
    expect(props.properties.properties).toEqual({
      type: 'object',
      additionalProperties: { $ref: '#/components/schemas/io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps' },
    });
  });
});
