import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/helpers.js';
import { createCA, issueCertificate, type CertificateAndKey } from '../../meta-cluster/pki/pki.js';
import { KubeClient } from './client.js';
import { Informer } from './informer.js';
import { OperatorMetrics, serveMetrics } from './metrics.js';
import { TerminalError, WorkQueue } from './workqueue.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The value of one sample in the text format, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('OperatorMetrics', () => {
  it('counts reconciles by result, errors and durations through the work queue hooks', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    const queue = new WorkQueue(
      async (key) => {
        if (key === 'bad') throw new TerminalError('bad spec');
        if (key === 'wait') return { requeueAfterMs: 60_000 };
      },
      { name: 'cluster', ...metrics.queueHooks('cluster') },
    );
    cleanup.push(() => queue.stop());
    metrics.queueHooks('machine');
    for (const key of ['a', 'b', 'bad', 'wait']) queue.add(key);
    await queue.idle();

    const text = await metrics.metrics();
    expect(sample(text, 'kok_reconcile_total{controller="cluster",result="success"}')).toBe(2);
    expect(sample(text, 'kok_reconcile_total{controller="cluster",result="error"}')).toBe(1);
    expect(sample(text, 'kok_reconcile_total{controller="cluster",result="requeue"}')).toBe(1);
    expect(sample(text, 'kok_reconcile_errors_total{controller="cluster"}')).toBe(1);
    expect(sample(text, 'kok_reconcile_duration_seconds_count{controller="cluster"}')).toBe(4);
    // A controller that has not run yet is already visible at zero.
    expect(sample(text, 'kok_reconcile_total{controller="machine",result="success"}')).toBe(0);
  });

  it('reads work queue depth at scrape time, until the queue is untracked', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const queue = new WorkQueue(() => blocked, { name: 'release', concurrency: 1 });
    cleanup.push(() => queue.stop());
    const untrack = metrics.trackQueue('release', () => queue.depth);
    for (const key of ['a', 'b', 'c']) queue.add(key);
    // One key is being processed, two wait.
    expect(sample(await metrics.metrics(), 'kok_workqueue_depth{name="release"}')).toBe(2);
    release();
    await queue.idle();
    expect(sample(await metrics.metrics(), 'kok_workqueue_depth{name="release"}')).toBe(0);
    untrack();
    expect(sample(await metrics.metrics(), 'kok_workqueue_depth{name="release"}')).toBeUndefined();
  });

  it('counts informer restarts through the onRestart hook', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    // Nothing listens on port 1: every list fails and the informer restarts with backoff.
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    const client = new KubeClient(kc);
    const configmaps = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };
    const informer = new Informer({ client, resource: configmaps, onRestart: metrics.informerRestartHook('configmaps') });
    cleanup.push(async () => {
      await informer.stop();
      client.close();
    });
    void informer.start();
    await eventually(() => informer.restarts >= 2);
    const counted = sample(await metrics.metrics(), 'kok_informer_restarts_total{resource="configmaps"}');
    expect(counted).toBeGreaterThanOrEqual(2);
  });

  it('includes process metrics unless told not to', async () => {
    expect(await new OperatorMetrics().metrics()).toContain('process_cpu_seconds_total');
    expect(await new OperatorMetrics({ processMetrics: false }).metrics()).not.toContain('process_cpu_seconds_total');
  });
});

describe('serveMetrics', () => {
  let ca: CertificateAndKey;
  let serving: CertificateAndKey;
  beforeAll(async () => {
    ca = await createCA({ commonName: 'metrics-test-ca' });
    serving = await issueCertificate(ca, { commonName: 'operator', ipAddresses: ['127.0.0.1'], usages: ['server'] });
  });

  function get(url: string, headers: Record<string, string> = {}, trust = ca.certPem): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      https
        .get(url, { ca: trust, headers, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        })
        .on('error', reject);
    });
  }

  it('serves /metrics over TLS only with the bearer token, and health without auth', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    metrics.queueHooks('cluster').onProcessed('fleet/a', 0.01, 'success');
    let ready = false;
    const server = await serveMetrics(metrics, { port: 0, tls: serving, token: 'scrape-token', ready: () => ready });
    cleanup.push(() => server.close());
    expect(server.url).toBe(`https://127.0.0.1:${server.port}`);

    const anonymous = await get(`${server.url}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).not.toContain('kok_reconcile_total');
    expect((await get(`${server.url}/metrics`, { Authorization: 'Bearer wrong-token!' })).status).toBe(401);
    expect((await get(`${server.url}/metrics`, { Authorization: 'Basic c2NyYXBlLXRva2Vu' })).status).toBe(401);

    const scraped = await get(`${server.url}/metrics`, { Authorization: 'Bearer scrape-token' });
    expect(scraped.status).toBe(200);
    expect(scraped.headers['content-type']).toContain('text/plain');
    expect(sample(scraped.body, 'kok_reconcile_total{controller="cluster",result="success"}')).toBe(1);

    expect(await get(`${server.url}/healthz`)).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await get(`${server.url}/readyz`)).status).toBe(503);
    ready = true;
    expect((await get(`${server.url}/readyz`)).status).toBe(200);
    expect((await get(`${server.url}/other`)).status).toBe(404);

    // A client that does not trust kok's CA refuses the connection.
    const otherCa = await createCA({ commonName: 'someone-else' });
    await expect(get(`${server.url}/healthz`, {}, otherCa.certPem)).rejects.toThrow();
  });

  it('refuses to start without a token or TLS material, and close() frees the port', async () => {
    const metrics = new OperatorMetrics({ processMetrics: false });
    await expect(serveMetrics(metrics, { port: 0, tls: serving, token: '' })).rejects.toThrow(/token must be a non-empty string/);
    await expect(serveMetrics(metrics, { port: 0, tls: { certPem: '', keyPem: '' }, token: 't' })).rejects.toThrow(/HTTPS only/);

    const server = await serveMetrics(metrics, { port: 0, tls: serving, token: 't' });
    // A kept-alive connection must not hold close() open.
    const agent = new https.Agent({ keepAlive: true, ca: ca.certPem });
    await new Promise((resolve) => https.get(`${server.url}/healthz`, { agent }, (res) => res.resume().on('end', resolve)));
    await server.close();
    agent.destroy();
    await expect(get(`${server.url}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
  });
});
