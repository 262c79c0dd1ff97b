/**
 * Server-side apply and field ownership (`metadata.managedFields`), following structured-merge-diff's
 * Updater: Apply = merge, prune what this applier dropped, detect conflicts on what changed; Update =
 * the writer takes whatever changed. Simplified: list and map semantics come from the strategic-merge
 * table in patch.ts (and a few atomic maps) instead of OpenAPI schemas.
 */
import { ApiError, badRequest, cause, invalid } from './errors.js';
import { jsonEqual } from './json-equal.js';
import { deepEqual, isObject, mergeKeyFor, type JsonObject, type ListMerge } from './patch.js';
import type { KubeObject } from './types.js';
import { rfc3339 } from '../../operators/runtime/time.js';

export type FieldsV1 = { [pathElement: string]: FieldsV1 };
type Operation = 'Apply' | 'Update';

export interface ManagedFieldsEntry {
  manager: string;
  operation: Operation;
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldsV1;
  subresource?: string;
}

export interface ApplyConflict extends Pick<ManagedFieldsEntry, 'manager' | 'operation' | 'apiVersion'> {
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
  /** @default false - custom resources have no merge-key table: their lists are atomic (metadata's aside). */
  custom?: boolean;
  kind: string;
  now: Date;
}

export interface ApplyResult {
  object: KubeObject;
  /** Conflicts that `force` overrode. */
  conflicts?: ApplyConflict[];
}

/** The manager structured-merge-diff gives an object's fields to when it had no managedFields yet. */
export const BEFORE_FIRST_APPLY = 'before-first-apply';

// ---------------------------------------------------------------------------------------------
// Paths and sets. Path elements are encoded as in FieldsV1: `f:name`, `k:{"name":"web"}`, `v:"x"`.

type Path = readonly string[];

/** A path's identity in a set: NUL never occurs in a field name, and `k:`/`v:` elements are JSON (NUL escaped). */
const keyOf = (p: Path): string => p.join('\u0000');

class FieldSet {
  private readonly paths = new Map<string, Path>();
  constructor(paths: Iterable<Path> = []) {
    for (const p of paths) this.add(p);
  }
  add(p: Path): void { this.paths.set(keyOf(p), p); }
  has(p: Path): boolean { return this.paths.has(keyOf(p)); }
  get size(): number { return this.paths.size; }
  [Symbol.iterator](): IterableIterator<Path> { return this.paths.values(); }
  union(o: FieldSet): FieldSet { return new FieldSet([...this, ...o]); }
  minus(o: FieldSet): FieldSet { return new FieldSet([...this].filter((p) => !o.has(p))); }
  intersect(o: FieldSet): FieldSet { return new FieldSet([...this].filter((p) => o.has(p))); }
  /** Some member lies strictly inside `prefix`. */
  hasInside(prefix: Path): boolean {
    return [...this].some((p) => p.length > prefix.length && prefix.every((el, i) => p[i] === el));
  }

  /** Upstream's serialisation: sorted path elements; "." marks a member that has members inside. */
  toFieldsV1(): FieldsV1 {
    const rank = (el: string) => ['f:', 'k:', 'v:', 'i:'].indexOf(el.slice(0, 2));
    const order = (a: Path, b: Path): number => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        const d = rank(a[i]!) - rank(b[i]!) || (a[i]! < b[i]! ? -1 : a[i]! > b[i]! ? 1 : 0);
        if (d !== 0) return d;
      }
      return a.length - b.length;
    };
    const root: FieldsV1 = {};
    const members = new Set<FieldsV1>();
    for (const p of [...this].sort(order)) {
      let node = root;
      for (const el of p) {
        if (members.has(node) && Object.keys(node).length === 0) node['.'] = {};
        node = node[el] ??= {};
      }
      members.add(node);
    }
    return root;
  }

  static fromFieldsV1(f: unknown): FieldSet {
    const set = new FieldSet();
    const walk = (node: JsonObject, path: string[]): void => {
      for (const [k, child] of Object.entries(node)) {
        if (k === '.' || !isObject(child)) continue;
        if (Object.keys(child).length === 0 || Object.hasOwn(child, '.')) set.add([...path, k]);
        walk(child, [...path, k]);
      }
    };
    if (isObject(f)) walk(f, []);
    return set;
  }
}

/** fieldpath.Path.String(): `.spec.containers[name="web"].image`, `.metadata.finalizers[="x"]`. */
function fieldString(path: Path): string {
  const element = (el: string) => {
    const body = el.slice(2);
    if (el.startsWith('f:')) return `.${body}`;
    if (el.startsWith('v:')) return `[=${body}]`;
    if (el.startsWith('i:')) return `[${body}]`;
    const key = JSON.parse(body) as JsonObject;
    return `[${Object.keys(key).sort().map((k) => `${k}=${JSON.stringify(key[k])}`).join(',')}]`;
  };
  return path.map(element).join('');
}

// ---------------------------------------------------------------------------------------------
// Schema stand-ins

type Ctx = { kind: string; custom: boolean };

/** `+structType=atomic` (LabelSelector) and `+mapType=atomic` maps: owned and replaced as one value. */
const ATOMIC_MAPS = new Set(['selector', 'podSelector', 'namespaceSelector', 'labelSelector', 'objectSelector', 'nodeSelector']);
/**
 * Real maps, not structs. Upstream's Update diffs against a typed empty object, in which structs exist
 * as `{}` but maps do not; so only a newly added map is itself owned (`".": {}`).
 */
const GRANULAR_MAPS = new Set(['labels', 'annotations', 'data', 'stringData', 'binaryData']);
const NEVER_OWNED_METADATA = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'selfLink', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds']);

/** Subtrees nobody owns: structured-merge-diff's stripped fields, plus status. */
function isIgnored([first, second]: Path): boolean {
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
 * The path element of each item, or undefined when the list cannot be associative (then it is
 * handled as atomic). In the applied config (`strict`) that is the caller's error instead.
 */
function itemIds(list: unknown[], rule: ListMerge, names: string[], strict: boolean): string[] | undefined {
  const fail = (why: string) => {
    if (strict) throw badRequest(`failed to create typed patch object: .${names.join('.')}: ${why}`);
    return undefined;
  };
  const ids: string[] = [];
  for (const [i, item] of list.entries()) {
    let id: string;
    if (rule.by === 'key') {
      if (!isObject(item) || item[rule.key] === undefined || item[rule.key] === null)
        return fail(`element ${i}: associative list with keys has an element that omits key field "${rule.key}"`);
      id = `k:${JSON.stringify({ [rule.key]: item[rule.key] })}`;
    } else {
      if (typeof item === 'object' && item !== null) return fail(`element ${i}: expected a scalar in a set`);
      id = `v:${JSON.stringify(item)}`;
    }
    if (ids.includes(id)) return fail(`duplicate entries for key ${fieldString([id])}`);
    ids.push(id);
  }
  return ids;
}

/** The granular children of a value by path element (with their field names), or undefined for a leaf. */
function childrenOf(value: unknown, names: string[], ctx: Ctx, strict = false): Map<string, [string[], unknown]> | undefined {
  if (isObject(value)) {
    if (atomicMap(names, ctx)) return undefined;
    return new Map(Object.entries(value).map(([k, v]): [string, [string[], unknown]] => [`f:${k}`, [[...names, k], v]]));
  }
  const rule = Array.isArray(value) ? listRule(names, ctx) : undefined;
  const ids = rule && itemIds(value as unknown[], rule, names, strict);
  // A keyed item's fields hang off the list's names; a set item is a leaf.
  return ids && new Map(ids.map((id, i): [string, [string[], unknown]] => [id, [names, (value as unknown[])[i]]]));
}

// ---------------------------------------------------------------------------------------------
// Walks over values

/**
 * Every owned path in `value`: leaves, atomic values and list items, plus (`maps`) real maps
 * themselves, as a diff sees a newly added map. Without `maps` this is typed.ToFieldSet.
 */
function collect(value: unknown, ctx: Ctx, into: FieldSet, opts: { maps: boolean; strict?: boolean }, names: string[] = [], path: string[] = []): FieldSet {
  if (isIgnored(path)) return into;
  const children = childrenOf(value, names, ctx, opts.strict);
  const leaf = !children || (children.size === 0 && !Array.isArray(value));
  const item = path.length > 0 && !path[path.length - 1]!.startsWith('f:');
  if (leaf || item || (opts.maps && GRANULAR_MAPS.has(names[names.length - 1]!))) own(into, path);
  for (const [id, [childNames, v]] of children ?? []) collect(v, ctx, into, opts, childNames, [...path, id]);
  return into;
}

/** typed.Compare: what changed from `lhs` to `rhs`, at leaf and list-item granularity. */
function compare(lhs: unknown, rhs: unknown, ctx: Ctx): { added: FieldSet; modified: FieldSet; removed: FieldSet } {
  const out = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  const walk = (l: unknown, r: unknown, names: string[], path: string[]): void => {
    if (isIgnored(path)) return;
    // Most writes change one top-level part (a status write leaves spec and metadata alone): an
    // equal subtree there is skipped whole instead of walked field by field.
    if (path.length === 1 && jsonEqual(l, r)) return;
    const lc = childrenOf(l, names, ctx);
    const rc = childrenOf(r, names, ctx);
    if (!lc || !rc || Array.isArray(l) !== Array.isArray(r)) {
      if (!deepEqual(l, r)) out.modified.add(path);
      return;
    }
    for (const id of new Set([...lc.keys(), ...rc.keys()])) {
      const [childNames, lv] = lc.get(id) ?? rc.get(id)!;
      const rv = rc.get(id)?.[1];
      if (!lc.has(id)) collect(rv, ctx, out.added, { maps: true }, childNames, [...path, id]);
      else if (!rc.has(id)) collect(lv, ctx, out.removed, { maps: true }, childNames, [...path, id]);
      else walk(lv, rv, childNames, [...path, id]);
    }
  };
  walk(lhs, rhs, [], []);
  return out;
}

/** Live merged with config: maps recurse, associative lists merge by item, the rest is replaced. */
function merge(live: unknown, config: unknown, names: string[], ctx: Ctx): unknown {
  if (isObject(live) && isObject(config) && !atomicMap(names, ctx)) {
    const out: JsonObject = { ...live };
    for (const [k, v] of Object.entries(config)) {
      const value = merge(live[k], v, [...names, k], ctx);
      Object.defineProperty(out, k, { value, writable: true, enumerable: true, configurable: true });
    }
    return out;
  }
  const rule = Array.isArray(live) && Array.isArray(config) ? listRule(names, ctx) : undefined;
  const lIds = rule && itemIds(live as unknown[], rule, names, false);
  const rIds = rule && itemIds(config as unknown[], rule, names, true);
  if (!lIds || !rIds) return structuredClone(config);
  const [l, r] = [live as unknown[], config as unknown[]];
  const item = (id: string): unknown => {
    const li = lIds.indexOf(id);
    const ri = rIds.indexOf(id);
    return li < 0 ? structuredClone(r[ri]) : merge(l[li], r[ri], names, ctx);
  };
  // The config's order wins; live-only items stay after the items they followed.
  const out: unknown[] = [];
  const done = new Set<string>();
  for (let li = 0, ri = 0; li < l.length || ri < r.length; ) {
    const lid = lIds[li];
    if (lid !== undefined && lid === rIds[ri]) {
      out.push(item(lid));
      done.add(lid);
      li++, ri++;
    } else if (lid !== undefined && !rIds.includes(lid)) out.push(structuredClone(l[li++]));
    else if (lid !== undefined && done.has(lid)) li++;
    else if (ri < r.length) {
      done.add(rIds[ri]!);
      out.push(item(rIds[ri++]!));
    } else li++;
  }
  return out;
}

/** The container holding `path` and its key or index there. */
function locate(root: unknown, path: Path, ctx: Ctx): { parent: Record<string | number, unknown>; index: string | number } | undefined {
  let [node, names]: [unknown, string[]] = [root, []];
  for (const [i, el] of path.entries()) {
    const children = childrenOf(node, names, ctx);
    const child = children?.get(el);
    if (!children || !child) return undefined;
    const index = el.startsWith('f:') ? el.slice(2) : [...children.keys()].indexOf(el);
    if (i === path.length - 1) return { parent: node as Record<string | number, unknown>, index };
    [names, node] = child;
  }
  return undefined;
}

function removeAt(root: unknown, path: Path, ctx: Ctx): void {
  const at = locate(root, path, ctx);
  if (Array.isArray(at?.parent)) at.parent.splice(at.index as number, 1);
  else if (at) delete at.parent[at.index];
}

/** `.containers[name="web"].name`: goes with its item, never on its own. */
function isKeyField(p: Path): boolean {
  const item = p[p.length - 2];
  return item !== undefined && item.startsWith('k:') && Object.hasOwn(JSON.parse(item.slice(2)) as JsonObject, p[p.length - 1]!.slice(2));
}

/** Removes `stale` fields, and the containers they leave empty that nobody owns. */
function prune(obj: unknown, stale: FieldSet, keep: FieldSet, ctx: Ctx): void {
  for (const p of [...stale].sort((a, b) => b.length - a.length)) {
    if (keep.hasInside(p) || isKeyField(p)) continue;
    removeAt(obj, p, ctx);
    for (let i = p.length - 1; i > 0; i--) {
      const at = locate(obj, p.slice(0, i), ctx);
      const v = at?.parent[at.index];
      const empty = Array.isArray(v) ? v.length === 0 : isObject(v) && Object.keys(v).length === 0;
      if (!empty || keep.has(p.slice(0, i)) || keep.hasInside(p.slice(0, i))) break;
      removeAt(obj, p.slice(0, i), ctx);
    }
  }
}

/** Applied `null`s are owned and compared like values, then dropped: null means "not set". */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) v.forEach(dropNulls);
  else if (isObject(v))
    for (const [k, x] of Object.entries(v)) {
      if (x === null) delete v[k];
      else dropNulls(x);
    }
  return v;
}

// ---------------------------------------------------------------------------------------------
// managedFields

type Owner = Omit<ManagedFieldsEntry, 'fieldsType' | 'fieldsV1'> & { set: FieldSet };

// Appliers keep one entry across apiVersions; updaters get one per apiVersion.
const ownerKey = (o: Omit<Owner, 'set'>) =>
  JSON.stringify([o.manager, o.operation, o.operation === 'Apply' ? '' : o.apiVersion, o.subresource ?? '']);

function decodeOwners(managedFields: unknown): Owner[] {
  return (Array.isArray(managedFields) ? managedFields : []).flatMap((e): Owner[] => {
    if (!isObject(e) || typeof e.manager !== 'string' || (e.operation !== 'Apply' && e.operation !== 'Update')) return [];
    const owner: Owner = { manager: e.manager, operation: e.operation, apiVersion: String(e.apiVersion ?? ''), set: FieldSet.fromFieldsV1(e.fieldsV1) };
    if (typeof e.time === 'string') owner.time = e.time;
    if (typeof e.subresource === 'string' && e.subresource) owner.subresource = e.subresource;
    return [owner];
  });
}

/** Upstream's order of managedFields entries: operation, time (seconds), manager, apiVersion, subresource. */
function sortEntries<T extends Omit<Owner, 'set'>>(entries: T[]): T[] {
  const secs = (t?: string) => (t ? Math.floor(Date.parse(t) / 1000) : 0);
  const cmp = (a = '', b = '') => (a < b ? -1 : a > b ? 1 : 0);
  return entries.sort((p, q) => cmp(p.operation, q.operation) || secs(p.time) - secs(q.time) || cmp(p.manager, q.manager) ||
    cmp(p.apiVersion, q.apiVersion) || cmp(p.subresource, q.subresource));
}

/** Whether a FieldsV1 tree has `p` as a member (an empty leaf, or a node marked with "."). */
function holds(fields: unknown, p: Path): boolean {
  let node = fields;
  for (const el of p) {
    if (!isObject(node)) return false;
    node = node[el];
  }
  return isObject(node) && (Object.hasOwn(node, '.') || Object.keys(node).length === 0);
}

/**
 * The common update — a manager writing again fields it already owns alone (a controller's status,
 * a kubelet's heartbeat) — changes no entry's set, only that manager's time: then the stored
 * entries are returned as they are, without decoding and re-encoding every set. Undefined when
 * some set would change (or an entry is not one kok wrote), for the full computation.
 */
function entriesIfOwnershipUnchanged(stored: ManagedFieldsEntry[], self: string, changed: FieldSet, removed: FieldSet): ManagedFieldsEntry[] | undefined {
  if (removed.size > 0) return undefined;
  let mine: ManagedFieldsEntry | undefined;
  for (const e of stored) {
    if (!isObject(e) || (e.operation !== 'Apply' && e.operation !== 'Update') || !isObject(e.fieldsV1)) return undefined;
    if (ownerKey(e) === self) mine = e;
  }
  if (changed.size > 0 && !mine) return undefined;
  for (const p of changed) {
    for (const e of stored) if (holds(e.fieldsV1, p) !== (e === mine)) return undefined;
  }
  return [...stored];
}

/** Sets `metadata.managedFields`: empty sets dropped, upstream's order (operation, time, manager, ...). */
function setOwners(obj: KubeObject, owners: Owner[]): KubeObject {
  const entries = sortEntries(owners.filter((o) => o.set.size > 0))
    .map(({ manager, operation, apiVersion, time, subresource, set }): ManagedFieldsEntry => ({
      manager, operation, apiVersion, ...(time ? { time } : {}), fieldsType: 'FieldsV1', fieldsV1: set.toFieldsV1(),
      ...(subresource ? { subresource } : {}),
    }));
  if (entries.length > 0) obj.metadata.managedFields = entries;
  else delete obj.metadata.managedFields;
  return obj;
}


/** printManager: Update entries name their apiVersion. */
const describeManager = (c: Omit<ApplyConflict, 'field'>) =>
  c.operation === 'Update' ? `${JSON.stringify(c.manager)} using ${c.apiVersion}` : JSON.stringify(c.manager);

/** internal.NewConflictError: a 409 listing each conflicting field by manager. */
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
  if (!manager) {
    const required = { ...cause.required('fieldManager'), message: 'Required value: is required for apply patch' };
    throw invalid('PatchOptions', 'meta.k8s.io', '', [required]);
  }
  if (!isObject(applied) || !isObject(applied.metadata)) throw badRequest('the applied configuration must be an object with metadata');
  const sentManagedFields = applied.metadata.managedFields;
  if (sentManagedFields !== undefined && sentManagedFields !== null) throw badRequest('metadata.managedFields must be nil');

  const apiVersion = typeof applied.apiVersion === 'string' ? applied.apiVersion : String(live?.apiVersion ?? '');
  const set = collect(applied, ctx, new FieldSet(), { maps: false, strict: true });
  const self: Owner = { manager, operation: 'Apply', apiVersion, time: rfc3339(now), set };
  if (!live) return { object: setOwners(dropNulls(structuredClone(applied)) as KubeObject, [self]) };

  const before = structuredClone(live);
  delete before.metadata.managedFields;
  let owners = decodeOwners(live.metadata.managedFields);
  if (owners.length === 0) {
    const baseline = compare({}, before, ctx).added;
    owners = [{ manager: BEFORE_FIRST_APPLY, operation: 'Update', apiVersion: String(live.apiVersion ?? apiVersion), time: rfc3339(now), set: baseline }];
  }
  const previous = owners.find((o) => ownerKey(o) === ownerKey(self));
  const others = owners.filter((o) => o !== previous);

  const merged = merge(before, applied, [], ctx);
  if (previous) {
    const keep = others.reduce((acc, o) => acc.union(o.set), self.set);
    prune(merged, previous.set.minus(keep), keep, ctx);
  }

  const diff = compare(before, merged, ctx);
  const changed = diff.added.union(diff.modified);
  const conflicts = others.flatMap((o) =>
    [...o.set.intersect(changed)].map((p): ApplyConflict => ({ manager: o.manager, operation: o.operation, apiVersion: o.apiVersion, field: fieldString(p) })),
  );
  if (conflicts.length > 0 && !force) throw conflictError(conflicts);

  const object = dropNulls(merged) as KubeObject;
  // Upstream stamps the time only when the apply changed the object.
  if (previous?.time && deepEqual(before, object)) self.time = previous.time;
  setOwners(object, [...others.map((o) => ({ ...o, set: o.set.minus(changed).minus(diff.removed) })), self]);
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
  const stored = before?.metadata.managedFields;
  const diff = compare(before ?? {}, after, ctx);
  const changed = diff.added.union(diff.modified);
  const self: Owner = { manager, operation, apiVersion, set: changed, ...(opts.subresource ? { subresource: opts.subresource } : {}) };

  const selfKey = ownerKey(self);
  const sentStored = !Array.isArray(sent) || sent.length === 0 || sent === stored || jsonEqual(sent, stored);
  if (sentStored && Array.isArray(stored)) {
    const unchanged = entriesIfOwnershipUnchanged(stored as ManagedFieldsEntry[], selfKey, changed, diff.removed);
    if (unchanged) {
      const entries = changed.size > 0 ? unchanged.map((e) => (ownerKey(e) === selfKey ? { ...e, time: rfc3339(now) } : e)) : unchanged;
      after.metadata.managedFields = sortEntries(entries);
      return after;
    }
  }

  const owners = decodeOwners(Array.isArray(sent) && sent.length > 0 ? sent : stored);
  const previous = owners.find((o) => ownerKey(o) === selfKey);
  const next = owners.filter((o) => o !== previous).map((o) => ({ ...o, set: o.set.minus(changed).minus(diff.removed) }));
  const mine = previous ? { ...previous, set: previous.set.minus(diff.removed).union(changed) } : self;
  if (changed.size > 0) mine.time = rfc3339(now);
  return setOwners(after, [...next, mine]);
}
