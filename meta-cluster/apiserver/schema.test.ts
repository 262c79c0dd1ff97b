import { describe, expect, it } from 'vitest';
import { validateCrd } from './crd-validation.js';
import { compileSchema, type JSONSchemaProps } from './schema.js';

const widgetSchema: JSONSchemaProps = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: '^a$' },
        code: { type: 'string', pattern: '^[a-z\\_]+$' },
        replicas: { type: 'integer', minimum: 1, maximum: 5, default: 1 },
        mode: { type: 'string', enum: ['a', 'b'] },
        short: { type: 'string', minLength: 3, maxLength: 5 },
        tags: { type: 'array', maxItems: 2, items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
        port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
        when: { type: 'string', format: 'date-time' },
        timeout: { type: 'string', format: 'duration' },
        odd: { type: 'string', format: 'no-such-format' },
        maybe: { type: 'string', nullable: true },
        ports: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: {
            type: 'object',
            properties: { name: { type: 'string' }, protocol: { type: 'string', default: 'TCP' } },
          },
        },
        labels: {
          type: 'object',
          additionalProperties: { type: 'object', properties: { weight: { type: 'integer', default: 10 } } },
        },
        config: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { known: { type: 'object', properties: { a: { type: 'string' } } } } },
        template: { type: 'object', 'x-kubernetes-embedded-resource': true, properties: { spec: { type: 'object' } } },
        tuning: { type: 'object', default: {}, properties: { level: { type: 'integer', default: 3 } } },
        extra: { type: 'object', properties: { depth: { type: 'integer', default: 7 } } },
      },
    },
    status: { type: 'object', properties: { ready: { type: 'boolean' } } },
  },
};

const widget = compileSchema(widgetSchema, { kind: 'Widget', group: 'kok.dev' });
const obj = (spec: Record<string, unknown>) => ({ apiVersion: 'kok.dev/v1', kind: 'Widget', metadata: { name: 'w', labels: { x: 'y' } }, spec: { name: 'a', ...spec } });

describe('validate', () => {
  it.each([
    ['missing required', { name: undefined }, { reason: 'FieldValueRequired', field: 'spec.name', message: 'Required value' }],
    ['enum', { mode: 'x' }, { reason: 'FieldValueNotSupported', field: 'spec.mode', message: 'Unsupported value: "x": supported values: "a", "b"' }],
    ['type', { replicas: 'three' }, { reason: 'FieldValueTypeInvalid', field: 'spec.replicas', message: 'Invalid value: "string": spec.replicas in body must be of type integer: "string"' }],
    ['maximum', { replicas: 10 }, { reason: 'FieldValueInvalid', field: 'spec.replicas', message: 'Invalid value: 10: spec.replicas in body should be less than or equal to 5' }],
    ['minimum', { replicas: 0 }, { reason: 'FieldValueInvalid', field: 'spec.replicas', message: 'Invalid value: 0: spec.replicas in body should be greater than or equal to 1' }],
    ['pattern', { name: 'x' }, { reason: 'FieldValueInvalid', field: 'spec.name', message: `Invalid value: "x": spec.name in body should match '^a$'` }],
    ['minLength', { short: 'ab' }, { reason: 'FieldValueInvalid', field: 'spec.short', message: 'Invalid value: "ab": spec.short in body should be at least 3 chars long' }],
    ['maxLength', { short: 'abcdef' }, { reason: 'FieldValueTooLong', field: 'spec.short', message: 'Too long: may not be more than 5 bytes' }],
    ['maxItems', { tags: ['a', 'b', 'c'] }, { reason: 'FieldValueTooMany', field: 'spec.tags', message: 'Too many: 3: must have at most 2 items' }],
    ['set duplicate', { tags: ['a', 'a'] }, { reason: 'FieldValueDuplicate', field: 'spec.tags[1]', message: 'Duplicate value: "a"' }],
    ['map-list duplicate', { ports: [{ name: 'p' }, { name: 'q' }, { name: 'p' }] }, { reason: 'FieldValueDuplicate', field: 'spec.ports[2]', message: 'Duplicate value: {"name":"p"}' }],
    ['int-or-string', { port: true }, { reason: 'FieldValueTypeInvalid', field: 'spec.port', message: 'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"' }],
    ['format', { when: 'yesterday' }, { reason: 'FieldValueTypeInvalid', field: 'spec.when', message: 'Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"' }],
    ['nested in array', { ports: [{ name: 1 }] }, { reason: 'FieldValueTypeInvalid', field: 'spec.ports[0].name', message: 'Invalid value: "integer": spec.ports[0].name in body must be of type string: "integer"' }],
    ['embedded resource needs kind', { template: { apiVersion: 'v1' } }, { reason: 'FieldValueRequired', field: 'spec.template.kind', message: 'Required value' }],
  ])('%s', (_name, spec, expected) => {
    expect(widget.validate(obj(spec))).toEqual([expected]);
  });

  it.each([
    ['int-or-string as int', { port: 80 }],
    ['int-or-string as string', { port: 'http' }],
    ['nullable null', { maybe: null }],
    ['RE2-style escape in a pattern', { code: 'a_b' }],
    ['Go duration', { timeout: '1h30m' }],
    ['date-time', { when: '2024-01-02T03:04:05Z' }],
    ['unknown format ignored', { odd: 'anything' }],
    ['metadata is not validated here', {}],
  ])('accepts %s', (_name, spec) => {
    expect(widget.validate(obj(spec))).toEqual([]);
  });

  it('reports every distinct violation once', () => {
    const causes = widget.validate(obj({ replicas: 10, mode: 'x', name: undefined }));
    expect(causes.map((c) => c.field).sort()).toEqual(['spec.mode', 'spec.name', 'spec.replicas']);
  });

  it('reuses the compiled validator for an equal schema', () => {
    const again = compileSchema(structuredClone(widgetSchema), { kind: 'Widget', group: 'kok.dev' });
    expect(again.validate(obj({ replicas: 10 }))).toEqual(widget.validate(obj({ replicas: 10 })));
  });
});

describe('unknown fields and pruning', () => {
  const input = {
    ...obj({}),
    extraTop: 1,
    spec: {
      name: 'a',
      bogus: true,
      ports: [{ name: 'p', typo: 1 }],
      labels: { x: { weight: 1, nope: 2 } },
      config: { anything: { deep: 1 }, known: { a: 'x', b: 'pruned' } },
      template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'kept' }, spec: { free: 1 }, junk: 1 },
    },
  };

  it('lists dotted paths with list indexes', () => {
    expect(widget.unknownFields(input).sort()).toEqual([
      'extraTop',
      'spec.bogus',
      'spec.config.known.b',
      'spec.labels.x.nope',
      'spec.ports[0].typo',
      'spec.template.junk',
      'spec.template.spec.free',
    ]);
  });

  it('prunes them, keeping root metadata and preserve-unknown-fields subtrees', () => {
    const pruned = widget.prune(input);
    expect(pruned).toEqual({
      ...obj({}),
      spec: {
        name: 'a',
        ports: [{ name: 'p' }],
        labels: { x: { weight: 1 } },
        config: { anything: { deep: 1 }, known: { a: 'x' } },
        template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'kept' }, spec: {} },
      },
    });
    expect(input.spec.bogus).toBe(true); // the input is not mutated
  });

  it('finds nothing in a clean object', () => {
    expect(widget.unknownFields(obj({ replicas: 2 }))).toEqual([]);
  });
});

describe('applyDefaults', () => {
  it.each([
    ['top-level scalar', {}, { replicas: 1 }],
    ['present value wins', { replicas: 4 }, { replicas: 4 }],
    ['array items', { ports: [{ name: 'a' }, { name: 'b', protocol: 'UDP' }] }, { ports: [{ name: 'a', protocol: 'TCP' }, { name: 'b', protocol: 'UDP' }] }],
    ['additionalProperties values', { labels: { x: {}, y: { weight: 2 } } }, { labels: { x: { weight: 10 }, y: { weight: 2 } } }],
    ['defaulted parent gets nested defaults', {}, { tuning: { level: 3 } }],
    ['absent parent without default stays absent', {}, { extra: undefined }],
    ['present parent gets nested defaults', { extra: {} }, { extra: { depth: 7 } }],
  ])('%s', (_name, spec, expected) => {
    const out = widget.applyDefaults(obj(spec)) as { spec: Record<string, unknown> };
    for (const [k, v] of Object.entries(expected)) expect(out.spec[k]).toEqual(v);
  });

  it('does not mutate the input', () => {
    const input = obj({});
    widget.applyDefaults(input);
    expect(input.spec).toEqual({ name: 'a' });
  });
});

describe('validateCrd', () => {
  const good = () => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.kok.dev' },
    spec: {
      group: 'kok.dev',
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { n: { type: 'integer' } } } } } },
          subresources: { scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
        },
      ],
    },
  });
  type Crd = ReturnType<typeof good>;
  type Version = Crd['spec']['versions'][number] & Record<string, unknown>;

  it('accepts a well-formed CRD', () => {
    expect(validateCrd(good())).toEqual([]);
  });

  it.each<[string, (c: Crd) => void, { field: string; reason: string; message?: string }]>([
    ['name mismatch', (c) => (c.metadata.name = 'widget.kok.dev'), { field: 'metadata.name', reason: 'FieldValueInvalid', message: 'Invalid value: "widget.kok.dev": must be spec.names.plural+"."+spec.group' }],
    ['group without dot', (c) => ((c.spec.group = 'kok'), (c.metadata.name = 'widgets.kok')), { field: 'spec.group', reason: 'FieldValueInvalid' }],
    ['bad scope', (c) => (c.spec.scope = 'Global'), { field: 'spec.scope', reason: 'FieldValueNotSupported', message: 'Unsupported value: "Global": supported values: "Cluster", "Namespaced"' }],
    ['upper-case plural', (c) => ((c.spec.names.plural = 'Widgets'), (c.metadata.name = 'Widgets.kok.dev')), { field: 'spec.names.plural', reason: 'FieldValueInvalid' }],
    ['missing kind', (c) => (c.spec.names.kind = ''), { field: 'spec.names.kind', reason: 'FieldValueRequired' }],
    ['no storage version', (c) => (c.spec.versions[0].storage = false), { field: 'spec.versions', reason: 'FieldValueInvalid', message: 'Invalid value: ["v1"]: must have exactly one version marked as storage version' }],
    ['duplicate version names', (c) => c.spec.versions.push({ ...c.spec.versions[0], storage: false }), { field: 'spec.versions', reason: 'FieldValueInvalid', message: 'Invalid value: ["v1","v1"]: must contain unique version names' }],
    ['no schema', (c) => delete (c.spec.versions[0] as Partial<Version>).schema, { field: 'spec.versions[0].schema.openAPIV3Schema', reason: 'FieldValueRequired', message: 'Required value: schemas are required' }],
    ['root not object', (c) => (c.spec.versions[0].schema.openAPIV3Schema.type = 'string'), { field: 'spec.versions[0].schema.openAPIV3Schema.type', reason: 'FieldValueInvalid' }],
    ['untyped property', (c) => delete (c.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.n as { type?: string }).type, { field: 'spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[n].type', reason: 'FieldValueRequired', message: 'Required value: must not be empty for specified object fields' }],
    ['bad pattern', (c) => Object.assign(c.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.n, { type: 'string', pattern: '[' }), { field: 'spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[n].pattern', reason: 'FieldValueInvalid' }],
    ['uncompilable schema', (c) => Object.assign(c.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.n, { minimum: 'one' }), { field: 'spec.versions[0].schema.openAPIV3Schema', reason: 'FieldValueInvalid' }],
    ['scale path outside spec', (c) => (c.spec.versions[0].subresources.scale.specReplicasPath = '.replicas'), { field: 'spec.versions[0].subresources.scale.specReplicasPath', reason: 'FieldValueInvalid', message: 'Invalid value: ".replicas": should be a json path under .spec' }],
  ])('%s', (_name, mutate, expected) => {
    const crd = good();
    mutate(crd);
    expect(validateCrd(crd)).toContainEqual(expect.objectContaining(expected));
  });

  it('allows untyped nodes under preserve-unknown-fields or int-or-string', () => {
    const crd = good();
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties = {
      a: { 'x-kubernetes-preserve-unknown-fields': true },
      b: { 'x-kubernetes-int-or-string': true },
    } as never;
    expect(validateCrd(crd)).toEqual([]);
  });
});
