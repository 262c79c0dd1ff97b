import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { Informer } from '../../operators/runtime/informer.js';
import { apiRequests, eventually, kubectl, startTestServer, type TestServer } from '../../test/helpers.js';
import { resources } from '../controllers/resources.js';
import { NodeAgent, type NodeAgentOptions } from './node-agent.js';
import { RuntimeRegistry, type PodRuntime } from './runtime.js';

let server: TestServer;
let client: KubeClient;
const cleanup: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startTestServer();
  client = new KubeClient(server.kubeConfig);
});
afterAll(async () => {
  client.close();
  await server.destroy();
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function agentWith(nodes: string[], opts: Partial<NodeAgentOptions> = {}): Promise<NodeAgent> {
  const agent = new NodeAgent(client, { nodes: nodes.map((name) => ({ name })), heartbeatIntervalMs: 200, ...opts });
  cleanup.push(() => agent.stop());
  await agent.start();
  return agent;
}

function podManifest(name: string, nodeName: string, extra: { annotations?: Record<string, string>; restartPolicy?: string; image?: string } = {}) {
  return {
    metadata: { name, namespace: 'default', ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      nodeName,
      ...(extra.restartPolicy ? { restartPolicy: extra.restartPolicy } : {}),
      containers: [{ name: 'app', image: extra.image ?? 'nginx:1.27' }],
    },
  };
}

/** `eventually` for checks that answer false until they hold, then the value of interest. */
const until = async <T>(check: () => Promise<T | false>, timeoutMs?: number, intervalMs?: number): Promise<T> =>
  (await eventually(check, timeoutMs, intervalMs)) as T;

const getPod = (name: string) => client.get(resources.pods, 'default', name);
const condition = (o: KubeObject, type: string) => (o.status?.conditions ?? []).find((c: { type: string }) => c.type === type);
const podReady = (o: KubeObject) => condition(o, 'Ready')?.status === 'True';

/** Records every state a pod passes through, as a watcher sees it. */
async function recordPod(name: string): Promise<KubeObject[]> {
  const seen: KubeObject[] = [];
  const inf = new Informer({ client, resource: resources.pods, namespace: 'default', fieldSelector: `metadata.name=${name}` }).on({
    add: (o) => seen.push(o),
    update: (_old, o) => seen.push(o),
  });
  cleanup.push(() => inf.stop());
  await inf.start();
  return seen;
}

describe('NodeAgent nodes', () => {
  it('registers nodes Ready with labels, capacity and renewing leases', async () => {
    const agent = new NodeAgent(client, {
      nodes: [
        { name: 'reg-a', zone: 'zone-1', instanceType: 'm.large', capacity: { cpu: '8', memory: '32Gi', pods: '50' }, labels: { team: 'x' } },
        { name: 'reg-b', taints: [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }] },
        { name: 'reg-c' },
      ],
      heartbeatIntervalMs: 100,
    });
    cleanup.push(() => agent.stop());
    await agent.start();

    const a = await client.get(resources.nodes, undefined, 'reg-a');
    expect(a.metadata.labels).toMatchObject({
      'kubernetes.io/hostname': 'reg-a',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'topology.kubernetes.io/zone': 'zone-1',
      'node.kubernetes.io/instance-type': 'm.large',
      team: 'x',
    });
    expect(a.metadata.annotations?.['kok.dev/simulated']).toBe('true');
    expect(a.status.capacity).toEqual({ cpu: '8', memory: '32Gi', pods: '50' });
    expect(a.status.allocatable).toEqual({ cpu: '8', memory: '32Gi', pods: '50' });
    expect(condition(a, 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
    expect(condition(a, 'Ready').message).toMatch(/simulated by kok/);
    for (const t of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) expect(condition(a, t).status).toBe('False');
    expect(a.status.nodeInfo).toMatchObject({ containerRuntimeVersion: 'kok-sim://1.0', osImage: 'kok simulated node' });
    expect(a.status.nodeInfo.kubeletVersion).toMatch(/^v1\.\d+\.\d+$/);
    const ips = a.status.addresses.map((x: { type: string; address: string }) => `${x.type}=${x.address}`);
    expect(ips).toContain('Hostname=reg-a');
    expect(ips.find((s: string) => s.startsWith('InternalIP='))).toMatch(/^InternalIP=10\.\d+\.\d+\.\d+$/);

    const b = await client.get(resources.nodes, undefined, 'reg-b');
    expect(b.spec.taints).toEqual([{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }]);
    expect(b.status.capacity).toEqual({ cpu: '4', memory: '16Gi', pods: '110' });

    const out = await kubectl(server.kubeconfigPath, ['get', 'nodes', 'reg-a', 'reg-b', 'reg-c', '--no-headers']);
    expect(out.stdout.trim().split('\n').map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['reg-a Ready', 'reg-b Ready', 'reg-c Ready']);

    const lease = await client.get(resources.leases, 'kube-node-lease', 'reg-c');
    expect(lease.spec).toMatchObject({ holderIdentity: 'reg-c', leaseDurationSeconds: 40 });
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(lease.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Node', name: 'reg-c' });
    await eventually(async () => (await client.get(resources.leases, 'kube-node-lease', 'reg-c')).spec.renewTime !== lease.spec.renewTime, 5_000);
    // The node status heartbeat runs every 5th lease renewal.
    const beat = condition(a, 'Ready').lastHeartbeatTime;
    await eventually(async () => condition(await client.get(resources.nodes, undefined, 'reg-a'), 'Ready').lastHeartbeatTime !== beat, 5_000);
  });

  it('pauseHeartbeats stops lease renewals until resumeHeartbeats', async () => {
    const agent = await agentWith(['hb-a', 'hb-b'], { heartbeatIntervalMs: 50 });
    const renewTime = async (n: string) => (await client.get(resources.leases, 'kube-node-lease', n)).spec.renewTime as string;
    agent.pauseHeartbeats('hb-a');
    const paused = await renewTime('hb-a');
    const other = await renewTime('hb-b');
    await new Promise((r) => setTimeout(r, 500));
    expect(await renewTime('hb-a')).toBe(paused);
    expect(await renewTime('hb-b')).not.toBe(other);
    // What the node lifecycle controller does to a node whose lease went stale.
    const node = await client.get(resources.nodes, undefined, 'hb-a');
    const unknown = node.status.conditions.map((c: { type: string }) =>
      c.type === 'Ready' ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' } : c,
    );
    await client.patch(resources.nodes, undefined, 'hb-a', 'merge', { status: { conditions: unknown } }, { sub: 'status' });

    await agent.resumeHeartbeats('hb-a');
    expect(await renewTime('hb-a')).not.toBe(paused);
    const back = await client.get(resources.nodes, undefined, 'hb-a');
    expect(condition(back, 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
  });

  it('adopts its nodes after a restart, and removeNode deletes the Lease and the Node', async () => {
    const first = await agentWith(['adopt-a']);
    await client.create(resources.pods, 'default', podManifest('adopt-pod', 'adopt-a'));
    await eventually(async () => podReady(await getPod('adopt-pod')));
    const before = await client.get(resources.nodes, undefined, 'adopt-a');
    const podBefore = await getPod('adopt-pod');
    await first.stop();

    const second = await agentWith(['adopt-a']);
    const after = await client.get(resources.nodes, undefined, 'adopt-a');
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.spec.podCIDR).toBe(before.spec.podCIDR);
    await new Promise((r) => setTimeout(r, 300));
    const podAfter = await getPod('adopt-pod');
    expect(podAfter.status.podIP).toBe(podBefore.status.podIP);
    expect(podAfter.status.containerStatuses).toEqual(podBefore.status.containerStatuses);
    expect(second.stats().podStatusWrites).toBe(0);

    await second.addNode({ name: 'adopt-b' });
    const added = await client.get(resources.nodes, undefined, 'adopt-b');
    expect(condition(added, 'Ready').status).toBe('True');
    expect(added.spec.podCIDR).not.toBe(after.spec.podCIDR);
    expect(second.nodeNames().sort()).toEqual(['adopt-a', 'adopt-b']);
    await second.removeNode('adopt-b');

    await second.removeNode('adopt-a');
    await expect(client.get(resources.nodes, undefined, 'adopt-a')).rejects.toMatchObject({ code: 404 });
    await expect(client.get(resources.leases, 'kube-node-lease', 'adopt-a')).rejects.toMatchObject({ code: 404 });
    await client.delete(resources.pods, 'default', 'adopt-pod');
  });

  it('addNode creates a new Node Ready in one write, without reading it first, and adopts one registered meanwhile with its pod CIDR', async () => {
    const agent = await agentWith(['late-a'], { heartbeatIntervalMs: 60_000 });
    const [reads, patches] = [await apiRequests(server, 'get', 'core/nodes'), await apiRequests(server, 'patch', 'core/nodes')];
    await agent.addNode({ name: 'late-b' });
    expect(condition(await client.get(resources.nodes, undefined, 'late-b'), 'Ready').status).toBe('True');
    expect(await apiRequests(server, 'get', 'core/nodes')).toBe(reads + 1); // the test's own read just now
    expect(await apiRequests(server, 'patch', 'core/nodes')).toBe(patches);

    // Registered by someone else after the agent listed the Nodes: the create finds it.
    await client.create(resources.nodes, undefined, { metadata: { name: 'late-c' }, spec: { podCIDR: '10.64.200.0/24', podCIDRs: ['10.64.200.0/24'] } });
    await agent.addNode({ name: 'late-c' });
    const node = await client.get(resources.nodes, undefined, 'late-c');
    expect(condition(node, 'Ready').status).toBe('True');
    expect(node.spec.podCIDR).toBe('10.64.200.0/24');
    await client.create(resources.pods, 'default', podManifest('late-pod', 'late-c'));
    const pod = await until(async () => {
      const p = await getPod('late-pod');
      return podReady(p) && p;
    });
    expect(pod.status.podIP).toMatch(/^10\.64\.200\./);
    expect(pod.status.hostIP).toBe(node.status.addresses.find((a: { type: string }) => a.type === 'InternalIP').address);
    await client.delete(resources.pods, 'default', 'late-pod');
    for (const n of ['late-a', 'late-b', 'late-c']) await agent.removeNode(n);
  });

  it('detachNode stops a node without deregistering it; addNode takes it back with its pod CIDR', async () => {
    const agent = await agentWith(['det-a', 'det-b'], { heartbeatIntervalMs: 50 });
    const renewTime = async (n: string) => (await client.get(resources.leases, 'kube-node-lease', n)).spec.renewTime as string;
    const before = await client.get(resources.nodes, undefined, 'det-a');
    await agent.detachNode('det-a');
    expect(agent.nodeNames()).toEqual(['det-b']);
    const stale = await until(async () => {
      const t = await renewTime('det-a');
      await new Promise((r) => setTimeout(r, 300));
      return (await renewTime('det-a')) === t && t;
    });
    expect((await client.get(resources.nodes, undefined, 'det-a')).metadata.uid).toBe(before.metadata.uid);

    // A new node does not take the pod CIDR the detached Node still holds.
    await agent.addNode({ name: 'det-c' });
    expect((await client.get(resources.nodes, undefined, 'det-c')).spec.podCIDR).not.toBe(before.spec.podCIDR);

    await agent.addNode({ name: 'det-a' });
    const back = await client.get(resources.nodes, undefined, 'det-a');
    expect(back.metadata.uid).toBe(before.metadata.uid);
    expect(back.spec.podCIDR).toBe(before.spec.podCIDR);
    await eventually(async () => (await renewTime('det-a')) !== stale, 5_000);

    // removeNode deregisters a detached node too.
    await agent.detachNode('det-a');
    await agent.removeNode('det-a');
    await expect(client.get(resources.nodes, undefined, 'det-a')).rejects.toMatchObject({ code: 404 });
    await expect(client.get(resources.leases, 'kube-node-lease', 'det-a')).rejects.toMatchObject({ code: 404 });
  });

  it('registers the providerID and address the spec gives, and keeps the providerID a Node has on adoption', async () => {
    const spec = { name: 'cloud-a', providerID: 'simulated://sim-eu/eu-1a/i-0000000001', address: '172.16.0.1' };
    const first = new NodeAgent(client, { nodes: [spec], heartbeatIntervalMs: 200 });
    cleanup.push(() => first.stop());
    await first.start();
    await client.create(resources.pods, 'default', podManifest('cloud-pod', 'cloud-a'));
    const pod = await until(async () => {
      const p = await getPod('cloud-pod');
      return podReady(p) && p;
    });
    expect(pod.status.hostIP).toBe('172.16.0.1');
    const node = await client.get(resources.nodes, undefined, 'cloud-a');
    expect(node.spec.providerID).toBe(spec.providerID);
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: '172.16.0.1' });
    await first.stop();

    const second = await agentWith([]);
    await second.addNode({ ...spec, providerID: 'simulated://sim-eu/eu-1a/i-0000000002' });
    expect((await client.get(resources.nodes, undefined, 'cloud-a')).spec.providerID).toBe(spec.providerID);
    await client.delete(resources.pods, 'default', 'cloud-pod');
  });
});

describe('NodeAgent pods', () => {
  it('takes a pod Pending → Running → Ready with start latency and readiness delay, marked simulated', async () => {
    await agentWith(['life-a'], { startLatencyMs: 300, readinessDelayMs: 300 });
    const seen = await recordPod('life');
    await client.create(resources.pods, 'default', podManifest('life', 'life-a'));
    await eventually(async () => podReady(await getPod('life')), 5_000);
    // The watch may deliver the Ready state a moment after the GET shows it.
    await eventually(() => seen.length > 0 && podReady(seen[seen.length - 1]!), 2_000, 20);

    const states = seen.map((p) => `${p.status?.phase}/${podReady(p) ? 'ready' : 'not-ready'}/${p.status?.containerStatuses?.[0] ? Object.keys(p.status.containerStatuses[0].state)[0] : '-'}`);
    const distinct = states.filter((s, i) => s !== states[i - 1]);
    expect(distinct).toEqual(['Pending/not-ready/-', 'Pending/not-ready/waiting', 'Running/not-ready/running', 'Running/ready/running']);

    const pod = await getPod('life');
    const node = await client.get(resources.nodes, undefined, 'life-a');
    const cs = pod.status.containerStatuses[0];
    expect(cs).toMatchObject({
      name: 'app',
      ready: true,
      restartCount: 0,
      image: 'nginx:1.27',
      imageID: 'sim://nginx:1.27',
      containerID: `sim://${pod.metadata.uid}/app`,
    });
    expect(cs.state.running.startedAt).toMatch(/Z$/);
    expect(pod.status.hostIP).toBe(node.status.addresses.find((a: { type: string }) => a.type === 'InternalIP').address);
    expect(pod.status.podIP.split('.').slice(0, 3).join('.')).toBe(node.spec.podCIDR.split('.').slice(0, 3).join('.'));
    expect(pod.status.startTime).toBeTruthy();
    expect(pod.status.conditions.map((c: { type: string }) => c.type)).toEqual(
      expect.arrayContaining(['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready', 'PodScheduled']),
    );
    expect(condition(pod, 'kok.dev/Simulated')).toMatchObject({
      status: 'True',
      reason: 'SimulatedContainers',
      message: "containers are simulated by kok's node agent; no process runs",
    });
  });

  it('crash-after with restartPolicy Always restarts with backoff and shows CrashLoopBackOff', async () => {
    await agentWith(['crash-a'], { crashLoopBackoffBaseMs: 100, crashLoopBackoffMaxMs: 2_000 });
    await client.create(resources.pods, 'default', podManifest('crashy', 'crash-a', { annotations: { 'kok.dev/crash-after': '200ms' } }));
    await eventually(async () => (await getPod('crashy')).status.containerStatuses?.[0]?.restartCount >= 2, 10_000);
    const line = await until(async () => {
      const out = await kubectl(server.kubeconfigPath, ['get', 'pods', 'crashy', '--no-headers']);
      return out.stdout.includes('CrashLoopBackOff') && out.stdout;
    }, 15_000, 20);
    expect(line.split(/\s+/)[2]).toBe('CrashLoopBackOff');
    const cs = (await getPod('crashy')).status.containerStatuses[0];
    expect(cs.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect((await getPod('crashy')).status.phase).toBe('Running');
  });

  it('crash-after with restartPolicy Never fails the pod; exit-code 0 with OnFailure succeeds', async () => {
    await agentWith(['never-a']);
    await client.create(resources.pods, 'default', podManifest('fails', 'never-a', { restartPolicy: 'Never', annotations: { 'kok.dev/crash-after': '100ms' } }));
    await client.create(resources.pods, 'default', podManifest('succeeds', 'never-a', {
      restartPolicy: 'OnFailure',
      annotations: { 'kok.dev/crash-after': '100ms', 'kok.dev/exit-code': '0' },
    }));
    const failed = await until(async () => {
      const p = await getPod('fails');
      return p.status.phase === 'Failed' && p;
    });
    expect(failed.status.containerStatuses[0]).toMatchObject({ ready: false, restartCount: 0, state: { terminated: { exitCode: 1, reason: 'Error' } } });
    expect(condition(failed, 'Ready').status).toBe('False');
    const done = await until(async () => {
      const p = await getPod('succeeds');
      return p.status.phase === 'Succeeded' && p;
    });
    expect(done.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('never-ready keeps the pod Running but not Ready', async () => {
    await agentWith(['nr-a']);
    await client.create(resources.pods, 'default', podManifest('lazy', 'nr-a', { annotations: { 'kok.dev/never-ready': 'true' } }));
    await eventually(async () => (await getPod('lazy')).status.phase === 'Running');
    await new Promise((r) => setTimeout(r, 500));
    const pod = await getPod('lazy');
    expect(condition(pod, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
    expect(pod.status.containerStatuses[0]).toMatchObject({ ready: false, started: true });
  });

  it('finishes a graceful deletion within a second, with no status write nobody could see', async () => {
    await agentWith(['del-a']);
    await client.create(resources.pods, 'default', podManifest('doomed', 'del-a'));
    await eventually(async () => podReady(await getPod('doomed')));
    const seen = await recordPod('doomed');
    const started = Date.now();
    const accepted = await client.delete(resources.pods, 'default', 'doomed');
    expect(accepted.metadata.deletionTimestamp).toBeTruthy(); // graceful: the node agent finishes it
    await eventually(() => getPod('doomed').then(() => false, (e) => e.code === 404), 1_000, 20);
    expect(Date.now() - started).toBeLessThan(1_000);
    // Without a termination delay the DELETE follows at once: a terminated state would be written
    // only to vanish, so the agent skips it (half the writes of a scale-down).
    const deleting = seen.filter((p) => p.metadata.deletionTimestamp);
    expect(deleting.length).toBeGreaterThan(0);
    expect(deleting.every((p) => p.status.containerStatuses[0].state.running)).toBe(true);
  });

  it('kok.dev/termination-delay keeps a deleted pod Terminating that long', async () => {
    await agentWith(['slow-a']);
    await client.create(resources.pods, 'default', podManifest('slow-stop', 'slow-a', { annotations: { 'kok.dev/termination-delay': '700ms' } }));
    await eventually(async () => podReady(await getPod('slow-stop')));
    const started = Date.now();
    const seen = await recordPod('slow-stop');
    await client.delete(resources.pods, 'default', 'slow-stop');
    await new Promise((r) => setTimeout(r, 300));
    const terminating = await getPod('slow-stop');
    expect(terminating.metadata.deletionTimestamp).toBeTruthy();
    expect(terminating.status.containerStatuses[0].state.running).toBeTruthy();
    await eventually(() => getPod('slow-stop').then(() => false, (e) => e.code === 404), 5_000, 20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    // A pod that lingered shows its containers terminated before it goes (the watch may deliver
    // that last state a moment after the GET already says 404).
    const last = await eventually(() => {
      const l = seen[seen.length - 1]!;
      return l.status.containerStatuses[0].state.terminated ? l : undefined;
    }, 2_000, 20);
    expect(last!.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('runs a pod under a registered runtime, following its readiness and stopping it on deletion', async () => {
    const calls: string[] = [];
    let up = false;
    const fake: PodRuntime = {
      name: 'fake-apiserver',
      async start(pod, ctx) {
        calls.push(`start ${pod.metadata.name} on ${ctx.nodeName} at ${ctx.podIP}`);
        return { ready: () => up, stop: async () => void calls.push(`stop ${pod.metadata.name}`) };
      },
    };
    const runtimes = new RuntimeRegistry().register('registry.k8s.io/kube-apiserver', fake);
    await agentWith(['rt-a'], { runtimes, runtimePollMs: 50 });
    await client.create(resources.pods, 'default', podManifest('apiserver', 'rt-a', { image: 'registry.k8s.io/kube-apiserver:v1.31.0' }));
    await client.create(resources.pods, 'default', podManifest('plain', 'rt-a'));
    await eventually(async () => (await getPod('apiserver')).status.phase === 'Running');
    expect(podReady(await getPod('apiserver'))).toBe(false);
    up = true;
    await eventually(async () => podReady(await getPod('apiserver')));
    // Polls that find nothing new write nothing; a change of readiness either way is written.
    await new Promise((r) => setTimeout(r, 300));
    up = false;
    await eventually(async () => !podReady(await getPod('apiserver')));
    up = true;
    await eventually(async () => podReady(await getPod('apiserver')));
    const pod = await getPod('apiserver');
    expect(condition(pod, 'kok.dev/Simulated')).toMatchObject({ status: 'False', reason: 'InProcessRuntime', message: expect.stringContaining('fake-apiserver') });
    expect(calls).toEqual([`start apiserver on rt-a at ${pod.status.podIP}`]);
    expect(condition(await getPod('plain'), 'kok.dev/Simulated')?.status).toBe('True');
    await client.delete(resources.pods, 'default', 'apiserver');
    await eventually(() => getPod('apiserver').then(() => false, (e) => e.code === 404));
    expect(calls).toEqual([`start apiserver on rt-a at ${pod.status.podIP}`, 'stop apiserver']);
  });

  it('brings 200 pods on 20 nodes to Ready with one status write each', async () => {
    const nodes = Array.from({ length: 20 }, (_, i) => `bulk-${i}`);
    const agent = await agentWith(nodes);
    const names = Array.from({ length: 200 }, (_, i) => `bulk-pod-${i}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((n, j) => client.create(resources.pods, 'default', podManifest(n, nodes[(i + j) % 20]!))));
    }
    const ready = await until(async () => {
      const { items } = await client.list(resources.pods, 'default', { fieldSelector: 'spec.nodeName!=' });
      const count = items.filter((p) => p.metadata.name!.startsWith('bulk-pod-') && podReady(p)).length;
      return count === 200 && count;
    }, 30_000, 100);
    expect(ready).toBe(200);
    expect(agent.stats().podStatusWrites).toBe(200);
    const ips = new Set(
      (await client.list(resources.pods, 'default', { fieldSelector: 'spec.nodeName!=' })).items
        .filter((p) => p.metadata.name!.startsWith('bulk-pod-'))
        .map((p) => p.status.podIP),
    );
    expect(ips.size).toBe(200);

    await client.create(resources.pods, 'default', { ...podManifest('bulk-host', 'bulk-0'), spec: { ...podManifest('bulk-host', 'bulk-0').spec, hostNetwork: true } });
    const host = await until(async () => {
      const p = await getPod('bulk-host');
      return podReady(p) && p;
    });
    expect(host.status.podIP).toBe(host.status.hostIP);
  });
});
