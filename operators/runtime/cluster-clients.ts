/**
 * One API client per business cluster, built from the kubeconfig Secret the cluster operator
 * keeps in the meta-cluster, with health probing. Clusters are keyed `namespace/name` (the
 * Cluster object's key), so reconcilers of any operator reach a cluster by the key of its root.
 *
 * An unreachable business cluster is a state, not an error: `probe()` and `get()` report it
 * (`healthy: false`, "not healthy: connect ECONNREFUSED …") and reconcilers wait for it with a
 * requeue, rather than failing into a backoff loop.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { isNotFound, KubeClient } from './client.js';

export interface ClusterSecretRef {
  readonly secretNamespace: string;
  readonly secretName: string;
  /** Key of `data` holding the kubeconfig YAML. @default 'value' (as Cluster API names it) */
  readonly secretKey?: string;
}

export interface ClusterConnection {
  readonly client: KubeClient;
  readonly kubeConfig: KubeConfig;
  /** The API server URL of the kubeconfig's current cluster. */
  readonly server: string;
  /** Whether the last probe of this client's server answered /readyz with 200. */
  readonly healthy: boolean;
  /** Why it is not healthy. */
  readonly lastError?: string;
}

export interface ProbeResult {
  readonly ok: boolean;
  readonly message: string;
}

export interface ClusterClientRegistryOptions {
  /** Background probe (and kubeconfig Secret refresh) of every registered cluster. @default 10 000 ms */
  readonly probeIntervalMs?: number;
  /** How long a probe waits for /readyz. @default 3 000 ms */
  readonly probeTimeoutMs?: number;
  /**
   * Probes in a row that must time out before a healthy cluster is reported unhealthy, as a
   * kubelet's probe failureThreshold: a busy server answering late once is not down. A refused
   * connection or an error answer counts at once. @default 3
   */
  readonly timeoutThreshold?: number;
  /** Called when a cluster's health flips (and on its first probe); exceptions are swallowed. */
  readonly onHealthChange?: (key: string, healthy: boolean, message: string) => void;
  /** Field manager of the built clients. @default 'kok' */
  readonly fieldManager?: string;
  /**
   * How old a read of the kubeconfig Secret `get()` may reuse. With 0 every `get()` reads the
   * Secret (a rotated kubeconfig is used at once); a controller that calls `get()` in every
   * reconcile sets a few seconds, saving a request per reconcile — the background probe rereads
   * the Secret every probeIntervalMs regardless. An older read still answers at once while the
   * Secret is read again behind it (stale-while-revalidate): no reconcile waits on that read.
   * @default 0
   */
  readonly secretMaxAgeMs?: number;
}

interface Built {
  client: KubeClient;
  kubeConfig: KubeConfig;
  server: string;
  resourceVersion: string;
  /**
   * The probes' agent: a new connection per probe, but resuming the TLS session of the last one
   * (no key exchange nor certificate signature again), and one secure context for all of them. A
   * hundred clusters probed every 10 s by two operators would otherwise cost 20 full handshakes a
   * second on both ends.
   */
  probeAgent: https.Agent;
  secureContext?: tls.SecureContext;
}

interface Entry {
  key: string;
  ref: Required<ClusterSecretRef>;
  built?: Built;
  /** The last probe result, for the client it probed (a rebuilt client is unprobed). */
  health?: { client: KubeClient; ok: boolean; message: string };
  /** Why there is no client (Secret missing, bad kubeconfig, meta-cluster unreachable). */
  loadError?: string;
  /** What onHealthChange last heard. */
  reported?: boolean;
  loading?: Promise<void>;
  /** When the Secret was last read with a definite answer (found or not found). */
  readAt?: number;
  probing?: boolean;
  /** Probes started, and the newest whose result was applied: a slow old probe must not overwrite a newer one. */
  probesStarted: number;
  probeApplied: number;
  /** Probes in a row that timed out while the cluster was healthy. */
  timeouts: number;
}

export class ClusterClientRegistry {
  private readonly entries = new Map<string, Entry>();
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly meta: KubeClient,
    private readonly options: ClusterClientRegistryOptions = {},
  ) {}

  /** Starts tracking a cluster; registering the same key again with another Secret replaces it. */
  register(key: string, ref: ClusterSecretRef): void {
    if (this.closed) throw new Error(`ClusterClientRegistry: register("${key}") after close()`);
    if (!/^[^/]+\/[^/]+$/.test(key)) throw new Error(`ClusterClientRegistry: cluster key "${key}" must be "namespace/name"`);
    if (!ref.secretNamespace || !ref.secretName) {
      throw new Error(`ClusterClientRegistry: cluster ${key} needs secretNamespace and secretName of its kubeconfig Secret`);
    }
    const full = { secretKey: 'value', ...ref };
    const existing = this.entries.get(key);
    if (existing && JSON.stringify(existing.ref) === JSON.stringify(full)) return;
    if (existing) this.unregister(key);
    this.entries.set(key, { key, ref: full, probesStarted: 0, probeApplied: 0, timeouts: 0 });
    this.timer ??= setInterval(() => this.probeAll(), this.options.probeIntervalMs ?? 10_000).unref();
    this.probeInBackground(key);
  }

  /** Stops tracking a cluster and closes its client; returns whether it was registered. */
  unregister(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    closeBuilt(entry.built);
    return true;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * The cluster's client, rebuilt when its kubeconfig Secret changed; undefined when the key is
   * not registered or no usable kubeconfig exists (probe() says why). A new client is probed
   * before it is returned, so `healthy` always describes the client handed out.
   */
  async get(key: string): Promise<ClusterConnection | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const maxAge = this.options.secretMaxAgeMs ?? 0;
    if (entry.readAt === undefined || !entry.built || maxAge === 0) await this.load(entry);
    else if (Date.now() - entry.readAt >= maxAge) void this.load(entry);
    const built = entry.built;
    if (!built) return undefined;
    if (entry.health?.client !== built.client) await this.check(key, entry, built);
    const health = entry.health?.client === built.client ? entry.health : undefined;
    return {
      client: built.client,
      kubeConfig: built.kubeConfig,
      server: built.server,
      healthy: health?.ok ?? false,
      ...(health?.ok ? {} : { lastError: health?.message ?? entry.loadError }),
    };
  }

  /** Reads the kubeconfig Secret again and asks the cluster's API server GET /readyz. Never throws. */
  async probe(key: string): Promise<ProbeResult> {
    const entry = this.entries.get(key);
    if (!entry) return { ok: false, message: `cluster ${key} is not registered` };
    await this.load(entry);
    if (!entry.built) {
      const result = { ok: false, message: `not healthy: ${entry.loadError ?? 'no kubeconfig'}` };
      this.report(key, entry, result);
      return result;
    }
    return this.check(key, entry, entry.built);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const key of this.keys()) this.unregister(key);
  }

  private probeAll(): void {
    for (const key of this.entries.keys()) this.probeInBackground(key);
  }

  /** One background probe per cluster at a time: a hanging cluster must not pile up probes. */
  private probeInBackground(key: string): void {
    const entry = this.entries.get(key);
    if (!entry || entry.probing) return;
    entry.probing = true;
    void this.probe(key).finally(() => (entry.probing = false));
  }

  /** Brings `entry.built` in line with the Secret; concurrent callers share one read. */
  private load(entry: Entry): Promise<void> {
    entry.loading ??= this.readSecret(entry).finally(() => (entry.loading = undefined));
    return entry.loading;
  }

  private async readSecret(entry: Entry): Promise<void> {
    const { secretNamespace, secretName, secretKey } = entry.ref;
    const where = `kubeconfig Secret ${secretNamespace}/${secretName}`;
    let secret;
    try {
      secret = await this.meta.get(resources.secrets, secretNamespace, secretName);
    } catch (err) {
      if (isNotFound(err)) {
        entry.readAt = Date.now();
        return this.drop(entry, `${where} not found`);
      }
      // The meta-cluster blinked: keep the client we have, it may well still work.
      entry.loadError = `reading ${where}: ${errorMessage(err)}`;
      return;
    }
    if (!this.isCurrent(entry)) return;
    entry.readAt = Date.now();
    const resourceVersion = secret.metadata.resourceVersion ?? '';
    if (entry.built && entry.built.resourceVersion === resourceVersion) return;
    const encoded = (secret.data as Record<string, string> | undefined)?.[secretKey];
    if (!encoded) return this.drop(entry, `${where} has no data["${secretKey}"]`);
    let built: Built;
    try {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromString(Buffer.from(encoded, 'base64').toString('utf8'));
      const server = kubeConfig.getCurrentCluster()?.server;
      if (!server) throw new Error('it has no current cluster with a server');
      built = {
        client: new KubeClient(kubeConfig, { fieldManager: this.options.fieldManager }),
        kubeConfig,
        server,
        resourceVersion,
        probeAgent: new https.Agent({ keepAlive: false, maxCachedSessions: 1 }),
      };
    } catch (err) {
      return this.drop(entry, `${where} data["${secretKey}"] is not a usable kubeconfig: ${errorMessage(err)}`);
    }
    // Closed at once: requests still in flight on it fail and are retried with the new credentials.
    closeBuilt(entry.built);
    entry.built = built;
    entry.loadError = undefined;
  }

  private drop(entry: Entry, reason: string): void {
    closeBuilt(entry.built);
    entry.built = undefined;
    entry.loadError = reason;
  }

  private async check(key: string, entry: Entry, built: Built): Promise<ProbeResult> {
    const seq = ++entry.probesStarted;
    const probed = await readyz(built, this.options.probeTimeoutMs ?? 3_000);
    // A result for a client replaced or unregistered meanwhile says nothing about the current one.
    if (!this.isCurrent(entry) || entry.built !== built || seq < entry.probeApplied) return probed;
    entry.probeApplied = seq;
    const threshold = this.options.timeoutThreshold ?? 3;
    const wasHealthy = entry.health?.client === built.client && entry.health.ok;
    entry.timeouts = probed.timedOut ? entry.timeouts + 1 : 0;
    const result: ProbeResult =
      probed.timedOut && wasHealthy && entry.timeouts < threshold
        ? { ok: true, message: `ok (${entry.timeouts} of ${threshold} probes in a row timed out: ${probed.message})` }
        : { ok: probed.ok, message: probed.message };
    entry.health = { client: built.client, ...result };
    this.report(key, entry, result);
    return result;
  }

  private report(key: string, entry: Entry, result: ProbeResult): void {
    if (!this.isCurrent(entry) || entry.reported === result.ok) return;
    entry.reported = result.ok;
    try {
      this.options.onHealthChange?.(key, result.ok, result.message);
    } catch {
      // The callback is the caller's; its failure must not stop probing.
    }
  }

  private isCurrent(entry: Entry): boolean {
    return this.entries.get(entry.key) === entry;
  }
}

/** GET /readyz with the kubeconfig's TLS material and credentials, on a fresh connection (resuming the last TLS session). */
async function readyz(built: Built, timeoutMs: number): Promise<ProbeResult & { timedOut?: boolean }> {
  const opts: https.RequestOptions = {};
  try {
    await built.kubeConfig.applyToHTTPSOptions(opts);
  } catch (err) {
    return { ok: false, message: `not healthy: kubeconfig credentials: ${errorMessage(err)}` };
  }
  const url = new URL('/readyz', built.server);
  const secure = url.protocol === 'https:';
  if (secure) built.secureContext ??= tls.createSecureContext({ ca: opts.ca, cert: opts.cert, key: opts.key });
  return new Promise((resolve) => {
    const req = (secure ? https : http).request(
      url,
      {
        method: 'GET',
        ...(secure ? { secureContext: built.secureContext, rejectUnauthorized: opts.rejectUnauthorized, servername: opts.servername } : {}),
        headers: { ...(opts.headers as Record<string, string> | undefined), Accept: 'text/plain' },
        // No keep-alive (a pooled socket could hide that the server is gone); the TLS session is resumed.
        agent: secure ? built.probeAgent : false,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 512) body += chunk;
        });
        res.on('error', (err) => resolve(failure(err, built.server, timeoutMs)));
        res.on('end', () =>
          resolve(
            res.statusCode === 200
              ? { ok: true, message: 'ok' }
              : { ok: false, message: `not healthy: GET ${url.href} answered ${res.statusCode}: ${body.trim().slice(0, 200)}` },
          ),
        );
      },
    );
    req.on('error', (err) => resolve(failure(err, built.server, timeoutMs)));
    req.end();
  });
}

function closeBuilt(built: Built | undefined): void {
  built?.client.close();
  built?.probeAgent.destroy();
}

function failure(err: Error, server: string, timeoutMs: number): ProbeResult & { timedOut?: boolean } {
  if (err.name === 'AbortError' || err.name === 'TimeoutError') {
    return { ok: false, timedOut: true, message: `not healthy: no answer from ${server} within ${timeoutMs} ms` };
  }
  return { ok: false, message: `not healthy: ${err.message}` };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
