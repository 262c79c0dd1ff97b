/**
 * Prometheus metrics of one API server (its own registry: several servers share a process).
 *
 * Every request is counted, so counting must stay cheap: prom-client builds, validates and hashes
 * a label key on every `inc` and `observe`, which showed in the profile of every request (a few
 * µs). Requests are therefore tallied in plain maps keyed by the (interned) label strings; the
 * request counter takes the tallies when scraped, and the duration histogram is rendered from its
 * own bucket counts.
 */
import client from 'prom-client';

const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The requests of one verb on one resource. */
interface Series {
  /** Requests by HTTP code not yet added to the counter. */
  readonly pending: Map<number, number>;
  /** Observations per bucket of `durationBuckets` (not cumulative); the +Inf bucket is `count`. */
  readonly buckets: number[];
  sum: number;
  count: number;
}

export class ApiMetrics {
  readonly registry = new client.Registry();
  /** verb → resource → series. */
  private readonly series = new Map<string, Map<string, Series>>();
  private readonly requests = new client.Counter({
    name: 'apiserver_request_total',
    help: 'Requests by verb, resource and HTTP code.',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [this.registry],
    collect: () => this.addPending(),
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
    // Rendered like prom-client's own histograms (same `get()` shape), from the series' buckets.
    const durations = {
      name: 'apiserver_request_duration_seconds',
      help: 'Time to the response (to the start of the stream for watches).',
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({ ...durations, values: this.durationValues(durations.name) }),
      reset: () => this.series.clear(),
    };
    this.registry.registerMetric(durations as unknown as client.Metric);
  }

  observe(verb: string, resource: string, code: number, seconds: number): void {
    let byResource = this.series.get(verb);
    if (!byResource) this.series.set(verb, (byResource = new Map()));
    let s = byResource.get(resource);
    if (!s) byResource.set(resource, (s = { pending: new Map(), buckets: durationBuckets.map(() => 0), sum: 0, count: 0 }));
    s.pending.set(code, (s.pending.get(code) ?? 0) + 1);
    if (verb === 'watch') return;
    for (let i = 0; i < durationBuckets.length; i++) {
      if (seconds <= durationBuckets[i]) {
        s.buckets[i]++;
        break;
      }
    }
    s.sum += seconds;
    s.count++;
  }

  private addPending(): void {
    for (const [verb, byResource] of this.series) {
      for (const [resource, s] of byResource) {
        for (const [code, n] of s.pending) this.requests.inc({ verb, resource, code: String(code) }, n);
        s.pending.clear();
      }
    }
  }

  private durationValues(name: string) {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const [verb, byResource] of this.series) {
      for (const [resource, s] of byResource) {
        if (!s.count) continue;
        let cumulative = 0;
        durationBuckets.forEach((le, i) => {
          cumulative += s.buckets[i];
          values.push({ metricName: `${name}_bucket`, labels: { verb, resource, le }, value: cumulative });
        });
        values.push({ metricName: `${name}_bucket`, labels: { verb, resource, le: '+Inf' }, value: s.count });
        values.push({ metricName: `${name}_sum`, labels: { verb, resource }, value: s.sum });
        values.push({ metricName: `${name}_count`, labels: { verb, resource }, value: s.count });
      }
    }
    return values;
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
