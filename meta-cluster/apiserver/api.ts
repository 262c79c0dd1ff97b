/**
 * The verbs of the Kubernetes API over the store: get, list, create, update, patch, delete.
 * HTTP lives in server.ts; this file holds the semantics (generation, resourceVersion, status
 * subresource, finalizers, fieldValidation, dryRun) so internal controllers use the same path.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { serverSideApply, recordUpdate } from './apply.js';
import { unknownBuiltinFields } from './builtin-schema.js';
import { ApiError, alreadyExists, badRequest, cause, conflict, invalid, notFound, type StatusCause } from './errors.js';
import { jsonEqual } from './json-equal.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, type PatchType } from './patch.js';

/** The four ways to PATCH, by their media types. */
export type PatchKind = 'json' | 'merge' | 'strategic' | 'apply';
export const patchKinds: Record<PatchType, PatchKind> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
};
import type { Registry, ServedResource } from './registry.js';
import { validateCrd } from './crd-validation.js';
import { applyBuiltinDefaults, prepareBuiltinCreate, validateBuiltin, validateMetadata } from './strategies.js';
import { KeyExistsError, type Store, type StoredObject } from './store.js';
import { apiVersionOf, storageResource, type KubeObject } from './types.js';
import { rfc3339 } from '../../operators/runtime/time.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  fieldValidation?: FieldValidation;
  force?: boolean;
  /** `status` writes only status; undefined writes everything else. */
  subresource?: 'status';
  /**
   * The body is the caller's to give away (freshly parsed from a request): it is edited in place
   * instead of copied first.
   */
  ownBody?: boolean;
}

export interface WriteResult {
  object: KubeObject;
  warnings: string[];
  created?: boolean;
  /** `object` as JSON when the stored row is exactly that: the answer needs no second serialising. */
  json?: string;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  dryRun?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export const crdCleanupFinalizer = 'customresourcecleanup.apiextensions.k8s.io';

/** utilrand's alphabet (no vowels, no confusable digits) and SimpleNameGenerator's base limit. */
const nameAlphabet = 'bcdfghjklmnpqrstvwxz2456789';
function generateName(base: string): string {
  const bytes = randomBytes(5);
  let suffix = '';
  for (const b of bytes) suffix += nameAlphabet[b % nameAlphabet.length];
  return base.slice(0, 58) + suffix;
}

/** `rfc3339` of now (or of `t`), formatted once per second: every create and deletion stamps one. */
export function nowRfc3339(t: Date | number = Date.now()): string {
  const second = Math.floor(Number(t) / 1000);
  if (second !== stamp.second) {
    stamp.second = second;
    stamp.text = rfc3339(second * 1000);
  }
  return stamp.text;
}
const stamp = { second: NaN, text: '' };

const clone = <T>(o: T): T => structuredClone(o);

const notSpec = new Set(['metadata', 'apiVersion', 'kind']);
const notSpecWithStatus = new Set([...notSpec, 'status']);

/**
 * Whether anything but metadata (and status when the kind has a status subresource) changed: what
 * bumps generation. Key order is the client's (client-node sorts keys): only content counts.
 */
function specChanged(r: ServedResource, a: KubeObject, b: KubeObject): boolean {
  return !jsonEqual(a, b, r.status ? notSpecWithStatus : notSpec);
}

export class Api {
  /** Namespace → being deleted: every namespaced create asks, so it is kept in memory. */
  private readonly namespaces = new Map<string, boolean>();

  constructor(
    readonly store: Store,
    readonly registry: Registry,
  ) {
    for (const ns of store.list('core/namespaces', '').items) this.namespaces.set(ns.metadata.name!, Boolean(ns.metadata.deletionTimestamp));
    store.subscribe((e) => {
      if (e.resource !== 'core/namespaces') return;
      if (e.type === 'DELETED') this.namespaces.delete(e.name);
      else this.namespaces.set(e.name, Boolean(e.object.metadata.deletionTimestamp));
    });
  }

  /** The served form of a stored object: apiVersion of the version asked for, kind set. */
  served(r: ServedResource, o: KubeObject): KubeObject {
    return { ...o, apiVersion: apiVersionOf(r), kind: r.kind };
  }

  get(r: ServedResource, namespace: string, name: string): KubeObject {
    const found = this.store.get(storageResource(r), namespace, name);
    if (!found) throw notFound(r.group, r.plural, name);
    return this.served(r, found.object);
  }

  tryGet(r: ServedResource, namespace: string, name: string): KubeObject | undefined {
    const found = this.store.get(storageResource(r), namespace, name);
    return found && this.served(r, found.object);
  }

  private requireNamespace(r: ServedResource, namespace: string, name: string): void {
    if (!r.namespaced) return;
    const terminating = this.namespaces.get(namespace);
    if (terminating === undefined) throw notFound('', 'namespaces', namespace);
    if (terminating) {
      throw new ApiError(
        'Forbidden',
        `${r.plural}${r.group ? '.' + r.group : ''} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
        { group: r.group, kind: r.plural },
      );
    }
  }

  /**
   * Unknown fields, pruning and defaulting; returns warnings for fieldValidation=Warn. `obj` is the
   * write's own copy (never the stored object): pruning and defaults change it in place.
   */
  private decode(r: ServedResource, obj: KubeObject, fv: FieldValidation): { object: KubeObject; warnings: string[] } {
    const unknown = r.custom ? r.schema.unknownFields(obj) : unknownBuiltinFields(r.model, obj);
    const warnings: string[] = [];
    if (unknown.length && fv === 'Strict') {
      const list = unknown.map((f) => `unknown field "${f}"`);
      throw badRequest(`strict decoding error: ${list.join(', ')}`);
    }
    if (unknown.length && fv === 'Warn') warnings.push(...unknown.map((f) => `unknown field "${f}"`));
    if (r.custom) r.schema.pruneAndDefaultInPlace(obj);
    else applyBuiltinDefaults(r.plural, obj);
    return { object: obj, warnings };
  }

  private validate(r: ServedResource, obj: KubeObject, old?: KubeObject): void {
    const causes: StatusCause[] = validateMetadata(r.plural, obj);
    if (r.custom) causes.push(...r.schema.validate(obj));
    else if (r.plural === 'customresourcedefinitions') causes.push(...validateCrd(obj));
    else causes.push(...validateBuiltin(r.plural, obj, old));
    if (old?.metadata.deletionTimestamp) {
      const before = new Set(old.metadata.finalizers ?? []);
      if ((obj.metadata.finalizers ?? []).some((f) => !before.has(f))) {
        causes.push(cause.forbidden('metadata.finalizers', 'no new finalizers can be added if the object is being deleted'));
      }
    }
    if (causes.length) throw invalid(r.kind, r.group, obj.metadata.name ?? '', causes);
  }

  private checkIdentity(r: ServedResource, obj: unknown, namespace: string, name?: string): KubeObject {
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw badRequest('the body of the request is not a JSON object');
    const o = obj as KubeObject;
    if (o.kind !== undefined && o.kind !== r.kind) {
      throw badRequest(`the kind in the data (${String(o.kind)}) does not match the expected kind (${r.kind})`);
    }
    if (o.apiVersion !== undefined && o.apiVersion !== apiVersionOf(r)) {
      throw badRequest(`the API version in the data (${o.apiVersion}) does not match the expected API version (${apiVersionOf(r)})`);
    }
    o.metadata ??= {};
    if (typeof o.metadata !== 'object') throw badRequest('metadata must be an object');
    if (r.namespaced) {
      if (o.metadata.namespace && o.metadata.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      o.metadata.namespace = namespace;
    } else {
      delete o.metadata.namespace;
    }
    if (name !== undefined && o.metadata.name !== undefined && o.metadata.name !== name) {
      throw badRequest(`the name of the object (${o.metadata.name}) does not match the name on the URL (${name})`);
    }
    if (name !== undefined) o.metadata.name ??= name;
    return o;
  }

  create(r: ServedResource, namespace: string, body: unknown, opts: WriteOptions = {}): WriteResult {
    const input = this.checkIdentity(r, opts.ownBody ? body : clone(body), namespace);
    const generated = !input.metadata.name && Boolean(input.metadata.generateName);
    if (generated) input.metadata.name = generateName(input.metadata.generateName!);
    const { object, warnings } = this.decode(r, input, opts.fieldValidation ?? 'Strict');
    const m = object.metadata;
    for (const k of ['uid', 'resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink'] as const) delete m[k];
    m.generation = 1;
    m.creationTimestamp = nowRfc3339();
    if (r.custom) {
      if (r.status) delete object.status;
    } else {
      prepareBuiltinCreate(r.plural, object, r.status);
    }
    if (r.plural === 'customresourcedefinitions' && !r.custom) prepareCrd(object);
    this.validate(r, object);
    this.requireNamespace(r, namespace, m.name!);
    const key = storageResource(r);
    m.uid = randomUUID();
    if (opts.fieldManager) recordUpdate(undefined, object, opts.fieldManager, 'Update', apiVersionOf(r), new Date(), { custom: r.custom, kind: r.kind });
    object.apiVersion = apiVersionOf(r);
    object.kind = r.kind;
    if (opts.dryRun) {
      if (this.store.get(key, namespace, m.name!)) throw alreadyExists(r.group, r.plural, m.name!);
      return { object: this.served(r, object), warnings, created: true };
    }
    // The insert itself detects a taken name. Like the apiserver since 1.30 (RetryGenerateName),
    // a taken generated name is drawn again.
    for (let attempt = 1; ; attempt++) {
      try {
        const stored = this.store.put('ADDED', key, namespace, m.name!, (rev) => {
          m.resourceVersion = String(rev);
          return this.storageForm(r, object);
        });
        return { ...this.servedWrite(r, stored), warnings, created: true };
      } catch (err) {
        if (!(err instanceof KeyExistsError)) throw err;
        if (!generated || attempt >= 8) throw alreadyExists(r.group, r.plural, m.name!);
        m.name = generateName(input.metadata.generateName!);
      }
    }
  }

  /**
   * The served form of what a write stored, with its JSON when that is the stored row: objects are
   * stored with apiVersion and kind set, so only a custom resource served at another version than
   * its storage version reads differently.
   */
  private servedWrite(r: ServedResource, stored: StoredObject): { object: KubeObject; json?: string } {
    const object = this.served(r, stored.object);
    return { object, json: r.custom && r.version !== r.storageVersion ? undefined : stored.raw };
  }

  /** Custom resources are stored at their storage version (conversion strategy None rewrites apiVersion). */
  private storageForm(r: ServedResource, o: KubeObject): KubeObject {
    return r.custom ? { ...o, apiVersion: `${r.group}/${r.storageVersion}` } : o;
  }

  update(r: ServedResource, namespace: string, name: string, body: unknown, opts: WriteOptions = {}): WriteResult {
    const input = this.checkIdentity(r, opts.ownBody ? body : clone(body), namespace, name);
    const key = storageResource(r);
    const current = this.store.get(key, namespace, name);
    if (!current) throw notFound(r.group, r.plural, name);
    const rv = input.metadata.resourceVersion;
    if (!rv && r.custom) {
      throw invalid(r.kind, r.group, name, [
        cause.invalid('metadata.resourceVersion', '0x0', 'must be specified for an update'),
      ]);
    }
    if (rv && rv !== String(current.rev)) throw conflict(r.group, r.plural, name);
    return this.writeUpdate(r, current, input, opts);
  }

  /**
   * The common tail of update and patch: merge the subresource's part, decode, validate, keep
   * immutable metadata, bump generation, and store (or delete, when the last finalizer went).
   */
  private writeUpdate(r: ServedResource, current: StoredObject, input: KubeObject, opts: WriteOptions): WriteResult {
    const old = current.object;
    let next: KubeObject;
    if (opts.subresource === 'status') {
      // The stored object without its status (which the write replaces) is the write's own copy.
      const { status: _replaced, ...rest } = old;
      next = { ...clone(rest), status: input.status };
    } else {
      next = input;
      if (r.status) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
    }
    const decoded = this.decode(r, next, opts.fieldValidation ?? 'Strict');
    next = decoded.object;
    const m = next.metadata;
    const om = old.metadata;
    // The uid sent is a precondition, on /status too (where `next` starts from the stored metadata).
    const uid = input.metadata.uid;
    if (uid && uid !== om.uid) {
      throw conflict(r.group, r.plural, om.name!, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${om.uid}`);
    }
    m.name = om.name;
    m.uid = om.uid;
    m.creationTimestamp = om.creationTimestamp;
    if (om.deletionTimestamp) {
      m.deletionTimestamp = om.deletionTimestamp;
      m.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds;
    } else {
      delete m.deletionTimestamp;
      delete m.deletionGracePeriodSeconds;
    }
    if (r.namespaced) m.namespace = om.namespace;
    if (opts.subresource === 'status') {
      // Metadata writes through /status are limited to what kube allows there: labels and annotations stay.
      next.metadata = { ...clone(om), labels: om.labels, annotations: om.annotations };
    }
    if (r.plural === 'customresourcedefinitions' && !r.custom && opts.subresource !== 'status') {
      next.status = clone(old.status);
      prepareCrd(next, old);
    }
    this.validate(r, next, old);
    m.generation = om.generation ?? 1;
    if (specChanged(r, next, old)) next.metadata.generation = (om.generation ?? 0) + 1;
    if (opts.fieldManager) recordUpdate(old, next, opts.fieldManager, 'Update', apiVersionOf(r), new Date(), { custom: r.custom, kind: r.kind, subresource: opts.subresource });
    next.apiVersion = apiVersionOf(r);
    next.kind = r.kind;
    const unchanged = sameObject(old, next);
    if (unchanged) return { object: this.served(r, old), warnings: decoded.warnings };
    if (opts.dryRun) return { object: this.served(r, { ...next, metadata: { ...next.metadata, resourceVersion: om.resourceVersion } }), warnings: decoded.warnings };
    const key = storageResource(r);
    const ns = r.namespaced ? om.namespace! : '';
    const stored = this.store.put('MODIFIED', key, ns, om.name!, (rev) => {
      next.metadata.resourceVersion = String(rev);
      return this.storageForm(r, next);
    }, current);
    if (stored.object.metadata.deletionTimestamp && !(stored.object.metadata.finalizers ?? []).length) {
      // Gone now: the answer is the last state, not the removal's.
      this.store.remove(key, ns, om.name!, stored.object);
      return { object: this.served(r, stored.object), warnings: decoded.warnings };
    }
    return { ...this.servedWrite(r, stored), warnings: decoded.warnings };
  }

  patch(
    r: ServedResource,
    namespace: string,
    name: string,
    type: PatchKind,
    body: unknown,
    opts: WriteOptions = {},
  ): WriteResult {
    const key = storageResource(r);
    const current = this.store.get(key, namespace, name);
    if (type === 'apply') return this.apply(r, namespace, name, body, current, opts);
    if (!current) throw notFound(r.group, r.plural, name);
    const live = this.served(r, current.object);
    let patched: unknown;
    switch (type) {
      case 'json':
        patched = applyJsonPatch(live, body);
        break;
      case 'merge':
        patched = applyMergePatch(live, body);
        break;
      case 'strategic':
        if (r.custom) {
          throw new ApiError(
            'UnsupportedMediaType',
            'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
          );
        }
        patched = applyStrategicMergePatch(live, body, r.kind);
        break;
    }
    const input = this.checkIdentity(r, patched, namespace, name);
    const rv = input.metadata.resourceVersion;
    if (rv && rv !== String(current.rev)) throw conflict(r.group, r.plural, name);
    return this.writeUpdate(r, current, input, opts);
  }

  private apply(
    r: ServedResource,
    namespace: string,
    name: string,
    body: unknown,
    current: StoredObject | undefined,
    opts: WriteOptions,
  ): WriteResult {
    if (!opts.fieldManager) {
      throw invalid(r.kind, r.group, name, [cause.required('fieldManager')]);
    }
    const applied = this.checkIdentity(r, opts.ownBody ? body : clone(body), namespace, name);
    const { object } = serverSideApply({
      // A copy: the merged object shares the subtrees it leaves alone, and decoding changes it in place.
      live: current && clone(this.served(r, current.object)),
      applied,
      manager: opts.fieldManager,
      force: Boolean(opts.force),
      custom: r.custom,
      kind: r.kind,
      now: new Date(),
    });
    const rest = { ...opts, fieldManager: undefined };
    if (!current) return this.create(r, namespace, object, rest);
    return this.writeUpdate(r, current, object, rest);
  }

  /**
   * DELETE: with finalizers (or Foreground/Orphan propagation, or a pod on a node) the object only
   * gets a deletionTimestamp; otherwise it goes now and the garbage collector follows its dependents.
   */
  delete(r: ServedResource, namespace: string, name: string, opts: DeleteOptions = {}): { object: KubeObject; deleted: boolean } {
    const key = storageResource(r);
    const current = this.store.get(key, namespace, name);
    if (!current) throw notFound(r.group, r.plural, name);
    const obj = clone(current.object);
    const m = obj.metadata;
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== m.uid) {
      throw conflict(r.group, r.plural, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${m.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== String(current.rev)) {
      throw conflict(
        r.group,
        r.plural,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.rev}`,
      );
    }
    const finalizers = new Set(m.finalizers ?? []);
    if (opts.propagationPolicy === 'Foreground') finalizers.add('foregroundDeletion');
    if (opts.propagationPolicy === 'Orphan') finalizers.add('orphan');
    let grace = 0;
    if (r.plural === 'pods' && !r.group && (obj as any).spec?.nodeName && this.store.get('core/nodes', '', (obj as any).spec.nodeName)) {
      grace = opts.gracePeriodSeconds ?? (obj as any).spec?.terminationGracePeriodSeconds ?? 30;
    }
    if (r.plural === 'namespaces' && !r.group) {
      // The namespace controller empties it, then removes the "kubernetes" finalizer.
      (obj as any).status = { ...(obj as any).status, phase: 'Terminating' };
    }
    const graceful = grace > 0 || (r.plural === 'namespaces' && !r.group && ((obj as any).spec?.finalizers ?? []).length > 0);
    if (finalizers.size === 0 && !graceful) {
      if (opts.dryRun) return { object: this.served(r, obj), deleted: true };
      return { object: this.served(r, this.store.remove(key, namespace, name, obj)), deleted: true };
    }
    if (m.deletionTimestamp && m.finalizers?.length === finalizers.size && !(grace > 0 && grace < (m.deletionGracePeriodSeconds ?? Infinity))) {
      return { object: this.served(r, obj), deleted: false };
    }
    m.finalizers = [...finalizers];
    if (!m.deletionTimestamp) {
      m.deletionTimestamp = nowRfc3339(new Date(Date.now() + grace * 1000));
      m.generation = (m.generation ?? 0) + 1;
    }
    m.deletionGracePeriodSeconds = grace;
    if (m.finalizers.length === 0) delete m.finalizers;
    if (opts.dryRun) return { object: this.served(r, obj), deleted: false };
    const stored = this.store.put('MODIFIED', key, namespace, name, (rev) => {
      m.resourceVersion = String(rev);
      return obj;
    }, current);
    return { object: this.served(r, stored.object), deleted: false };
  }

  /**
   * A read-modify-write by the server itself (bindings, scale): `change` edits a copy of the stored
   * object; the result is stored as-is, with generation bumped when the spec changed.
   */
  mutate(r: ServedResource, namespace: string, name: string, change: (o: KubeObject) => void, expectedRv?: string): KubeObject {
    const key = storageResource(r);
    const current = this.store.get(key, namespace, name);
    if (!current) throw notFound(r.group, r.plural, name);
    if (expectedRv && expectedRv !== String(current.rev)) throw conflict(r.group, r.plural, name);
    const next = clone(current.object);
    change(next);
    if (specChanged(r, next, current.object)) next.metadata.generation = (next.metadata.generation ?? 0) + 1;
    if (sameObject(current.object, next)) return this.served(r, current.object);
    const stored = this.store.put('MODIFIED', key, namespace, name, (rev) => {
      next.metadata.resourceVersion = String(rev);
      return next;
    }, current);
    return this.served(r, stored.object);
  }

  /** Namespaces' own finalizers live in spec.finalizers and are cleared through /finalize. */
  finalizeNamespace(name: string, finalizers: string[]): KubeObject {
    const r = this.registry.lookup('', 'v1', 'namespaces')!;
    const current = this.store.get('core/namespaces', '', name);
    if (!current) throw notFound('', 'namespaces', name);
    const next = clone(current.object);
    (next as any).spec = { ...(next as any).spec, finalizers };
    const { object: stored } = this.store.put('MODIFIED', 'core/namespaces', '', name, (rev) => {
      next.metadata.resourceVersion = String(rev);
      return next;
    }, current);
    if (stored.metadata.deletionTimestamp && !finalizers.length && !(stored.metadata.finalizers ?? []).length) {
      this.store.remove('core/namespaces', '', name, stored);
    }
    return this.served(r, stored);
  }
}

const notContent = new Set(['metadata', 'apiVersion', 'kind']);
const notContentMeta = new Set(['resourceVersion', 'managedFields']);

/**
 * A write that changes nothing is not stored: no new resourceVersion, no watch event. Key order
 * does not count, except within managedFields (its order is the managers' history).
 */
function sameObject(a: KubeObject, b: KubeObject): boolean {
  return (
    jsonEqual(a, b, notContent) &&
    jsonEqual(a.metadata, b.metadata, notContentMeta) &&
    JSON.stringify(a.metadata.managedFields ?? null) === JSON.stringify(b.metadata.managedFields ?? null)
  );
}

/**
 * A CRD is accepted and established at once: its names are unique by construction of its name.
 * Stored versions only grow, as in the apiserver, until someone migrates and edits the status.
 */
function prepareCrd(crd: KubeObject, old?: KubeObject): void {
  const spec = crd.spec as any;
  const now = nowRfc3339();
  if (!old) crd.metadata.finalizers = [...new Set([...(crd.metadata.finalizers ?? []), crdCleanupFinalizer])];
  const storedBefore: string[] = (old?.status as any)?.storedVersions ?? [];
  const conditionsBefore = (old?.status as any)?.conditions;
  crd.status = {
    acceptedNames: {
      plural: spec?.names?.plural,
      singular: spec?.names?.singular ?? String(spec?.names?.kind ?? '').toLowerCase(),
      kind: spec?.names?.kind,
      listKind: spec?.names?.listKind ?? `${spec?.names?.kind}List`,
      ...(spec?.names?.shortNames ? { shortNames: spec.names.shortNames } : {}),
      ...(spec?.names?.categories ? { categories: spec.names.categories } : {}),
    },
    storedVersions: [
      ...new Set([...storedBefore, ...(spec?.versions ?? []).filter((v: any) => v.storage).map((v: any) => v.name)]),
    ],
    conditions: conditionsBefore ?? [
      { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: now },
      { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: now },
    ],
  };
}
