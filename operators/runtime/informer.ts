/**
 * A list-watch cache that does not die. client-node's own informer stops for good on a non-410
 * error; this one restarts its watch with capped exponential backoff, relists on 410 Expired, and
 * relists periodically as a safety net, emitting only the differences. Handlers are synchronous
 * and should only enqueue keys; a throwing handler is logged, never fatal.
 */
import type { KubeClient, KubeObject, ResourceRef, WatchEvent, WatchHandle } from './client.js';
import { KubeApiError } from './client.js';
import { controllerOf } from './objects.js';

export interface InformerHandlers<T extends KubeObject = KubeObject> {
  add?(o: T): void;
  update?(old: T, o: T): void;
  delete?(o: T): void;
}

export interface InformerOptions {
  client: KubeClient;
  resource: ResourceRef;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Full relist interval (a diff is emitted); @default 5 minutes, jittered ±10%. */
  relistIntervalMs?: number;
  /** Called whenever the watch had to be restarted after an error (for metrics). */
  onRestart?: (reason: string) => void;
  /** Watch connection timeout asked of the server; @default 5–10 minutes. */
  watchTimeoutSeconds?: number;
  /**
   * Applied to every object before it is cached (client-go's TransformFunc), e.g. to drop
   * managedFields a controller never reads: at thousands of objects they are most of the memory.
   */
  transform?: <T extends KubeObject>(o: T) => T;
}

/** A transform that drops `metadata.managedFields`. */
export function stripManagedFields<T extends KubeObject>(o: T): T {
  if (o.metadata?.managedFields) delete o.metadata.managedFields;
  return o;
}

export const objectKey = (o: KubeObject): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : String(o.metadata.name);

/** The inverse of objectKey: `namespace/name`, or a bare name for a cluster-scoped object. */
export function parseObjectKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref?.());

/** Index values of an object (client-go's IndexFunc): it is listed under each. */
export type IndexFunc<T extends KubeObject> = (o: T) => readonly string[];

/** Indexes objects by the values of an IndexFunc: value → key → object. */
class Index<T extends KubeObject> {
  private readonly byValue = new Map<string, Map<string, T>>();

  constructor(readonly valuesOf: IndexFunc<T>) {}

  get(value: string): T[] {
    const objects = this.byValue.get(value);
    return objects ? [...objects.values()] : [];
  }

  add(key: string, o: T): void {
    for (const v of this.valuesOf(o)) {
      let objects = this.byValue.get(v);
      if (!objects) this.byValue.set(v, (objects = new Map()));
      objects.set(key, o);
    }
  }

  delete(key: string, o: T): void {
    for (const v of this.valuesOf(o)) {
      const objects = this.byValue.get(v);
      objects?.delete(key);
      if (objects?.size === 0) this.byValue.delete(v);
    }
  }
}

/** An IndexFunc listing objects under their controller's uid: `byIndex(name, owner.metadata.uid)` are the objects it controls. */
export const byControllerUid: IndexFunc<KubeObject> = (o) => {
  const uid = controllerOf(o)?.uid;
  return uid ? [uid] : [];
};

export class Informer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  /** The cache again, by namespace: controllers list one namespace per reconcile, at any scale. */
  private readonly byNamespace = new Index<T>((o) => [o.metadata.namespace ?? '']);
  private readonly indexes = new Map<string, Index<T>>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private resourceVersion = '';
  private stopped = true;
  private watch?: WatchHandle;
  private relistTimer?: NodeJS.Timeout;
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private loop?: Promise<void>;
  /** How many users started this informer (a shared one): only the last stop() stops it. */
  private users = 0;
  restarts = 0;

  constructor(private readonly opts: InformerOptions) {}

  /** Adds handlers; one added after the first sync hears the cached objects as adds first. */
  on(h: InformerHandlers<T>): this {
    this.handlers.push(h);
    if (this.synced) for (const o of this.cache.values()) this.emitTo(h, (x) => x.add?.(o));
    return this;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  /** Every cached object, or those of one namespace (from an index: no scan of the whole cache). */
  list(namespace?: string): T[] {
    return namespace === undefined ? [...this.cache.values()] : this.byNamespace.get(namespace);
  }

  /**
   * Adds an index (client-go's AddIndexers) before the informer starts: `byIndex(name, value)`
   * then lists the objects with that value without scanning the cache.
   */
  addIndex(name: string, valuesOf: IndexFunc<T>): this {
    if (this.indexes.has(name)) throw new Error(`informer ${this.opts.resource.plural}: index ${name} exists already`);
    if (this.cache.size > 0) throw new Error(`informer ${this.opts.resource.plural}: add index ${name} before the informer starts`);
    this.indexes.set(name, new Index(valuesOf));
    return this;
  }

  /** The cached objects an index lists under `value`. */
  byIndex(name: string, value: string): T[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`informer ${this.opts.resource.plural}: no index ${name}`);
    return index.get(value);
  }

  private put(key: string, o: T): void {
    const old = this.cache.get(key);
    if (old) this.unindex(key, old);
    this.cache.set(key, o);
    this.byNamespace.add(key, o);
    for (const index of this.indexes.values()) index.add(key, o);
  }

  private remove(key: string, o: T): void {
    this.cache.delete(key);
    this.unindex(key, o);
  }

  private unindex(key: string, o: T): void {
    this.byNamespace.delete(key, o);
    for (const index of this.indexes.values()) index.delete(key, o);
  }

  /** Starts the loop; resolves once the first list is in the cache. */
  async start(): Promise<void> {
    this.users++;
    if (!this.stopped) return this.waitForSync();
    this.stopped = false;
    this.loop = this.run();
    this.scheduleRelist();
    return this.waitForSync();
  }

  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncWaiters.push(r));
  }

  async stop(): Promise<void> {
    if (this.users > 1) {
      this.users--;
      return;
    }
    this.users = 0;
    this.stopped = true;
    clearTimeout(this.relistTimer);
    this.watch?.stop();
    await this.loop;
  }

  private scheduleRelist(): void {
    const base = this.opts.relistIntervalMs ?? 5 * 60_000;
    this.relistTimer = setTimeout(() => {
      // Dropping the resourceVersion makes the loop relist and diff before it watches again.
      this.resourceVersion = '';
      this.watch?.stop();
      this.scheduleRelist();
    }, base * (0.9 + Math.random() * 0.2));
    this.relistTimer.unref();
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        if (this.stopped) break;
        const timeout = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
        this.watch = await this.opts.client.watch(
          this.opts.resource,
          this.opts.namespace,
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: timeout,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
          },
          (e) => this.onEvent(e),
        );
        // stop() or a relist may have come while the watch request was in flight.
        if (this.stopped || !this.resourceVersion) this.watch.stop();
        await this.watch.done;
        backoff = 100;
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof KubeApiError && err.code === 410) this.resourceVersion = '';
        this.restarts++;
        this.opts.onRestart?.(err instanceof Error ? err.message : String(err));
        await sleep(backoff * (0.8 + Math.random() * 0.4));
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  private async relist(): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.opts.client.list<T>(this.opts.resource, this.opts.namespace, {
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        limit: 500,
        continue: cont,
      });
      for (const o of page.items) fresh.set(objectKey(o), this.opts.transform ? this.opts.transform(o) : o);
      cont = page.metadata.continue;
      rv = page.metadata.resourceVersion ?? '';
    } while (cont);
    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) {
        this.remove(key, old);
        this.emit((h) => h.delete?.(old));
      }
    }
    for (const [key, o] of fresh) {
      const old = this.cache.get(key);
      this.put(key, o);
      if (!old) this.emit((h) => h.add?.(o));
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit((h) => h.update?.(old, o));
    }
    this.resourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private onEvent(e: WatchEvent): void {
    if (e.type === 'ERROR') {
      if ((e.object as { code?: number }).code === 410) this.resourceVersion = '';
      this.watch?.stop();
      return;
    }
    let o = e.object as T;
    if (o.metadata?.resourceVersion) this.resourceVersion = o.metadata.resourceVersion;
    if (e.type === 'BOOKMARK') return;
    if (this.opts.transform) o = this.opts.transform(o);
    const key = objectKey(o);
    const old = this.cache.get(key);
    if (e.type === 'DELETED') {
      if (old) this.remove(key, old);
      this.emit((h) => h.delete?.(o));
    } else {
      this.put(key, o);
      if (old) this.emit((h) => h.update?.(old, o));
      else this.emit((h) => h.add?.(o));
    }
  }

  private emit(call: (h: InformerHandlers<T>) => void): void {
    for (const h of this.handlers) this.emitTo(h, call);
  }

  private emitTo(h: InformerHandlers<T>, call: (h: InformerHandlers<T>) => void): void {
    try {
      call(h);
    } catch (err) {
      console.error(`informer ${this.opts.resource.plural}: handler failed`, err);
    }
  }
}

/**
 * One informer per resource, namespace and selectors, shared by every component of a process that
 * asks (like client-go's SharedInformerFactory): one list-watch and one cache instead of one per
 * controller. Start and stop are counted per user. Handlers must not modify cached objects.
 */
export class SharedInformers {
  private readonly byKey = new Map<string, Informer<KubeObject>>();

  constructor(private readonly client: KubeClient) {}

  get<T extends KubeObject = KubeObject>(opts: Omit<InformerOptions, 'client'>): Informer<T> {
    const key = JSON.stringify([opts.resource, opts.namespace ?? '', opts.labelSelector ?? '', opts.fieldSelector ?? '']);
    let informer = this.byKey.get(key);
    if (!informer) this.byKey.set(key, (informer = new Informer({ ...opts, client: this.client })));
    return informer as unknown as Informer<T>;
  }
}

