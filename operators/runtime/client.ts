/**
 * A small JSON client for the Kubernetes API. Connection and credentials come from client-node's
 * KubeConfig (so in-cluster config, tokens, client certificates and exec plugins all work); bodies
 * stay plain JSON, so timestamps stay strings and writes round-trip exactly what was read.
 * One keep-alive agent per client: controllers issue many small requests.
 */
import https from 'node:https';
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: any;
}

export interface KubeList<T = KubeObject> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A failed API call, carrying the Status the server answered with. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly status?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export const isNotFound = (e: unknown) => e instanceof KubeApiError && e.code === 404;
export const isConflict = (e: unknown) => e instanceof KubeApiError && e.code === 409 && e.reason === 'Conflict';
export const isAlreadyExists = (e: unknown) => e instanceof KubeApiError && e.code === 409 && e.reason === 'AlreadyExists';
/**
 * What a controller acting on its informer cache meets when the cache is behind the store (a
 * stale resourceVersion, an object it created or another deleted, a namespace being terminated):
 * the retry sees the fresh state, so these are not worth a log line.
 */
export const isStaleCache = (e: unknown) => isConflict(e) || isAlreadyExists(e) || isNotFound(e);

/** Where a kind lives: `{ group: 'apps', version: 'v1', plural: 'deployments', namespaced: true }`. */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

export function resourcePath(r: ResourceRef, namespace?: string, name?: string, sub?: string): string {
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (sub) p += `/${sub}`;
  return p;
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';
const patchContentType: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject;
}

export interface WatchHandle {
  stop(): void;
  /** Resolves when the stream ends (server closed it, or stop()); rejects on a connection error. */
  done: Promise<void>;
}

export class KubeClient {
  private readonly base: URL;
  private readonly agent: https.Agent | http.Agent;
  private headers: Record<string, string> = {};
  private headersAt = 0;
  readonly fieldManager: string;

  constructor(
    readonly kubeConfig: KubeConfig,
    opts: { fieldManager?: string; maxSockets?: number } = {},
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.base = new URL(cluster.server);
    this.fieldManager = opts.fieldManager ?? 'kok';
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 64 };
    this.agent = this.base.protocol === 'https:' ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
  }

  /** TLS material and auth headers from the kubeconfig, refreshed each minute (tokens rotate). */
  private async options(): Promise<https.RequestOptions> {
    const opts: https.RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(opts);
    if (Date.now() - this.headersAt > 60_000) {
      this.headers = { ...(opts.headers as Record<string, string>) };
      this.headersAt = Date.now();
    }
    return { ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized, servername: opts.servername };
  }

  private tls?: Promise<https.RequestOptions>;

  private async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<http.IncomingMessage> {
    this.tls ??= this.options();
    const tls = await this.tls;
    if (Date.now() - this.headersAt > 60_000) await this.options();
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'https:' ? https : http).request(
        url,
        {
          ...tls,
          method,
          agent: this.agent,
          headers: {
            ...this.headers,
            Accept: 'application/json',
            ...(payload !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) } : {}),
          },
        },
        resolve,
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  private async json<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const res = await this.request(method, path, body, contentType);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if ((res.statusCode ?? 500) >= 400) {
      throw new KubeApiError(res.statusCode ?? 500, parsed?.reason ?? 'Unknown', parsed?.message ?? text.slice(0, 200), parsed);
    }
    return parsed as T;
  }

  get<T = KubeObject>(r: ResourceRef, namespace: string | undefined, name: string, sub?: string): Promise<T> {
    return this.json('GET', resourcePath(r, namespace, name, sub));
  }

  list<T = KubeObject>(r: ResourceRef, namespace?: string, q: { labelSelector?: string; fieldSelector?: string; limit?: number; continue?: string; resourceVersion?: string } = {}): Promise<KubeList<T>> {
    return this.json('GET', resourcePath(r, namespace) + query(q));
  }

  create<T = KubeObject>(r: ResourceRef, namespace: string | undefined, obj: unknown): Promise<T> {
    return this.json('POST', resourcePath(r, namespace) + query({ fieldManager: this.fieldManager }), obj);
  }

  /** POST to a subresource of a named object (pods/binding, pods/eviction). */
  createSub<T = KubeObject>(r: ResourceRef, namespace: string | undefined, name: string, sub: string, obj: unknown): Promise<T> {
    return this.json('POST', resourcePath(r, namespace, name, sub), obj);
  }

  update<T = KubeObject>(r: ResourceRef, obj: KubeObject, sub?: string): Promise<T> {
    return this.json('PUT', resourcePath(r, obj.metadata.namespace, obj.metadata.name, sub) + query({ fieldManager: this.fieldManager }), obj);
  }

  patch<T = KubeObject>(r: ResourceRef, namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts: { sub?: string; force?: boolean } = {}): Promise<T> {
    const q = query({ fieldManager: this.fieldManager, ...(opts.force ? { force: 'true' } : {}) });
    return this.json('PATCH', resourcePath(r, namespace, name, opts.sub) + q, patch, patchContentType[type]);
  }

  delete(r: ResourceRef, namespace: string | undefined, name: string, opts: { propagationPolicy?: string; gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string } } = {}): Promise<KubeObject> {
    return this.json('DELETE', resourcePath(r, namespace, name), { kind: 'DeleteOptions', apiVersion: 'v1', ...opts });
  }

  /** GET on any path (discovery, /readyz, /version). */
  raw<T = unknown>(path: string): Promise<T> {
    return this.json('GET', path);
  }

  /** A watch stream: each line is one event; `done` settles when the stream ends. */
  async watch(r: ResourceRef, namespace: string | undefined, q: Record<string, string | number | boolean | undefined>, onEvent: (e: WatchEvent) => void): Promise<WatchHandle> {
    const res = await this.request('GET', resourcePath(r, namespace) + query({ ...q, watch: 'true' }));
    if ((res.statusCode ?? 500) !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      let status: any;
      try {
        status = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        status = {};
      }
      throw new KubeApiError(res.statusCode ?? 500, status.reason ?? 'Unknown', status.message ?? 'watch failed', status);
    }
    const onLine = (line: string) => {
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (!line) return;
      let e: WatchEvent;
      try {
        e = JSON.parse(line) as WatchEvent;
      } catch {
        return;
      }
      onEvent(e);
    };
    // Split on newlines by hand: readline's per-chunk regexp and events cost more than the split.
    res.setEncoding('utf8');
    let partial = '';
    res.on('data', (chunk: string) => {
      let start = 0;
      let nl = chunk.indexOf('\n');
      if (nl < 0) {
        partial += chunk;
        return;
      }
      onLine(partial + chunk.slice(0, nl));
      partial = '';
      start = nl + 1;
      while ((nl = chunk.indexOf('\n', start)) >= 0) {
        onLine(chunk.slice(start, nl));
        start = nl + 1;
      }
      partial = chunk.slice(start);
    });
    const done = new Promise<void>((resolve, reject) => {
      res.on('end', () => {
        if (partial) onLine(partial);
        partial = '';
        resolve();
      });
      res.on('error', reject);
      res.on('aborted', () => resolve());
      res.on('close', () => resolve());
    });
    return { stop: () => res.destroy(), done: done.catch((err) => (res.destroyed ? undefined : Promise.reject(err))) };
  }

  close(): void {
    this.agent.destroy();
  }
}

function query(q: Record<string, string | number | boolean | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}
