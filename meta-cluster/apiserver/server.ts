/**
 * The HTTPS front of the meta-cluster's API: authentication, routing of Kubernetes API paths to
 * the verbs in api.ts, content negotiation (JSON, Table), and Status errors.
 */
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import YAML from 'yaml';
import { tokensEqual } from '../pki/kubeconfig.js';
import { decodeProtobufObject, UnsupportedProtobuf } from './protobuf.js';
import { patchKinds, type Api, type DeleteOptions, type FieldValidation, type WriteOptions } from './api.js';
import { selfSubjectAccessReview, selfSubjectRulesReview } from './access-reviews.js';
import { auditEvent, requestInfo, type AuditEvent, type RequestInfo } from './audit.js';
import { alwaysAllow, forbidden, isPrivileged, requestAttributes, type Authorizer, type Decision } from './authorizer.js';
import { undeletableNamespaces } from './builtins.js';
import { apiGroupDoc, apiGroupList, apiResourceList, apiVersions, kubeVersion } from './discovery.js';
import { ApiError, badRequest, notFound, successStatus, type Status } from './errors.js';
import { impersonatedUser, wantsImpersonation } from './impersonation.js';
import type { ApiMetrics } from './metrics.js';
import { OpenApi } from './openapi-cache.js';
import { patchTypeOf } from './patch.js';
import type { ServedResource } from './registry.js';
import { fieldSelectorFields, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { bindPod, evictPod, getScale, updateScale } from './subresources.js';
import { parseIncludeObject, tableVersionOf, toTable, type ListMeta, type TableVersion } from './table.js';
import { storageResource, type KubeObject } from './types.js';
import { serveWatch, type WatchOptions } from './watch.js';

export interface ServerOptions {
  tls: { certPem: string; keyPem: string; caPem: string };
  /** Bearer tokens and the user each stands for. */
  tokens: Map<string, { user: string; groups: string[] }>;
  /**
   * Tried for a bearer token that is none of `tokens` (bootstrap tokens: ./bootstrap-tokens.ts,
   * service-account tokens: ./service-account-tokens.ts; chain several with `chainTokenAuthenticators`).
   */
  tokenAuthenticator?: TokenAuthenticator;
  /** Answers `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`; without it that subresource is not served. */
  serviceAccountTokens?: { request(namespace: string, name: string, body: unknown): Promise<object> };
  /**
   * Called once per request with its audit event (level Metadata, ./audit.ts) when the answer has
   * left; for a watch once, when its stream starts. Nothing is built without it.
   */
  audit?: (event: AuditEvent) => void;
  bookmarkIntervalMs?: number;
  metrics?: ApiMetrics;
  /**
   * Decides what each authenticated request may do (./authorizer.ts, ./rbac.ts); a refusal is a 403.
   * @default - AlwaysAllow: every authenticated request is allowed
   */
  authorizer?: Authorizer;
}

/** Whom a request's credentials stand for. */
export interface User {
  user: string;
  groups: string[];
  /** Set by authenticators that know one (a service account's uid). */
  uid?: string;
  extra?: Record<string, string[]>;
}

/** Who a bearer token stands for; undefined when it is none of this authenticator's. */
export type TokenAuthenticator = (token: string) => User | undefined | Promise<User | undefined>;

/** One authenticator trying each of `authenticators` in turn, as kube-apiserver's union of them. */
export function chainTokenAuthenticators(...authenticators: TokenAuthenticator[]): TokenAuthenticator {
  const from = (i: number, token: string): User | undefined | Promise<User | undefined> => {
    for (; i < authenticators.length; i++) {
      const user = authenticators[i](token);
      if (user instanceof Promise) {
        const next = i + 1;
        return user.then((u) => u ?? from(next, token));
      }
      if (user) return user;
    }
    return undefined;
  };
  return (token) => from(0, token);
}

/** Who reads the public paths without credentials, as kube-apiserver's anonymous authentication names them. */
const anonymous: User = { user: 'system:anonymous', groups: ['system:unauthenticated'] };

/** kube-apiserver puts every authenticated user in this group, whichever authenticator knew them. */
const AUTHENTICATED_GROUP = 'system:authenticated';

const allowed: Decision = { allowed: true, reason: '' };

/** One request on its way through: what its metrics need once its answer leaves. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** performance.now() at arrival. */
  readonly started: number;
  verb: string;
  resource: string;
  /** An answer is queued behind the commit (`reply`): it is counted when it leaves. */
  replied: boolean;
  /** Set when auditing: the event's id, also the Audit-Id response header. */
  auditID: string | undefined;
  /** Whom the request acts as: the authenticated user, or whom it impersonates. */
  user: User | undefined;
  /** The authenticated user of a request impersonating `user`. */
  impersonator: User | undefined;
  /** What the authorizer said, for the audit event's annotations. */
  authorization: Decision | undefined;
  /** The request's RequestInfo once authorization needed it; the audit event reuses it. */
  info: RequestInfo | undefined;
  /** The Status of a failed request. */
  failure: Status | undefined;
  /** Name of the object a create made, for the audit event's objectRef. */
  createdName: string | undefined;
}

/** What a resource path names. */
interface Target {
  r: ServedResource;
  namespace: string | undefined;
  /** `namespace`, or '' for cluster-scoped kinds. */
  ns: string;
  name: string | undefined;
  sub: string | undefined;
  q: URLSearchParams;
}

const subresources = new Set(['status', 'scale', 'binding', 'eviction', 'finalize', 'token']);

/** Paths anyone may read, as the default `system:public-info-viewer` role allows. */
const publicPaths = new Set(['/healthz', '/livez', '/readyz', '/version']);
const maxBody = 3 * 1024 * 1024;

export class ApiHttpServer {
  readonly server: https.Server;
  private readonly openapi: OpenApi;
  private readonly watches = new Set<() => void>();
  /** The bearer header last accepted on each connection, and whom it stands for. */
  private readonly bearers = new WeakMap<Socket, { header: string; secret: string; user: User }>();
  /** The user of each TLS connection authenticated by client certificate (or undefined: none). */
  private readonly certUsers = new WeakMap<Socket, User | undefined>();
  /** Every accepted TCP socket: closeAllConnections() misses those still in their TLS handshake. */
  private readonly sockets = new Set<Socket>();
  private closing = false;

  constructor(
    private readonly api: Api,
    private readonly opts: ServerOptions,
  ) {
    this.openapi = new OpenApi(api.registry);
    this.server = https.createServer(
      {
        cert: opts.tls.certPem,
        key: opts.tls.keyPem,
        ca: opts.tls.caPem,
        // Client certificates are optional: ask, but let token clients through.
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => void this.handle(req, res),
    );
    this.server.keepAliveTimeout = 65_000;
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  /**
   * Serves a connection accepted elsewhere in this process (the pod network's load balancer), as
   * if this server had accepted it: TLS, client certificates and keep-alive as usual.
   */
  accept(socket: Socket): void {
    if (this.closing) socket.destroy();
    else this.server.emit('connection', socket);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const stop of [...this.watches]) stop();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      // Otherwise a client caught mid-connect holds close() until its handshake times out (120 s).
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private authenticate(req: IncomingMessage): User | undefined | Promise<User | undefined> {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ')) {
      // A keep-alive client sends the same header on every request: once it has been checked on a
      // connection, an identical header there needs no second constant-time search (as long as
      // its token is still one of ours).
      const known = this.bearers.get(req.socket);
      if (known?.header === header && this.opts.tokens.get(known.secret) === known.user) return known.user;
      const token = header.slice(7).trim();
      for (const [secret, user] of this.opts.tokens) {
        if (tokensEqual(secret, token)) {
          this.bearers.set(req.socket, { header, secret, user });
          return user;
        }
      }
      return this.opts.tokenAuthenticator?.(token);
    }
    const socket = req.socket as TLSSocket;
    if (!socket.authorized) return undefined;
    // A connection's client certificate is fixed by its handshake: read it once per connection.
    if (this.certUsers.has(socket)) return this.certUsers.get(socket);
    const cert = socket.getPeerCertificate();
    let user: User | undefined;
    if (cert.subject?.CN) {
      const o = cert.subject.O;
      const groups = o ? ([] as string[]).concat(o) : [];
      if (!groups.includes(AUTHENTICATED_GROUP)) groups.push(AUTHENTICATED_GROUP);
      user = { user: String(cert.subject.CN), groups };
    }
    this.certUsers.set(socket, user);
    return user;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const x: Exchange = {
      req,
      res,
      started: performance.now(),
      verb: (req.method ?? 'GET').toLowerCase(),
      resource: '',
      replied: false,
      auditID: undefined,
      user: undefined,
      impersonator: undefined,
      authorization: undefined,
      info: undefined,
      failure: undefined,
      createdName: undefined,
    };
    if (this.opts.audit) {
      x.auditID = randomUUID();
      res.setHeader('Audit-Id', x.auditID);
    }
    this.route(x).then(
      () => {
        // Streams (watch) and non-resource answers are written by now; replies are counted when they leave.
        if (!x.replied) this.observe(x, res.statusCode);
      },
      (err: unknown) => {
        const e = err instanceof ApiError ? err : new ApiError('InternalError', `Internal error occurred: ${String((err as Error)?.message ?? err)}`);
        if (!(err instanceof ApiError)) console.error('apiserver: internal error', err);
        // An answer already queued behind the commit goes out as it is.
        if (x.replied) return;
        x.failure = e.toStatus();
        if (!res.headersSent) this.reply(x, e.code, x.failure);
        else {
          this.observe(x, res.statusCode);
          res.end();
        }
      },
    );
  }

  private observe(x: Exchange, code: number): void {
    const now = performance.now();
    this.opts.metrics?.observe(x.verb, x.resource, code, (now - x.started) / 1000);
    if (this.opts.audit) this.audit(x, code, now);
  }

  private audit(x: Exchange, code: number, now: number): void {
    const { req } = x;
    const { path, query } = splitUrl(req.url ?? '/');
    let event: AuditEvent;
    try {
      event = auditEvent({
        auditID: x.auditID!,
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        path,
        query,
        info: x.info,
        user: x.impersonator ?? x.user,
        impersonatedUser: x.impersonator ? x.user : undefined,
        authorization: x.authorization,
        remoteAddress: req.socket.remoteAddress,
        userAgent: req.headers['user-agent'],
        received: x.started,
        reached: now,
        // A watch is reported as its stream starts; the stream is not awaited.
        stage: x.verb === 'watch' && code === 200 ? 'ResponseStarted' : 'ResponseComplete',
        code,
        failure: x.failure,
        createdName: x.createdName,
      });
    } catch (err) {
      console.error('apiserver: cannot build an audit event', err);
      return;
    }
    try {
      this.opts.audit!(event);
    } catch (err) {
      console.error('apiserver: audit hook failed', err);
    }
  }

  /**
   * Answers with a JSON body once the store has committed what this turn wrote: a write is
   * acknowledged only when durable, and a read may have seen this turn's uncommitted writes. When
   * that commit fails, the answer becomes the error.
   */
  private reply(x: Exchange, code: number, body: unknown, json = JSON.stringify(body)): void {
    x.replied = true;
    this.api.store.whenDurable((err) => {
      if (err) {
        const e = new ApiError('InternalError', `Internal error occurred: storage commit failed: ${err.message}`);
        code = e.code;
        x.failure = e.toStatus();
        writeJson(x.res, code, JSON.stringify(x.failure));
      } else {
        writeJson(x.res, code, json);
      }
      this.observe(x, code);
    });
  }

  /** Routes a request to its verb; `x.verb` and `x.resource` say what it was for metrics. */
  private async route(x: Exchange): Promise<void> {
    const { req, res } = x;
    const { path, query } = splitUrl(req.url ?? '/');
    const method = req.method ?? 'GET';
    if (!publicPaths.has(path)) {
      let user = this.authenticate(req);
      if (user instanceof Promise) user = await user;
      if (!user) throw new ApiError('Unauthorized', 'Unauthorized');
      x.user = user;
      this.authorize(x, method, path, query);
    } else if (this.opts.audit || this.opts.authorizer) {
      // Served to anyone the policy lets read them (by default everyone); the audit event still says who asked.
      let user = this.authenticate(req);
      if (user instanceof Promise) user = await user;
      x.user = user ?? anonymous;
      this.authorize(x, method, path, query);
    }
    const parts = segments(path);
    // Paths naming a resource are api/v1/<plural>… and apis/<group>/<version>/<plural>…; any other
    // GET may be discovery, OpenAPI or health.
    const named = parts[0] === 'api' ? parts.length >= 3 : parts[0] === 'apis' && parts.length >= 4;
    if (method === 'GET' && !named && this.serveNonResource(res, path, query, req)) return;
    let group: string;
    let version: string;
    let at: number;
    if (parts[0] === 'api' && parts[1] === 'v1') {
      [group, version, at] = ['', 'v1', 2];
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      [group, version, at] = [parts[1], parts[2], 3];
    } else {
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    let namespace: string | undefined;
    const left = parts.length - at;
    if (parts[at] === 'namespaces' && left >= 3 && !(left === 3 && (parts[at + 2] === 'status' || parts[at + 2] === 'finalize'))) {
      namespace = parts[at + 1];
      at += 2;
    }
    const plural: string | undefined = parts[at];
    const name: string | undefined = parts[at + 1];
    const sub: string | undefined = parts[at + 2];
    const r = plural ? this.api.registry.lookup(group, version, plural) : undefined;
    if (!r || parts.length > at + 3) {
      if (method === 'POST' && group === 'authentication.k8s.io' && plural === 'selfsubjectreviews' && (version === 'v1' || version === 'v1beta1') && parts.length === at + 1) {
        return this.selfSubjectReview(x, version);
      }
      if (method === 'POST' && group === 'authorization.k8s.io' && version === 'v1' && parts.length === at + 1 && namespace === undefined) {
        if (plural === 'selfsubjectaccessreviews') return this.accessReview(x, selfSubjectAccessReview);
        if (plural === 'selfsubjectrulesreviews') return this.accessReview(x, selfSubjectRulesReview);
      }
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    x.resource = storageResource(r);
    if (r.namespaced && name !== undefined && namespace === undefined) {
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    if (!r.namespaced && namespace !== undefined) throw new ApiError('NotFound', 'the server could not find the requested resource');
    if (sub && !subresources.has(sub)) {
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    if ((sub === 'status' && !r.status) || (sub === 'scale' && !r.scale)) {
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    const target: Target = { r, namespace, ns: namespace ?? '', name, sub, q: query };
    if (sub === 'token') return this.tokenRequest(x, target, method);
    if (method === 'GET') {
      this.read(x, target);
      return;
    }
    const body = method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE' ? await readBody(req) : undefined;
    // Writes of this turn's requests share one commit; `reply` holds each answer until it is done.
    this.api.store.deferCommits(() => this.write(x, target, method, body));
  }

  private read(x: Exchange, { r, namespace, ns, name, sub, q }: Target): void {
    const { req, res } = x;
    if (name === undefined) {
      x.verb = q.get('watch') === 'true' || q.get('watch') === '1' ? 'watch' : 'list';
      if (x.verb === 'watch') {
        // Started after this turn's commit: its first list must not show writes that may yet fail.
        this.api.store.whenDurable(this.watcher(req, res, r, namespace, q));
      } else {
        this.list(x, r, namespace, q);
      }
      return;
    }
    x.verb = 'get';
    if (sub === 'scale') return this.reply(x, 200, getScale(this.api, r, ns, name));
    const o = this.api.get(r, ns, name);
    const table = tableVersionOf(req.headers.accept);
    this.reply(x, 200, table ? tableOf(r, [o], table, q, { resourceVersion: o.metadata.resourceVersion }) : o);
  }

  private write(x: Exchange, { r, namespace, ns, name, sub, q }: Target, method: string, raw: Buffer | undefined): void {
    const { req, res } = x;
    switch (method) {
      case 'POST': {
        x.verb = 'create';
        if (name !== undefined) {
          if (r.plural === 'pods' && !r.group && sub === 'binding') return this.reply(x, 201, bindPod(this.api, ns, name, parseBody(req, raw!)));
          if (r.plural === 'pods' && !r.group && sub === 'eviction') return this.reply(x, 201, evictPod(this.api, ns, name, parseBody(req, raw!)));
          throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
        }
        if (r.namespaced && namespace === undefined) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
        const result = this.api.create(r, ns, parseBody(req, raw!), { ...writeOptions(q), ownBody: true });
        x.createdName = result.object.metadata.name;
        warn(res, result.warnings);
        return this.reply(x, 201, result.object, result.json);
      }
      case 'PUT': {
        if (name === undefined) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
        x.verb = 'update';
        const body = parseBody(req, raw!);
        if (sub === 'scale') return this.reply(x, 200, updateScale(this.api, r, ns, name, 'put', body, writeOptions(q)));
        if (sub === 'finalize' && r.plural === 'namespaces' && !r.group) {
          return this.reply(x, 200, this.api.finalizeNamespace(name, ((body as any)?.spec?.finalizers ?? []) as string[]));
        }
        const result = this.api.update(r, ns, name, body, { ...writeOptions(q), subresource: sub === 'status' ? 'status' : undefined, ownBody: true });
        warn(res, result.warnings);
        return this.reply(x, 200, result.object, result.json);
      }
      case 'PATCH': {
        if (name === undefined) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
        x.verb = 'patch';
        const type = patchKinds[patchTypeOf(req.headers['content-type'], { custom: r.custom })];
        const body = type === 'apply' ? parseYaml(raw!) : parseJson(raw!);
        if (sub === 'scale') return this.reply(x, 200, updateScale(this.api, r, ns, name, type, body, writeOptions(q)));
        const result = this.api.patch(r, ns, name, type, body, { ...writeOptions(q), subresource: sub === 'status' ? 'status' : undefined, ownBody: true });
        warn(res, result.warnings);
        return this.reply(x, result.created ? 201 : 200, result.object, result.json);
      }
      case 'DELETE': {
        const body = raw!.length ? (parseJson(raw!) as Record<string, any>) : {};
        const opts: DeleteOptions = {
          propagationPolicy: (q.get('propagationPolicy') ?? body.propagationPolicy ?? (body.orphanDependents ? 'Orphan' : undefined)) as DeleteOptions['propagationPolicy'],
          gracePeriodSeconds: q.has('gracePeriodSeconds') ? Number(q.get('gracePeriodSeconds')) : body.gracePeriodSeconds,
          dryRun: q.getAll('dryRun').includes('All') || (body.dryRun ?? []).includes('All'),
          preconditions: body.preconditions,
        };
        if (opts.propagationPolicy && !['Background', 'Foreground', 'Orphan'].includes(opts.propagationPolicy)) {
          throw badRequest(`propagationPolicy: Unsupported value: "${opts.propagationPolicy}": supported values: "Foreground", "Background", "Orphan"`);
        }
        if (name === undefined) {
          x.verb = 'deletecollection';
          const matches = this.matcher(r, q);
          const { items } = this.api.store.list(storageResource(r), namespace);
          const deleted: KubeObject[] = [];
          for (const o of items.filter(matches)) deleted.push(this.api.delete(r, o.metadata.namespace ?? '', o.metadata.name!, opts).object);
          return this.reply(x, 200, { kind: r.listKind, apiVersion: apiVersionOfR(r), metadata: { resourceVersion: String(this.api.store.revision) }, items: deleted });
        }
        if (r.plural === 'namespaces' && !r.group && undeletableNamespaces.has(name)) {
          throw new ApiError('Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' });
        }
        x.verb = 'delete';
        const { object, deleted } = this.api.delete(r, ns, name, opts);
        // Gone at once: a Success Status; held by finalizers or a grace period: the object as it is now.
        return this.reply(x, 200, deleted ? successStatus({ name, group: r.group, kind: r.plural, uid: object.metadata.uid }) : object);
      }
      default:
        throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
  }

  /** `POST …/serviceaccounts/{name}/token`: a TokenRequest answered with a signed token. Nothing is stored. */
  private async tokenRequest(x: Exchange, { r, ns, name }: Target, method: string): Promise<void> {
    const issuer = this.opts.serviceAccountTokens;
    if (!issuer || r.group !== '' || r.plural !== 'serviceaccounts') throw new ApiError('NotFound', 'the server could not find the requested resource');
    if (method !== 'POST' || name === undefined) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
    x.verb = 'create';
    const answer = await issuer.request(ns, name, parseBody(x.req, await readBody(x.req)));
    this.reply(x, 201, answer);
  }

  /**
   * Authorizes the request of `x.user` (after switching to whom it impersonates): a refusal throws
   * the 403. `system:masters` passes without its attributes being worked out.
   */
  private authorize(x: Exchange, method: string, path: string, query: URLSearchParams): void {
    const authorizer = this.opts.authorizer ?? alwaysAllow;
    if (wantsImpersonation(x.req.headers)) {
      const actor = x.user!;
      x.user = impersonatedUser(authorizer, actor, x.req.headersDistinct as Record<string, string[] | undefined>);
      x.impersonator = actor;
    }
    const user = x.user!;
    if (!this.opts.authorizer || isPrivileged(user)) {
      x.authorization = allowed;
      return;
    }
    x.info = requestInfo(method, path, query);
    const attributes = requestAttributes(x.info, path);
    const decision = authorizer.authorize(user, attributes);
    x.authorization = decision;
    if (!decision.allowed) throw forbidden(user.user, attributes, decision.reason);
  }

  /** authorization.k8s.io/v1 SelfSubjectAccessReview and SelfSubjectRulesReview: what the authorizer says to the caller. */
  private async accessReview(x: Exchange, review: (authorizer: Authorizer, user: User, body: unknown) => object): Promise<void> {
    x.verb = 'create';
    const body = parseBody(x.req, await readBody(x.req));
    this.reply(x, 201, review(this.opts.authorizer ?? alwaysAllow, x.user!, body));
  }

  /** authentication.k8s.io/v1 SelfSubjectReview (`kubectl auth whoami`): who the caller is. The body says nothing more. */
  private async selfSubjectReview(x: Exchange, version: string): Promise<void> {
    x.verb = 'create';
    await readBody(x.req);
    const { user, groups, uid, extra } = x.user!;
    const userInfo: Record<string, unknown> = { username: user };
    if (uid) userInfo.uid = uid;
    userInfo.groups = groups;
    if (extra && Object.keys(extra).length) userInfo.extra = extra;
    this.reply(x, 201, { kind: 'SelfSubjectReview', apiVersion: `authentication.k8s.io/${version}`, metadata: { creationTimestamp: null }, status: { userInfo } });
  }

  private serveNonResource(res: ServerResponse, path: string, query: URLSearchParams, req: IncomingMessage): boolean {
    const host = req.headers.host ?? '127.0.0.1';
    switch (path) {
      case '/healthz':
      case '/livez':
      case '/readyz':
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        res.end('ok');
        return true;
      case '/version':
        writeJson(res, 200, JSON.stringify(kubeVersion));
        return true;
      case '/metrics':
        if (!this.opts.metrics) return false;
        void this.opts.metrics.render().then(({ contentType, body }) => {
          res.writeHead(200, { 'Content-Type': contentType });
          res.end(body);
        });
        return true;
      case '/api':
        writeJson(res, 200, JSON.stringify(apiVersions(host)));
        return true;
      case '/apis':
        writeJson(res, 200, JSON.stringify(apiGroupList(this.api.registry)));
        return true;
      case '/openapi/v2':
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.end(this.openapi.v2());
        return true;
      case '/openapi/v3':
        writeJson(res, 200, JSON.stringify(this.openapi.index()));
        return true;
    }
    if (path.startsWith('/openapi/v3/')) {
      const doc = this.openapi.document(path.slice('/openapi/v3/'.length));
      if (!doc) throw notFound('', '', path);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': query.has('hash') ? 'public, immutable' : 'no-cache' });
      res.end(doc);
      return true;
    }
    const parts = path.split('/').filter(Boolean);
    if (parts[0] === 'apis' && parts.length === 2) {
      const doc = apiGroupDoc(this.api.registry, parts[1]);
      if (!doc) throw new ApiError('NotFound', 'the server could not find the requested resource');
      writeJson(res, 200, JSON.stringify(doc));
      return true;
    }
    if ((parts[0] === 'api' && parts.length === 2) || (parts[0] === 'apis' && parts.length === 3)) {
      const [group, version] = parts[0] === 'api' ? ['', parts[1]] : [parts[1], parts[2]];
      const doc = apiResourceList(this.api.registry, group, version, { serviceAccountTokens: Boolean(this.opts.serviceAccountTokens) });
      if (!doc) throw new ApiError('NotFound', 'the server could not find the requested resource');
      writeJson(res, 200, JSON.stringify(doc));
      return true;
    }
    return false;
  }

  private matcher(r: ServedResource, q: URLSearchParams): (o: KubeObject) => boolean {
    const labels = q.get('labelSelector') ? parseLabelSelector(q.get('labelSelector')!) : undefined;
    const fields = q.get('fieldSelector') ? parseFieldSelector(q.get('fieldSelector')!, fieldSelectorFields(r)) : undefined;
    return (o) => (!labels || matchesLabels(labels, o.metadata.labels ?? {})) && (!fields || matchesFields(fields, o));
  }

  private list(x: Exchange, r: ServedResource, namespace: string | undefined, q: URLSearchParams): void {
    const matches = this.matcher(r, q);
    const limit = Number(q.get('limit') ?? 0);
    let after: { namespace: string; name: string } | undefined;
    let rev: number | undefined;
    const token = q.get('continue');
    if (token) {
      try {
        const parsed = JSON.parse(Buffer.from(token, 'base64url').toString()) as { rv: number; ns: string; name: string };
        after = { namespace: parsed.ns, name: parsed.name };
        rev = parsed.rv;
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data');
      }
      if (rev < this.api.store.compactedRevision) {
        throw new ApiError('Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      }
    }
    const items: KubeObject[] = [];
    let more = false;
    let last: { namespace: string; name: string } | undefined;
    let listRev = this.api.store.revision;
    // Selectors filter after paging, so keep reading pages until the limit is met or rows run out.
    for (;;) {
      const page = this.api.store.list(storageResource(r), namespace, { after, limit: limit > 0 ? Math.max(limit - items.length, 1) : undefined });
      listRev = page.rev;
      for (const o of page.items) {
        last = { namespace: o.metadata.namespace ?? '', name: o.metadata.name! };
        if (matches(o)) items.push(this.api.served(r, o));
      }
      more = page.more;
      if (!more || limit <= 0 || items.length >= limit) break;
      after = last;
    }
    const listMeta: Record<string, unknown> = { resourceVersion: String(rev ?? listRev) };
    if (more && last) listMeta.continue = Buffer.from(JSON.stringify({ rv: rev ?? listRev, ns: last.namespace, name: last.name })).toString('base64url');
    const table = tableVersionOf(x.req.headers.accept);
    if (table) {
      this.reply(x, 200, tableOf(r, items, table, q, listMeta));
      return;
    }
    this.reply(x, 200, { kind: r.listKind, apiVersion: apiVersionOfR(r), metadata: listMeta, items });
  }

  /** Checks a watch request (bad selectors throw here) and returns what starts its stream. */
  private watcher(req: IncomingMessage, res: ServerResponse, r: ServedResource, namespace: string | undefined, q: URLSearchParams): () => void {
    const table = tableVersionOf(req.headers.accept);
    const opts: WatchOptions = {
      namespace,
      resourceVersion: q.get('resourceVersion') ?? undefined,
      matches: this.matcher(r, q),
      allowBookmarks: q.get('allowWatchBookmarks') === 'true',
      sendInitialEvents: q.get('sendInitialEvents') === 'true',
      timeoutSeconds: q.has('timeoutSeconds') ? Number(q.get('timeoutSeconds')) : undefined,
      bookmarkIntervalMs: this.opts.bookmarkIntervalMs ?? 30_000,
      render: table ? (o) => tableOf(r, [o], table, q, {}) : undefined,
    };
    return () => {
      if (res.destroyed) return;
      const stop = serveWatch(this.api, r, res, opts);
      this.watches.add(stop);
      this.opts.metrics?.watchers.inc({ resource: storageResource(r) });
      res.on('close', () => {
        this.watches.delete(stop);
        this.opts.metrics?.watchers.dec({ resource: storageResource(r) });
      });
    };
  }
}

function tableOf(r: ServedResource, objects: KubeObject[], version: TableVersion, q: URLSearchParams, listMeta: ListMeta) {
  return toTable(r, objects, {
    printerColumns: r.custom ? r.printerColumns : undefined,
    includeObject: parseIncludeObject(q.get('includeObject')),
    listMeta,
    now: new Date(),
    tableVersion: version,
  });
}

const apiVersionOfR = (r: ServedResource) => (r.group ? `${r.group}/${r.version}` : r.version);

function writeOptions(q: URLSearchParams): WriteOptions {
  if (q === noQuery) return { dryRun: false, fieldManager: undefined, fieldValidation: 'Warn', force: false };
  return {
    dryRun: q.getAll('dryRun').includes('All'),
    fieldManager: q.get('fieldManager') ?? undefined,
    fieldValidation: fieldValidationOf(q.get('fieldValidation')),
    force: q.get('force') === 'true',
  };
}

function fieldValidationOf(v: string | null): FieldValidation {
  // Warn is the apiserver's default since fieldValidation went GA.
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw badRequest(`fieldValidation parameter unsupported: ${v}`);
}

function writeJson(res: ServerResponse, code: number, json: string): void {
  // The flat header list is node's fast path (no header object to walk).
  res.writeHead(code, ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(json))]);
  res.end(json);
}

/** The query of targets without one. Shared, so only ever read. */
const noQuery = new URLSearchParams();

/**
 * Path and query of a request target. Plain origin-form targets (all clients send those) are split
 * by hand: a WHATWG URL per request cost more than the routing. Anything unusual — dot segments
 * (also percent-encoded), backslashes, a fragment, absolute-form — goes through URL for its
 * normalisation.
 */
function splitUrl(target: string): { path: string; query: URLSearchParams } {
  if (target[0] !== '/' || /[\\#]|\/\.\.?(?:[/?]|$)|%2e/i.test(target)) {
    const url = new URL(target, 'https://localhost');
    return { path: trimSlashes(url.pathname), query: url.searchParams };
  }
  const at = target.indexOf('?');
  if (at < 0) return { path: trimSlashes(target), query: noQuery };
  return { path: trimSlashes(target.slice(0, at)), query: new URLSearchParams(target.slice(at + 1)) };
}

/** The non-empty segments of a path, percent-decoded. */
function segments(path: string): string[] {
  const out: string[] = [];
  for (const s of path.split('/')) if (s) out.push(s.includes('%') ? decodeURIComponent(s) : s);
  return out;
}

const trimSlashes = (path: string) => (path.endsWith('/') ? path.replace(/\/+$/, '') || '/' : path);

/** kubectl prints `Warning: <text>` for each `299 - "<text>"` header. */
function warn(res: ServerResponse, warnings: string[]): void {
  if (warnings.length) res.setHeader('Warning', warnings.map((w) => `299 - ${JSON.stringify(w)}`));
}

/**
 * The whole request body. Plain listeners, not an async iterator (its machinery cost more than the
 * read), and no named closures (tsx's keepNames wraps each in a defineProperty call).
 */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= maxBody) chunks.push(c);
      else if (!tooLarge) {
        // The rest is read and dropped, so the error can still be answered on this connection.
        tooLarge = true;
        chunks.length = 0;
        reject(new ApiError('RequestEntityTooLarge', 'Request entity too large: limit is 3145728'));
      }
    });
    // Each fires at most once: `on` spares the wrapper `once` builds.
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw badRequest(`the body of the request could not be decoded: ${(err as Error).message}`);
  }
}

function parseYaml(raw: Buffer): unknown {
  try {
    return YAML.parse(raw.toString('utf8'));
  } catch (err) {
    throw badRequest(`error decoding YAML: ${(err as Error).message}`);
  }
}

function parseBody(req: IncomingMessage, raw: Buffer): unknown {
  const type = req.headers['content-type'] ?? 'application/json';
  // client-go ≥ 1.32 typed clients (kubectl create namespace|configmap|secret|deployment) send protobuf.
  if (type.startsWith('application/vnd.kubernetes.protobuf')) return parseProtobuf(raw);
  return /yaml/.test(type) ? parseYaml(raw) : parseJson(raw);
}

function parseProtobuf(raw: Buffer): unknown {
  try {
    return decodeProtobufObject(raw);
  } catch (err) {
    if (err instanceof UnsupportedProtobuf) {
      throw new ApiError(
        'UnsupportedMediaType',
        `the body of the request was in an unsupported format - ${err.message}; accepted media types include: application/json, application/yaml`,
      );
    }
    throw badRequest(`the body of the request could not be decoded: ${(err as Error).message}`);
  }
}
