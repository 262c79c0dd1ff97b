/**
 * Server-side apply and field ownership (`metadata.managedFields`), following structured-merge-diff's
 * Updater: Apply = merge, prune what this applier dropped, detect conflicts on what changed; Update =
 * the writer takes whatever changed. Simplified: list and map semantics come from the strategic-merge
 * table in patch.ts (and a few atomic maps) instead of OpenAPI schemas.
 */
import { ApiError, badRequest, cause, invalid } from './errors.js';
import { deepEqual, isObject, mergeKeyFor, type JsonObject, type ListMerge } from './patch.js';
import type { KubeObject } from './types.js';

export type FieldsV1 = { [pathElement: string]: FieldsV1 };

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldsV1;
  subresource?: string;
}

export interface ApplyConflict {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  /** fieldpath notation: `.spec.template.spec.containers[name="web"].image` */
  field: string;
}

export interface ApplyOptions {
  /** The stored object; undefined when apply creates it. */
  live: KubeObject | undefined;
  /** The decoded apply-patch+yaml body. */
  applied: unknown;
  manager: string;
  /** @default false - conflicts fail the request */
  force?: boolean;
  /** Custom resources have no merge-key table: their lists are atomic (metadata lists aside). */
  custom?: boolean;
  kind: string;
  now: Date;
}

export interface ApplyResult {
  object: KubeObject;
  /** Conflicts that `force` overrode. */
  conflicts?: ApplyConflict[];
}

/** The manager structured-merge-diff assigns an object's existing fields to when it had no managedFields. */
export const BEFORE_FIRST_APPLY = 'before-first-apply';

// ---------------------------------------------------------------------------------------------
// Field paths and sets. A path element is encoded as in FieldsV1: `f:name`, `k:{"name":"web"}`, `v:"x"`.

type Path = readonly string[];

class FieldSet {
  private readonly paths = new Map<string, Path>();
  constructor(paths: Iterable<Path> = []) {
    for (const p of paths) this.add(p);
  }
  add(p: Path): void {
    this.paths.set(JSON.stringify(p), p);
  }
  has(p: Path): boolean {
    return this.paths.has(JSON.stringify(p));
  }
  get size(): number {
    return this.paths.size;
  }
  [Symbol.iterator](): IterableIterator<Path> {
    return this.paths.values();
  }
  union(o: FieldSet): FieldSet {
    return new FieldSet([...this, ...o]);
  }
  minus(o: FieldSet): FieldSet {
    return new FieldSet([...this].filter((p) => !o.has(p)));
  }
  intersect(o: FieldSet): FieldSet {
    return new FieldSet([...this].filter((p) => o.has(p)));
  }
  /** Some member lies strictly inside `prefix`. */
  hasInside(prefix: Path): boolean {
    return [...this].some((p) => p.length > prefix.length && prefix.every((el, i) => p[i] === el));
  }

  toFieldsV1(): FieldsV1 {
    type Node = { member: boolean; children: Map<string, Node> };
    const root: Node = { member: false, children: new Map() };
    for (const p of this) {
      let node = root;
      for (const el of p) {
        let next = node.children.get(el);
        if (!next) node.children.set(el, (next = { member: false, children: new Map() }));
        node = next;
      }
      node.member = true;
    }
    // PathElement order: field names, then keys, then values, then indexes.
    const rank = (el: string) => ['f:', 'k:', 'v:', 'i:'].indexOf(el.slice(0, 2));
    const encode = (node: Node): FieldsV1 => {
      const out: FieldsV1 = {};
      // "." marks a member that also has members inside it; a member leaf is just {}.
      if (node.member && node.children.size > 0) out['.'] = {};
      const keys = [...node.children.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
      for (const k of keys) out[k] = encode(node.children.get(k)!);
      return out;
    };
    return encode(root);
  }

  static fromFieldsV1(f: unknown): FieldSet {
    const set = new FieldSet();
    const walk = (node: JsonObject, path: string[]) => {
      for (const [k, child] of Object.entries(node)) {
        if (k === '.' || !isObject(child)) continue;
        const p = [...path, k];
        if (Object.keys(child).length === 0 || Object.hasOwn(child, '.')) set.add(p);
        walk(child, p);
      }
    };
    if (isObject(f)) walk(f, []);
    return set;
  }
}

/** fieldpath.Path.String() */
function fieldString(path: Path): string {
  return path
    .map((el) => {
      const body = el.slice(2);
      if (el.startsWith('f:')) return `.${body}`;
      if (el.startsWith('v:')) return `[=${body}]`;
      if (el.startsWith('i:')) return `[${body}]`;
      const key = JSON.parse(body) as JsonObject;
      return `[${Object.keys(key)
        .sort()
        .map((k) => `${k}=${JSON.stringify(key[k])}`)
        .join(',')}]`;
    })
    .join('');
}

// ---------------------------------------------------------------------------------------------
// Schema stand-ins

interface Ctx {
  kind: string;
  custom: boolean;
}

/** `+structType=atomic` (LabelSelector) and `+mapType=atomic` maps: owned and replaced as one value. */
const ATOMIC_MAPS = new Set(['selector', 'podSelector', 'namespaceSelector', 'labelSelector', 'objectSelector', 'nodeSelector']);
/**
 * Real maps (not structs). Upstream's Update diffs against a typed empty object, where structs exist
 * as `{}` but maps do not, so only a newly added map is itself owned (`".": {}`).
 */
const GRANULAR_MAPS = new Set(['labels', 'annotations', 'data', 'stringData', 'binaryData']);
const NEVER_OWNED_METADATA = new Set([
  'name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'selfLink',
  'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds',
]);

/** Subtrees nobody owns: structured-merge-diff's stripped fields, plus status. */
function isIgnored(path: Path): boolean {
  const [first, second] = path;
  if (first === 'f:status' || first === 'f:apiVersion' || first === 'f:kind') return true;
  return first === 'f:metadata' && second !== undefined && NEVER_OWNED_METADATA.has(second.slice(2));
}

/** Adds an owned path; `metadata` itself is stripped upstream, only fields inside it are owned. */
function own(set: FieldSet, path: Path): void {
  if (path.length > 0 && !(path.length === 1 && path[0] === 'f:metadata')) set.add(path);
}

const atomicMap = (names: string[], ctx: Ctx) => !ctx.custom && ATOMIC_MAPS.has(names[names.length - 1]!);
const listRule = (names: string[], ctx: Ctx): ListMerge | undefined =>
  ctx.custom && names[0] !== 'metadata' ? undefined : mergeKeyFor(names, ctx.kind);

/**
 * The path element of each item, or undefined when the list cannot be treated as associative
 * (then it is atomic). For the applied config (`strict`) that is the caller's error instead.
 */
function itemIds(list: unknown[], rule: ListMerge, names: string[], strict: boolean): string[] | undefined {
  const where = `.${names.join('.')}`;
  const ids: string[] = [];
  for (const [i, item] of list.entries()) {
    let id: string;
    if (rule.by === 'key') {
      if (!isObject(item) || item[rule.key] === undefined || item[rule.key] === null) {
        if (!strict) return undefined;
        throw badRequest(
          `failed to create typed patch object: ${where}: element ${i}: associative list with keys has an element that omits key field "${rule.key}"`,
        );
      }
      id = `k:${JSON.stringify({ [rule.key]: item[rule.key] })}`;
    } else {
      if (typeof item === 'object' && item !== null) {
        if (!strict) return undefined;
        throw badRequest(`failed to create typed patch object: ${where}: element ${i}: expected a scalar in a set`);
      }
      id = `v:${JSON.stringify(item)}`;
    }
    if (ids.includes(id)) {
      if (!strict) return undefined;
      throw badRequest(`failed to create typed patch object: ${where}: duplicate entries for key ${fieldString([id])}`);
    }
    ids.push(id);
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Walks over values

/** The fields an applied config sets (typed.ToFieldSet): leaves, atomic values and list items. */
function appliedFields(config: JsonObject, ctx: Ctx): FieldSet {
  const set = new FieldSet();
  const visit = (value: unknown, names: string[], path: string[]): void => {
    if (isIgnored(path)) return;
    if (isObject(value) && Object.keys(value).length > 0 && !atomicMap(names, ctx)) {
      for (const [k, v] of Object.entries(value)) visit(v, [...names, k], [...path, `f:${k}`]);
      return;
    }
    const rule = Array.isArray(value) ? listRule(names, ctx) : undefined;
    if (Array.isArray(value) && rule) {
      const ids = itemIds(value, rule, names, true)!;
      value.forEach((item, i) => {
        const itemPath = [...path, ids[i]!];
        own(set, itemPath);
        if (isObject(item)) for (const [k, v] of Object.entries(item)) visit(v, [...names, k], [...itemPath, `f:${k}`]);
      });
      return;
    }
    own(set, path);
  };
  visit(config, [], []);
  return set;
}

interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/** typed.Compare: what changed from `lhs` to `rhs`, at leaf and list-item granularity. */
function compare(lhs: unknown, rhs: unknown, ctx: Ctx): Comparison {
  const out: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  const everything = (value: unknown, names: string[], path: string[], into: FieldSet): void => {
    if (isIgnored(path)) return;
    const children = childrenOf(value, names, ctx);
    const leaf = !children || (children.size === 0 && !Array.isArray(value));
    if (leaf || GRANULAR_MAPS.has(names[names.length - 1]!) || path[path.length - 1]?.[0] !== 'f') own(into, path);
    for (const [id, [childNames, v]] of children ?? []) everything(v, childNames, [...path, id], into);
  };
  const walk = (l: unknown, r: unknown, names: string[], path: string[]): void => {
    if (isIgnored(path)) return;
    const lc = childrenOf(l, names, ctx);
    const rc = childrenOf(r, names, ctx);
    if (!lc || !rc || Array.isArray(l) !== Array.isArray(r)) {
      if (!deepEqual(l, r)) out.modified.add(path);
      return;
    }
    for (const id of new Set([...lc.keys(), ...rc.keys()])) {
      const [childNames, lv] = lc.get(id) ?? rc.get(id)!;
      const rv = rc.get(id)?.[1];
      if (!lc.has(id)) everything(rv, childNames, [...path, id], out.added);
      else if (!rc.has(id)) everything(lv, childNames, [...path, id], out.removed);
      else walk(lv, rv, childNames, [...path, id]);
    }
  };
  walk(lhs, rhs, [], []);
  return out;
}

/** The granular children of a value by path element, or undefined for a leaf/atomic value. */
function childrenOf(value: unknown, names: string[], ctx: Ctx): Map<string, [string[], unknown]> | undefined {
  if (isObject(value)) {
    if (atomicMap(names, ctx)) return undefined;
    return new Map(Object.entries(value).map(([k, v]): [string, [string[], unknown]] => [`f:${k}`, [[...names, k], v]]));
  }
  const rule = Array.isArray(value) ? listRule(names, ctx) : undefined;
  const ids = rule && itemIds(value as unknown[], rule, names, false);
  if (!ids) return undefined;
  // A keyed item's fields hang off the list's names; a set item is a leaf.
  return new Map(ids.map((id, i): [string, [string[], unknown]] => [id, [names, (value as unknown[])[i]]]));
}

/** Live merged with config: maps recurse, associative lists merge by item, the rest is replaced. */
function merge(live: unknown, config: unknown, names: string[], ctx: Ctx): unknown {
  if (isObject(live) && isObject(config) && !atomicMap(names, ctx)) {
    const out: JsonObject = { ...live };
    for (const [k, v] of Object.entries(config))
      Object.defineProperty(out, k, { value: merge(live[k], v, [...names, k], ctx), writable: true, enumerable: true, configurable: true });
    return out;
  }
  const rule = Array.isArray(live) && Array.isArray(config) ? listRule(names, ctx) : undefined;
  const lIds = rule && itemIds(live as unknown[], rule, names, false);
  const rIds = rule && itemIds(config as unknown[], rule, names, true);
  if (!lIds || !rIds) return structuredClone(config);
  const l = live as unknown[];
  const r = config as unknown[];
  const mergeItem = (id: string): unknown => {
    const li = lIds.indexOf(id);
    return li < 0 ? structuredClone(r[rIds.indexOf(id)]) : merge(l[li], r[rIds.indexOf(id)], names, ctx);
  };
  // The config's order wins; live-only items stay next to the items they followed.
  const out: unknown[] = [];
  const done = new Set<string>();
  for (let li = 0, ri = 0; li < l.length || ri < r.length; ) {
    const lid = lIds[li];
    if (lid !== undefined && lid === rIds[ri]) {
      out.push(mergeItem(lid));
      done.add(lid);
      li++, ri++;
    } else if (lid !== undefined && !rIds.includes(lid)) {
      out.push(structuredClone(l[li++]));
    } else if (lid !== undefined && done.has(lid)) {
      li++;
    } else if (ri < r.length) {
      out.push(mergeItem(rIds[ri]!));
      done.add(rIds[ri++]!);
    } else li++;
  }
  return out;
}

function locate(root: unknown, path: Path): { parent: unknown; index: number | string } | undefined {
  let node = root;
  for (let i = 0; i < path.length; i++) {
    const el = path[i]!;
    let index: number | string;
    if (el.startsWith('f:')) {
      if (!isObject(node) || !Object.hasOwn(node, el.slice(2))) return undefined;
      index = el.slice(2);
    } else {
      if (!Array.isArray(node)) return undefined;
      const want = el.startsWith('i:') ? undefined : (JSON.parse(el.slice(2)) as unknown);
      index = el.startsWith('i:')
        ? Number(el.slice(2))
        : node.findIndex((x) =>
            el.startsWith('v:') ? deepEqual(x, want) : isObject(x) && Object.entries(want as JsonObject).every(([k, v]) => deepEqual(x[k], v)),
          );
      if (index < 0 || index >= node.length) return undefined;
    }
    if (i === path.length - 1) return { parent: node, index };
    node = (node as Record<string | number, unknown>)[index];
  }
  return undefined;
}

function removeAt(root: unknown, path: Path): void {
  const at = locate(root, path);
  if (!at) return;
  if (Array.isArray(at.parent)) at.parent.splice(at.index as number, 1);
  else delete (at.parent as JsonObject)[at.index as string];
}

/** Removes `stale` fields, and containers they leave empty that nobody owns. */
function prune(obj: unknown, stale: FieldSet, keep: FieldSet): void {
  for (const p of [...stale].sort((a, b) => b.length - a.length)) {
    if (keep.hasInside(p) || isKeyField(p)) continue; // still owned inside / would break a kept item
    removeAt(obj, p);
    for (let i = p.length - 1; i > 0; i--) {
      const at = locate(obj, p.slice(0, i));
      const v = at && (at.parent as Record<string | number, unknown>)[at.index];
      const empty = Array.isArray(v) ? v.length === 0 : isObject(v) && Object.keys(v).length === 0;
      if (!empty || keep.has(p.slice(0, i)) || keep.hasInside(p.slice(0, i))) break;
      removeAt(obj, p.slice(0, i));
    }
  }
}

/** `.containers[name="web"].name`: removed only with its item, never on its own. */
function isKeyField(p: Path): boolean {
  const item = p[p.length - 2];
  return item !== undefined && item.startsWith('k:') && Object.hasOwn(JSON.parse(item.slice(2)) as JsonObject, p[p.length - 1]!.slice(2));
}

function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (!isObject(v)) return v;
  for (const [k, x] of Object.entries(v)) {
    if (x === null) delete v[k];
    else dropNulls(x);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// managedFields

interface Owner {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  subresource?: string;
  set: FieldSet;
}

// Appliers keep one entry across apiVersions; updaters get one entry per apiVersion.
const ownerKey = (o: Pick<Owner, 'manager' | 'operation' | 'apiVersion' | 'subresource'>) =>
  JSON.stringify([o.manager, o.operation, o.operation === 'Apply' ? '' : o.apiVersion, o.subresource ?? '']);

function decodeOwners(managedFields: unknown): Owner[] {
  if (!Array.isArray(managedFields)) return [];
  return managedFields.flatMap((e): Owner[] => {
    if (!isObject(e) || typeof e.manager !== 'string' || (e.operation !== 'Apply' && e.operation !== 'Update')) return [];
    const owner: Owner = { manager: e.manager, operation: e.operation, apiVersion: String(e.apiVersion ?? ''), set: FieldSet.fromFieldsV1(e.fieldsV1) };
    if (typeof e.time === 'string') owner.time = e.time;
    if (typeof e.subresource === 'string' && e.subresource) owner.subresource = e.subresource;
    return [owner];
  });
}

/** Empty sets are dropped; order is upstream's: operation, time, manager, apiVersion, subresource. */
function encodeOwners(owners: Owner[]): ManagedFieldsEntry[] {
  const seconds = (t?: string) => (t ? Math.floor(Date.parse(t) / 1000) : 0);
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return owners
    .filter((o) => o.set.size > 0)
    .sort((p, q) => cmp(p.operation, q.operation) || seconds(p.time) - seconds(q.time) || cmp(p.manager, q.manager) ||
      cmp(p.apiVersion, q.apiVersion) || cmp(p.subresource ?? '', q.subresource ?? ''))
    .map((o) => ({
      manager: o.manager,
      operation: o.operation,
      apiVersion: o.apiVersion,
      ...(o.time ? { time: o.time } : {}),
      fieldsType: 'FieldsV1' as const,
      fieldsV1: o.set.toFieldsV1(),
      ...(o.subresource ? { subresource: o.subresource } : {}),
    }));
}

const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function withOwners(obj: KubeObject, owners: Owner[]): KubeObject {
  const entries = encodeOwners(owners);
  if (entries.length > 0) obj.metadata.managedFields = entries;
  else delete obj.metadata.managedFields;
  return obj;
}

function describeManager(c: Pick<ApplyConflict, 'manager' | 'operation' | 'apiVersion'>): string {
  return c.operation === 'Update' ? `${JSON.stringify(c.manager)} using ${c.apiVersion}` : JSON.stringify(c.manager);
}

/** internal.NewConflictError: a 409 whose message lists each conflicting field by manager. */
function conflictError(conflicts: ApplyConflict[]): ApiError {
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${describeManager(c)}`, field: c.field }));
  if (conflicts.length === 1) {
    const c = conflicts[0]!;
    return new ApiError('Conflict', `Apply failed with 1 conflict: conflict with ${describeManager(c)}: ${c.field}`, { causes });
  }
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) byManager.set(describeManager(c), [...(byManager.get(describeManager(c)) ?? []), c.field]);
  const lines = [...byManager.keys()].sort().flatMap((m) => [`conflicts with ${m}:`, ...byManager.get(m)!.map((f) => `- ${f}`)]);
  return new ApiError('Conflict', `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`, { causes });
}

// ---------------------------------------------------------------------------------------------
// The two writes

export function serverSideApply(opts: ApplyOptions): ApplyResult {
  const { live, applied, manager, force = false, custom = false, kind, now } = opts;
  const ctx: Ctx = { kind, custom };
  if (!manager)
    throw invalid('PatchOptions', 'meta.k8s.io', '', [{ ...cause.required('fieldManager'), message: 'Required value: is required for apply patch' }]);
  if (!isObject(applied) || !isObject(applied.metadata)) throw badRequest('the applied configuration must be an object with metadata');
  const managedFields = applied.metadata.managedFields;
  if (managedFields !== undefined && managedFields !== null) throw badRequest('metadata.managedFields must be nil');

  const apiVersion = typeof applied.apiVersion === 'string' ? applied.apiVersion : String(live?.apiVersion ?? '');
  const configSet = appliedFields(applied, ctx);
  const self: Owner = { manager, operation: 'Apply', apiVersion, time: rfc3339(now), set: configSet };
  if (!live) return { object: withOwners(dropNulls(structuredClone(applied)) as KubeObject, [self]) };

  const before = structuredClone(live);
  delete before.metadata.managedFields;
  let owners = decodeOwners(live.metadata.managedFields);
  if (owners.length === 0) {
    const baseline = compare({}, before, ctx).added;
    owners = [{ manager: BEFORE_FIRST_APPLY, operation: 'Update', apiVersion: String(live.apiVersion ?? apiVersion), time: rfc3339(now), set: baseline }];
  }
  const previous = owners.find((o) => ownerKey(o) === ownerKey(self));
  const others = owners.filter((o) => o !== previous);

  const merged = merge(before, applied, [], ctx) as KubeObject;
  if (previous) {
    const keep = others.reduce((acc, o) => acc.union(o.set), configSet);
    prune(merged, previous.set.minus(keep), keep);
  }

  const diff = compare(before, merged, ctx);
  const changed = diff.added.union(diff.modified);
  const conflicts: ApplyConflict[] = others.flatMap((o) =>
    [...o.set.intersect(changed)].map((p) => ({ manager: o.manager, operation: o.operation, apiVersion: o.apiVersion, field: fieldString(p) })),
  );
  if (conflicts.length > 0 && !force) throw conflictError(conflicts);

  const object = dropNulls(merged) as KubeObject;
  // Upstream only stamps the time when the apply changed the object.
  if (previous?.time && deepEqual(before, object)) self.time = previous.time;
  const next = others.map((o) => ({ ...o, set: o.set.minus(changed).minus(diff.removed) }));
  withOwners(object, [...next, self]);
  return conflicts.length > 0 ? { object, conflicts } : { object };
}

/**
 * Ownership after a non-apply write (POST/PUT/PATCH with a fieldManager): the writer takes every
 * field that was added or changed, other managers lose those, everyone loses removed fields.
 * managedFields sent in `after` replace the stored ones (that is how clients reset them).
 * Sets `after.metadata.managedFields` in place (the write path owns `after`) and returns `after`.
 */
export function recordUpdate(
  before: KubeObject | undefined,
  after: KubeObject,
  manager: string,
  operation: 'Update',
  apiVersion: string,
  now: Date,
  opts: { kind?: string; custom?: boolean; subresource?: string } = {},
): KubeObject {
  const ctx: Ctx = { kind: opts.kind ?? String(after.kind ?? ''), custom: opts.custom ?? false };
  const sent = after.metadata.managedFields;
  const owners = decodeOwners(Array.isArray(sent) && sent.length > 0 ? sent : before?.metadata.managedFields);
  const diff = compare(before ?? {}, after, ctx);
  const changed = diff.added.union(diff.modified);

  const self: Owner = { manager, operation, apiVersion, set: new FieldSet(), ...(opts.subresource ? { subresource: opts.subresource } : {}) };
  const previous = owners.find((o) => ownerKey(o) === ownerKey(self));
  const next = owners.filter((o) => o !== previous).map((o) => ({ ...o, set: o.set.minus(changed).minus(diff.removed) }));
  if (previous) next.push({ ...previous, set: previous.set.minus(diff.removed).union(changed) });
  else next.push({ ...self, set: changed });
  if (changed.size > 0) next[next.length - 1]!.time = rfc3339(now);

  return withOwners(after, next);
}
