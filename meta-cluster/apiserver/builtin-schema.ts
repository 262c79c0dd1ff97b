/**
 * Fields of built-in kinds, read from @kubernetes/client-node's generated models (each class has
 * an `attributeTypeMap`). Used for `fieldValidation` on built-ins and to render their OpenAPI v3
 * schemas: the models are generated from the same OpenAPI the real apiserver serves, so they are
 * the closest thing to the Go types we have without vendoring a 4 MB spec.
 */
import * as clientNode from '@kubernetes/client-node';

interface Attribute {
  name: string;
  baseName: string; // the JSON name
  type: string;
  format: string;
}

export type OpenApiSchema = Record<string, unknown>;

const models = clientNode as unknown as Record<string, { attributeTypeMap?: Attribute[] } | undefined>;
const attributeCache = new Map<string, Map<string, Attribute>>();

/** JSON name → attribute of a client-node model; undefined when there is no such model. */
function attributesOf(model: string): Map<string, Attribute> | undefined {
  let attrs = attributeCache.get(model);
  if (!attrs) {
    const list = Object.hasOwn(models, model) ? models[model]?.attributeTypeMap : undefined;
    if (!Array.isArray(list)) return undefined;
    attrs = new Map(list.map((a) => [a.baseName, a]));
    attributeCache.set(model, attrs);
  }
  return attrs;
}

type ParsedType =
  | { kind: 'array'; of: string }
  | { kind: 'map'; of: string }
  | { kind: 'model'; name: string }
  | { kind: 'scalar'; name: string };

/** Parsed once per type string: every create and update of a built-in walks these. */
const parsedTypes = new Map<string, ParsedType>();

function parseType(type: string): ParsedType {
  let parsed = parsedTypes.get(type);
  if (!parsed) parsedTypes.set(type, (parsed = parseTypeText(type)));
  return parsed;
}

function parseTypeText(type: string): ParsedType {
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return { kind: 'array', of: array[1] };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return { kind: 'map', of: map[1] };
  if (attributesOf(type)) return { kind: 'model', name: type };
  return { kind: 'scalar', name: type };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/**
 * Dotted paths (`spec.template.spec.containers[0].imagee`) of fields a built-in kind does not
 * have. Maps of scalars and `any`-typed fields (RawExtension, JSON, fieldsV1) are open.
 */
export function unknownBuiltinFields(modelName: string, obj: unknown): string[] {
  if (!attributesOf(modelName)) throw new Error(`unknownBuiltinFields: no client-node model named ${modelName}`);
  const out: string[] = [];
  walk(modelName, obj, '', out);
  return out;
}

/** Whether a value of this type can hold fields of a model (scalars, and lists and maps of them, cannot). */
const fieldsCache = new Map<string, boolean>();
function hasFields(type: string): boolean {
  let fields = fieldsCache.get(type);
  if (fields === undefined) {
    const t = parseType(type);
    fields = t.kind === 'model' || (t.kind !== 'scalar' && hasFields(t.of));
    fieldsCache.set(type, fields);
  }
  return fields;
}

/**
 * Paths are only built where they are needed: `data`, `labels`, `annotations` and every other
 * scalar or map of scalars cannot hold an unknown field and is not entered.
 */
function walk(type: string, value: unknown, path: string, out: string[]): void {
  const t = parseType(type);
  if (t.kind === 'array') {
    if (Array.isArray(value) && hasFields(t.of)) value.forEach((v, i) => walk(t.of, v, `${path}[${i}]`, out));
  } else if (t.kind === 'map') {
    // Map values can be models (JSONSchemaProps.properties), so they are walked too.
    if (isObj(value) && hasFields(t.of)) for (const k of Object.keys(value)) walk(t.of, value[k], join(path, k), out);
  } else if (t.kind === 'model' && isObj(value)) {
    const attrs = attributesOf(t.name)!;
    for (const k of Object.keys(value)) {
      const attr = attrs.get(k);
      if (!attr) out.push(join(path, k));
      else if (hasFields(attr.type)) walk(attr.type, value[k], join(path, k), out);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Definition names: client-node drops the Go package, the OpenAPI documents need it back.
// ---------------------------------------------------------------------------------------------

const META = 'io.k8s.apimachinery.pkg.apis.meta';
const APIEXTENSIONS = 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions';

/** Kinds by package for the groups we serve; any other unprefixed V1 model is core/v1. */
const PACKAGE_KINDS: Record<string, string[]> = {
  'io.k8s.api.apps': [
    'ControllerRevision', 'ControllerRevisionList', 'DaemonSet', 'DaemonSetCondition', 'DaemonSetList', 'DaemonSetSpec',
    'DaemonSetStatus', 'DaemonSetUpdateStrategy', 'Deployment', 'DeploymentCondition', 'DeploymentList', 'DeploymentSpec',
    'DeploymentStatus', 'DeploymentStrategy', 'ReplicaSet', 'ReplicaSetCondition', 'ReplicaSetList', 'ReplicaSetSpec',
    'ReplicaSetStatus', 'RollingUpdateDaemonSet', 'RollingUpdateDeployment', 'RollingUpdateStatefulSetStrategy',
    'StatefulSet', 'StatefulSetCondition', 'StatefulSetList', 'StatefulSetOrdinals',
    'StatefulSetPersistentVolumeClaimRetentionPolicy', 'StatefulSetSpec', 'StatefulSetStatus', 'StatefulSetUpdateStrategy',
  ],
  'io.k8s.api.coordination': ['Lease', 'LeaseList', 'LeaseSpec'],
  'io.k8s.api.networking': [
    'HTTPIngressPath', 'HTTPIngressRuleValue', 'IPAddress', 'IPAddressList', 'IPAddressSpec', 'IPBlock', 'Ingress',
    'IngressBackend', 'IngressClass', 'IngressClassList', 'IngressClassParametersReference', 'IngressClassSpec',
    'IngressList', 'IngressLoadBalancerIngress', 'IngressLoadBalancerStatus', 'IngressPortStatus', 'IngressRule',
    'IngressServiceBackend', 'IngressSpec', 'IngressStatus', 'IngressTLS', 'NetworkPolicy', 'NetworkPolicyEgressRule',
    'NetworkPolicyIngressRule', 'NetworkPolicyList', 'NetworkPolicyPeer', 'NetworkPolicyPort', 'NetworkPolicySpec',
    'ParentReference', 'ServiceBackendPort', 'ServiceCIDR', 'ServiceCIDRList', 'ServiceCIDRSpec', 'ServiceCIDRStatus',
  ],
  'io.k8s.api.policy': ['Eviction', 'PodDisruptionBudget', 'PodDisruptionBudgetList', 'PodDisruptionBudgetSpec', 'PodDisruptionBudgetStatus'],
  'io.k8s.api.rbac': [
    'AggregationRule', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBindingList', 'ClusterRoleList', 'PolicyRule',
    'Role', 'RoleBinding', 'RoleBindingList', 'RoleList', 'RoleRef', 'Subject',
  ],
  'io.k8s.api.autoscaling': ['Scale', 'ScaleSpec', 'ScaleStatus'],
  [APIEXTENSIONS]: [
    'CustomResourceColumnDefinition', 'CustomResourceConversion', 'CustomResourceDefinition',
    'CustomResourceDefinitionCondition', 'CustomResourceDefinitionList', 'CustomResourceDefinitionNames',
    'CustomResourceDefinitionSpec', 'CustomResourceDefinitionStatus', 'CustomResourceDefinitionVersion',
    'CustomResourceSubresourceScale', 'CustomResourceSubresources', 'CustomResourceValidation', 'ExternalDocumentation',
    'JSONSchemaProps', 'SelectableField', 'ValidationRule', 'WebhookConversion',
  ],
  [META]: [
    'APIGroup', 'APIGroupList', 'APIResource', 'APIResourceList', 'APIVersions', 'Condition', 'DeleteOptions',
    'FieldSelectorRequirement', 'GroupVersionForDiscovery', 'LabelSelector', 'LabelSelectorRequirement', 'ListMeta',
    'ManagedFieldsEntry', 'ObjectMeta', 'OwnerReference', 'Preconditions', 'ServerAddressByClientCIDR', 'Status',
    'StatusCause', 'StatusDetails', 'WatchEvent',
  ],
};
const packageOfKind = new Map(Object.entries(PACKAGE_KINDS).flatMap(([pkg, kinds]) => kinds.map((k) => [k, pkg] as const)));

/** client-node prefixes kinds whose names collide across groups: `CoreV1Event`, `RbacV1Subject`. */
const PACKAGE_OF_PREFIX: Record<string, string> = {
  Apiextensions: APIEXTENSIONS,
  Apiregistration: 'io.k8s.kube-aggregator.pkg.apis.apiregistration',
};

/** `V1Deployment` → `io.k8s.api.apps.v1.Deployment`; `CoreV1Event` → `io.k8s.api.core.v1.Event`. */
export function definitionNameOfModel(modelName: string): string {
  const m = /^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z].*)$/.exec(modelName);
  if (!m) throw new Error(`definitionNameOfModel: ${modelName} is not a client-node model name`);
  const [, prefix, version, kind] = m;
  const pkg = prefix
    ? (PACKAGE_OF_PREFIX[prefix] ?? `io.k8s.api.${prefix.toLowerCase()}`)
    : (packageOfKind.get(kind) ?? 'io.k8s.api.core');
  return `${pkg}.${version.toLowerCase()}.${kind}`;
}

/** Definition name of a built-in kind by its group: `apps`, `v1`, `Deployment` → `io.k8s.api.apps.v1.Deployment`. */
export function definitionNameOfBuiltin(group: string, version: string, kind: string): string {
  if (group === 'apiextensions.k8s.io') return `${APIEXTENSIONS}.${version}.${kind}`;
  const pkg = group === '' ? 'core' : group.split('.')[0];
  return `io.k8s.api.${pkg}.${version}.${kind}`;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI v3 schemas
// ---------------------------------------------------------------------------------------------

export const OBJECT_META = `${META}.v1.ObjectMeta`;
export const LIST_META = `${META}.v1.ListMeta`;
const TIME = `${META}.v1.Time`;
const MICRO_TIME = `${META}.v1.MicroTime`;
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';

/** Types client-node flattens to primitives; kube-openapi serves them as named definitions. */
const SCALAR_DEFINITIONS: Record<string, OpenApiSchema> = {
  [TIME]: { type: 'string', format: 'date-time' },
  [MICRO_TIME]: { type: 'string', format: 'date-time' },
  [INT_OR_STRING]: { format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }] },
  [QUANTITY]: { oneOf: [{ type: 'string' }, { type: 'number' }] },
};

/** Fields client-node types as string but which are resource.Quantity (cpu: 1 is valid). */
const QUANTITY_FIELDS = new Set([
  'V1ContainerStatus.allocatedResources', 'V1EmptyDirVolumeSource.sizeLimit', 'V1LimitRangeItem.default',
  'V1LimitRangeItem.defaultRequest', 'V1LimitRangeItem.max', 'V1LimitRangeItem.maxLimitRequestRatio',
  'V1LimitRangeItem.min', 'V1NodeStatus.allocatable', 'V1NodeStatus.capacity',
  'V1PersistentVolumeClaimStatus.allocatedResources', 'V1PersistentVolumeClaimStatus.capacity',
  'V1PersistentVolumeSpec.capacity', 'V1ResourceFieldSelector.divisor', 'V1ResourceQuotaSpec.hard',
  'V1ResourceQuotaStatus.hard', 'V1ResourceQuotaStatus.used', 'V1ResourceRequirements.limits',
  'V1ResourceRequirements.requests', 'V1VolumeResourceRequirements.limits', 'V1VolumeResourceRequirements.requests',
]);

/**
 * The `patchStrategy`/`patchMergeKey` struct tags of k8s.io/api (the same lists patch.ts merges by
 * key), published as `x-kubernetes-patch-strategy`/`-merge-key`. kubectl ≥ 1.29 computes
 * `apply`'s strategic merge patch from these OpenAPI v3 extensions: without them every list is
 * atomic, so re-applying replaces whole container lists (dropping entries added out of band) and
 * an unchanged manifest is reported as "configured" instead of "unchanged".
 */
const byName = { strategy: 'merge', key: 'name' };
const byType = { strategy: 'merge', key: 'type' };
const containerLists = { ports: { strategy: 'merge', key: 'containerPort' }, env: byName, volumeMounts: { strategy: 'merge', key: 'mountPath' }, volumeDevices: { strategy: 'merge', key: 'devicePath' } };
const PATCH_META: Record<string, Record<string, { strategy: string; key?: string }>> = {
  V1ObjectMeta: { finalizers: { strategy: 'merge' }, ownerReferences: { strategy: 'merge', key: 'uid' } },
  V1PodSpec: {
    volumes: { strategy: 'merge,retainKeys', key: 'name' }, initContainers: byName, containers: byName, ephemeralContainers: byName,
    imagePullSecrets: byName, hostAliases: { strategy: 'merge', key: 'ip' }, topologySpreadConstraints: { strategy: 'merge', key: 'topologyKey' },
    schedulingGates: byName, resourceClaims: { strategy: 'merge,retainKeys', key: 'name' },
  },
  V1Container: containerLists,
  V1EphemeralContainer: containerLists,
  V1ServiceSpec: { ports: { strategy: 'merge', key: 'port' } },
  V1ServiceAccount: { secrets: byName },
  V1PodStatus: { conditions: byType, podIPs: { strategy: 'merge', key: 'ip' }, hostIPs: { strategy: 'merge', key: 'ip' } },
  V1NodeSpec: { podCIDRs: { strategy: 'merge' } },
  V1NodeStatus: { conditions: byType, addresses: byType },
  V1NamespaceStatus: { conditions: byType },
  V1ServiceStatus: { conditions: byType },
  V1DeploymentSpec: { strategy: { strategy: 'retainKeys' } },
  V1DeploymentStatus: { conditions: byType },
  V1ReplicaSetStatus: { conditions: byType },
  V1DaemonSetStatus: { conditions: byType },
  V1StatefulSetStatus: { conditions: byType },
  V1PodDisruptionBudgetStatus: { conditions: byType },
};

export interface BuiltinSchema {
  /** e.g. `io.k8s.api.apps.v1.Deployment` */
  definitionName: string;
  /** The kind's own schema; nested models are `$ref: '#/components/schemas/<name>'`. */
  schema: OpenApiSchema;
  /** Every definition the schema refers to, transitively, including itself. */
  components: Record<string, OpenApiSchema>;
}

const ref = (name: string): OpenApiSchema => ({ $ref: `#/components/schemas/${name}` });
const builtinCache = new Map<string, BuiltinSchema>();

/** The OpenAPI v3 schema of a client-node model. Cached: callers must copy before changing it. */
export function builtinOpenApiSchema(modelName: string): BuiltinSchema {
  let result = builtinCache.get(modelName);
  if (!result) {
    if (!attributesOf(modelName)) throw new Error(`builtinOpenApiSchema: no client-node model named ${modelName}`);
    const components: Record<string, OpenApiSchema> = {};
    const definitionName = collect(modelName, components);
    result = { definitionName, schema: components[definitionName], components };
    builtinCache.set(modelName, result);
  }
  return result;
}

/** Adds a model's definition (and those it reaches) to `components`; returns its name. */
function collect(model: string, components: Record<string, OpenApiSchema>): string {
  const name = definitionNameOfModel(model);
  if (Object.hasOwn(components, name)) return name;
  const properties: Record<string, OpenApiSchema> = {};
  const definition: OpenApiSchema = { type: 'object', properties };
  components[name] = definition; // registered before recursing: JSONSchemaProps refers to itself
  for (const attr of attributesOf(model)!.values()) {
    // Only the last `string` is the value type; the first of a map is its `[key: string]`.
    const quantity = QUANTITY_FIELDS.has(`${model}.${attr.baseName}`);
    const type = quantity ? attr.type.replace(/string(?!.*string)/, 'Quantity') : attr.type;
    properties[attr.baseName] = schemaOfType(type, attr.format, components);
    const patch = PATCH_META[model]?.[attr.baseName];
    if (patch) {
      properties[attr.baseName] = {
        ...properties[attr.baseName],
        ...(patch.key ? { 'x-kubernetes-patch-merge-key': patch.key } : {}),
        'x-kubernetes-patch-strategy': patch.strategy,
      };
    }
  }
  return name;
}

function schemaOfType(type: string, format: string, components: Record<string, OpenApiSchema>): OpenApiSchema {
  const t = parseType(type);
  if (t.kind === 'array') return { type: 'array', items: schemaOfType(t.of, format, components) };
  if (t.kind === 'map') return { type: 'object', additionalProperties: schemaOfType(t.of, format, components) };
  if (t.kind === 'model') return ref(collect(t.name, components));
  const named = (def: string) => {
    components[def] = SCALAR_DEFINITIONS[def];
    return ref(def);
  };
  switch (t.name) {
    case 'string':
      return format ? { type: 'string', format } : { type: 'string' };
    case 'number':
      return format === 'int32' || format === 'int64' ? { type: 'integer', format } : { type: 'number', format: format || 'double' };
    case 'boolean':
      return { type: 'boolean' };
    case 'Date':
      return named(TIME);
    case 'V1MicroTime':
      return named(MICRO_TIME);
    case 'IntOrString':
      return named(INT_OR_STRING);
    case 'Quantity':
      return named(QUANTITY);
    default:
      // `any`: RawExtension, JSON, FieldsV1 — free-form.
      return { 'x-kubernetes-preserve-unknown-fields': true };
  }
}

let modelByDefinition: Map<string, string> | undefined;

/**
 * The definitions a built-in definition name needs (itself and what it refers to), so a document
 * handed a bare `$ref` can complete itself; undefined for names that are not built-in.
 */
export function builtinComponents(definitionName: string): Record<string, OpenApiSchema> | undefined {
  if (Object.hasOwn(SCALAR_DEFINITIONS, definitionName)) return { [definitionName]: SCALAR_DEFINITIONS[definitionName] };
  if (!modelByDefinition) {
    modelByDefinition = new Map();
    for (const model of Object.keys(models)) {
      if (!/^([A-Z][a-z]+)?V\d/.test(model) || !attributesOf(model)) continue;
      const name = definitionNameOfModel(model);
      if (!modelByDefinition.has(name)) modelByDefinition.set(name, model);
    }
  }
  const model = modelByDefinition.get(definitionName);
  return model ? builtinOpenApiSchema(model).components : undefined;
}
