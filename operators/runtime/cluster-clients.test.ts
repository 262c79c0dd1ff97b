import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { apiRequests, eventually, startTestServer, type TestServer } from '../../test/helpers.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { KubeClient } from './client.js';
import { ClusterClientRegistry } from './cluster-clients.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function server(): Promise<TestServer> {
  const s = await startTestServer();
  let destroyed = false;
  cleanup.push(() => (destroyed ? undefined : s.destroy()));
  return { ...s, destroy: async () => ((destroyed = true), s.destroy()) };
}

/** The kubeconfig Secret the cluster operator would write, holding the business server's kubeconfig. */
async function kubeconfigSecret(meta: KubeClient, name: string, business: TestServer, key = 'value') {
  const data = { [key]: Buffer.from(readFileSync(business.kubeconfigPath, 'utf8')).toString('base64') };
  return meta.create(resources.secrets, 'default', { metadata: { name }, type: 'Opaque', data });
}

async function namespaceNames(client: KubeClient): Promise<string[]> {
  return (await client.list(resources.namespaces)).items.map((n) => n.metadata.name!);
}

function setup(metaServer: TestServer, options: ConstructorParameters<typeof ClusterClientRegistry>[1] = {}) {
  const meta = new KubeClient(metaServer.kubeConfig);
  const health: string[] = [];
  const registry = new ClusterClientRegistry(meta, { onHealthChange: (key, healthy) => health.push(`${key} ${healthy}`), ...options });
  cleanup.push(() => {
    registry.close();
    meta.close();
  });
  return { meta, registry, health };
}

describe('ClusterClientRegistry', () => {
  it('reaches a business cluster through its kubeconfig Secret, and reports it unhealthy once it is gone', async () => {
    const metaServer = await server();
    const business = await server();
    const { meta, registry, health } = setup(metaServer, { probeIntervalMs: 100, probeTimeoutMs: 1000 });
    await new KubeClient(business.kubeConfig).create(resources.namespaces, undefined, { metadata: { name: 'only-in-business' } });
    await kubeconfigSecret(meta, 'pay-kubeconfig', business);

    registry.register('fleet/pay', { secretNamespace: 'default', secretName: 'pay-kubeconfig' });
    const conn = await registry.get('fleet/pay');
    expect(conn).toMatchObject({ server: business.url, healthy: true });
    expect(conn!.lastError).toBeUndefined();
    expect(await namespaceNames(conn!.client)).toContain('only-in-business');
    expect(await namespaceNames(meta)).not.toContain('only-in-business');
    expect(await registry.probe('fleet/pay')).toEqual({ ok: true, message: 'ok' });
    await eventually(() => health.includes('fleet/pay true'));

    await business.destroy();
    const probed = await registry.probe('fleet/pay');
    expect(probed.ok).toBe(false);
    expect(probed.message).toMatch(/^not healthy: connect ECONNREFUSED 127\.0\.0\.1:\d+/);
    // The background probe saw it too and said so once.
    await eventually(() => health.includes('fleet/pay false'));
    expect(health).toEqual(['fleet/pay true', 'fleet/pay false']);
    expect(await registry.get('fleet/pay')).toMatchObject({ healthy: false, lastError: probed.message });

    expect(registry.unregister('fleet/pay')).toBe(true);
    expect(await registry.get('fleet/pay')).toBeUndefined();
    expect(await registry.probe('fleet/pay')).toEqual({ ok: false, message: 'cluster fleet/pay is not registered' });
    expect(registry.keys()).toEqual([]);
  });

  it('rebuilds the client when the Secret changes, and says why when there is no usable kubeconfig', async () => {
    const metaServer = await server();
    const first = await server();
    const second = await server();
    const { meta, registry } = setup(metaServer);
    registry.register('fleet/web', { secretNamespace: 'default', secretName: 'web-kubeconfig', secretKey: 'kubeconfig' });

    // The cluster operator has not written the Secret yet.
    expect(await registry.get('fleet/web')).toBeUndefined();
    expect(await registry.probe('fleet/web')).toEqual({ ok: false, message: 'not healthy: kubeconfig Secret default/web-kubeconfig not found' });

    await kubeconfigSecret(meta, 'web-kubeconfig', first, 'kubeconfig');
    const before = await registry.get('fleet/web');
    expect(before).toMatchObject({ server: first.url, healthy: true });
    // Unchanged Secret: the same client.
    expect((await registry.get('fleet/web'))!.client).toBe(before!.client);

    const rotated = Buffer.from(readFileSync(second.kubeconfigPath, 'utf8')).toString('base64');
    await meta.patch(resources.secrets, 'default', 'web-kubeconfig', 'merge', { data: { kubeconfig: rotated } });
    const after = await registry.get('fleet/web');
    expect(after).toMatchObject({ server: second.url, healthy: true });
    expect(after!.client).not.toBe(before!.client);

    await meta.patch(resources.secrets, 'default', 'web-kubeconfig', 'merge', { data: { kubeconfig: Buffer.from('clusters: [').toString('base64') } });
    expect(await registry.get('fleet/web')).toBeUndefined();
    expect((await registry.probe('fleet/web')).message).toMatch(/^not healthy: kubeconfig Secret default\/web-kubeconfig data\["kubeconfig"\] is not a usable kubeconfig/);
  });

  it('with secretMaxAgeMs, reuses a recent read of the Secret and picks a rotation up at the next probe', async () => {
    const metaServer = await server();
    const first = await server();
    const second = await server();
    const { meta, registry } = setup(metaServer, { secretMaxAgeMs: 60_000, probeIntervalMs: 300 });
    await kubeconfigSecret(meta, 'web-kubeconfig', first, 'kubeconfig');
    registry.register('fleet/web', { secretNamespace: 'default', secretName: 'web-kubeconfig', secretKey: 'kubeconfig' });
    const before = await registry.get('fleet/web');
    expect(before).toMatchObject({ server: first.url, healthy: true });
    const secretGets = () => apiRequests(metaServer, 'get', 'core/secrets', 200);
    const reads = await secretGets();
    for (let i = 0; i < 5; i++) expect((await registry.get('fleet/web'))!.client).toBe(before!.client);
    // None of the five gets read the Secret (a background probe may have, once).
    expect(await secretGets()).toBeLessThanOrEqual(reads + 1);

    const rotated = Buffer.from(readFileSync(second.kubeconfigPath, 'utf8')).toString('base64');
    await meta.patch(resources.secrets, 'default', 'web-kubeconfig', 'merge', { data: { kubeconfig: rotated } });
    await eventually(async () => (await registry.get('fleet/web'))?.server === second.url);
  });

  it('with secretMaxAgeMs, answers from an expired read at once and reads the Secret again behind it', async () => {
    const metaServer = await server();
    const first = await server();
    const second = await server();
    // Probes far apart: only get() reads the Secret here.
    const { meta, registry } = setup(metaServer, { secretMaxAgeMs: 200, probeIntervalMs: 60_000 });
    await kubeconfigSecret(meta, 'api-kubeconfig', first);
    registry.register('fleet/api', { secretNamespace: 'default', secretName: 'api-kubeconfig' });
    expect((await registry.get('fleet/api'))?.server).toBe(first.url);

    const rotated = Buffer.from(readFileSync(second.kubeconfigPath, 'utf8')).toString('base64');
    await meta.patch(resources.secrets, 'default', 'api-kubeconfig', 'merge', { data: { value: rotated } });
    await new Promise((r) => setTimeout(r, 300));
    const reads = await apiRequests(metaServer, 'get', 'core/secrets', 200);
    // Expired: this get answers with the client it has, without waiting for the read it starts.
    expect((await registry.get('fleet/api'))?.server).toBe(first.url);
    await eventually(async () => (await registry.get('fleet/api'))?.server === second.url);
    expect(await apiRequests(metaServer, 'get', 'core/secrets', 200)).toBe(reads + 1);
  });

  it('reports a server that does not answer within the probe timeout', async () => {
    const metaServer = await server();
    const { meta, registry } = setup(metaServer, { probeTimeoutMs: 200 });
    // A TCP listener that accepts and never answers the TLS handshake.
    const net = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = net.createServer((s) => void sockets.push(s)).listen(0, '127.0.0.1');
    await new Promise((r) => silent.once('listening', r));
    cleanup.push(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const yaml = readFileSync(metaServer.kubeconfigPath, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${port}`);
    await meta.create(resources.secrets, 'default', { metadata: { name: 'slow' }, data: { value: Buffer.from(yaml).toString('base64') } });
    registry.register('fleet/slow', { secretNamespace: 'default', secretName: 'slow' });
    expect(await registry.probe('fleet/slow')).toEqual({ ok: false, message: `not healthy: no answer from https://127.0.0.1:${port} within 200 ms` });
  });

  it('keeps a healthy cluster healthy until timeoutThreshold probes in a row time out', async () => {
    const metaServer = await server();
    const business = await server();
    const { meta, registry, health } = setup(metaServer, { probeTimeoutMs: 200, timeoutThreshold: 3 });
    // A TCP relay to the business server that can be told to swallow new connections.
    const net = await import('node:net');
    let hold = false;
    const sockets: import('node:net').Socket[] = [];
    const relay = net
      .createServer((client) => {
        sockets.push(client);
        if (hold) return;
        const upstream = net.connect(business.port, '127.0.0.1');
        sockets.push(upstream);
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
      })
      .listen(0, '127.0.0.1');
    await new Promise((r) => relay.once('listening', r));
    cleanup.push(() => {
      for (const x of sockets) x.destroy();
      relay.close();
    });
    const port = (relay.address() as import('node:net').AddressInfo).port;
    const yaml = readFileSync(business.kubeconfigPath, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${port}`);
    await meta.create(resources.secrets, 'default', { metadata: { name: 'busy' }, data: { value: Buffer.from(yaml).toString('base64') } });
    registry.register('fleet/busy', { secretNamespace: 'default', secretName: 'busy' });
    expect((await registry.probe('fleet/busy')).ok).toBe(true);
    hold = true;
    const first = await registry.probe('fleet/busy');
    expect(first).toMatchObject({ ok: true });
    expect(first.message).toMatch(/^ok \(1 of 3 probes in a row timed out: not healthy: no answer/);
    expect((await registry.probe('fleet/busy')).ok).toBe(true);
    expect(await registry.probe('fleet/busy')).toEqual({ ok: false, message: `not healthy: no answer from https://127.0.0.1:${port} within 200 ms` });
    hold = false;
    expect((await registry.probe('fleet/busy')).ok).toBe(true);
    expect(health.filter((h) => h.startsWith('fleet/busy'))).toEqual(['fleet/busy true', 'fleet/busy false', 'fleet/busy true']);
  });

  it('rejects keys that are not namespace/name', async () => {
    const metaServer = await server();
    const { registry } = setup(metaServer);
    expect(() => registry.register('pay', { secretNamespace: 'default', secretName: 's' })).toThrow(/must be "namespace\/name"/);
  });
});
