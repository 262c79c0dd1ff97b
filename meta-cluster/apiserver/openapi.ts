/**
 * OpenAPI documents as kube-apiserver serves them, shaped for what kubectl reads:
 *  - `--validate=strict` (the default) looks for the kind's PATCH operation, tagged with an
 *    `x-kubernetes-group-version-kind` object, and checks it lists a `fieldValidation` query
 *    parameter; without it kubectl falls back to client-side validation against these schemas.
 *  - `kubectl explain` looks for a `components.schemas` entry whose
 *    `x-kubernetes-group-version-kind` (an array there) names the kind.
 * Documents are built with sorted keys so that the same input always hashes the same.
 */
import { createHash } from 'node:crypto';
import {
  builtinComponents,
  builtinOpenApiSchema,
  definitionNameOfBuiltin,
  LIST_META,
  OBJECT_META,
  type OpenApiSchema,
} from './builtin-schema.js';
import type { ResourceInfo } from './types.js';

export interface OpenApiResource {
  info: ResourceInfo;
  /** Built-in: the kind's schema (see {@link builtinOpenApiResource}); custom: the version's openAPIV3Schema. */
  schema: object;
  /** Definitions `schema` refers to. Optional: built-in `$ref`s left unresolved are filled in. */
  components?: Record<string, object>;
}

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export type OpenApiDocument = Record<string, unknown>;

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const STATUS = `${META}.Status`;
const DELETE_OPTIONS = `${META}.DeleteOptions`;
const PATCH = `${META}.Patch`;
const SCALE = 'io.k8s.api.autoscaling.v1.Scale';
const SCALE_GVK: GroupVersionKind = { group: 'autoscaling', version: 'v1', kind: 'Scale' };

/** `v1` → `api/v1`, `apps/v1` → `apis/apps/v1`: the index keys and URL suffixes. */
export const openApiPath = (gv: string): string => (gv.includes('/') ? `apis/${gv}` : `api/${gv}`);

export function openApiIndex(
  groupVersions: string[],
  hashOf: (gv: string) => string,
): { paths: Record<string, { serverRelativeURL: string }> } {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of [...groupVersions].sort()) {
    paths[openApiPath(gv)] = { serverRelativeURL: `/openapi/v3/${openApiPath(gv)}?hash=${hashOf(gv)}` };
  }
  return { paths };
}

/** Definition name of a kind: `io.k8s.api.apps.v1.Deployment`, or `dev.kok.fleet.v1alpha1.Cluster` for a CRD. */
export function definitionNameOf(info: Pick<ResourceInfo, 'group' | 'version' | 'kind' | 'custom'>): string {
  if (!info.custom) return definitionNameOfBuiltin(info.group, info.version, info.kind);
  return `${info.group.split('.').reverse().join('.')}.${info.version}.${info.kind}`;
}

/** The document entry for a built-in kind, from its client-node model (`V1Deployment`). */
export function builtinOpenApiResource(info: ResourceInfo, model: string): OpenApiResource {
  const { schema, components } = builtinOpenApiSchema(model);
  return { info, schema, components };
}

const ref = (name: string): OpenApiSchema => ({ $ref: `#/components/schemas/${name}` });

export function openApiDocument(gv: string, resources: OpenApiResource[]): OpenApiDocument {
  const schemas: Record<string, OpenApiSchema> = {};
  const paths: Record<string, OpenApiSchema> = {};
  const add = (defs: Record<string, object> | undefined) => {
    for (const [name, def] of Object.entries(defs ?? {})) if (!Object.hasOwn(schemas, name)) schemas[name] = structuredClone(def) as OpenApiSchema;
  };
  schemas[PATCH] = { type: 'object', description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.' };
  add(builtinComponents(STATUS));
  add(builtinComponents(DELETE_OPTIONS));
  add(builtinComponents(LIST_META));

  for (const { info, schema, components } of resources) {
    const name = definitionNameOf(info);
    const gvk: GroupVersionKind = { group: info.group, version: info.version, kind: info.kind };
    const kindSchema = info.custom ? customKindSchema(schema) : (structuredClone(schema) as OpenApiSchema);
    schemas[name] = { ...kindSchema, 'x-kubernetes-group-version-kind': [gvk] };
    add(components);
    const listName = name.slice(0, name.lastIndexOf('.') + 1) + info.listKind;
    schemas[listName] = listSchema(name, { ...gvk, kind: info.listKind });
    if (info.scale) {
      add(builtinComponents(SCALE));
      schemas[SCALE] = { ...schemas[SCALE], 'x-kubernetes-group-version-kind': [SCALE_GVK] };
    }
    Object.assign(paths, resourcePaths(info, name, listName));
  }
  completeRefs(schemas);

  return sortKeys({
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'unversioned' },
    paths,
    components: {
      schemas,
      securitySchemes: {
        BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' },
      },
    },
    security: [{ BearerToken: [] }],
  }) as OpenApiDocument;
}

/** A CRD schema as the apiextensions-apiserver publishes it: with the fields every object has. */
function customKindSchema(openAPIV3Schema: object): OpenApiSchema {
  const s = structuredClone(openAPIV3Schema) as OpenApiSchema;
  const properties = { ...((s.properties as OpenApiSchema | undefined) ?? {}) };
  properties.apiVersion = {
    type: 'string',
    description:
      'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.',
  };
  properties.kind = {
    type: 'string',
    description:
      'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase.',
  };
  properties.metadata = ref(OBJECT_META);
  return { ...s, type: 'object', properties };
}

function listSchema(itemName: string, gvk: GroupVersionKind): OpenApiSchema {
  return {
    type: 'object',
    required: ['items'],
    properties: {
      apiVersion: { type: 'string' },
      items: { type: 'array', items: ref(itemName) },
      kind: { type: 'string' },
      metadata: ref(LIST_META),
    },
    'x-kubernetes-group-version-kind': [gvk],
  };
}

/** Adds the built-in definitions that `$ref`s name but the document lacks (ObjectMeta for CRDs...). */
function completeRefs(schemas: Record<string, OpenApiSchema>): void {
  for (;;) {
    const missing = [...JSON.stringify(schemas).matchAll(/"#\/components\/schemas\/([^"]+)"/g)]
      .map((m) => m[1])
      .filter((name) => !Object.hasOwn(schemas, name));
    const found = missing.map((name) => builtinComponents(name)).filter((c) => c !== undefined);
    if (found.length === 0) return;
    for (const defs of found) {
      for (const [name, def] of Object.entries(defs)) if (!Object.hasOwn(schemas, name)) schemas[name] = structuredClone(def);
    }
  }
}

// --- paths -----------------------------------------------------------------------------------

const param = (name: string, type: string, description: string, extra: OpenApiSchema = {}) => ({
  name,
  in: 'query',
  description,
  schema: { type, uniqueItems: true },
  ...extra,
});
const PRETTY = param('pretty', 'string', "If 'true', then the output is pretty printed.");
const NAME = { name: 'name', in: 'path', description: 'name of the object', required: true, schema: { type: 'string', uniqueItems: true } };
const NAMESPACE = { ...NAME, name: 'namespace', description: 'object name and auth scope, such as for teams and projects' };
const DRY_RUN = param('dryRun', 'string', 'When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed');
const FIELD_MANAGER = param('fieldManager', 'string', 'fieldManager is a name associated with the actor or entity that is making these changes.');
const FIELD_VALIDATION = param(
  'fieldValidation',
  'string',
  'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict',
);
const FORCE = param('force', 'boolean', 'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by other people.');
const WRITE = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
const LIST = [
  param('allowWatchBookmarks', 'boolean', 'allowWatchBookmarks requests watch events with type "BOOKMARK".'),
  param('continue', 'string', 'The continue option should be set when retrieving more results from the server.'),
  param('fieldSelector', 'string', 'A selector to restrict the list of returned objects by their fields.'),
  param('labelSelector', 'string', 'A selector to restrict the list of returned objects by their labels.'),
  param('limit', 'integer', 'limit is a maximum number of responses to return for a list call.'),
  param('resourceVersion', 'string', 'resourceVersion sets a constraint on what resource versions a request may be served from.'),
  param('resourceVersionMatch', 'string', 'resourceVersionMatch determines how resourceVersion is applied to list calls.'),
  param('sendInitialEvents', 'boolean', 'sendInitialEvents=true may be set together with watch=true.'),
  param('timeoutSeconds', 'integer', 'Timeout for the list/watch call.'),
  param('watch', 'boolean', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.'),
];
const DELETE = [
  DRY_RUN,
  param('gracePeriodSeconds', 'integer', 'The duration in seconds before the object should be deleted.'),
  param('propagationPolicy', 'string', "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
];

const content = (schema: OpenApiSchema, types = ['application/json', 'application/yaml']) =>
  Object.fromEntries(types.map((t) => [t, { schema }]));
const respond = (code: string, name: string) => ({ [code]: { description: code === '201' ? 'Created' : 'OK', content: content(ref(name)) } });

/** `apps` → `Apps`, `rbac.authorization.k8s.io` → `RbacAuthorization`, `` → `Core`, as in operationIds. */
function groupWord(group: string): string {
  if (!group) return 'Core';
  return group
    .replace(/\.k8s\.io$/, '')
    .split(/[.-]/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

function resourcePaths(info: ResourceInfo, defName: string, listName: string): Record<string, OpenApiSchema> {
  const verbs = new Set(info.verbs);
  const gvk: GroupVersionKind = { group: info.group, version: info.version, kind: info.kind };
  const prefix = `/${openApiPath(info.group ? `${info.group}/${info.version}` : info.version)}`;
  const gv = `${groupWord(info.group)}${info.version.charAt(0).toUpperCase()}${info.version.slice(1)}`;
  const tag = `${groupWord(info.group).charAt(0).toLowerCase()}${groupWord(info.group).slice(1)}_${info.version}`;
  const scope = info.namespaced ? 'Namespaced' : '';
  const collection = `${prefix}/${info.namespaced ? 'namespaces/{namespace}/' : ''}${info.plural}`;
  const scoped = info.namespaced ? [NAMESPACE] : [];

  const op = (action: string, operationId: string, parameters: object[], responses: object, opGvk = gvk, requestBody?: object) => ({
    operationId,
    tags: [tag],
    description: `${action} ${info.kind}`,
    parameters,
    ...(requestBody ? { requestBody } : {}),
    responses: { ...responses, '401': { description: 'Unauthorized' } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': opGvk,
  });
  const body = (name: string) => ({ required: true, content: content(ref(name)) });
  const patchTypes = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'];
  if (!info.custom) patchTypes.push('application/strategic-merge-patch+json');
  const patchBody = { required: true, content: content(ref(PATCH), patchTypes) };

  /** get/put/patch on an object or one of its subresources. */
  const itemOps = (suffix: string, name: string, opGvk: GroupVersionKind) => {
    const id = (verb: string) => `${verb}${gv}${scope}${info.kind}${suffix}`;
    const item: OpenApiSchema = { parameters: [NAME, ...scoped, PRETTY] };
    if (verbs.has('get')) item.get = op('get', id('read'), [], respond('200', name), opGvk);
    if (verbs.has('update')) item.put = op('put', id('replace'), WRITE, { ...respond('200', name), ...respond('201', name) }, opGvk, body(name));
    if (verbs.has('patch')) item.patch = op('patch', id('patch'), [...WRITE, FORCE], { ...respond('200', name), ...respond('201', name) }, opGvk, patchBody);
    return item;
  };

  const paths: Record<string, OpenApiSchema> = {};
  const coll: OpenApiSchema = { parameters: [...scoped, PRETTY] };
  if (verbs.has('list')) coll.get = op('list', `list${gv}${scope}${info.kind}`, LIST, respond('200', listName));
  if (verbs.has('create')) coll.post = op('post', `create${gv}${scope}${info.kind}`, WRITE, { ...respond('200', defName), ...respond('201', defName) }, gvk, body(defName));
  if (verbs.has('deletecollection')) {
    coll.delete = op('deletecollection', `deleteCollection${gv}${scope}${info.kind}`, [...DELETE, ...LIST], respond('200', STATUS), gvk, body(DELETE_OPTIONS));
  }
  paths[collection] = coll;

  const item = itemOps('', defName, gvk);
  if (verbs.has('delete')) item.delete = op('delete', `delete${gv}${scope}${info.kind}`, DELETE, respond('200', STATUS), gvk, body(DELETE_OPTIONS));
  paths[`${collection}/{name}`] = item;
  if (info.status) paths[`${collection}/{name}/status`] = itemOps('Status', defName, gvk);
  if (info.scale) paths[`${collection}/{name}/scale`] = itemOps('Scale', SCALE, SCALE_GVK);
  if (info.namespaced && verbs.has('list')) {
    paths[`${prefix}/${info.plural}`] = {
      parameters: [PRETTY],
      get: op('list', `list${gv}${info.kind}ForAllNamespaces`, LIST, respond('200', listName)),
    };
  }
  return paths;
}

// --- serialisation ---------------------------------------------------------------------------

/** A deep copy with object keys sorted; arrays keep their order (it can matter, e.g. `required`). */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
  return out;
}

/** The bytes to serve for a document: canonical, so they match {@link hashDocument}. */
export const serializeDocument = (doc: unknown): string => JSON.stringify(sortKeys(doc));

/** Upper-case hex SHA-512 of the canonical JSON (128 characters), as kube-apiserver's `?hash=`. */
export function hashDocument(doc: unknown): string {
  return createHash('sha512').update(serializeDocument(doc)).digest('hex').toUpperCase();
}

/**
 * kubectl 1.27/1.28 also fetch `/openapi/v2` as protobuf. A document holding only
 * `swagger: "2.0"` (field 1, length 3) is enough for them to carry on.
 */
export function openApiV2Minimal(): Buffer {
  return Buffer.from([0x0a, 0x03, 0x32, 0x2e, 0x30]);
}
