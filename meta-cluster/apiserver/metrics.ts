/** Prometheus metrics of one API server (its own registry: several servers share a process). */
import client from 'prom-client';

export class ApiMetrics {
  readonly registry = new client.Registry();
  private readonly requests = new client.Counter({
    name: 'apiserver_request_total',
    help: 'Requests by verb, resource and HTTP code.',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [this.registry],
  });
  private readonly duration = new client.Histogram({
    name: 'apiserver_request_duration_seconds',
    help: 'Time to the response (to the start of the stream for watches).',
    labelNames: ['verb', 'resource'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly watchers = new client.Gauge({
    name: 'apiserver_registered_watchers',
    help: 'Open watches by resource.',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });

  constructor(revision: () => number) {
    new client.Gauge({
      name: 'apiserver_storage_revision',
      help: 'The newest revision of the store.',
      registers: [this.registry],
      collect() {
        this.set(revision());
      },
    });
  }

  observe(verb: string, resource: string, code: number, seconds: number): void {
    this.requests.inc({ verb, resource, code: String(code) });
    if (verb !== 'watch') this.duration.observe({ verb, resource }, seconds);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
