/**
 * Prometheus metrics of an operator process, and the HTTPS endpoint that serves them.
 * The metric names follow controller-runtime's (`controller_runtime_reconcile_total` …) under the
 * `kok_` prefix, so dashboards built for Go operators translate one to one.
 * Each OperatorMetrics owns its registry: tests and the embedded mode run several operators in
 * one process, and prom-client's global registry would make their metrics collide.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import { tokensEqual } from '../../meta-cluster/pki/kubeconfig.js';
import type { WorkQueueOptions } from './workqueue.js';

export type ReconcileOutcome = 'success' | 'error' | 'requeue';
const outcomes: readonly ReconcileOutcome[] = ['success', 'error', 'requeue'];

export interface OperatorMetricsOptions {
  /** prom-client's process metrics (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds` …), unprefixed as every exporter names them. @default true */
  readonly processMetrics?: boolean;
}

export class OperatorMetrics {
  readonly registry = new client.Registry();
  private readonly queues = new Map<string, () => number>();

  private readonly reconcileTotal = new client.Counter({
    name: 'kok_reconcile_total',
    help: 'Reconciles by controller and result (success, error, requeue).',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  private readonly reconcileErrors = new client.Counter({
    name: 'kok_reconcile_errors_total',
    help: 'Reconciles that failed, by controller.',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  private readonly reconcileDuration = new client.Histogram({
    name: 'kok_reconcile_duration_seconds',
    help: 'Time one reconcile took, by controller.',
    labelNames: ['controller'] as const,
    // controller-runtime's buckets: reconciles range from a cache read to a slow cloud call.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly informerRestarts = new client.Counter({
    name: 'kok_informer_restarts_total',
    help: 'Watches restarted after an error, by resource. A steady rise means the API server keeps dropping watches.',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });

  constructor(options: OperatorMetricsOptions = {}) {
    const queues = this.queues;
    new client.Gauge({
      name: 'kok_workqueue_depth',
      help: 'Keys waiting in a work queue, by queue name.',
      labelNames: ['name'] as const,
      registers: [this.registry],
      // Read at scrape time: the queues already know their depth, so nothing has to be kept in step.
      collect() {
        this.reset();
        for (const [name, depth] of queues) this.set({ name }, depth());
      },
    });
    if (options.processMetrics ?? true) client.collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Hooks for a WorkQueue of `controller`: `new WorkQueue(fn, { name, ...metrics.queueHooks(name) })`.
   * The controller's series start at 0 so `rate()` works from the first scrape.
   */
  queueHooks(controller: string): Required<Pick<WorkQueueOptions, 'onProcessed' | 'onError'>> {
    for (const result of outcomes) this.reconcileTotal.inc({ controller, result }, 0);
    this.reconcileErrors.inc({ controller }, 0);
    return {
      onProcessed: (_key, seconds, outcome) => {
        this.reconcileTotal.inc({ controller, result: outcome });
        this.reconcileDuration.observe({ controller }, seconds);
      },
      onError: () => this.reconcileErrors.inc({ controller }),
    };
  }

  /** The `onRestart` option of an Informer of `resource` (e.g. `clusters.fleet.kok.dev`). */
  informerRestartHook(resource: string): (reason: string) => void {
    this.informerRestarts.inc({ resource }, 0);
    return () => this.informerRestarts.inc({ resource });
  }

  /** Reports `depth()` as `kok_workqueue_depth{name}` at each scrape; returns a function that stops it. */
  trackQueue(name: string, depth: () => number): () => void {
    this.queues.set(name, depth);
    return () => {
      if (this.queues.get(name) === depth) this.queues.delete(name);
    };
  }

  /** The text exposition format, as GET /metrics serves it. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

export interface ServeMetricsOptions {
  /** @default '127.0.0.1' - in a pod, pass '0.0.0.0' so Prometheus can scrape it */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly tls: { readonly certPem: string; readonly keyPem: string };
  /** Bearer token a scraper must send to read /metrics. */
  readonly token: string;
  /** Decides /readyz (e.g. informers synced). @default - always ready */
  readonly ready?: () => boolean | Promise<boolean>;
}

export interface MetricsServer {
  readonly port: number;
  /** `https://host:port`, without a path. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics (bearer token required) and /healthz, /readyz (no auth, for kubelet
 * probes, which cannot send a token) over HTTPS. There is no plain-HTTP mode on purpose:
 * metrics name every cluster and controller of the fleet.
 */
export async function serveMetrics(metrics: OperatorMetrics, options: ServeMetricsOptions): Promise<MetricsServer> {
  if (!options.token) throw new Error('serveMetrics: token must be a non-empty string; scrapers authenticate with it');
  if (!options.tls?.certPem || !options.tls?.keyPem) throw new Error('serveMetrics: tls.certPem and tls.keyPem are required; kok serves metrics over HTTPS only');
  const host = options.host ?? '127.0.0.1';

  const server = https.createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (req, res) => {
    const reply = (code: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      const path = new URL(req.url ?? '/', 'https://localhost').pathname;
      switch (path) {
        case '/healthz':
          return reply(200, 'ok\n');
        case '/readyz':
          return (await (options.ready?.() ?? true)) ? reply(200, 'ok\n') : reply(503, 'not ready\n');
        case '/metrics': {
          if (!tokensEqual(bearerToken(req.headers.authorization), options.token)) {
            return reply(401, 'Unauthorized\n', { 'WWW-Authenticate': 'Bearer realm="kok-metrics"' });
          }
          return reply(200, await metrics.metrics(), { 'Content-Type': metrics.registry.contentType });
        }
        default:
          return reply(404, 'not found\n');
      }
    })().catch((err: unknown) => {
      if (!res.headersSent) reply(500, `${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Scrapers keep connections alive; without this close() would wait for them.
        server.closeAllConnections();
      }),
  };
}

function bearerToken(header: string | undefined): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match ? match[1]! : '';
}
