/**
 * A controller: informers whose events map to root keys, one work queue, and a reconcile function
 * per key (controller-runtime's shape). Event handlers only enqueue; the queue serialises each key,
 * retries with backoff and honours requeue-after. Metrics, when given, count every reconcile.
 */
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from './client.js';
import { objectKey, type Informer } from './informer.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue, type ReconcileResult } from './workqueue.js';

export interface ControllerOptions {
  readonly name: string;
  readonly reconcile: (key: string) => Promise<ReconcileResult | void>;
  /** @default 4 */
  readonly concurrency?: number;
  readonly metrics?: OperatorMetrics;
  /** Told about every failed reconcile (after metrics counted it). */
  readonly onError?: (key: string, err: unknown, attempt: number) => void;
}

interface Watch {
  readonly informer: Informer;
  readonly toKeys: (o: KubeObject) => Iterable<string>;
  readonly coalesceMs?: number;
  readonly update?: (old: KubeObject, o: KubeObject) => boolean;
}

export interface WatchOptions<T extends KubeObject = KubeObject> {
  /**
   * Events of this watch enqueue their keys this long after the first of them, so a burst of
   * changes costs one reconcile per window — for a root that aggregates many objects (a status
   * summed over every Machine of a target), where reconciling on each event is quadratic.
   */
  readonly coalesceMs?: number;
  /**
   * An update enqueues only when this says it matters (controller-runtime's update predicates):
   * `beyondStatus` skips a reconciler's own status writes. Adds and deletes always enqueue.
   */
  readonly update?: (old: T, o: T) => boolean;
}

/**
 * True when an update changed more than the status (and the resourceVersion and managedFields
 * that every write moves): spec, labels, annotations, finalizers, owners, deletion. A reconciler
 * that alone writes its kind's status needs no reconcile for the echo of its own write.
 */
export function beyondStatus(old: KubeObject, o: KubeObject): boolean {
  const rest = ({ status: _s, metadata: { resourceVersion: _r, managedFields: _m, ...metadata }, ...obj }: KubeObject) => ({ ...obj, metadata });
  return old.metadata.generation !== o.metadata.generation || !isDeepStrictEqual(rest(old), rest(o));
}

export class Controller {
  readonly queue: WorkQueue;
  private readonly watches: Watch[] = [];
  private started = false;

  constructor(private readonly opts: ControllerOptions) {
    const hooks = opts.metrics?.queueHooks(opts.name);
    this.queue = new WorkQueue(opts.reconcile, {
      name: opts.name,
      concurrency: opts.concurrency,
      onProcessed: hooks?.onProcessed,
      onError: (key, err, attempt) => {
        hooks?.onError?.(key, err, attempt);
        opts.onError?.(key, err, attempt);
      },
    });
    opts.metrics?.trackQueue(opts.name, () => this.queue.depth);
  }

  /** Watches the root kind (keys are the objects' own) or, with `toKeys`, a kind that maps to roots. */
  watch<T extends KubeObject>(informer: Informer<T>, toKeys: (o: T) => Iterable<string> = (o) => [objectKey(o)], opts: WatchOptions<T> = {}): this {
    if (this.started) throw new Error(`controller ${this.opts.name}: add watches before start()`);
    this.watches.push({ informer: informer as unknown as Informer, toKeys: toKeys as Watch['toKeys'], coalesceMs: opts.coalesceMs, update: opts.update as Watch['update'] });
    return this;
  }

  /**
   * Starts the informers; once every cache has synced, their objects are enqueued and reconciles
   * begin. Not before: a reconcile that read a half-filled cache would try to create what exists.
   */
  async start(): Promise<void> {
    this.started = true;
    await Promise.all(this.watches.map((w) => w.informer.start()));
    await Promise.all(this.watches.map((w) => w.informer.waitForSync()));
    // Handlers added after the sync hear every cached object as an add first.
    for (const w of this.watches) {
      const coalesceMs = w.coalesceMs;
      const enqueue = coalesceMs
        ? (o: KubeObject) => {
            for (const key of w.toKeys(o)) this.queue.addAfter(key, coalesceMs);
          }
        : (o: KubeObject) => {
            for (const key of w.toKeys(o)) this.queue.add(key);
          };
      const matters = w.update ?? (() => true);
      w.informer.on({
        add: enqueue,
        update: (old, o) => {
          if (matters(old, o)) enqueue(o);
        },
        delete: enqueue,
      });
    }
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await Promise.all(this.watches.map((w) => w.informer.stop()));
  }
}
