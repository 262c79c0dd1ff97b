/**
 * Custom resource schemas (apiextensions.k8s.io/v1 `openAPIV3Schema`): the write pipeline for
 * custom resources — unknown fields → prune → defaults → validate — as the
 * apiextensions-apiserver runs it. Everything here is pure; callers turn causes into errors.
 */
import { Ajv, type ErrorObject, type SchemaValidateFunction, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { isIP } from 'node:net';
import { cause, renderValue, type StatusCause } from './errors.js';

export interface JSONSchemaProps {
  type?: string;
  format?: string;
  properties?: Record<string, JSONSchemaProps>;
  items?: JSONSchemaProps;
  additionalProperties?: boolean | JSONSchemaProps;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  [k: string]: unknown;
}

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const asObj = (v: unknown): Obj => (isObj(v) ? v : {});
export const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);
const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v));

// ---------------------------------------------------------------------------------------------
// Compiled schema: unknown fields, pruning, defaulting, validation
// ---------------------------------------------------------------------------------------------

export interface CompiledSchema {
  readonly kind: string;
  readonly group: string;
  /** Dotted paths (`spec.items[0].foo`) of fields the schema does not know, for fieldValidation. */
  unknownFields(obj: unknown): string[];
  /** A copy without unknown fields; root apiVersion/kind/metadata always stay. */
  prune<T>(obj: T): T;
  /** A copy with structural defaults applied. */
  applyDefaults<T>(obj: T): T;
  /** prune then applyDefaults on an object the caller owns, without copying it. */
  pruneAndDefaultInPlace(obj: unknown): void;
  /** Schema violations as 422 causes; metadata is validated elsewhere. */
  validate(obj: unknown): StatusCause[];
}

/** `openAPIV3Schema` is taken as any object: CRDs arrive as plain JSON. */
export function compileSchema(openAPIV3Schema: object, { kind, group }: { kind: string; group: string }): CompiledSchema {
  const schema = openAPIV3Schema as JSONSchemaProps;
  const key = JSON.stringify(schema);
  const unknown = (obj: unknown, on: (parent: Obj, k: string, path: string) => void) => walkUnknown(schema, obj, '', true, on);
  return {
    kind,
    group,
    unknownFields(obj) {
      const out: string[] = [];
      unknown(obj, (_p, _k, path) => out.push(path));
      return out;
    },
    prune(obj) {
      const copy = clone(obj);
      unknown(copy, (parent, k) => delete parent[k]);
      return copy;
    },
    applyDefaults(obj) {
      const copy = clone(obj);
      applyDefaultsInPlace(copy, schema);
      return copy;
    },
    pruneAndDefaultInPlace(obj) {
      unknown(obj, (parent, k) => delete parent[k]);
      applyDefaultsInPlace(obj, schema);
    },
    validate(obj) {
      const fn = compiled(key, schema);
      if (fn(obj)) return [];
      // allErrors reports e.g. one `required` per anyOf branch; the apiserver lists each once.
      const causes = (fn.errors ?? []).map((e) => toCause(e, obj));
      return [...new Map(causes.map((c) => [`${c.reason}\0${c.field}\0${c.message}`, c])).values()];
    },
  };
}

const RESOURCE_FIELDS = new Set(['apiVersion', 'kind', 'metadata']);

/** Mirrors apiextensions' prune.go: the callback gets each field the schema does not allow. */
function walkUnknown(
  s: JSONSchemaProps | undefined,
  v: unknown,
  path: string,
  isResource: boolean,
  on: (parent: Obj, key: string, path: string) => void,
): void {
  if (!s || v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    const items = isObj(s.items) ? s.items : undefined;
    v.forEach((x, i) => walkUnknown(items, x, `${path}[${i}]`, items?.['x-kubernetes-embedded-resource'] === true, on));
    return;
  }
  const obj = v as Obj;
  const open = s['x-kubernetes-preserve-unknown-fields'] === true || s.additionalProperties === true;
  const extra = isObj(s.additionalProperties) ? (s.additionalProperties as JSONSchemaProps) : undefined;
  for (const key of Object.keys(obj)) {
    // ObjectMeta of the root and of embedded resources is handled by the metadata code, not the schema.
    if (isResource && RESOURCE_FIELDS.has(key)) continue;
    const prop = s.properties && Object.hasOwn(s.properties, key) ? s.properties[key] : extra;
    const p = join(path, key);
    if (prop) walkUnknown(prop, obj[key], p, prop['x-kubernetes-embedded-resource'] === true, on);
    else if (!open) on(obj, key, p);
  }
}

const nullReplaced = (v: unknown, s: JSONSchemaProps) => v === null && s.default !== undefined && s.nullable !== true;

/** structuraldefaulting.Default: absent (or non-nullable null) fields get their default, then recurse. */
function applyDefaultsInPlace(v: unknown, s: JSONSchemaProps | undefined): void {
  if (!s || v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    const items = isObj(s.items) ? s.items : undefined;
    if (!items) return;
    v.forEach((x, i) => {
      if (nullReplaced(x, items)) v[i] = clone(items.default);
      applyDefaultsInPlace(v[i], items);
    });
    return;
  }
  const obj = v as Obj;
  for (const [k, p] of Object.entries(s.properties ?? {})) {
    if (p.default !== undefined && (!Object.hasOwn(obj, k) || nullReplaced(obj[k], p))) obj[k] = clone(p.default);
  }
  const extra = isObj(s.additionalProperties) ? (s.additionalProperties as JSONSchemaProps) : undefined;
  for (const k of Object.keys(obj)) {
    const p = s.properties && Object.hasOwn(s.properties, k) ? s.properties[k] : extra;
    if (!p) continue;
    if (p === extra && nullReplaced(obj[k], p)) obj[k] = clone(p.default);
    applyDefaultsInPlace(obj[k], p);
  }
}

// --- ajv -------------------------------------------------------------------------------------

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module.
const addFormats = addFormatsModule.default;

const listMapKeys: SchemaValidateFunction = (keys: string[], data: unknown) => {
  const errors: Partial<ErrorObject>[] = [];
  const seen = new Set<string>();
  if (Array.isArray(data)) {
    data.forEach((item, index) => {
      if (!isObj(item)) return;
      const key = Object.fromEntries(keys.map((k) => [k, item[k] ?? null]));
      const id = JSON.stringify(key);
      if (seen.has(id)) errors.push({ keyword: 'x-kubernetes-list-map-keys', message: 'duplicate', params: { index, key } });
      seen.add(id);
    });
  }
  listMapKeys.errors = errors;
  return errors.length === 0;
};

// No `u` flag on patterns: Go's RE2 accepts escapes like `\_` that unicode-mode RegExp rejects.
const ajv = new Ajv({ allErrors: true, strict: false, logger: false, unicodeRegExp: false });
// Only formats the apiserver also checks; any other `format` is dropped, as kube-openapi ignores it.
addFormats(ajv, ['date', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid', 'byte', 'password']);
// strfmt's date-time accepts a missing zone and a space separator; ajv-formats would not.
const dateTime = /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]\d\d:?\d\d)?$/;
ajv.addFormat('date-time', dateTime);
ajv.addFormat('datetime', dateTime);
// strfmt durations are Go-style ("30s", "1h30m"), not ISO 8601 as in ajv-formats.
ajv.addFormat('duration', /^[+-]?(\d+(\.\d+)?\s*(ns|us|µs|ms|s|m|h|d|w)\s*)+$/);
ajv.addFormat('cidr', (v: string) => {
  const [ip, bits, rest] = v.split('/');
  const max = isIP(ip) === 4 ? 32 : isIP(ip) === 6 ? 128 : -1;
  return rest === undefined && /^\d{1,3}$/.test(bits ?? '') && Number(bits) <= max;
});
ajv.addFormat('mac', /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/);
ajv.addKeyword({ keyword: 'x-kubernetes-list-map-keys', type: 'array', schemaType: 'array', errors: true, validate: listMapKeys });

const DROPPED = new Set(['nullable', 'default', 'example', 'externalDocs', 'description', 'title', 'exclusiveMinimum', 'exclusiveMaximum']);
const onlyTypes = (branches: unknown) =>
  Array.isArray(branches) && branches.every((b) => isObj(b) && Object.keys(b).every((k) => k === 'type'));

/** OpenAPI v3.0 + k8s extensions → the JSON Schema dialect ajv validates. */
function toAjvSchema(s: JSONSchemaProps, root = false): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(s)) {
    if (DROPPED.has(k) || k.startsWith('x-kubernetes-')) continue;
    if (k === 'properties' && isObj(v)) {
      out.properties = Object.fromEntries(Object.entries(v).map(([name, p]) => [name, toAjvSchema(p as JSONSchemaProps)]));
    } else if ((k === 'items' || k === 'additionalProperties' || k === 'not') && isObj(v)) out[k] = toAjvSchema(v);
    else if ((k === 'allOf' || k === 'anyOf' || k === 'oneOf') && Array.isArray(v)) out[k] = v.map((b) => toAjvSchema(b));
    else if (k === 'format') {
      if (typeof v === 'string' && ajv.formats[v]) out.format = v;
    } else out[k] = v;
  }
  // OpenAPI 3.0 booleans become JSON Schema's numeric bounds.
  for (const [ex, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (s[ex] === true && typeof s[bound] === 'number') {
      out[ex] = s[bound];
      delete out[bound];
    }
  }
  if (s['x-kubernetes-int-or-string'] === true) {
    out.type = ['integer', 'string'];
    if (onlyTypes(out.anyOf)) delete out.anyOf; // kubebuilder's anyOf says the same, with noisier errors
  }
  if (s.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (Array.isArray(out.type)) out.type = [...out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  if (s['x-kubernetes-embedded-resource'] === true) {
    out.required = [...new Set([...(s.required ?? []), 'apiVersion', 'kind'])];
  }
  if (s['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;
  if (s['x-kubernetes-list-type'] === 'map' && Array.isArray(s['x-kubernetes-list-map-keys'])) {
    out['x-kubernetes-list-map-keys'] = s['x-kubernetes-list-map-keys'];
  }
  if (root && isObj(out.properties)) {
    // metadata is ObjectMeta whatever the CRD says; it is validated by the generic metadata code.
    const { metadata: _metadata, ...rest } = out.properties;
    out.properties = rest;
    if (Array.isArray(out.required)) out.required = out.required.filter((r) => r !== 'metadata');
  }
  return out;
}

// ajv compiles to generated code: slow to build, fast to run. Keyed by the schema JSON so that
// re-reading an unchanged CRD reuses it; bounded so CRD churn cannot grow it without end.
const CACHE_LIMIT = 256;
const cache = new Map<string, ValidateFunction>();

function compiled(key: string, schema: JSONSchemaProps): ValidateFunction {
  let fn = cache.get(key);
  if (fn) {
    cache.delete(key);
  } else {
    fn = ajv.compile(toAjvSchema(schema, true));
    if (cache.size >= CACHE_LIMIT) {
      const [oldestKey, oldest] = cache.entries().next().value as [string, ValidateFunction];
      cache.delete(oldestKey);
      ajv.removeSchema(oldest.schema);
    }
  }
  cache.set(key, fn);
  return fn;
}

export function compileError(schema: JSONSchemaProps): string | undefined {
  try {
    compiled(JSON.stringify(schema), schema);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Resolves an ajv instancePath against the data: `spec.items[0].name` and the value there. */
function locate(data: unknown, pointer: string): { field: string; value: unknown } {
  let field = '';
  let value = data;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    field = Array.isArray(value) ? `${field}[${seg}]` : join(field, seg);
    value = isObj(value) || Array.isArray(value) ? (value as Obj)[seg] : undefined;
  }
  return { field, value };
}

const jsonType = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;

/** kube-openapi's wording for the checks the apiserver reports as `FieldValueInvalid`. */
const INVALID_DETAIL: Record<string, (p: Record<string, unknown>) => string> = {
  maximum: (p) => `should be less than or equal to ${p.limit}`,
  minimum: (p) => `should be greater than or equal to ${p.limit}`,
  exclusiveMaximum: (p) => `should be less than ${p.limit}`,
  exclusiveMinimum: (p) => `should be greater than ${p.limit}`,
  multipleOf: (p) => `should be a multiple of ${p.multipleOf}`,
  pattern: (p) => `should match '${p.pattern}'`,
  minLength: (p) => `should be at least ${p.limit} chars long`,
  minItems: (p) => `should have at least ${p.limit} items`,
  minProperties: (p) => `should have at least ${p.limit} properties`,
  anyOf: () => 'must validate at least one schema (anyOf)',
  oneOf: () => 'must validate one and only one schema (oneOf)',
  not: () => 'must not validate the schema (not)',
};

/** ajv error → the cause kube-openapi + apiextensions would report, worded the same way. */
function toCause(e: ErrorObject, data: unknown): StatusCause {
  const { field, value } = locate(data, e.instancePath);
  const p = e.params as Record<string, unknown>;
  const inBody = `${field || '<root>'} in body`;
  const invalid = (detail: string) => cause.invalid(field, value, `${inBody} ${detail}`);
  const count = Array.isArray(value) ? value.length : isObj(value) ? Object.keys(value).length : 0;
  switch (e.keyword) {
    case 'required':
      return cause.required(join(field, String(p.missingProperty)));
    case 'enum':
      return cause.notSupported(field, value, (p.allowedValues as unknown[]).filter((a) => a !== null));
    case 'type': {
      const types = String(p.type).split(',').filter((t) => t !== 'null').join(',');
      return cause.typeInvalid(field, jsonType(value), `${inBody} must be of type ${types}: "${jsonType(value)}"`);
    }
    case 'format':
      return cause.typeInvalid(field, value, `${inBody} must be of type ${p.format}: ${renderValue(value)}`);
    case 'maxLength':
      return { reason: 'FieldValueTooLong', message: `Too long: may not be more than ${p.limit} bytes`, field };
    case 'maxItems':
    case 'maxProperties':
      return { reason: 'FieldValueTooMany', message: `Too many: ${count}: must have at most ${p.limit} items`, field };
    case 'uniqueItems': {
      const index = Math.max(Number(p.i), Number(p.j));
      const item = Array.isArray(value) ? value[index] : undefined;
      return { reason: 'FieldValueDuplicate', message: `Duplicate value: ${renderValue(item)}`, field: `${field}[${index}]` };
    }
    case 'x-kubernetes-list-map-keys':
      return { reason: 'FieldValueDuplicate', message: `Duplicate value: ${renderValue(p.key)}`, field: `${field}[${p.index}]` };
    default: {
      const detail = INVALID_DETAIL[e.keyword];
      return invalid(detail ? detail(p) : (e.message ?? `failed ${e.keyword}`));
    }
  }
}
