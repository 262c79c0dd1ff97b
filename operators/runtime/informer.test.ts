import { afterEach, describe, expect, it } from 'vitest';
import { eventually, startTestServer, tempDir, type TestServer } from '../../test/helpers.js';
import { startApiServer } from '../../meta-cluster/apiserver/apiserver.js';
import { KubeClient } from './client.js';
import { Informer, SharedInformers } from './informer.js';
import * as k8s from '@kubernetes/client-node';

const configmaps = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function server(opts = {}): Promise<TestServer> {
  const s = await startTestServer(opts);
  cleanup.push(() => s.destroy());
  return s;
}

function informerFor(s: { kubeConfig: k8s.KubeConfig }) {
  const client = new KubeClient(s.kubeConfig);
  const log: string[] = [];
  const inf = new Informer({ client, resource: configmaps, namespace: 'default' }).on({
    add: (o) => log.push(`add ${o.metadata.name}`),
    update: (_old, o) => log.push(`update ${o.metadata.name} ${o.data?.v}`),
    delete: (o) => log.push(`delete ${o.metadata.name}`),
  });
  cleanup.push(async () => {
    await inf.stop();
    client.close();
  });
  return { inf, log, client };
}

describe('Informer', () => {
  it('keeps a cache equal to the server and emits every change in order', async () => {
    const s = await server();
    const { inf, log, client } = informerFor(s);
    await client.create(configmaps, 'default', { metadata: { name: 'pre' }, data: { v: '0' } });
    await inf.start();
    expect(log).toEqual(['add pre']);
    await client.create(configmaps, 'default', { metadata: { name: 'a' }, data: { v: '1' } });
    await client.patch(configmaps, 'default', 'a', 'merge', { data: { v: '2' } });
    await client.delete(configmaps, 'default', 'pre');
    await eventually(() => log.length === 4);
    expect(log).toEqual(['add pre', 'add a', 'update a 2', 'delete pre']);
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['a']);
  });

  it('keeps its indexes in step with adds, updates (values moving) and deletes', async () => {
    const s = await server();
    const { inf, client } = informerFor(s);
    inf.addIndex('team', (o) => (o.data?.teams ? o.data.teams.split(',') : []));
    await client.create(configmaps, 'default', { metadata: { name: 'a' }, data: { teams: 'red,blue' } });
    await inf.start();
    expect(() => inf.addIndex('late', () => [])).toThrow(/before the informer starts/);
    await client.create(configmaps, 'default', { metadata: { name: 'b' }, data: { teams: 'blue' } });
    await client.patch(configmaps, 'default', 'a', 'merge', { data: { teams: 'green' } });
    await eventually(() => inf.byIndex('team', 'green').length === 1);
    const names = (team: string) => inf.byIndex('team', team).map((o) => o.metadata.name).sort();
    expect([names('red'), names('blue'), names('green')]).toEqual([[], ['b'], ['a']]);
    await client.delete(configmaps, 'default', 'b');
    await eventually(() => names('blue').length === 0);
    expect(() => inf.byIndex('nope', 'x')).toThrow(/no index nope/);
  });

  it('survives a server restart on the same port and data, catching up without duplicates', async () => {
    const dir = tempDir();
    cleanup.push(() => dir.remove());
    let s = await startApiServer({ dataDir: dir.path });
    const port = s.port;
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(s.kubeconfigPath);
    const { inf, log, client } = informerFor({ kubeConfig: kc });
    await inf.start();
    await client.create(configmaps, 'default', { metadata: { name: 'before' } });
    await eventually(() => log.includes('add before'));
    await s.stop();
    s = await startApiServer({ dataDir: dir.path, port });
    cleanup.push(() => s.stop());
    await client.create(configmaps, 'default', { metadata: { name: 'after' } });
    await eventually(() => log.includes('add after'), 15_000);
    expect(log.filter((l) => l === 'add before')).toHaveLength(1);
    expect(inf.restarts).toBeGreaterThan(0);
  });

  it('relists after 410 Expired and emits the differences', async () => {
    const s = await server();
    const { inf, log, client } = informerFor(s);
    await inf.start();
    // Take the informer's watch away, change things, and compact history past its resourceVersion.
    await inf.stop();
    await client.create(configmaps, 'default', { metadata: { name: 'missed' } });
    s.store.compact(s.store.revision);
    await inf.start();
    await eventually(() => log.includes('add missed'));
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['missed']);
  });
});

describe('SharedInformers', () => {
  it('gives every user one informer, replays the cache to late handlers, and stops with the last user', async () => {
    const s = await server();
    const client = new KubeClient(s.kubeConfig);
    cleanup.push(() => client.close());
    await client.create(configmaps, 'default', { metadata: { name: 'x' } });
    const shared = new SharedInformers(client);
    const a = shared.get({ resource: configmaps, namespace: 'default' });
    const b = shared.get({ resource: configmaps, namespace: 'default' });
    expect(a).toBe(b);
    expect(shared.get({ resource: configmaps })).not.toBe(a);
    await a.start();
    await b.start();
    const late: string[] = [];
    b.on({ add: (o) => late.push(o.metadata.name!) });
    expect(late).toEqual(['x']);
    await a.stop();
    // Still running for b: a new object arrives.
    await client.create(configmaps, 'default', { metadata: { name: 'y' } });
    await eventually(() => late.includes('y'));
    await b.stop();
    await client.create(configmaps, 'default', { metadata: { name: 'z' } });
    await new Promise((r) => setTimeout(r, 200));
    expect(late).not.toContain('z');
  });
});
