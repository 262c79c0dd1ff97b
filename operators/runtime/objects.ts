/**
 * Finalizers and owner references, the two pieces of metadata every reconciler writes.
 *
 * Finalizer writes are JSON patches pinned to the resourceVersion the caller read: the patch
 * replaces `/metadata/resourceVersion` with that value, which the API server treats as an
 * optimistic-concurrency precondition. A reconciler working from a stale cache therefore gets
 * 409 Conflict (retried with backoff by the work queue) instead of overwriting a finalizer list
 * that someone else has changed since. A JSON-patch `test` op on the resourceVersion would guard
 * as well, but kube-apiserver answers a failed test with 422 Invalid, which reads as a bad request
 * rather than "read again and retry".
 */
import type { KubeClient, KubeObject, ResourceRef } from './client.js';

export type OwnerReference = NonNullable<KubeObject['metadata']['ownerReferences']>[number];

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}

/** The object's finalizers with `finalizer` appended (unchanged when already there); a new array. */
export function withFinalizer(obj: KubeObject, finalizer: string): string[] {
  const current = obj.metadata.finalizers ?? [];
  return current.includes(finalizer) ? [...current] : [...current, finalizer];
}

/** The object's finalizers without `finalizer`, order kept; a new array. */
export function withoutFinalizer(obj: KubeObject, finalizer: string): string[] {
  return (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
}

/**
 * Adds `finalizer` to the object as `obj` shows it; returns the stored object (or `obj` when the
 * finalizer is already there, without a write). Throws the API's 409 when `obj` is stale.
 */
export async function addFinalizer<T extends KubeObject>(client: KubeClient, ref: ResourceRef, obj: T, finalizer: string): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  return writeFinalizers(client, ref, obj, withFinalizer(obj, finalizer));
}

/**
 * Removes `finalizer` from the object as `obj` shows it; returns the stored object (or `obj` when
 * the finalizer is not there). Throws the API's 409 when `obj` is stale, and 404 when the object
 * is already gone (removing the last finalizer of a deleted object lets the server delete it).
 */
export async function removeFinalizer<T extends KubeObject>(client: KubeClient, ref: ResourceRef, obj: T, finalizer: string): Promise<T> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  return writeFinalizers(client, ref, obj, withoutFinalizer(obj, finalizer));
}

/**
 * Writes the whole list rather than appending or removing by index: an index taken from a stale
 * copy may not exist on the server, and the patch would then fail with 422 before the
 * resourceVersion pin could answer 409. `add` on a member replaces it or creates it.
 */
function writeFinalizers<T extends KubeObject>(client: KubeClient, ref: ResourceRef, obj: T, finalizers: string[]): Promise<T> {
  const ops = [pinResourceVersion(obj), { op: 'add', path: '/metadata/finalizers', value: finalizers }];
  return client.patch<T>(ref, obj.metadata.namespace, requireName(obj), 'json', ops);
}

function pinResourceVersion(obj: KubeObject) {
  const rv = obj.metadata.resourceVersion;
  if (!rv) {
    throw new Error(`${describe(obj)}: metadata.resourceVersion is empty; pass the object as read from the API so the write can be pinned to it`);
  }
  return { op: 'replace', path: '/metadata/resourceVersion', value: rv };
}

/**
 * A controller owner reference to `owner`. Built-in objects read from a list may lack
 * apiVersion and kind; pass them as `typeMeta` then.
 */
export function controllerRef(owner: KubeObject, typeMeta: { apiVersion?: string; kind?: string } = {}): OwnerReference {
  const apiVersion = typeMeta.apiVersion ?? owner.apiVersion;
  const kind = typeMeta.kind ?? owner.kind;
  const { name, uid } = owner.metadata;
  if (!apiVersion || !kind || !name || !uid) {
    const missing = Object.entries({ apiVersion, kind, 'metadata.name': name, 'metadata.uid': uid })
      .filter(([, v]) => !v)
      .map(([k]) => k);
    throw new Error(`controllerRef: owner ${describe(owner)} has no ${missing.join(', ')}; pass an object read from the API (and its apiVersion and kind if it came from a list)`);
  }
  return { apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true };
}

/** The owner reference marked `controller: true`, if any (there is at most one). */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** Whether `owner` is the controller of `obj`; compared by uid, so a re-created owner of the same name is not. */
export function isControlledBy(obj: KubeObject, owner: KubeObject): boolean {
  const ref = controllerOf(obj);
  return ref !== undefined && owner.metadata.uid !== undefined && ref.uid === owner.metadata.uid;
}

function requireName(obj: KubeObject): string {
  if (!obj.metadata.name) throw new Error(`${describe(obj)}: metadata.name is empty`);
  return obj.metadata.name;
}

function describe(obj: KubeObject): string {
  const name = obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name ?? ''}` : (obj.metadata.name ?? '<unnamed>');
  return `${obj.kind ?? 'object'} ${name}`;
}
