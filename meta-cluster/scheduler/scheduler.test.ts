import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { eventually, kubectl, startTestServer, type TestServer } from '../../test/helpers.js';
import { resources } from '../controllers/resources.js';
import { makeNode, makePod, type NodeFixture, type PodFixture } from './fixtures.test-util.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface Env {
  server: TestServer;
  client: KubeClient;
  scheduler: Scheduler;
  errors: string[];
}

async function env(opts: SchedulerOptions = {}): Promise<Env> {
  const server = await startTestServer();
  cleanup.push(() => server.destroy());
  const client = new KubeClient(server.kubeConfig);
  cleanup.push(() => client.close());
  const errors: string[] = [];
  const scheduler = new Scheduler(client, { onError: (m) => errors.push(m), ...opts });
  await scheduler.start();
  cleanup.push(() => scheduler.stop());
  return { server, client, scheduler, errors };
}

/** As a kubelet registers: create the Node, then report capacity and readiness through nodes/status. */
async function addNode(client: KubeClient, f: NodeFixture): Promise<void> {
  const node = makeNode(f);
  await client.create(resources.nodes, undefined, { apiVersion: 'v1', kind: 'Node', metadata: node.metadata, spec: node.spec });
  await client.patch(resources.nodes, undefined, f.name, 'merge', { status: node.status }, { sub: 'status' });
}

async function addPod(client: KubeClient, f: PodFixture & { name: string }, owner?: KubeObject): Promise<void> {
  const pod = makePod(f);
  delete pod.metadata.uid;
  delete pod.metadata.ownerReferences;
  if (owner) {
    pod.metadata.ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true },
    ];
  }
  await client.create(resources.pods, 'default', pod);
}

/** Waits until the scheduler's own cache shows the nodes in this state (its watch may lag the API). */
async function seen(scheduler: Scheduler, names: string[], check = (n: { readyStatus: string; unschedulable: boolean }) => n.readyStatus === 'True'): Promise<void> {
  await eventually(() => names.every((name) => {
    const n = scheduler.cache.nodes.get(name);
    return n?.node !== undefined && check(n);
  }));
}

const getPod = (client: KubeClient, name: string) => client.get(resources.pods, 'default', name);

async function nodeOf(client: KubeClient, name: string, timeoutMs = 10_000): Promise<string> {
  const nodeName = await eventually(async () => (await getPod(client, name)).spec.nodeName as string | undefined, timeoutMs);
  return nodeName!;
}

const podScheduled = (pod: KubeObject) =>
  (pod.status?.conditions ?? []).find((c: { type: string }) => c.type === 'PodScheduled') as
    | { status: string; reason?: string; message?: string }
    | undefined;

async function unschedulableMessage(client: KubeClient, name: string): Promise<string> {
  const message = await eventually(async () => {
    const c = podScheduled(await getPod(client, name));
    return c?.status === 'False' && c.reason === 'Unschedulable' ? c.message : undefined;
  });
  return message!;
}

describe('Scheduler against the embedded API server', () => {
  it('places pods by nodeSelector and required node affinity, and marks them scheduled', async () => {
    const { client, errors, scheduler } = await env();
    await addNode(client, { name: 'n1', labels: { zone: 'a' } });
    await addNode(client, { name: 'n2', labels: { zone: 'b', disk: 'ssd' } });
    await addNode(client, { name: 'n3', labels: { zone: 'c', cores: '16' } });
    await seen(scheduler, ['n1', 'n2', 'n3']);
    await addPod(client, { name: 'ssd', nodeSelector: { disk: 'ssd' } });
    await addPod(client, { name: 'zone-c', terms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['c', 'd'] }] }] });
    await addPod(client, { name: 'big-cores', terms: [{ matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['8'] }] }] });
    await addPod(client, { name: 'by-name', terms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }] });
    await addPod(client, { name: 'not-a', terms: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a', 'c'] }] }] });
    expect(await nodeOf(client, 'ssd')).toBe('n2');
    expect(await nodeOf(client, 'zone-c')).toBe('n3');
    expect(await nodeOf(client, 'big-cores')).toBe('n3');
    expect(await nodeOf(client, 'by-name')).toBe('n1');
    expect(await nodeOf(client, 'not-a')).toBe('n2');
    expect(podScheduled(await getPod(client, 'ssd'))?.status).toBe('True');
    expect(errors).toEqual([]);
  });

  it('leaves a pod too large for every node Unschedulable, then binds it once a bigger node joins', async () => {
    const { client, scheduler } = await env();
    await addNode(client, { name: 'n1' });
    await addNode(client, { name: 'n2', taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] });
    await addNode(client, { name: 'n3' });
    await seen(scheduler, ['n1', 'n2', 'n3']);
    await addPod(client, { name: 'huge', cpu: '16', memory: '1Gi' });
    const message = await unschedulableMessage(client, 'huge');
    expect(message).toBe('0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu.');
    const pod = await getPod(client, 'huge');
    expect(pod.spec.nodeName).toBeUndefined();
    // The message is written once, not on every retry.
    const rv = pod.metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 300));
    expect((await getPod(client, 'huge')).metadata.resourceVersion).toBe(rv);
    expect(scheduler.stats.statusWrites).toBe(1);

    await addNode(client, { name: 'big', cpu: '32', memory: '64Gi' });
    expect(await nodeOf(client, 'huge')).toBe('big');
    expect(podScheduled(await getPod(client, 'huge'))).toMatchObject({ status: 'True' });
  });

  it('binds a waiting pod when a bound pod is deleted and frees room', async () => {
    const { client } = await env();
    await addNode(client, { name: 'n1', cpu: '4' });
    await addPod(client, { name: 'first', cpu: '3' });
    expect(await nodeOf(client, 'first')).toBe('n1');
    await addPod(client, { name: 'second', cpu: '3' });
    expect(await unschedulableMessage(client, 'second')).toBe('0/1 nodes are available: 1 Insufficient cpu.');
    await client.delete(resources.pods, 'default', 'first', { gracePeriodSeconds: 0 });
    expect(await nodeOf(client, 'second')).toBe('n1');
  });

  it('gives cordoned nodes nothing new', async () => {
    const { server, client, scheduler } = await env();
    await addNode(client, { name: 'n1' });
    await addNode(client, { name: 'n2' });
    const cordon = await kubectl(server.kubeconfigPath, ['cordon', 'n1']);
    expect(cordon.stderr).toBe('');
    expect(cordon.stdout).toContain('node/n1 cordoned');
    await eventually(async () => (await client.get(resources.nodes, undefined, 'n1')).spec?.unschedulable === true);
    await seen(scheduler, ['n1'], (n) => n.unschedulable);
    await seen(scheduler, ['n2']);
    for (let i = 0; i < 6; i++) await addPod(client, { name: `p${i}`, cpu: '100m' });
    for (let i = 0; i < 6; i++) expect(await nodeOf(client, `p${i}`)).toBe('n2');

    await kubectl(server.kubeconfigPath, ['cordon', 'n2']);
    await seen(scheduler, ['n2'], (n) => n.unschedulable);
    await addPod(client, { name: 'late' });
    expect(await unschedulableMessage(client, 'late')).toBe('0/2 nodes are available: 2 node(s) were unschedulable.');
    await kubectl(server.kubeconfigPath, ['uncordon', 'n1']);
    expect(await nodeOf(client, 'late')).toBe('n1');
  });

  it('admits pods to tainted nodes only with a matching toleration', async () => {
    const { client } = await env();
    await addNode(client, { name: 'gpu', taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    await addPod(client, { name: 'plain' });
    await addPod(client, { name: 'tolerant', tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] });
    await addPod(client, { name: 'anything', tolerations: [{ operator: 'Exists' }] });
    expect(await nodeOf(client, 'tolerant')).toBe('gpu');
    expect(await nodeOf(client, 'anything')).toBe('gpu');
    expect(await unschedulableMessage(client, 'plain')).toBe('0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.');
  });

  it('spreads 30 pods of one owner evenly over 3 nodes', async () => {
    const { client, scheduler } = await env();
    for (const name of ['n1', 'n2', 'n3']) await addNode(client, { name });
    await seen(scheduler, ['n1', 'n2', 'n3']);
    const rs = await client.create(resources.replicasets, 'default', {
      metadata: { name: 'web' },
      spec: { replicas: 30, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
    });
    // A pod of another owner on n1 must not skew the spread.
    await addPod(client, { name: 'other', cpu: '100m', nodeSelector: { 'kubernetes.io/hostname': 'n1' } });
    await Promise.all(Array.from({ length: 30 }, (_, i) => addPod(client, { name: `web-${i}`, cpu: '100m', memory: '64Mi' }, rs)));
    const counts = await eventually(async (): Promise<Record<string, number> | undefined> => {
      const pods = (await client.list(resources.pods, 'default')).items.filter((p) => p.metadata.name!.startsWith('web-'));
      if (pods.some((p) => !p.spec.nodeName)) return undefined;
      const c: Record<string, number> = {};
      for (const p of pods) c[p.spec.nodeName] = (c[p.spec.nodeName] ?? 0) + 1;
      return c;
    });
    expect(Object.keys(counts!).sort()).toEqual(['n1', 'n2', 'n3']);
    for (const n of Object.values(counts!)) expect(Math.abs(n - 10)).toBeLessThanOrEqual(1);
  });

  it('leaves pods of other schedulers alone', async () => {
    const { client } = await env();
    await addNode(client, { name: 'n1' });
    await addPod(client, { name: 'mine' });
    await addPod(client, { name: 'theirs', schedulerName: 'other-scheduler' });
    expect(await nodeOf(client, 'mine')).toBe('n1');
    await new Promise((r) => setTimeout(r, 300));
    const theirs = await getPod(client, 'theirs');
    expect(theirs.spec.nodeName).toBeUndefined();
    expect(podScheduled(theirs)).toBeUndefined();
  });

  it('counts pods bound before it started, and does not bind a node past its pod limit', async () => {
    const server = await startTestServer();
    cleanup.push(() => server.destroy());
    const client = new KubeClient(server.kubeConfig);
    cleanup.push(() => client.close());
    await addNode(client, { name: 'n1', pods: '3' });
    for (const name of ['a', 'b']) {
      const pod = makePod({ name });
      delete pod.metadata.uid;
      pod.spec.nodeName = 'n1';
      await client.create(resources.pods, 'default', pod);
    }
    const scheduler = new Scheduler(client, { concurrency: 4 });
    await scheduler.start();
    cleanup.push(() => scheduler.stop());
    for (const name of ['c', 'd', 'e']) await addPod(client, { name });
    await eventually(() => scheduler.stats.bound === 1 && scheduler.pendingCounts.unschedulable === 2);
    const pods = (await client.list(resources.pods, 'default')).items;
    expect(pods.filter((p) => p.spec.nodeName === 'n1')).toHaveLength(3);
    expect(await unschedulableMessage(client, 'e')).toBe('0/1 nodes are available: 1 Too many pods.');
  });
});
