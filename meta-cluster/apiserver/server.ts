/**
 * The HTTPS front of the meta-cluster's API: authentication, routing of Kubernetes API paths to
 * the verbs in api.ts, content negotiation (JSON, Table), and Status errors.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import YAML from 'yaml';
import { tokensEqual } from '../pki/kubeconfig.js';
import { decodeProtobufObject, UnsupportedProtobuf } from './protobuf.js';
import { patchKinds, type Api, type DeleteOptions, type FieldValidation, type WriteOptions } from './api.js';
import { undeletableNamespaces } from './builtins.js';
import { apiGroupDoc, apiGroupList, apiResourceList, apiVersions, kubeVersion } from './discovery.js';
import { ApiError, badRequest, notFound, successStatus } from './errors.js';
import type { ApiMetrics } from './metrics.js';
import { OpenApi } from './openapi-cache.js';
import { patchTypeOf } from './patch.js';
import type { ServedResource } from './registry.js';
import { fieldSelectorFields, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { bindPod, evictPod, getScale, updateScale } from './subresources.js';
import { parseIncludeObject, tableVersionOf, toTable, type ListMeta, type TableVersion } from './table.js';
import { storageResource, type KubeObject } from './types.js';
import { serveWatch } from './watch.js';

export interface ServerOptions {
  tls: { certPem: string; keyPem: string; caPem: string };
  /** Bearer tokens and the user each stands for. */
  tokens: Map<string, { user: string; groups: string[] }>;
  bookmarkIntervalMs?: number;
  metrics?: ApiMetrics;
}

interface User {
  user: string;
  groups: string[];
}

/** Paths anyone may read, as the default `system:public-info-viewer` role allows. */
const publicPaths = new Set(['/healthz', '/livez', '/readyz', '/version']);
const maxBody = 3 * 1024 * 1024;

export class ApiHttpServer {
  readonly server: https.Server;
  private readonly openapi: OpenApi;
  private readonly watches = new Set<() => void>();
  /** Every accepted TCP socket: closeAllConnections() misses those still in their TLS handshake. */
  private readonly sockets = new Set<Socket>();

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

  async close(): Promise<void> {
    for (const stop of [...this.watches]) stop();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      // Otherwise a client caught mid-connect holds close() until its handshake times out (120 s).
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private authenticate(req: IncomingMessage): User | undefined {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ')) {
      const token = header.slice(7).trim();
      for (const [known, user] of this.opts.tokens) if (tokensEqual(known, token)) return user;
      return undefined;
    }
    const socket = req.socket as TLSSocket;
    if (socket.authorized) {
      const cert = socket.getPeerCertificate();
      const o = cert.subject?.O;
      if (cert.subject?.CN) return { user: String(cert.subject.CN), groups: o ? ([] as string[]).concat(o) : [] };
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'https://localhost');
    let verb = req.method ?? 'GET';
    let resourceLabel = '';
    try {
      if (!publicPaths.has(url.pathname) && !this.authenticate(req)) {
        throw new ApiError('Unauthorized', 'Unauthorized');
      }
      const routed = await this.route(req, res, url);
      verb = routed.verb;
      resourceLabel = routed.resource;
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError('InternalError', `Internal error occurred: ${String((err as Error)?.message ?? err)}`);
      if (!(err instanceof ApiError)) console.error('apiserver: internal error', err);
      if (!res.headersSent) send(res, e.code, e.toStatus());
      else res.end();
    } finally {
      this.opts.metrics?.observe(verb, resourceLabel, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /** Returns the verb and resource for metrics once the response is written (or streaming). */
  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<{ verb: string; resource: string }> {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const meta = { verb: method.toLowerCase(), resource: '' };
    if (method === 'GET') {
      const served = this.serveNonResource(res, path, url, req);
      if (served) return meta;
    }
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1] === 'v1') {
      [group, version, rest] = ['', 'v1', parts.slice(2)];
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
    } else {
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && ['status', 'finalize'].includes(rest[2]))) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, sub, ...extra] = rest;
    const r = plural ? this.api.registry.lookup(group, version, plural) : undefined;
    if (!r || extra.length) throw new ApiError('NotFound', 'the server could not find the requested resource');
    meta.resource = storageResource(r);
    if (r.namespaced && name !== undefined && namespace === undefined) {
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    if (!r.namespaced && namespace !== undefined) throw new ApiError('NotFound', 'the server could not find the requested resource');
    const ns = namespace ?? '';
    const q = url.searchParams;
    const reply = (code: number, body: unknown) => {
      send(res, code, body);
      return meta;
    };
    const writeOpts = (): WriteOptions => ({
      dryRun: q.getAll('dryRun').includes('All'),
      fieldManager: q.get('fieldManager') ?? undefined,
      fieldValidation: fieldValidationOf(q.get('fieldValidation')),
      force: q.get('force') === 'true',
    });

    if (sub && !['status', 'scale', 'binding', 'eviction', 'finalize'].includes(sub)) {
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    if ((sub === 'status' && !r.status) || (sub === 'scale' && !r.scale)) {
      throw new ApiError('NotFound', 'the server could not find the requested resource');
    }
    switch (method) {
      case 'GET': {
        if (name === undefined) {
          meta.verb = q.get('watch') === 'true' || q.get('watch') === '1' ? 'watch' : 'list';
          if (meta.verb === 'watch') this.watch(req, res, r, namespace, q);
          else this.list(req, res, r, namespace, q);
          return meta;
        }
        meta.verb = 'get';
        if (sub === 'scale') return reply(200, getScale(this.api, r, ns, name));
        const o = this.api.get(r, ns, name);
        const table = tableVersionOf(req.headers.accept);
        return reply(200, table ? tableOf(r, [o], table, q, { resourceVersion: o.metadata.resourceVersion }) : o);
      }
      case 'POST': {
        const body = await readBody(req);
        meta.verb = 'create';
        if (name !== undefined) {
          if (r.plural === 'pods' && !r.group && sub === 'binding') return reply(201, bindPod(this.api, ns, name, parseBody(req, body)));
          if (r.plural === 'pods' && !r.group && sub === 'eviction') return reply(201, evictPod(this.api, ns, name, parseBody(req, body)));
          throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
        }
        if (r.namespaced && namespace === undefined) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
        const result = this.api.create(r, ns, parseBody(req, body), writeOpts());
        warn(res, result.warnings);
        return reply(201, result.object);
      }
      case 'PUT': {
        if (name === undefined) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
        meta.verb = 'update';
        const body = parseBody(req, await readBody(req));
        if (sub === 'scale') return reply(200, updateScale(this.api, r, ns, name, 'put', body, writeOpts()));
        if (sub === 'finalize' && r.plural === 'namespaces' && !r.group) {
          return reply(200, this.api.finalizeNamespace(name, ((body as any)?.spec?.finalizers ?? []) as string[]));
        }
        const result = this.api.update(r, ns, name, body, { ...writeOpts(), subresource: sub === 'status' ? 'status' : undefined });
        warn(res, result.warnings);
        return reply(200, result.object);
      }
      case 'PATCH': {
        if (name === undefined) throw new ApiError('MethodNotAllowed', 'the server does not allow this method on the requested resource');
        meta.verb = 'patch';
        const type = patchKinds[patchTypeOf(req.headers['content-type'], { custom: r.custom })];
        const raw = await readBody(req);
        const body = type === 'apply' ? parseYaml(raw) : parseJson(raw);
        if (sub === 'scale') return reply(200, updateScale(this.api, r, ns, name, type, body, writeOpts()));
        const result = this.api.patch(r, ns, name, type, body, { ...writeOpts(), subresource: sub === 'status' ? 'status' : undefined });
        warn(res, result.warnings);
        return reply(result.created ? 201 : 200, result.object);
      }
      case 'DELETE': {
        const raw = await readBody(req);
        const body = raw.length ? (parseJson(raw) as Record<string, any>) : {};
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
          meta.verb = 'deletecollection';
          const matches = this.matcher(r, q);
          const { items } = this.api.store.list(storageResource(r), namespace);
          const deleted: KubeObject[] = [];
          for (const o of items.filter(matches)) deleted.push(this.api.delete(r, o.metadata.namespace ?? '', o.metadata.name!, opts).object);
          return reply(200, { kind: r.listKind, apiVersion: apiVersionOfR(r), metadata: { resourceVersion: String(this.api.store.revision) }, items: deleted });
        }
        if (r.plural === 'namespaces' && !r.group && undeletableNamespaces.has(name)) {
          throw new ApiError('Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' });
        }
        meta.verb = 'delete';
        const { object, deleted } = this.api.delete(r, ns, name, opts);
        // Gone at once: a Success Status; held by finalizers or a grace period: the object as it is now.
        return reply(200, deleted ? successStatus({ name, group: r.group, kind: r.plural, uid: object.metadata.uid }) : object);
      }
      default:
        throw new ApiError('MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
  }

  private serveNonResource(res: ServerResponse, path: string, url: URL, req: IncomingMessage): boolean {
    const host = req.headers.host ?? '127.0.0.1';
    switch (path) {
      case '/healthz':
      case '/livez':
      case '/readyz':
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        res.end('ok');
        return true;
      case '/version':
        send(res, 200, kubeVersion);
        return true;
      case '/metrics':
        if (!this.opts.metrics) return false;
        void this.opts.metrics.render().then(({ contentType, body }) => {
          res.writeHead(200, { 'Content-Type': contentType });
          res.end(body);
        });
        return true;
      case '/api':
        send(res, 200, apiVersions(host));
        return true;
      case '/apis':
        send(res, 200, apiGroupList(this.api.registry));
        return true;
      case '/openapi/v2':
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.end(this.openapi.v2());
        return true;
      case '/openapi/v3':
        send(res, 200, this.openapi.index());
        return true;
    }
    if (path.startsWith('/openapi/v3/')) {
      const doc = this.openapi.document(path.slice('/openapi/v3/'.length));
      if (!doc) throw notFound('', '', path);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': url.searchParams.has('hash') ? 'public, immutable' : 'no-cache' });
      res.end(doc);
      return true;
    }
    const parts = path.split('/').filter(Boolean);
    if (parts[0] === 'apis' && parts.length === 2) {
      const doc = apiGroupDoc(this.api.registry, parts[1]);
      if (!doc) throw new ApiError('NotFound', 'the server could not find the requested resource');
      send(res, 200, doc);
      return true;
    }
    if ((parts[0] === 'api' && parts.length === 2) || (parts[0] === 'apis' && parts.length === 3)) {
      const [group, version] = parts[0] === 'api' ? ['', parts[1]] : [parts[1], parts[2]];
      const doc = apiResourceList(this.api.registry, group, version);
      if (!doc) throw new ApiError('NotFound', 'the server could not find the requested resource');
      send(res, 200, doc);
      return true;
    }
    return false;
  }

  private matcher(r: ServedResource, q: URLSearchParams): (o: KubeObject) => boolean {
    const labels = q.get('labelSelector') ? parseLabelSelector(q.get('labelSelector')!) : undefined;
    const fields = q.get('fieldSelector') ? parseFieldSelector(q.get('fieldSelector')!, fieldSelectorFields(r)) : undefined;
    return (o) => (!labels || matchesLabels(labels, o.metadata.labels ?? {})) && (!fields || matchesFields(fields, o));
  }

  private list(req: IncomingMessage, res: ServerResponse, r: ServedResource, namespace: string | undefined, q: URLSearchParams): void {
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
    const table = tableVersionOf(req.headers.accept);
    if (table) {
      send(res, 200, tableOf(r, items, table, q, listMeta));
      return;
    }
    send(res, 200, { kind: r.listKind, apiVersion: apiVersionOfR(r), metadata: listMeta, items });
  }

  private watch(req: IncomingMessage, res: ServerResponse, r: ServedResource, namespace: string | undefined, q: URLSearchParams): void {
    const table = tableVersionOf(req.headers.accept);
    const stop = serveWatch(this.api, r, res, {
      namespace,
      resourceVersion: q.get('resourceVersion') ?? undefined,
      matches: this.matcher(r, q),
      allowBookmarks: q.get('allowWatchBookmarks') === 'true',
      sendInitialEvents: q.get('sendInitialEvents') === 'true',
      timeoutSeconds: q.has('timeoutSeconds') ? Number(q.get('timeoutSeconds')) : undefined,
      bookmarkIntervalMs: this.opts.bookmarkIntervalMs ?? 30_000,
      render: table ? (o) => tableOf(r, [o], table, q, {}) : undefined,
    });
    this.watches.add(stop);
    this.opts.metrics?.watchers.inc({ resource: storageResource(r) });
    res.on('close', () => {
      this.watches.delete(stop);
      this.opts.metrics?.watchers.dec({ resource: storageResource(r) });
    });
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

function fieldValidationOf(v: string | null): FieldValidation {
  // Warn is the apiserver's default since fieldValidation went GA.
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw badRequest(`fieldValidation parameter unsupported: ${v}`);
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}

/** kubectl prints `Warning: <text>` for each `299 - "<text>"` header. */
function warn(res: ServerResponse, warnings: string[]): void {
  if (warnings.length) res.setHeader('Warning', warnings.map((w) => `299 - ${JSON.stringify(w)}`));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > maxBody) throw new ApiError('RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
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
