/**
 * `?watch=true`: a chunked stream of one JSON event per line. New watchers subscribe before they
 * replay, and both happen in one synchronous step, so no event is lost or sent twice.
 */
import type { ServerResponse } from 'node:http';
import type { Api } from './api.js';
import { ApiError } from './errors.js';
import type { ServedResource } from './registry.js';
import { CompactedError, type StoreEvent } from './store.js';
import { storageResource, type KubeObject } from './types.js';

export interface WatchOptions {
  namespace?: string;
  resourceVersion?: string;
  matches: (o: KubeObject) => boolean;
  allowBookmarks: boolean;
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
  bookmarkIntervalMs: number;
  /** Renders an object for the wire as a one-row Table (`kubectl get -w`); plain JSON when absent. */
  render?: (o: KubeObject) => unknown;
}

/** A watcher whose socket falls this far behind is cut off; its client re-watches from its last event. */
const maxBuffered = 64 * 1024 * 1024;

/**
 * The wire line of a plain-JSON event, built once and shared by every watcher it goes to (with
 * hundreds of watchers on one resource, serialising per watcher dominated delivery latency).
 */
interface Lines {
  /** The shape nearly every watcher wants: checked first, with no key to build. */
  type: string;
  apiVersion: string;
  line: string;
  /** Other shapes (a selector turning MODIFIED into ADDED, another served version), by `type apiVersion`. */
  others?: Map<string, string>;
}
const lines = new WeakMap<StoreEvent, Lines>();
function eventLine(e: StoreEvent, type: string, apiVersion: string, kind: string): string {
  const cached = lines.get(e);
  if (!cached) {
    const line = renderLine(e, type, apiVersion, kind);
    lines.set(e, { type, apiVersion, line });
    return line;
  }
  if (cached.type === type && cached.apiVersion === apiVersion) return cached.line;
  const key = `${type} ${apiVersion}`;
  let line = cached.others?.get(key);
  if (line === undefined) (cached.others ??= new Map()).set(key, (line = renderLine(e, type, apiVersion, kind)));
  return line;
}

function renderLine(e: StoreEvent, type: string, apiVersion: string, kind: string): string {
  return `${JSON.stringify({ type, object: { ...e.object, apiVersion, kind } })}\n`;
}

export function serveWatch(api: Api, r: ServedResource, res: ServerResponse, opts: WatchOptions): () => void {
  const resource = storageResource(r);
  let lastRev = 0;
  let closed = false;
  const timers: NodeJS.Timeout[] = [];

  // Lines queued in one synchronous run leave in one socket write (one TLS record): the store
  // publishes a group commit's events in one go, so under load a watcher receives a burst, not a
  // syscall and an encryption per event. nextTick, not setImmediate: publishing happens in the
  // check phase, and waiting for the next turn's would add a turn of latency (and not
  // queueMicrotask, which builds an async resource per call).
  let pending: string[] = [];
  const flush = () => {
    const out = pending.join('');
    pending = [];
    if (closed || !out) return;
    res.write(out);
    if (res.writableLength > maxBuffered) close();
  };
  const write = (line: string) => {
    if (closed) return;
    if (pending.push(line) === 1) process.nextTick(flush);
  };
  const send = (type: string, object: unknown) => write(`${JSON.stringify({ type, object })}\n`);
  const apiVersion = r.group ? `${r.group}/${r.version}` : r.version;

  const inScope = (e: StoreEvent) => e.resource === resource && (opts.namespace === undefined || e.namespace === opts.namespace);

  /** Selector watches see an object entering the match as ADDED and leaving it as DELETED. */
  const deliver = (e: StoreEvent) => {
    if (e.rev <= lastRev || !inScope(e)) return;
    lastRev = e.rev;
    const now = e.type !== 'DELETED' && opts.matches(e.object);
    const before = e.prev !== undefined && opts.matches(e.prev);
    let type: string | undefined;
    if (e.type === 'DELETED') type = before ? 'DELETED' : undefined;
    else if (now) type = before || (e.type === 'MODIFIED' && e.prev === undefined) ? 'MODIFIED' : 'ADDED';
    else if (before) type = 'DELETED';
    if (!type) return;
    if (opts.render) send(type, opts.render(api.served(r, e.object)));
    else write(eventLine(e, type, apiVersion, r.kind));
  };

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();

  const unsubscribe = api.store.subscribe(deliver);
  function close() {
    if (closed) return;
    if (pending.length) flush();
    closed = true;
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    res.end();
  }

  const rv = opts.resourceVersion;
  try {
    if (!rv || rv === '0') {
      const { items, rev } = api.store.list(resource, opts.namespace);
      lastRev = rev;
      const render = opts.render ?? ((o: KubeObject) => o);
      for (const o of items) if (opts.matches(o)) send('ADDED', render(api.served(r, o)));
      if (opts.sendInitialEvents && opts.allowBookmarks) {
        send('BOOKMARK', bookmark(r, rev, { 'k8s.io/initial-events-end': 'true' }));
      }
    } else {
      const from = Number(rv);
      if (!Number.isInteger(from) || from < 0) throw new ApiError('BadRequest', `invalid resource version: "${rv}"`);
      const replay = api.store.eventsSince(from, resource);
      lastRev = from;
      for (const e of replay) deliver(e);
      lastRev = Math.max(lastRev, Math.min(from, api.store.revision));
    }
  } catch (err) {
    if (err instanceof CompactedError) {
      send('ERROR', new ApiError('Expired', err.message).toStatus());
    } else if (err instanceof ApiError) {
      send('ERROR', err.toStatus());
    } else {
      send('ERROR', new ApiError('InternalError', String(err)).toStatus());
    }
    close();
    return close;
  }

  if (opts.allowBookmarks) {
    const tick = () => {
      send('BOOKMARK', bookmark(r, lastRev));
      timers.push(setTimeout(tick, opts.bookmarkIntervalMs).unref());
    };
    timers.push(setTimeout(tick, opts.bookmarkIntervalMs).unref());
  }
  // Without a timeout the apiserver closes at a random point between 30 and 60 minutes,
  // so reconnecting clients spread out; a fresh watch is never closed at once.
  const timeoutMs = opts.timeoutSeconds ? opts.timeoutSeconds * 1000 : (1800 + Math.random() * 1800) * 1000;
  timers.push(setTimeout(close, timeoutMs).unref());
  res.on('close', close);
  return close;
}

function bookmark(r: ServedResource, rev: number, annotations?: Record<string, string>) {
  return {
    kind: r.kind,
    apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
    metadata: { resourceVersion: String(rev), ...(annotations ? { annotations } : {}) },
  };
}
