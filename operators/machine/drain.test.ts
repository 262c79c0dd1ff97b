import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCluster, type EmbeddedCluster } from '../../meta-cluster/cluster.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { eventually, tempDir } from '../../test/helpers.js';
import { KubeApiError, KubeClient, type KubeObject } from '../runtime/client.js';
import { budgetMessage, drainMessage, drainStep, MIRROR_POD_ANNOTATION, podsToEvict, type DrainResult, type SkipReason } from './drain.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function pod(
  name: string,
  o: { ns?: string; owner?: string; phase?: string; deletedAt?: number; mirror?: boolean; emptyDir?: boolean } = {},
): KubeObject {
  return {
    metadata: {
      name,
      namespace: o.ns ?? 'ns',
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: o.owner, name: 'owner', uid: 'u1', controller: true }] } : {}),
      ...(o.mirror ? { annotations: { [MIRROR_POD_ANNOTATION]: 'abc123' } } : {}),
      ...(o.deletedAt !== undefined ? { deletionTimestamp: iso(o.deletedAt) } : {}),
    },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }], ...(o.emptyDir ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {}) },
    status: { phase: o.phase ?? 'Running' },
  };
}

type Verdict = 'evict' | 'terminating' | SkipReason;

function verdictOf(p: KubeObject, skipWaitForDeleteTimeoutSeconds = 0): Verdict {
  const s = podsToEvict([p], { now: NOW, skipWaitForDeleteTimeoutSeconds });
  if (s.evict.length) return 'evict';
  if (s.terminating.length) return 'terminating';
  return s.skipped[0]!.reason;
}

describe('podsToEvict', () => {
  it.each<[string, KubeObject, number, Verdict]>([
    ['a ReplicaSet pod is evicted', pod('a', { owner: 'ReplicaSet' }), 0, 'evict'],
    ['a pod of no controller is evicted (kubectl --force)', pod('a'), 0, 'evict'],
    ['a pod with emptyDir is evicted (kubectl --delete-emptydir-data)', pod('a', { owner: 'ReplicaSet', emptyDir: true }), 0, 'evict'],
    ['a finished pod is evicted: the eviction API lets it go without a budget', pod('a', { phase: 'Succeeded' }), 0, 'evict'],
    ['a running DaemonSet pod stays', pod('a', { owner: 'DaemonSet' }), 0, 'DaemonSetPod'],
    ['a failed DaemonSet pod is evicted: nothing recreates it there', pod('a', { owner: 'DaemonSet', phase: 'Failed' }), 0, 'evict'],
    ['a mirror pod stays', pod('a', { mirror: true }), 0, 'MirrorPod'],
    ['a terminating pod is waited for, not evicted again', pod('a', { owner: 'ReplicaSet', deletedAt: NOW - 60_000 }), 0, 'terminating'],
    ['a terminating DaemonSet pod stays', pod('a', { owner: 'DaemonSet', deletedAt: NOW - 1000 }), 0, 'DaemonSetPod'],
    ['a pod deleted longer ago than skipWait is ignored', pod('a', { owner: 'ReplicaSet', deletedAt: NOW - 5000 }), 1, 'DeletionIgnored'],
    ['a pod still in its grace period is waited for despite skipWait', pod('a', { owner: 'ReplicaSet', deletedAt: NOW + 30_000 }), 1, 'terminating'],
  ])('%s', (_t, p, skipWait, want) => expect(verdictOf(p, skipWait)).toBe(want));

  it('sorts each list by namespace/name, whatever the order listed', () => {
    const s = podsToEvict([pod('b', { ns: 'z' }), pod('c', { ns: 'a' }), pod('a', { ns: 'z' }), pod('d', { ns: 'a', owner: 'DaemonSet' })], { now: NOW });
    expect(s.evict.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)).toEqual(['a/c', 'z/a', 'z/b']);
    expect(s.skipped.map((x) => x.pod.metadata.name)).toEqual(['d']);
    expect(s.terminating).toEqual([]);
  });
});

describe('budgetMessage and drainMessage', () => {
  it('prefers the causes of a 429, which name the budget', () => {
    const withCauses = new KubeApiError(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
      details: { causes: [{ reason: 'DisruptionBudget', message: 'The disruption budget web needs 3 healthy pods and has 3 currently' }] },
    });
    expect(budgetMessage(withCauses)).toBe('The disruption budget web needs 3 healthy pods and has 3 currently');
    expect(budgetMessage(new KubeApiError(429, 'TooManyRequests', 'slow down'))).toBe('slow down');
  });

  it('names the first five blocked pods and counts the rest', () => {
    const blocked = Array.from({ length: 7 }, (_, i) => ({ pod: `ns/p${i}`, reason: 'budget' }));
    const msg = drainMessage('n1', { done: false, timedOut: true, evicting: 1, blocked, timeoutSeconds: 60 });
    expect(msg).toBe('Drain of Node n1 timed out after 60s: 1 pod terminating, 7 not evicted (ns/p0: budget; ns/p1: budget; ns/p2: budget; ns/p3: budget; ns/p4: budget; and 2 more)');
    expect(drainMessage('n1', { done: true, timedOut: false, evicting: 0, blocked: [], timeoutSeconds: 60 })).toBe('Node n1 is drained');
  });
});

describe('drainStep against the embedded cluster', () => {
  let cluster: EmbeddedCluster;
  let client: KubeClient;
  const dir = tempDir('kok-drain-');
  const node = (i: number) => `dr-node-${i}`;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  const isReady = (p: KubeObject) =>
    !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
  const pods = async (ns: string, labelSelector: string) => (await client.list(resources.pods, ns, { labelSelector })).items;
  const podsOnNode = async (name: string) => (await client.list(resources.pods, undefined, { fieldSelector: `spec.nodeName=${name}` })).items;
  const uids = (ps: KubeObject[]) => ps.map((p) => p.metadata.uid).sort();
  const getNode = (name: string) => client.get(resources.nodes, undefined, name);
  const setUnschedulable = (name: string, unschedulable: boolean) =>
    client.patch(resources.nodes, undefined, name, 'merge', { spec: { unschedulable } });

  async function namespace(name: string) {
    await client.create(resources.namespaces, undefined, { metadata: { name } });
  }

  async function deployment(ns: string, name: string, replicas: number, nodeSelector?: Record<string, string>) {
    await client.create(resources.deployments, ns, {
      metadata: { name },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { ...(nodeSelector ? { nodeSelector } : {}), containers: [{ name: 'c', image: `${name}:1` }] } },
      },
    });
  }

  async function budget(ns: string, name: string, minAvailable: number, expected: Record<string, number>) {
    await client.create(resources.poddisruptionbudgets, ns, { metadata: { name }, spec: { minAvailable, selector: { matchLabels: { app: name } } } });
    await eventually(async () => {
      expect((await client.get(resources.poddisruptionbudgets, ns, name)).status).toMatchObject({ observedGeneration: 1, ...expected });
      return true;
    }, 20_000);
  }

  /** Calls drainStep as a reconcile loop would, until it reports done or timed out. */
  async function drainLoop(nodeName: string, startedAt: number, timeoutSeconds: number): Promise<DrainResult[]> {
    const results: DrainResult[] = [];
    const giveUp = Date.now() + 30_000;
    for (;;) {
      const r = await drainStep(client, nodeName, { startedAt, timeoutSeconds });
      results.push(r);
      if (r.done || r.timedOut) return results;
      if (Date.now() > giveUp) throw new Error(`drain of ${nodeName} still running: ${r.message}`);
      await sleep(50);
    }
  }

  beforeAll(async () => {
    cluster = await startEmbeddedCluster({
      dataDir: dir.path,
      clusterName: 'dr',
      nodes: 5,
      controlPlaneRuntime: 'simulated',
      // A replacement takes a moment to become Ready, so the budget really holds evictions back.
      nodeAgent: { heartbeatIntervalMs: 500, readinessDelayMs: 200 },
    });
    client = new KubeClient(cluster.kubeConfig, { fieldManager: 'machine-operator' });
    await namespace('infra');
    await client.create(resources.daemonsets, 'infra', {
      metadata: { name: 'agent' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'agent:1' }] } },
      },
    });
    await eventually(async () => (await pods('infra', 'app=agent')).filter(isReady).length === 5, 20_000);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
    dir.remove();
  });

  it('evicts a Deployment off the node one pod at a time, never below its budget, and leaves the DaemonSet pod', async () => {
    // All four replicas on node 0: the other nodes are cordoned while they schedule.
    for (const i of [1, 2, 3, 4]) await setUnschedulable(node(i), true);
    await namespace('web');
    await deployment('web', 'web', 4);
    await eventually(async () => {
      const ready = (await pods('web', 'app=web')).filter(isReady);
      return ready.length === 4 && ready.every((p) => p.spec.nodeName === node(0));
    }, 20_000);
    await budget('web', 'web', 3, { currentHealthy: 4, disruptionsAllowed: 1 });
    // Replacements may go to nodes 1 and 2; 3 and 4 stay cordoned for the other tests.
    for (const i of [1, 2]) await setUnschedulable(node(i), false);
    const daemonPod = (await podsOnNode(node(0))).find((p) => p.metadata.labels?.app === 'agent')!;

    let minReady = Infinity;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        minReady = Math.min(minReady, (await pods('web', 'app=web')).filter(isReady).length);
        await sleep(10);
      }
    })();
    const results = await drainLoop(node(0), Date.now(), 60).finally(async () => {
      sampling = false;
      await sampler;
    });

    expect(results.at(-1)).toMatchObject({ done: true, timedOut: false, blocked: [], evicting: 0, requeueAfterMs: 0 });
    // The budget allows one disruption at a time: the first pass evicts one and is refused the rest.
    expect(results[0]!.evicting).toBe(1);
    expect(results[0]!.blocked).toHaveLength(3);
    expect(results[0]!.blocked[0]!.reason).toMatch(/^The disruption budget web needs 3 healthy pods and has \d currently$/);
    expect(minReady).toBeGreaterThanOrEqual(3);

    expect((await getNode(node(0))).spec.unschedulable).toBe(true);
    const left = await podsOnNode(node(0));
    expect(left.filter((p) => p.metadata.labels?.app === 'web')).toEqual([]);
    expect(left.map((p) => [p.metadata.uid, p.metadata.deletionTimestamp])).toEqual([[daemonPod.metadata.uid, undefined]]);
    await eventually(async () => {
      const ready = (await pods('web', 'app=web')).filter(isReady);
      expect(ready).toHaveLength(4);
      expect(ready.every((p) => p.spec.nodeName === node(1) || p.spec.nodeName === node(2))).toBe(true);
      return true;
    }, 20_000);
  });

  it('reports a budget that can never be satisfied as blocked, evicts nothing, and times out', async () => {
    await setUnschedulable(node(3), false);
    await namespace('db');
    await deployment('db', 'db', 2, { 'kubernetes.io/hostname': node(3) });
    await eventually(async () => (await pods('db', 'app=db')).filter(isReady).length === 2, 20_000);
    await budget('db', 'db', 2, { currentHealthy: 2, disruptionsAllowed: 0 });
    const before = await pods('db', 'app=db');

    const startedAt = Date.now();
    let clock = startedAt;
    const step = () => drainStep(client, node(3), { startedAt, timeoutSeconds: 1, now: () => clock });
    const budgetSays = 'The disruption budget db needs 2 healthy pods and has 2 currently';
    const blocked = before.map((p) => ({ pod: `db/${p.metadata.name}`, reason: budgetSays })).sort((a, b) => a.pod.localeCompare(b.pod));

    const first = await step();
    expect(first).toMatchObject({ done: false, timedOut: false, evicting: 0, blocked });
    expect(first.requeueAfterMs).toBeGreaterThan(0);
    expect(first.requeueAfterMs).toBeLessThanOrEqual(1001);
    expect(first.message).toContain(budgetSays);

    clock = startedAt + 1001;
    const last = await step();
    expect(last).toMatchObject({ done: false, timedOut: true, evicting: 0, blocked, requeueAfterMs: 0 });
    expect(last.message).toMatch(/^Drain of Node dr-node-3 timed out after 1s: 2 not evicted/);

    expect((await getNode(node(3))).spec.unschedulable).toBe(true);
    const after = await pods('db', 'app=db');
    expect(uids(after)).toEqual(uids(before));
    expect(after.filter(isReady)).toHaveLength(2);
    expect((await client.get(resources.poddisruptionbudgets, 'db', 'db')).status.disruptedPods ?? {}).toEqual({});
  });

  it('leaves DaemonSet and mirror pods on the node, and evicts unmanaged and finished pods', async () => {
    const on4 = { nodeName: node(4), containers: [{ name: 'c', image: 'x:1' }] };
    await client.create(resources.pods, 'infra', { metadata: { name: `static-${node(4)}`, annotations: { [MIRROR_POD_ANNOTATION]: 'hash' } }, spec: on4 });
    await client.create(resources.pods, 'infra', { metadata: { name: 'loner' }, spec: on4 });
    await client.create(resources.pods, 'infra', {
      metadata: { name: 'finished', annotations: { 'kok.dev/crash-after': '10ms', 'kok.dev/exit-code': '0' } },
      spec: { ...on4, restartPolicy: 'Never' },
    });
    await eventually(async () => (await client.get(resources.pods, 'infra', 'finished')).status?.phase === 'Succeeded', 20_000);
    await eventually(async () => isReady(await client.get(resources.pods, 'infra', 'loner')), 20_000);
    const stays = (await podsOnNode(node(4))).filter((p) => p.metadata.name !== 'loner' && p.metadata.name !== 'finished');
    expect(stays.map((p) => p.metadata.labels?.app ?? p.metadata.name).sort()).toEqual(['agent', `static-${node(4)}`]);

    const results = await drainLoop(node(4), Date.now(), 60);

    expect(results[0]!.evicting).toBe(2);
    expect(results.at(-1)).toMatchObject({ done: true, blocked: [] });
    const left = await podsOnNode(node(4));
    expect(uids(left)).toEqual(uids(stays));
    expect(left.every((p) => !p.metadata.deletionTimestamp)).toBe(true);
  });

  it('with timeoutSeconds 0 is done at once, and neither cordons nor evicts', async () => {
    await setUnschedulable(node(1), false);
    await namespace('idle');
    await deployment('idle', 'idle', 2, { 'kubernetes.io/hostname': node(1) });
    await eventually(async () => (await pods('idle', 'app=idle')).filter(isReady).length === 2, 20_000);
    const before = await podsOnNode(node(1));

    const r = await drainStep(client, node(1), { startedAt: Date.now(), timeoutSeconds: 0 });

    expect(r).toMatchObject({ done: true, timedOut: false, evicting: 0, blocked: [], requeueAfterMs: 0 });
    expect((await getNode(node(1))).spec.unschedulable).toBeFalsy();
    const after = await podsOnNode(node(1));
    expect(uids(after)).toEqual(uids(before));
    expect(after.every((p) => !p.metadata.deletionTimestamp)).toBe(true);
  });

  it('is done when the node does not exist', async () => {
    const r = await drainStep(client, 'no-such-node', { startedAt: Date.now(), timeoutSeconds: 60 });
    expect(r).toMatchObject({ done: true, timedOut: false, evicting: 0, blocked: [] });
    expect(r.message).toBe('Node no-such-node does not exist: nothing to drain');
  });
});
