/**
 * The simulated cloud's data plane against a real embedded cluster playing the business cluster:
 * instances created through the simulated provider join it with a bootstrap token, as a Machine's
 * would. Asserted on the API objects, never on the calls made.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resources } from '../../../meta-cluster/controllers/resources.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../../../meta-cluster/cluster.js';
import { eventually as poll, tempDir } from '../../../test/helpers.js';
import { KubeClient, type KubeObject } from '../../runtime/client.js';
import { createLogger } from '../../runtime/log.js';
import { encodeJoinConfiguration, type JoinConfiguration } from '../join.js';
import type { CreateInstanceRequest, Instance } from './provider.js';
import { INSTANCE_TYPE_LABEL, SimulatedCloudHost, ZONE_LABEL, joinedNodeSpec, type SimulatedCloudHostOptions } from './simulated-host.js';
import { CHANGE_WINDOW_MS, SimulatedCloud, type SimulatedProvider, type SimulatedTargetSettings } from './simulated.js';

const TOKEN_ID = 'k0khst';
const TOKEN_SECRET = 'q9w8e7r6t5y4u3i2';
const TOKEN = `${TOKEN_ID}.${TOKEN_SECRET}`;
const TARGET = 'sim-eu';

const settings = (simulation: SimulatedTargetSettings['simulation'] = {}): SimulatedTargetSettings => ({
  zones: ['eu-1a', 'eu-1b'],
  machineTypes: [{ name: 'm.small', cpu: 2, memoryGiB: 8, pricePerHour: 0.1 }],
  simulation,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `check` (expectations) until it passes. */
const eventually = (check: () => void | Promise<void>, timeoutMs?: number, intervalMs?: number) =>
  poll(async () => {
    await check();
    return true;
  }, timeoutMs, intervalMs);

describe('joinedNodeSpec', () => {
  const instance = {
    id: 'i-0000000007',
    providerID: 'simulated://sim-eu/eu-1b/i-0000000007',
    zone: 'eu-1b',
    machineType: 'm.small',
    address: '172.16.0.7',
  } as Instance;
  const base: JoinConfiguration = {
    server: 'https://127.0.0.1:6443',
    caPem: 'pem',
    token: TOKEN,
    nodeName: 'pay-core-w1',
    labels: { 'fleet.kok.dev/unit': 'u1' },
    kubeletVersion: '1.31.10',
    capacity: { cpu: '2', memory: '8Gi', pods: '110' },
  };

  it.each([
    ['labels give zone and instance type', { [ZONE_LABEL]: 'eu-1a', [INSTANCE_TYPE_LABEL]: 'm.tiny' }, 'eu-1a', 'm.tiny'],
    ['the instance gives them otherwise', {}, 'eu-1b', 'm.small'],
  ])('%s', (_what, labels, zone, instanceType) => {
    const spec = joinedNodeSpec({ ...base, labels: { ...base.labels, ...labels } }, instance);
    expect(spec).toEqual({
      name: 'pay-core-w1',
      labels: { 'fleet.kok.dev/unit': 'u1', ...labels },
      capacity: { cpu: '2', memory: '8Gi', pods: '110' },
      zone,
      instanceType,
      kubeletVersion: 'v1.31.10',
      providerID: 'simulated://sim-eu/eu-1b/i-0000000007',
      address: '172.16.0.7',
    });
  });

  it('keeps a kubelet version that already says v', () => {
    expect(joinedNodeSpec({ ...base, kubeletVersion: 'v1.30.2' }, instance).kubeletVersion).toBe('v1.30.2');
  });
});

describe('SimulatedCloud.changedSince', () => {
  const dir = tempDir('kok-sim-changes-');
  const clock = { t: Date.parse('2026-03-01T00:00:00Z') };
  const clouds: SimulatedCloud[] = [];
  afterAll(() => {
    for (const c of clouds) c.close();
    dir.remove();
  });
  const open = () => {
    const c = new SimulatedCloud(join(dir.path, 'cloud.db'), { now: () => clock.t });
    clouds.push(c);
    return c;
  };
  const req = (name: string): CreateInstanceRequest => ({
    machineUid: `uid-${name}`, machineNamespace: 'fleet', machineName: name, cluster: 'c', machineType: 'm.small', userData: 'x',
  });
  const ids = (r: { instances: Instance[] }) => r.instances.map((i) => `${i.id}:${i.state}`);

  it('lists every live instance, then only what any process changed, by a write or by the clock', async () => {
    const here = open();
    const other = open(); // another process on the same file
    const p = here.provider(TARGET, settings({ provisionSeconds: 10 }));
    const q = other.provider(TARGET, settings({ provisionSeconds: 10 }));
    const a = await p.create(req('a'));
    const b = await p.create(req('b'));
    let r = here.changedSince();
    expect(ids(r)).toEqual([`${a.id}:provisioning`, `${b.id}:provisioning`]);
    const ask = (ms: number) => {
      clock.t += ms;
      r = here.changedSince(r.cursor);
      return ids(r);
    };

    expect(ask(5_000)).toEqual([]); // nothing due, nothing written
    const c = await q.create(req('c'));
    expect(ask(5_000)).toEqual([`${a.id}:running`, `${b.id}:running`, `${c.id}:provisioning`]);
    expect(ask(2_000)).toEqual([]); // a running time is told once
    expect(ask(3_000)).toEqual([`${c.id}:running`]); // c was created 10 s ago

    q.kill(a.id);
    await q.delete(b.id);
    expect(ask(0)).toEqual([`${a.id}:failed`, `${b.id}:terminated`]);
    // Written times are looked for from CHANGE_WINDOW_MS before the last question (a writer may
    // stamp them before it commits): found again once, then no more.
    expect(ask(CHANGE_WINDOW_MS + 1)).toEqual([`${a.id}:failed`, `${b.id}:terminated`]);
    expect(ask(CHANGE_WINDOW_MS + 1)).toEqual([]);
  });
});

describe('SimulatedCloudHost', () => {
  const dir = tempDir('kok-sim-host-');
  let business: EmbeddedCluster;
  let admin: KubeClient;
  const cleanup: Array<() => Promise<void> | void> = [];
  let file = 0;

  beforeAll(async () => {
    business = await startEmbeddedCluster({
      dataDir: join(dir.path, 'business'),
      clusterName: 'biz',
      nodes: 0,
      controlPlaneRuntime: 'simulated',
      nodeMonitorGracePeriodSeconds: 2,
    });
    admin = new KubeClient(business.kubeConfig);
    await admin.create(resources.secrets, 'kube-system', {
      metadata: { name: `bootstrap-token-${TOKEN_ID}` },
      type: 'bootstrap.kubernetes.io/token',
      stringData: { 'token-id': TOKEN_ID, 'token-secret': TOKEN_SECRET, 'usage-bootstrap-authentication': 'true' },
    });
  });
  afterAll(async () => {
    admin?.close();
    await business?.stop();
    dir.remove();
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  /** A cloud on a file of the test's own; `again` opens another on the last file (another process, or after a restart). */
  function openCloud(again = false): SimulatedCloud {
    if (!again) file++;
    const cloud = new SimulatedCloud(join(dir.path, `cloud-${file}.db`));
    cleanup.push(() => cloud.close());
    return cloud;
  }

  function startHost(cloud: SimulatedCloud, over: Partial<SimulatedCloudHostOptions> = {}): { host: SimulatedCloudHost; lines: string[] } {
    const lines: string[] = [];
    const host = new SimulatedCloudHost({
      cloud,
      pollIntervalMs: 200,
      retryBaseMs: 200,
      nodeAgent: { heartbeatIntervalMs: 200 },
      logger: createLogger({ name: 'test', level: 'warn', destination: { write: (l: string) => void lines.push(l) } }),
      ...over,
    });
    cleanup.push(() => host.stop());
    void host.start();
    return { host, lines };
  }

  const joinFor = (nodeName: string, over: Partial<JoinConfiguration> = {}): JoinConfiguration => ({
    server: business.apiServer.url,
    caPem: business.apiServer.caPem,
    token: TOKEN,
    nodeName,
    labels: { 'fleet.kok.dev/unit': 'u1', [ZONE_LABEL]: 'eu-1a', [INSTANCE_TYPE_LABEL]: 'm.small' },
    kubeletVersion: '1.31.10',
    capacity: { cpu: '2', memory: '8Gi', pods: '110' },
    ...over,
  });

  const create = (provider: SimulatedProvider, nodeName: string, userData = encodeJoinConfiguration(joinFor(nodeName))) =>
    provider.create({
      machineUid: `uid-${nodeName}`,
      machineNamespace: 'fleet',
      machineName: nodeName,
      cluster: 'biz',
      machineType: 'm.small',
      zone: 'eu-1a',
      userData,
    });

  const getNode = (name: string) => admin.get(resources.nodes, undefined, name);
  const ready = (node: KubeObject) => node.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.status as string | undefined;
  const renewTime = async (name: string) => (await admin.get(resources.leases, 'kube-node-lease', name)).spec.renewTime as string;
  const waitReady = (name: string) => eventually(async () => expect(ready(await getNode(name))).toBe('True'), 15_000, 100);
  const waitRenewing = (name: string) =>
    eventually(async () => {
      const before = await renewTime(name);
      await sleep(500);
      expect(await renewTime(name)).not.toBe(before);
    }, 15_000, 100);
  const waitStale = (name: string) =>
    eventually(async () => {
      const before = await renewTime(name);
      await sleep(800);
      expect(await renewTime(name)).toBe(before);
    }, 15_000, 100);

  it('serves a running instance: its Node registers Ready with the join labels, the providerID and the address', async () => {
    const cloud = openCloud();
    const provider = cloud.provider(TARGET, settings());
    const { host } = startHost(cloud);
    const instance = await create(provider, 'host-ready-1');

    await waitReady('host-ready-1');
    const node = await getNode('host-ready-1');
    expect(node.metadata.labels).toMatchObject({
      'fleet.kok.dev/unit': 'u1',
      [ZONE_LABEL]: 'eu-1a',
      [INSTANCE_TYPE_LABEL]: 'm.small',
      'kubernetes.io/hostname': 'host-ready-1',
    });
    expect(node.spec.providerID).toBe(instance.providerID);
    expect(node.status.capacity).toEqual({ cpu: '2', memory: '8Gi', pods: '110' });
    expect(node.status.nodeInfo.kubeletVersion).toBe('v1.31.10');
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: instance.address });
    await waitRenewing('host-ready-1');
    await eventually(() => expect(host.stats()).toMatchObject({ agents: 1, nodes: 1, pending: 0, skipped: 0 }));
  });

  it('a killed instance stops heartbeating: its Node goes Unknown but stays, the others keep serving', async () => {
    const cloud = openCloud();
    const provider = cloud.provider(TARGET, settings());
    const { host } = startHost(cloud);
    const doomed = await create(provider, 'host-kill-1');
    await create(provider, 'host-kill-2');
    await Promise.all([waitReady('host-kill-1'), waitReady('host-kill-2')]);

    provider.kill(doomed.id);
    await waitStale('host-kill-1');
    await eventually(async () => expect(ready(await getNode('host-kill-1'))).toBe('Unknown'), 15_000, 200);
    const lease = await admin.get(resources.leases, 'kube-node-lease', 'host-kill-1');
    expect(lease.metadata.name).toBe('host-kill-1');
    expect(ready(await getNode('host-kill-2'))).toBe('True');
    await waitRenewing('host-kill-2');
    expect(host.stats()).toMatchObject({ agents: 1, nodes: 1 });
  });

  it('a deleted instance stops its node, leaving the Node to the Machine operator; an agent without nodes stops', async () => {
    const cloud = openCloud();
    const provider = cloud.provider(TARGET, settings());
    const { host } = startHost(cloud);
    const instance = await create(provider, 'host-del-1');
    await waitReady('host-del-1');

    await provider.delete(instance.id);
    await waitStale('host-del-1');
    expect((await getNode('host-del-1')).metadata.name).toBe('host-del-1');
    expect(host.stats()).toMatchObject({ agents: 0, nodes: 0, pending: 0 });
  });

  it('finds by polling what another process does: an instance that boots there, then its death', async () => {
    const cloud = openCloud();
    cloud.provider(TARGET, settings());
    const { host } = startHost(cloud);
    // The Machine operator's process: its own cloud on the same file. Its events never reach this host.
    const operatorCloud = openCloud(true);
    const operator = operatorCloud.provider(TARGET, settings({ provisionSeconds: 0.3, bootSeconds: 0.3 }));
    const instance = await create(operator, 'host-poll-1');
    expect(instance.state).toBe('provisioning');

    await waitReady('host-poll-1');
    expect((await getNode('host-poll-1')).spec.providerID).toBe(instance.providerID);
    await waitRenewing('host-poll-1');

    operator.kill(instance.id);
    await waitStale('host-poll-1');
    expect(host.stats()).toMatchObject({ agents: 0, nodes: 0 });
  });

  it('a restarted host serves the running instances again, adopting their Nodes, and not the dead ones', async () => {
    const cloud = openCloud();
    const provider = cloud.provider(TARGET, settings());
    const first = startHost(cloud);
    await create(provider, 'host-restart-1');
    await create(provider, 'host-restart-2');
    const dead = await create(provider, 'host-restart-3');
    await Promise.all(['host-restart-1', 'host-restart-2', 'host-restart-3'].map(waitReady));
    provider.kill(dead.id);
    const uid = (await getNode('host-restart-1')).metadata.uid;

    await first.host.stop();
    cloud.close();
    await waitStale('host-restart-1');

    // The meta-cluster process again: a new cloud on the same file, a new host.
    const { host } = startHost(openCloud(true));
    await waitRenewing('host-restart-1');
    await waitRenewing('host-restart-2');
    const node = await getNode('host-restart-1');
    expect(node.metadata.uid).toBe(uid);
    expect(ready(node)).toBe('True');
    await waitStale('host-restart-3');
    await eventually(() => expect(host.stats()).toMatchObject({ agents: 1, nodes: 2, pending: 0, skipped: 0 }));
  });

  it('skips bad user data with one log line naming the instance, never the user data or its token', async () => {
    const cloud = openCloud();
    const provider = cloud.provider(TARGET, settings());
    const { host, lines } = startHost(cloud);
    const bad = [
      await create(provider, 'host-bad-yaml', `token: ${TOKEN}\n  nested: [`),
      await create(provider, 'host-bad-kind', `apiVersion: v1\nkind: Config\ntoken: ${TOKEN}\n`),
      await create(provider, 'host-bad-ca', encodeJoinConfiguration(joinFor('host-bad-ca', { caPem: '' }))),
      await create(provider, 'host-bad-url', encodeJoinConfiguration(joinFor('host-bad-url', { server: 'http://127.0.0.1:1' }))),
    ];
    await create(provider, 'host-good');
    await waitReady('host-good');
    await eventually(() => expect(host.stats()).toMatchObject({ nodes: 1, skipped: 4 }));
    await sleep(1_000); // several polls: each instance is still told about once

    for (const instance of bad) {
      const about = lines.filter((l) => l.includes(instance.id));
      expect(about, instance.id).toHaveLength(1);
      expect(JSON.parse(about[0]!)).toMatchObject({ level: 'warn', instance: instance.id, target: TARGET });
    }
    const all = lines.join('\n');
    expect(all).not.toContain(TOKEN_SECRET);
    expect(all).not.toContain(TOKEN);
    for (const name of ['host-bad-yaml', 'host-bad-kind', 'host-bad-ca', 'host-bad-url']) {
      await expect(getNode(name)).rejects.toMatchObject({ code: 404 });
    }
  });

  it('serves one node name once per API server: a second instance claiming it waits for the first to go', async () => {
    const cloud = openCloud();
    const provider = cloud.provider(TARGET, settings());
    const { host, lines } = startHost(cloud);
    const first = await create(provider, 'host-twin');
    await waitReady('host-twin');
    const second = await provider.create({
      machineUid: 'uid-host-twin-again', machineNamespace: 'fleet', machineName: 'host-twin-again', cluster: 'biz', machineType: 'm.small',
      userData: encodeJoinConfiguration(joinFor('host-twin')),
    });
    await eventually(() => expect(host.stats()).toMatchObject({ nodes: 1, skipped: 1 }));
    expect(lines.filter((l) => l.includes(second.id))).toHaveLength(1);

    provider.kill(first.id);
    await eventually(() => expect(host.stats()).toMatchObject({ nodes: 1, skipped: 0 }));
    await waitRenewing('host-twin');
  });

  it('waits for an API server it cannot reach without crashing or spinning, and lets go of it with its instance', async () => {
    const cloud = openCloud();
    const provider = cloud.provider(TARGET, settings());
    const { host, lines } = startHost(cloud);
    // Nothing listens on port 1: every attempt is refused at once.
    const instance = await create(provider, 'host-down-1', encodeJoinConfiguration(joinFor('host-down-1', { server: 'https://127.0.0.1:1' })));
    await eventually(() => expect(lines.some((l) => l.includes('could not start'))).toBe(true));
    await sleep(1_500);
    // Backoff from 200 ms doubling: a handful of attempts in 1.5 s, not hundreds.
    const attempts = lines.filter((l) => l.includes('could not start')).length;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(6);
    expect(host.stats()).toMatchObject({ agents: 1, nodes: 0, pending: 1 });
    expect(lines.join('\n')).not.toContain(TOKEN_SECRET);

    await provider.delete(instance.id);
    await eventually(() => expect(host.stats()).toMatchObject({ agents: 0, pending: 0 }));
  });
});
