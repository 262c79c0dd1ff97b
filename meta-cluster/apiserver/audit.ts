/**
 * Audit events as kube-apiserver writes them at level Metadata (audit.k8s.io/v1 `Event`): who did
 * what to which object, from where, and how it was answered. Never a request or response body and
 * never a credential: a token travels in a header, and no header but User-Agent is recorded.
 *
 * The HTTP server (server.ts) hands one event per request to its `audit` hook when the answer has
 * left (stage ResponseComplete); a watch is reported once, when its stream starts (stage
 * ResponseStarted). {@link openAuditLog} appends events to a file as JSON lines, as
 * `kube-apiserver --audit-log-path` does.
 */
import { closeSync, createWriteStream, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Status } from './errors.js';

/** authentication.k8s.io/v1 UserInfo. Empty when the request failed authentication. */
export interface AuditUser {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** What a resource request is for, as kube-apiserver's RequestInfo names it. */
export interface AuditObjectRef {
  resource: string;
  namespace?: string;
  name?: string;
  /** Absent for the core group. */
  apiGroup?: string;
  apiVersion: string;
  subresource?: string;
}

export interface AuditResponseStatus {
  metadata: Record<string, never>;
  /** Only for failures, with `message`, `reason` and `details` of the Status answered. */
  status?: 'Failure';
  message?: string;
  reason?: string;
  details?: Status['details'];
  code: number;
}

export type AuditStage = 'ResponseStarted' | 'ResponseComplete';

/** An audit.k8s.io/v1 Event at level Metadata. */
export interface AuditEvent {
  kind: 'Event';
  apiVersion: 'audit.k8s.io/v1';
  level: 'Metadata';
  /** A UUID, also sent to the client as the `Audit-Id` response header. */
  auditID: string;
  stage: AuditStage;
  requestURI: string;
  /** get, list, watch, create, update, patch, delete, deletecollection; the lowercased HTTP method for non-resource paths. */
  verb: string;
  /** The authenticated user: for an impersonating request, the impersonator. */
  user: AuditUser;
  /** Whom an impersonating request acted as. */
  impersonatedUser?: AuditUser;
  sourceIPs: string[];
  userAgent?: string;
  /** Only for resource requests (paths under /api/v1/… and /apis/<group>/<version>/…). */
  objectRef?: AuditObjectRef;
  responseStatus: AuditResponseStatus;
  /** RFC 3339 with microseconds, UTC. */
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  /**
   * `authorization.k8s.io/decision` (allow or forbid) and `authorization.k8s.io/reason` (the
   * authorizer's, e.g. the RBAC binding that allowed it), when the request reached authorization.
   */
  annotations?: Record<string, string>;
}

export interface RequestInfo {
  verb: string;
  objectRef?: AuditObjectRef;
}

/** Subresources of a namespace itself: `/api/v1/namespaces/x/status` is namespace x's status. */
const namespaceSubresources = new Set(['status', 'finalize']);

/**
 * The verb and object of a request, by kube-apiserver's rules (RequestInfoFactory): GET/HEAD of a
 * named object is get, of a collection list (watch with `?watch=`), POST create, PUT update,
 * PATCH patch, DELETE delete (deletecollection without a name). A list or watch narrowed to one
 * name by `fieldSelector=metadata.name=x` names that object. Anything outside /api/v1/… and
 * /apis/<group>/<version>/… (discovery, /version, /healthz, OpenAPI) is a non-resource request
 * whose verb is the lowercased method.
 */
export function requestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const lower = method.toLowerCase();
  let parts: string[];
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return { verb: lower };
  }
  if (parts.length < 3 || (parts[0] !== 'api' && parts[0] !== 'apis')) return { verb: lower };
  let apiGroup = '';
  let rest = parts.slice(1);
  if (parts[0] === 'apis') {
    if (rest.length < 3) return { verb: lower };
    apiGroup = rest[0];
    rest = rest.slice(1);
  }
  const apiVersion = rest[0];
  rest = rest.slice(1);
  const verbs: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
  let verb = verbs[method] ?? '';
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && !namespaceSubresources.has(rest[2])) rest = rest.slice(2);
  }
  const [resource = '', pathName, subresource] = rest;
  let name: string | undefined = pathName;
  if (name === undefined && verb === 'get') {
    const watch = query.get('watch');
    verb = watch !== null && !/^(false|0)$/i.test(watch) ? 'watch' : 'list';
    name = exactName(query.get('fieldSelector'));
  }
  if (name === undefined && verb === 'delete') verb = 'deletecollection';
  return { verb, objectRef: objectRef({ resource, namespace, name, apiGroup, apiVersion, subresource }) };
}

/** Fields in kube-apiserver's order, empty ones left out as its omitempty does. */
function objectRef(f: { resource: string; namespace?: string; name?: string; apiGroup?: string; apiVersion: string; subresource?: string }): AuditObjectRef {
  const ref = { resource: f.resource } as AuditObjectRef;
  if (f.namespace) ref.namespace = f.namespace;
  if (f.name) ref.name = f.name;
  if (f.apiGroup) ref.apiGroup = f.apiGroup;
  ref.apiVersion = f.apiVersion;
  if (f.subresource) ref.subresource = f.subresource;
  return ref;
}

/** The name a field selector requires (`metadata.name=x` among its terms), if any. */
function exactName(selector: string | null): string | undefined {
  if (!selector) return undefined;
  for (const term of selector.split(',')) {
    const m = /^\s*metadata\.name\s*==?\s*([^\s=!]+)\s*$/.exec(term);
    // Only a valid path segment can name an object, as kube-apiserver checks too.
    if (m && m[1] !== '.' && m[1] !== '..' && !/[/%]/.test(m[1])) return m[1];
  }
  return undefined;
}

/**
 * Wall-clock milliseconds (fractional) of a `performance.now()` reading: Date.now() stops at
 * milliseconds, audit timestamps carry microseconds. The offset is re-anchored when it drifts
 * by more than a millisecond (checked at most once a second), because the monotonic clock stands
 * still while the machine sleeps and ignores clock steps.
 */
export function wallClockMs(perfNow: number): number {
  if (perfNow - clock.checkedAt > 1000) {
    const wall = Date.now();
    const perf = performance.now();
    if (Math.abs(wall - (clock.offset + perf)) > 1) clock.offset = wall - perf;
    clock.checkedAt = perf;
  }
  return clock.offset + perfNow;
}
const clock = { offset: performance.timeOrigin, checkedAt: -Infinity };

/** RFC 3339 in UTC with exactly six fractional digits, as kube-apiserver's MicroTime. */
export function microTimestamp(ms: number): string {
  const whole = Math.floor(ms);
  const micros = Math.min(999, Math.floor((ms - whole) * 1000));
  return `${new Date(whole).toISOString().slice(0, 23)}${String(micros).padStart(3, '0')}Z`;
}

/** Everything an event is made of, gathered by the HTTP server while it handled the request. */
export interface AuditedRequest {
  auditID: string;
  method: string;
  /** The request target as sent (path and query). */
  url: string;
  /** What the server made of the target: split and normalised. */
  path: string;
  query: URLSearchParams;
  /** The request's RequestInfo, if the server worked it out already. */
  info?: RequestInfo;
  /** Undefined when authentication failed. */
  user: { user: string; groups: string[]; uid?: string; extra?: Record<string, string[]> } | undefined;
  /** Whom an impersonating request acted as (`user` is who sent it). */
  impersonatedUser?: { user: string; groups: string[]; uid?: string; extra?: Record<string, string[]> };
  /** What the authorizer decided; undefined when the request did not get that far. */
  authorization?: { allowed: boolean; reason: string };
  remoteAddress: string | undefined;
  userAgent: string | undefined;
  /** performance.now() at arrival and when the stage was reached. */
  received: number;
  reached: number;
  stage: AuditStage;
  code: number;
  /** The Status answered, for failures. */
  failure?: Status;
  /** Name of the object a create made (the request's own object names it at kube-apiserver). */
  createdName?: string;
}

export function auditEvent(r: AuditedRequest): AuditEvent {
  const info = r.info ?? requestInfo(r.method, r.path, r.query);
  const { verb } = info;
  let ref = info.objectRef;
  if (ref && !ref.name && r.createdName && verb === 'create') ref = objectRef({ ...ref, name: r.createdName });
  const responseStatus: AuditResponseStatus = { metadata: {}, code: r.code };
  if (r.failure) {
    responseStatus.status = 'Failure';
    responseStatus.message = r.failure.message;
    responseStatus.reason = r.failure.reason;
    if (r.failure.details) responseStatus.details = r.failure.details;
  }
  const reached = microTimestamp(wallClockMs(r.reached));
  const event: AuditEvent = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: r.auditID,
    stage: r.stage,
    requestURI: r.url,
    verb,
    user: auditUser(r.user),
    impersonatedUser: r.impersonatedUser && auditUser(r.impersonatedUser),
    sourceIPs: r.remoteAddress ? [r.remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '')] : [],
    userAgent: r.userAgent,
    objectRef: ref,
    responseStatus,
    requestReceivedTimestamp: microTimestamp(wallClockMs(r.received)),
    stageTimestamp: reached,
  };
  if (r.authorization) {
    event.annotations = { 'authorization.k8s.io/decision': r.authorization.allowed ? 'allow' : 'forbid', 'authorization.k8s.io/reason': r.authorization.reason };
  }
  if (event.impersonatedUser === undefined) delete event.impersonatedUser;
  if (event.userAgent === undefined) delete event.userAgent;
  if (event.objectRef === undefined) delete event.objectRef;
  return event;
}

function auditUser(u: AuditedRequest['user']): AuditUser {
  if (!u) return {};
  const out: AuditUser = { username: u.user };
  if (u.uid) out.uid = u.uid;
  out.groups = u.groups;
  if (u.extra && Object.keys(u.extra).length) out.extra = u.extra;
  return out;
}

export interface AuditLog {
  /** Appends one event; after close (or a write error) events are dropped. */
  write(event: AuditEvent): void;
  /** Flushes what is buffered and closes the file. */
  close(): Promise<void>;
}

/**
 * Appends events to `path` (created 0600, with its directory) as JSON lines. Writes are buffered:
 * the events of one event-loop turn go to the file in one write. The file is opened at once, so a
 * path that cannot be written fails the server's start rather than its first request.
 */
export function openAuditLog(path: string): AuditLog {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, 'a', 0o600);
  let stream: ReturnType<typeof createWriteStream>;
  try {
    stream = createWriteStream(path, { fd, flags: 'a' });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let open = true;
  let corked = false;
  const uncork = () => {
    corked = false;
    stream.uncork();
  };
  stream.on('error', (err) => {
    if (!open) return;
    open = false;
    console.error(`apiserver: audit log ${path}: ${err.message}; no further events are written`);
  });
  return {
    write(event) {
      if (!open) return;
      if (!corked) {
        corked = true;
        stream.cork();
        process.nextTick(uncork);
      }
      stream.write(`${JSON.stringify(event)}\n`);
    },
    close() {
      if (!open) return Promise.resolve();
      open = false;
      return new Promise<void>((resolve) => stream.end(() => resolve()));
    },
  };
}
