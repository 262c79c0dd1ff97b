/**
 * PATCH bodies as kube-apiserver applies them: RFC 6902 JSON patch, RFC 7386 merge patch and the
 * Kubernetes strategic merge patch. Pure functions: the input is never mutated, a new value is returned.
 */
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { ApiError, badRequest } from './errors.js';

export type JsonObject = Record<string, unknown>;

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (!isObject(a) || !isObject(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

/** Assigns without invoking setters, so a `__proto__` key in a body stays a plain (unknown) field. */
function put(o: JsonObject, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// Content types

export type PatchType =
  | 'application/json-patch+json'
  | 'application/merge-patch+json'
  | 'application/strategic-merge-patch+json'
  | 'application/apply-patch+yaml';

const BUILTIN_PATCH_TYPES: readonly PatchType[] = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

/**
 * The patch type of a PATCH request. Custom resources have no Go struct tags, so strategic merge is
 * not offered for them. `application/apply-patch+cbor` sits behind a feature gate that is off by
 * default upstream, so it is answered like any unknown type: 415.
 */
export function patchTypeOf(contentType: string | undefined, opts: { custom?: boolean } = {}): PatchType {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const accepted = opts.custom
    ? BUILTIN_PATCH_TYPES.filter((t) => t !== 'application/strategic-merge-patch+json')
    : BUILTIN_PATCH_TYPES;
  const found = accepted.find((t) => t === media);
  if (found) return found;
  throw new ApiError(
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Errors shaped like the apiserver's

/**
 * A well-formed patch that cannot be applied. kube-apiserver wraps such failures (a failed `test`,
 * a missing path) with NewGenericServerResponse(422), so clients see this fixed message and the
 * detail only in `details.causes`; kubectl prints "The request is invalid: the server rejected ...".
 */
function notApplicable(detail: string): ApiError {
  return new ApiError('Invalid', 'the server rejected our request due to an error in our request', {
    causes: [{ reason: 'UnexpectedServerResponse', message: detail }],
  });
}

/**
 * strategicpatch returns plain Go errors for some malformed patches (a missing merge key, an
 * unknown `$patch`); the apiserver renders those as 500s, which kubectl shows as "Error from server:".
 */
function untypedError(message: string): ApiError {
  return new ApiError('InternalError', message);
}

/** Go's `%v` rendering of decoded JSON, as it appears inside upstream error messages. */
function goFormat(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goFormat).join(' ')}]`;
  if (isObject(v))
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goFormat(v[k])}`)
      .join(' ')}]`;
  return v === null || v === undefined ? '<nil>' : String(v);
}

// ---------------------------------------------------------------------------------------------
// RFC 6902

const MAX_JSON_PATCH_OPERATIONS = 10000;

const goJsonType = (v: unknown): string =>
  Array.isArray(v) ? 'array' : typeof v === 'boolean' ? 'bool' : v === null ? 'null' : typeof v;

export function applyJsonPatch(target: unknown, ops: unknown): unknown {
  // Go decodes `null` into an empty patch, so it is a no-op rather than an error.
  if (ops === null) return structuredClone(target);
  // A body that does not decode as a list of operations is 400, as jsonpatch.DecodePatch fails.
  if (!Array.isArray(ops))
    throw badRequest(`json: cannot unmarshal ${goJsonType(ops)} into Go value of type jsonpatch.Patch`);
  for (const op of ops)
    if (!isObject(op))
      throw badRequest(`json: cannot unmarshal ${goJsonType(op)} into Go value of type map[string]*json.RawMessage`);
  if (ops.length > MAX_JSON_PATCH_OPERATIONS)
    throw new ApiError(
      'RequestEntityTooLarge',
      `The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${ops.length}`,
    );
  try {
    const doc = structuredClone(target);
    return jsonpatch.applyPatch(doc, structuredClone(ops) as Operation[], true, true, true).newDocument;
  } catch (e) {
    if (e instanceof jsonpatch.JsonPatchError) throw notApplicable(describeJsonPatchError(e));
    throw e;
  }
}

/** Details worded like evanphx/json-patch, the library kube-apiserver uses. */
function describeJsonPatchError(e: InstanceType<typeof jsonpatch.JsonPatchError>): string {
  const op = (isObject(e.operation) ? e.operation : {}) as { op?: unknown; path?: unknown; from?: unknown };
  switch (e.name) {
    case 'TEST_OPERATION_FAILED':
      return `testing value ${String(op.path)} failed: test failed`;
    case 'OPERATION_PATH_UNRESOLVABLE':
    case 'OPERATION_PATH_CANNOT_ADD':
      return `${String(op.op)} operation does not apply: doc is missing path: ${JSON.stringify(op.path)}: missing value`;
    case 'OPERATION_FROM_UNRESOLVABLE':
      return `${String(op.op)} operation does not apply: doc is missing from path: ${JSON.stringify(op.from)}: missing value`;
    case 'OPERATION_OP_INVALID':
      return `Unexpected kind: ${String(op.op)}`;
    default:
      return e.message.split('\n')[0]!;
  }
}

// ---------------------------------------------------------------------------------------------
// RFC 7386

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  // evanphx/json-patch answers ErrBadJSONPatch for a non-object patch; the handler makes it a 400.
  if (!isObject(patch)) throw badRequest('Invalid JSON Patch');
  return mergeInto(structuredClone(target), patch);
}

function mergeInto(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out = isObject(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else put(out, k, mergeInto(out[k], v));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge: which lists merge, and by what

/** How a list merges: items matched by a key field, or as a set of primitives. Unlisted lists are atomic. */
export type ListMerge = { readonly by: 'key'; readonly key: string } | { readonly by: 'set' };

interface ListRule {
  readonly merge: ListMerge;
  /** Field names of the object the list sits in (the path element before the list). */
  readonly parent?: readonly string[];
  /** The exact field path of the list. */
  readonly at?: readonly string[];
  readonly kinds?: readonly string[];
}

const byKey = (key: string): ListMerge => ({ by: 'key', key });
const SET: ListMerge = { by: 'set' };
const CONTAINERS = ['containers', 'initContainers', 'ephemeralContainers'];

/**
 * Mirrors the `patchStrategy:"merge"` + `patchMergeKey` struct tags of k8s.io/api (PodSpec, Container,
 * ServiceSpec, ObjectMeta, status types); server-side apply reuses it for its associative lists.
 * Every list not matched here is atomic: tolerations, args, command, envFrom, readinessGates, ...
 */
export const LIST_MERGE_RULES: Readonly<Record<string, readonly ListRule[]>> = {
  containers: [{ merge: byKey('name'), parent: ['spec'] }],
  initContainers: [{ merge: byKey('name'), parent: ['spec'] }],
  ephemeralContainers: [{ merge: byKey('name'), parent: ['spec'] }],
  env: [{ merge: byKey('name'), parent: CONTAINERS }],
  volumeMounts: [{ merge: byKey('mountPath'), parent: CONTAINERS }],
  volumeDevices: [{ merge: byKey('devicePath'), parent: CONTAINERS }],
  ports: [
    // ServicePort is keyed by `port`, ContainerPort by `containerPort`: same field name, other struct.
    { merge: byKey('port'), at: ['spec', 'ports'], kinds: ['Service'] },
    { merge: byKey('containerPort'), parent: CONTAINERS },
  ],
  volumes: [{ merge: byKey('name'), parent: ['spec'] }],
  imagePullSecrets: [{ merge: byKey('name'), parent: ['spec'] }],
  hostAliases: [{ merge: byKey('ip'), parent: ['spec'] }],
  topologySpreadConstraints: [{ merge: byKey('topologyKey'), parent: ['spec'] }],
  schedulingGates: [{ merge: byKey('name'), parent: ['spec'] }],
  resourceClaims: [{ merge: byKey('name'), parent: ['spec'] }],
  conditions: [{ merge: byKey('type'), parent: ['status'] }],
  podIPs: [{ merge: byKey('ip'), parent: ['status'] }],
  hostIPs: [{ merge: byKey('ip'), parent: ['status'] }],
  addresses: [{ merge: byKey('type'), at: ['status', 'addresses'], kinds: ['Node'] }],
  podCIDRs: [{ merge: SET, at: ['spec', 'podCIDRs'], kinds: ['Node'] }],
  secrets: [{ merge: byKey('name'), at: ['secrets'], kinds: ['ServiceAccount'] }],
  ownerReferences: [{ merge: byKey('uid'), parent: ['metadata'] }],
  finalizers: [{ merge: SET, parent: ['metadata'] }],
};

/**
 * How the list at `path` (field names from the object root, list positions left out, e.g.
 * ['spec','template','spec','containers','ports']) merges for `kind`; undefined means atomic.
 */
export function mergeKeyFor(path: readonly string[], kind: string): ListMerge | undefined {
  const field = path[path.length - 1];
  if (field === undefined || !Object.hasOwn(LIST_MERGE_RULES, field)) return undefined;
  const parent = path[path.length - 2];
  for (const rule of LIST_MERGE_RULES[field]!) {
    if (rule.kinds && !rule.kinds.includes(kind)) continue;
    if (rule.at && !deepEqual([...rule.at], [...path])) continue;
    if (rule.parent && (parent === undefined || !rule.parent.includes(parent))) continue;
    return rule.merge;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge: the merge itself (k8s.io/apimachinery/pkg/util/strategicpatch, server side)

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER = '$setElementOrder/';
const DELETE_FROM_LIST = '$deleteFromPrimitiveList/';

export function applyStrategicMergePatch(target: unknown, patch: unknown, kind: string): unknown {
  if (!isObject(patch)) throw badRequest('invalid JSON document');
  const original = isObject(target) ? structuredClone(target) : {};
  return mergeMap(original, structuredClone(patch), [], kind) ?? {};
}

/** Merges `patch` into `original` (both owned copies). undefined means the map is deleted. */
function mergeMap(original: JsonObject, patch: JsonObject, path: string[], kind: string): JsonObject | undefined {
  if (Object.hasOwn(patch, DIRECTIVE)) {
    const directive = patch[DIRECTIVE];
    delete patch[DIRECTIVE];
    if (directive === 'replace') return mergeMap({}, patch, path, kind);
    // Upstream yields an empty map, which omitempty then drops from the typed object; untyped, we drop it.
    if (directive === 'delete') return undefined;
    throw untypedError(`unknown patch type: ${goFormat(directive)} in map: ${goFormat(patch)}`);
  }

  if (Object.hasOwn(patch, RETAIN_KEYS)) {
    const keep = patch[RETAIN_KEYS];
    delete patch[RETAIN_KEYS];
    if (!Array.isArray(keep)) throw badRequest('invalid patch format of retainKeys');
    for (const [k, v] of Object.entries(patch)) {
      if (v === null || k.startsWith(SET_ORDER) || k.startsWith(DELETE_FROM_LIST)) continue;
      if (!keep.includes(k)) throw notApplicable("patch content doesn't match retainKeys list");
    }
    for (const k of Object.keys(original)) if (!keep.includes(k)) delete original[k];
  }

  // Ordered lists first: they consume their list so the plain merge below skips it.
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ORDER)) continue;
    const order = patch[key];
    delete patch[key];
    const field = key.slice(SET_ORDER.length);
    const listPath = [...path, field];
    const patchList = patch[field];
    if (!Array.isArray(order) || (patchList !== undefined && !Array.isArray(patchList)))
      throw badRequest('invalid patch format of setElementOrder list');
    const rule = mergeKeyFor(listPath, kind);
    const itemKey = rule?.by === 'key' ? rule.key : undefined;
    validateSetOrder(patchList ?? [], order, itemKey);
    const live = Array.isArray(original[field]) ? (original[field] as unknown[]) : undefined;
    if (live === undefined && patchList === undefined) continue;
    const merged = patchList === undefined ? live! : mergeList(live ?? [], patchList, listPath, kind);
    put(original, field, orderList(merged, order, live ?? [], itemKey));
    delete patch[field];
  }

  for (const [rawKey, value] of Object.entries(patch)) {
    if (rawKey.startsWith(DELETE_FROM_LIST)) {
      if (!Array.isArray(value)) throw badRequest('invalid patch format of primitive list');
      const field = rawKey.slice(DELETE_FROM_LIST.length);
      const current = original[field];
      if (Array.isArray(current)) put(original, field, current.filter((x) => !value.some((d) => deepEqual(d, x))));
      continue;
    }
    if (value === null) {
      delete original[rawKey];
      continue;
    }
    const current = original[rawKey];
    const childPath = [...path, rawKey];
    if (isObject(value)) {
      const merged = mergeMap(isObject(current) ? current : {}, value, childPath, kind);
      if (merged === undefined) delete original[rawKey];
      else put(original, rawKey, merged);
    } else if (Array.isArray(value)) {
      put(original, rawKey, mergeList(Array.isArray(current) ? current : [], value, childPath, kind));
    } else {
      put(original, rawKey, value);
    }
  }
  return original;
}

function mergeList(original: unknown[], patch: unknown[], path: string[], kind: string): unknown[] {
  const rule = mergeKeyFor(path, kind);
  if (!rule) return patch;
  if (original.length === 0 && patch.length === 0) return original;

  if (elementKind([...original, ...patch]) !== 'map') {
    const merged: unknown[] = [];
    for (const x of [...original, ...patch]) if (!merged.some((m) => deepEqual(m, x))) merged.push(x);
    return orderList(merged, patch, original, undefined);
  }
  if (rule.by !== 'key') throw untypedError('cannot merge lists without merge key for type map');
  const key = rule.key;
  const matches = (item: unknown, like: JsonObject) => isObject(item) && deepEqual(item[key], like[key]);

  let base = original;
  let replace = false;
  const plain: JsonObject[] = [];
  for (const item of patch as JsonObject[]) {
    if (!Object.hasOwn(item, DIRECTIVE)) {
      if (!Object.hasOwn(item, key)) throw noMergeKey(item, key);
      plain.push(item);
    } else if (item[DIRECTIVE] === 'delete') {
      if (!Object.hasOwn(item, key)) throw noMergeKey(item, key);
      base = base.filter((o) => !matches(o, item));
    } else if (item[DIRECTIVE] === 'replace') {
      replace = true;
    } else if (item[DIRECTIVE] === 'merge') {
      throw untypedError('merging lists cannot yet be specified in the patch');
    } else {
      throw untypedError(`unknown patch type: ${goFormat(item[DIRECTIVE])} in map: ${goFormat(item)}`);
    }
  }
  if (replace) return plain.map((item) => mergeMap({}, item, path, kind)!);

  const merged = [...base];
  for (const item of plain) {
    const i = merged.findIndex((o) => matches(o, item));
    if (i >= 0) merged[i] = mergeMap(merged[i] as JsonObject, item, path, kind)!;
    else merged.push(mergeMap({}, item, path, kind)!);
  }
  return orderList(merged, plain, base, key);
}

function elementKind(items: unknown[]): 'map' | 'scalar' | undefined {
  let kind: 'map' | 'scalar' | undefined;
  for (const x of items) {
    if (Array.isArray(x)) throw notApplicable('lists of lists are not supported');
    const k = isObject(x) ? 'map' : 'scalar';
    if (kind && k !== kind) throw untypedError(`list element types are not identical: ${goFormat(items)}`);
    kind = k;
  }
  return kind;
}

function noMergeKey(item: JsonObject, key: string): ApiError {
  return untypedError(`map: ${goFormat(item)} does not contain declared merge key: ${key}`);
}

const sameItem = (a: unknown, b: unknown, key: string | undefined): boolean =>
  key === undefined ? deepEqual(a, b) : isObject(a) && isObject(b) && deepEqual(a[key], b[key]);

/** Patch items must appear in `$setElementOrder` in the same relative order (deletions aside). */
function validateSetOrder(patchList: unknown[], order: unknown[], key: string | undefined): void {
  const items = patchList.filter((x) => !(isObject(x) && Object.hasOwn(x, DIRECTIVE)));
  let p = 0;
  for (let s = 0; p < items.length && s < order.length; s++) {
    if (key !== undefined)
      for (const x of [items[p], order[s]])
        if (!isObject(x) || !Object.hasOwn(x, key)) throw noMergeKey(isObject(x) ? x : {}, key);
    if (sameItem(items[p], order[s], key)) p++;
  }
  if (p < items.length)
    throw untypedError(
      `The order in patch list:\n${goFormat(patchList)}\n doesn't match $setElementOrder list:\n${goFormat(order)}\n`,
    );
}

/**
 * Upstream's normalizeElementOrder + mergeSortedSlice: items named in `order` follow that order,
 * the others keep their live order and are slotted in where they stood relative to the live list.
 */
function orderList(merged: unknown[], order: unknown[], live: unknown[], key: string | undefined): unknown[] {
  const indexIn = (list: unknown[], item: unknown) => list.findIndex((x) => sameItem(x, item, key));
  const byIndexIn = (list: unknown[]) => (a: unknown, b: unknown) => {
    const ia = indexIn(list, a);
    const ib = indexIn(list, b);
    return ia >= 0 && ib >= 0 ? ia - ib : 0;
  };
  const named = merged.filter((m) => indexIn(order, m) >= 0).sort(byIndexIn(order));
  const serverOnly = merged.filter((m) => indexIn(order, m) < 0).sort(byIndexIn(live));
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < named.length) {
    if (j >= named.length) out.push(serverOnly[i++]);
    else if (i >= serverOnly.length) out.push(named[j++]);
    else {
      const li = indexIn(live, serverOnly[i]);
      const ri = indexIn(live, named[j]);
      out.push(li >= 0 && ri >= 0 && li < ri ? serverOnly[i++] : named[j++]);
    }
  }
  return out;
}
