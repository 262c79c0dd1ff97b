/**
 * The server's own background work, done through the same Api as clients' writes:
 * - garbage collection by ownerReferences (Background, Foreground and Orphan propagation);
 * - namespace termination (delete the contents, then drop the "kubernetes" finalizer);
 * - CustomResourceDefinition deletion (delete every custom resource, then drop the cleanup finalizer).
 * Store events only enqueue work; a single async loop does it, so a write never waits on cleanup.
 */
import { crdCleanupFinalizer, nowRfc3339, type Api } from './api.js';
import { ApiError } from './errors.js';
import type { ServedResource } from './registry.js';
import type { StoreEvent } from './store.js';
import { storageResource, type KubeObject } from './types.js';

interface Location {
  resource: string;
  namespace: string;
  name: string;
}

type Work =
  | { kind: 'dependents'; uid: string }
  | { kind: 'owner'; uid: string }
  | { kind: 'dangling'; at: Location }
  | { kind: 'namespace'; name: string }
  | { kind: 'crd'; name: string };

const keyOf = (l: Location) => `${l.resource}|${l.namespace}|${l.name}`;

export class Collector {
  /** uid → where the object is. */
  private readonly byUid = new Map<string, Location>();
  /** owner uid → keys of objects that name it in ownerReferences. */
  private readonly dependents = new Map<string, Map<string, Location>>();
  private readonly ownersOf = new Map<string, string[]>();
  /** Owners (`uid:`), namespaces (`ns:`) and CRDs (`crd:`) whose deletion waits on other objects. */
  private readonly inDeletion = new Set<string>();
  private readonly queue: Work[] = [];
  private readonly queued = new Set<string>();
  private running = false;
  private stopped = false;
  private readonly unsubscribe: () => void;
  /** Failures are retried; this counts them for tests and metrics. */
  errors = 0;

  constructor(private readonly api: Api) {
    const all = [...api.store.scan()];
    for (const e of all) this.index({ resource: e.resource, namespace: e.namespace, name: e.name }, e.object, true);
    this.unsubscribe = api.store.subscribe((e) => this.onEvent(e));
    // Work left half-done by a previous run (a namespace being emptied, a foreground deletion).
    for (const e of all) this.enqueueFor(e.resource, e.object, 'MODIFIED');
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
  }

  /** Resolves once the queue is empty: for tests and orderly shutdown. */
  async idle(): Promise<void> {
    while (this.running || this.queue.length) await new Promise((r) => setTimeout(r, 5));
  }

  /** `fresh`: the object is new to the index (created, or read at start-up), so it has no old owners. */
  private index(at: Location, o: KubeObject, fresh: boolean): void {
    const uid = o.metadata.uid;
    if (uid) this.byUid.set(uid, at);
    // The common create: no owners now, none before.
    if (fresh && !o.metadata.ownerReferences?.length) return;
    const key = keyOf(at);
    const owners = (o.metadata.ownerReferences ?? []).map((r) => r.uid);
    for (const old of this.ownersOf.get(key) ?? []) if (!owners.includes(old)) this.dependents.get(old)?.delete(key);
    for (const u of owners) {
      if (!this.dependents.has(u)) this.dependents.set(u, new Map());
      this.dependents.get(u)!.set(key, at);
    }
    if (owners.length) this.ownersOf.set(key, owners);
    else this.ownersOf.delete(key);
  }

  private unindex(at: Location, o: KubeObject): void {
    const key = keyOf(at);
    if (o.metadata.uid) this.byUid.delete(o.metadata.uid);
    for (const u of this.ownersOf.get(key) ?? []) {
      const deps = this.dependents.get(u);
      deps?.delete(key);
      if (deps?.size === 0) this.dependents.delete(u);
    }
    this.ownersOf.delete(key);
  }

  private onEvent(e: StoreEvent): void {
    const at = { resource: e.resource, namespace: e.namespace, name: e.name };
    if (e.type === 'DELETED') {
      const uid = e.object.metadata.uid;
      this.unindex(at, e.object);
      for (const done of [`uid:${uid}`, `ns:${e.name}`, `crd:${e.name}`]) this.inDeletion.delete(done);
      // Only work that can exist is queued: a deletion storm of leaf objects costs nothing here.
      if (uid && this.dependents.has(uid)) this.push({ kind: 'dependents', uid });
      for (const r of e.object.metadata.ownerReferences ?? []) {
        if (this.inDeletion.has(`uid:${r.uid}`)) this.push({ kind: 'owner', uid: r.uid });
      }
      if (e.namespace && this.inDeletion.has(`ns:${e.namespace}`)) this.push({ kind: 'namespace', name: e.namespace });
      const crd = this.crdOfResource(e.resource);
      if (crd && this.inDeletion.has(`crd:${crd}`)) this.push({ kind: 'crd', name: crd });
      return;
    }
    this.index(at, e.object, e.type === 'ADDED');
    this.enqueueFor(e.resource, e.object, e.type);
  }

  private enqueueFor(resource: string, o: KubeObject, type: StoreEvent['type']): void {
    const m = o.metadata;
    // Created with an owner that is already gone (a stale cache wrote it): collect it. The common
    // case, every owner alive, is decided here without queueing work.
    if (type === 'ADDED' && m.ownerReferences?.some((ref) => !this.byUid.has(ref.uid))) {
      this.push({ kind: 'dangling', at: { resource, namespace: m.namespace ?? '', name: m.name! } });
    }
    if (!m.deletionTimestamp) return;
    const f = m.finalizers ?? [];
    if (f.includes('foregroundDeletion') || f.includes('orphan')) {
      this.inDeletion.add(`uid:${m.uid}`);
      this.push({ kind: 'owner', uid: m.uid! });
    }
    if (resource === 'core/namespaces') {
      this.inDeletion.add(`ns:${m.name}`);
      this.push({ kind: 'namespace', name: m.name! });
    }
    if (resource === 'apiextensions.k8s.io/customresourcedefinitions' && f.includes(crdCleanupFinalizer)) {
      this.inDeletion.add(`crd:${m.name}`);
      this.push({ kind: 'crd', name: m.name! });
    }
  }

  private crdOfResource(resource: string): string | undefined {
    const [group, plural] = resource.split('/');
    if (group === 'core' || !plural) return undefined;
    const r = this.api.registry.storageResources().find((x) => x.custom && x.group === group && x.plural === plural);
    return r?.custom ? r.crdName : undefined;
  }

  private push(w: Work): void {
    if (this.stopped) return;
    const id = JSON.stringify(w);
    if (this.queued.has(id)) return;
    this.queued.add(id);
    this.queue.push(w);
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    let n = 0;
    while (this.queue.length && !this.stopped) {
      const w = this.queue.shift()!;
      this.queued.delete(JSON.stringify(w));
      try {
        this.process(w);
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) {
          this.errors++;
          // Retry after the conflicting writer moved on.
          setTimeout(() => this.push(w), 100).unref();
        }
      }
      // Yield now and then so requests keep flowing during a large cascade.
      if (++n % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    this.running = false;
  }

  private resourceOf(storage: string): ServedResource | undefined {
    return this.api.registry.storageResources().find((r) => storageResource(r) === storage);
  }

  private objectAt(at: Location): { r: ServedResource; o: KubeObject } | undefined {
    const r = this.resourceOf(at.resource);
    const found = this.api.store.get(at.resource, at.namespace, at.name);
    return r && found ? { r, o: found.object } : undefined;
  }

  private process(w: Work): void {
    switch (w.kind) {
      case 'dependents':
        return this.collectDependents(w.uid);
      case 'owner':
        return this.finishOwner(w.uid);
      case 'dangling':
        return this.collectIfOrphaned(w.at);
      case 'namespace':
        return this.terminateNamespace(w.name);
      case 'crd':
        return this.cleanupCrd(w.name);
    }
  }

  /** The owner is gone: dependents with no other live owner go too; others just lose the reference. */
  private collectDependents(uid: string): void {
    for (const at of [...(this.dependents.get(uid)?.values() ?? [])]) this.collectIfOrphaned(at);
  }

  private collectIfOrphaned(at: Location): void {
    const found = this.objectAt(at);
    if (!found) return;
    const refs = found.o.metadata.ownerReferences ?? [];
    const live = refs.filter((ref) => this.byUid.has(ref.uid));
    if (live.length === refs.length) return;
    if (live.length > 0) {
      this.api.patch(found.r, at.namespace, at.name, 'json', [
        { op: 'test', path: '/metadata/resourceVersion', value: found.o.metadata.resourceVersion },
        { op: 'replace', path: '/metadata/ownerReferences', value: live },
      ]);
      return;
    }
    this.api.delete(found.r, at.namespace, at.name, { propagationPolicy: 'Background' });
  }

  /** An owner being deleted with foregroundDeletion or orphan finalizers. */
  private finishOwner(uid: string): void {
    const at = this.byUid.get(uid);
    if (!at) return;
    const found = this.objectAt(at);
    if (!found?.o.metadata.deletionTimestamp) return;
    const { r, o } = found;
    const finalizers = o.metadata.finalizers ?? [];
    const deps = [...(this.dependents.get(uid)?.values() ?? [])];
    let remove: string | undefined;
    if (finalizers.includes('orphan')) {
      for (const d of deps) {
        const dep = this.objectAt(d);
        if (!dep) continue;
        const rest = (dep.o.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== uid);
        this.api.patch(dep.r, d.namespace, d.name, 'merge', {
          metadata: { resourceVersion: dep.o.metadata.resourceVersion, ownerReferences: rest.length ? rest : null },
        });
      }
      remove = 'orphan';
    } else if (finalizers.includes('foregroundDeletion')) {
      const waiting = deps.filter((d) => {
        const dep = this.objectAt(d);
        if (!dep) return false;
        if (!dep.o.metadata.deletionTimestamp) {
          this.api.delete(dep.r, d.namespace, d.name, { propagationPolicy: 'Foreground' });
        }
        return true;
      });
      if (waiting.length === 0) remove = 'foregroundDeletion';
    }
    if (!remove) return;
    this.api.patch(r, at.namespace, at.name, 'merge', {
      metadata: { resourceVersion: o.metadata.resourceVersion, finalizers: finalizers.filter((f) => f !== remove) },
    });
  }

  private terminateNamespace(name: string): void {
    const ns = this.api.store.get('core/namespaces', '', name)?.object;
    if (!ns?.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const r of this.api.registry.storageResources()) {
      if (!r.namespaced) continue;
      const { items } = this.api.store.list(storageResource(r), name);
      remaining += items.length;
      for (const o of items) {
        if (!o.metadata.deletionTimestamp) this.api.delete(r, name, o.metadata.name!, { propagationPolicy: 'Background' });
      }
    }
    if (remaining > 0) return;
    const specFinalizers: string[] = ((ns as any).spec?.finalizers ?? []).filter((f: string) => f !== 'kubernetes');
    this.api.finalizeNamespace(name, specFinalizers);
  }

  private cleanupCrd(name: string): void {
    const crdRes = this.api.registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
    const crd = this.api.store.get('apiextensions.k8s.io/customresourcedefinitions', '', name)?.object;
    if (!crd?.metadata.deletionTimestamp || !(crd.metadata.finalizers ?? []).includes(crdCleanupFinalizer)) return;
    const status = (crd.status ?? {}) as { conditions?: Array<Record<string, unknown>> };
    if (!status.conditions?.some((c) => c.type === 'Terminating')) {
      const conditions = (status.conditions ?? []).filter((c) => c.type !== 'Established');
      conditions.push(
        { type: 'Established', status: 'False', reason: 'Terminating', message: 'the object is being deleted', lastTransitionTime: nowRfc3339() },
        { type: 'Terminating', status: 'True', reason: 'InstanceDeletionInProgress', message: 'CustomResource deletion is in progress', lastTransitionTime: nowRfc3339() },
      );
      this.api.update(crdRes, '', name, { ...crd, status: { ...status, conditions } }, { subresource: 'status' });
    }
    const r = this.api.registry.storageResources().find((x) => x.custom && x.crdName === name);
    if (r) {
      const { items } = this.api.store.list(storageResource(r), undefined);
      for (const o of items) {
        if (!o.metadata.deletionTimestamp) this.api.delete(r, o.metadata.namespace ?? '', o.metadata.name!, { propagationPolicy: 'Background' });
      }
      if (items.length > 0) return;
    }
    const fresh = this.api.store.get('apiextensions.k8s.io/customresourcedefinitions', '', name)!.object;
    this.api.patch(crdRes, '', name, 'merge', {
      metadata: {
        resourceVersion: fresh.metadata.resourceVersion,
        finalizers: (fresh.metadata.finalizers ?? []).filter((f) => f !== crdCleanupFinalizer),
      },
    });
  }
}
