/**
 * Kubernetes Events from operators, the ones `kubectl describe` shows under "Events:".
 *
 * Like client-go's EventRecorder, repeats are aggregated: the same (object, type, reason,
 * message) within ten minutes of its last occurrence bumps `count` and `lastTimestamp` of one
 * Event instead of creating another, so a reconcile loop that fails every few seconds leaves one
 * line "(x40 over 3m)" rather than flooding etcd. Each series has a deterministic name, so a
 * restarted operator (or a second replica) continues the series it finds instead of duplicating it.
 *
 * Recording an event must never break or slow a reconcile: `event()` never throws or rejects,
 * and at most `maxPending` writes are in flight; beyond that events are dropped and counted.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { isAlreadyExists, isNotFound, type KubeClient, type KubeObject } from './client.js';
import { createLogger, type Logger } from './log.js';
import { rfc3339 } from './time.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  /** `source.component` and `reportingComponent`: who says it (`kok-cluster-operator`). */
  readonly component: string;
  /** `source.host` and `reportingInstance`. @default - os.hostname() */
  readonly host?: string;
  /** Writes in flight before new events are dropped. @default 25 */
  readonly maxPending?: number;
  /** How long after its last occurrence a repeat still joins a series. @default 10 minutes, as client-go */
  readonly seriesWindowMs?: number;
  /** @default - a logger named 'events' */
  readonly logger?: Logger;
}

/** The longest message events.k8s.io accepts; core/v1 has no limit, but longer ones only flood `kubectl describe`. */
const MAX_MESSAGE = 1024;
/** Series remembered in memory; older ones are found again on the server by their name. */
const MAX_SERIES = 4096;

interface Series {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  lastSeenMs: number;
}

export class EventRecorder {
  private readonly series = new Map<string, Series>();
  /** Writes of one series run one after another, so two quick repeats cannot both create. */
  private readonly tails = new Map<string, Promise<void>>();
  private pending = 0;
  /** Events dropped because `maxPending` writes were in flight. */
  dropped = 0;
  /** Events whose write failed (logged). */
  failed = 0;
  private readonly host: string;
  private readonly log: Logger;

  constructor(
    private readonly client: KubeClient,
    private readonly options: EventRecorderOptions,
  ) {
    this.host = options.host ?? hostname();
    this.log = options.logger ?? createLogger({ name: 'events' });
  }

  /** Records an event about `obj` (as read from the API: it needs name, uid, kind and apiVersion). */
  event(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    if (this.pending >= (this.options.maxPending ?? 25)) {
      this.dropped++;
      return Promise.resolve();
    }
    this.pending++;
    message = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const key = JSON.stringify([obj.metadata.uid ?? '', obj.metadata.namespace ?? '', obj.metadata.name ?? '', type, reason, message]);
    const run = (this.tails.get(key) ?? Promise.resolve())
      .then(() => this.write(key, obj, type, reason, message))
      .catch((err: unknown) => {
        this.failed++;
        const error = err instanceof Error ? err.message : String(err);
        this.log.warn({ object: describe(obj), type, reason, error }, 'could not record event');
      })
      .finally(() => {
        this.pending--;
        if (this.tails.get(key) === run) this.tails.delete(key);
      });
    this.tails.set(key, run);
    return run;
  }

  private async write(key: string, obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = Date.now();
    const timestamp = rfc3339(now);
    const window = this.options.seriesWindowMs ?? 10 * 60_000;
    const known = this.series.get(key);
    if (known && now - known.lastSeenMs < window) {
      try {
        await this.client.patch(resources.events, known.namespace, known.name, 'merge', { count: known.count + 1, lastTimestamp: timestamp });
        this.remember(key, { ...known, count: known.count + 1, lastSeenMs: now });
        return;
      } catch (err) {
        // Events expire on the server (an hour by default); start the series again.
        if (!isNotFound(err)) throw err;
      }
    }

    const namespace = obj.metadata.namespace || 'default';
    const name = seriesName(obj, key);
    const fresh = { metadata: { name, namespace }, ...this.body(obj, type, reason, message), firstTimestamp: timestamp, lastTimestamp: timestamp, count: 1 };
    try {
      await this.client.create(resources.events, namespace, fresh);
      this.remember(key, { name, namespace, count: 1, firstTimestamp: timestamp, lastSeenMs: now });
      return;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    // The series exists from before a restart, or from another replica: continue it or, if it has
    // gone quiet for longer than the window, start it over under the same name.
    const existing = await this.client.get(resources.events, namespace, name);
    const last = Date.parse(existing.lastTimestamp ?? existing.firstTimestamp ?? '') || 0;
    const continues = now - last < window;
    const count = continues ? (Number(existing.count) || 1) + 1 : 1;
    const firstTimestamp = continues ? (existing.firstTimestamp ?? timestamp) : timestamp;
    await this.client.patch(resources.events, namespace, name, 'merge', {
      ...this.body(obj, type, reason, message),
      count,
      firstTimestamp,
      lastTimestamp: timestamp,
      // Pinned: two replicas continuing one series must not both write the same count.
      metadata: { resourceVersion: existing.metadata.resourceVersion },
    });
    this.remember(key, { name, namespace, count, firstTimestamp, lastSeenMs: now });
  }

  private body(obj: KubeObject, type: EventType, reason: string, message: string) {
    return {
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
        name: obj.metadata.name,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      type,
      reason,
      message,
      source: { component: this.options.component, host: this.host },
      reportingComponent: this.options.component,
      reportingInstance: this.host,
    };
  }

  private remember(key: string, s: Series): void {
    // Re-inserting moves the key to the end, so the first key is the least recently used.
    this.series.delete(key);
    this.series.set(key, s);
    if (this.series.size > MAX_SERIES) this.series.delete(this.series.keys().next().value!);
  }
}

/**
 * `<object name>.<16 hex>`: readable in `kubectl get events`, stable for the series, and within the
 * 253 characters of a name whatever the object's name (a long one is cut, the hash keeps it unique).
 */
function seriesName(obj: KubeObject, key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  const base = (obj.metadata.name ?? 'object').slice(0, 253 - 17).replace(/[.-]+$/, '');
  return `${base}.${hash}`;
}

function describe(obj: KubeObject): string {
  const name = obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
  return `${obj.kind ?? 'object'} ${name}`;
}
