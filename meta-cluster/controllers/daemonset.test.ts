import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { eventually, startTestServer, type TestServer } from '../../test/helpers.js';
import {
  DaemonSetController,
  daemonPodName,
  daemonPodTolerations,
  newDaemonPod,
  nodeShouldRunDaemonPod,
  planDaemonSet,
  scaledValue,
  targetNodeName,
  toleratesTaint,
  type Taint,
  type Toleration,
} from './daemonset.js';
import { resources } from './resources.js';
import { REVISION_LABEL, templateHash } from './statefulset.js';

const node = (name: string, labels: Record<string, string> = {}, taints: Taint[] = []): KubeObject => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
  spec: taints.length ? { taints } : {},
});

function ds(podSpec: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): KubeObject {
  return {
    metadata: { name: 'agent', namespace: 'ns', uid: 'ds-uid', generation: 3 },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'a', image: 'agent:1' }], ...podSpec } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      ...spec,
    },
  };
}

describe('toleratesTaint', () => {
  const taint: Taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
  it.each<[Toleration, boolean]>([
    [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }, true],
    [{ key: 'dedicated', value: 'gpu' }, true],
    [{ key: 'dedicated', operator: 'Exists' }, true],
    [{ operator: 'Exists' }, true],
    [{ key: 'dedicated', value: 'cpu' }, false],
    [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }, false],
    [{ key: 'other', operator: 'Exists' }, false],
  ])('%o tolerates dedicated=gpu:NoSchedule: %s', (t, want) => expect(toleratesTaint(t, taint)).toBe(want));
});

describe('nodeShouldRunDaemonPod', () => {
  it.each<[string, KubeObject, Record<string, unknown>, boolean, boolean]>([
    ['a plain node', node('a'), {}, true, true],
    ['nodeSelector matches', node('a', { disk: 'ssd' }), { nodeSelector: { disk: 'ssd' } }, true, true],
    ['nodeSelector does not match', node('a'), { nodeSelector: { disk: 'ssd' } }, false, false],
    [
      'required affinity In',
      node('a', { zone: 'z1' }),
      { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1', 'z2'] }] }] } } } },
      true,
      true,
    ],
    [
      'required affinity terms are ORed, Gt compares numbers',
      node('a', { cores: '8' }),
      { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, { matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['4'] }] }] } } } },
      true,
      true,
    ],
    [
      'required affinity matchFields on another node',
      node('a'),
      { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['b'] }] }] } } } },
      false,
      false,
    ],
    ['an untolerated NoSchedule taint keeps new pods out but old ones stay', node('a', {}, [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]), {}, false, true],
    ['an untolerated NoExecute taint', node('a', {}, [{ key: 'dedicated', value: 'gpu', effect: 'NoExecute' }]), {}, false, false],
    ['a tolerated taint', node('a', {}, [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]), { tolerations: [{ key: 'dedicated', operator: 'Exists' }] }, true, true],
    ['PreferNoSchedule is ignored', node('a', {}, [{ key: 'x', effect: 'PreferNoSchedule' }]), {}, true, true],
    ['the default tolerations cover unreachable and unschedulable', node('a', {}, [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }]), {}, true, true],
    ['network-unavailable is tolerated only with hostNetwork', node('a', {}, [{ key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' }]), {}, false, true],
  ])('%s', (_t, n, podSpec, shouldRun, shouldContinueRunning) => {
    expect(nodeShouldRunDaemonPod(n, ds(podSpec))).toEqual({ shouldRun, shouldContinueRunning });
  });
});

describe('newDaemonPod', () => {
  it('targets its node through a metadata.name affinity that replaces required terms, with default tolerations', () => {
    const set = ds({ tolerations: [{ key: 'dedicated', operator: 'Exists' }], affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }] } } } });
    const p = newDaemonPod(set, 'n7');
    expect(p.metadata.name).toBe(daemonPodName(set, 'n7'));
    expect(p.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual({
      nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n7'] }] }],
    });
    expect(targetNodeName(p)).toBe('n7');
    expect(p.spec.tolerations).toEqual(daemonPodTolerations([{ key: 'dedicated', operator: 'Exists' }]));
    expect(p.spec.tolerations).toContainEqual({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' });
    expect(p.metadata.labels).toEqual({ app: 'agent', [REVISION_LABEL]: templateHash(set.spec.template) });
    expect(p.metadata.ownerReferences![0]).toMatchObject({ kind: 'DaemonSet', uid: 'ds-uid', controller: true });
  });
});

describe('scaledValue', () => {
  it.each<[number | string | undefined, number, boolean, number]>([
    [2, 10, true, 2],
    ['25%', 10, true, 3],
    ['25%', 10, false, 2],
    [undefined, 10, true, 1],
  ])('%s of %d (round up %s) = %d', (v, total, up, want) => expect(scaledValue(v, total, up, 1)).toBe(want));
  it('rejects nonsense', () => expect(() => scaledValue('ten', 10, true, 1)).toThrow(/integer or a percentage/));
});

describe('planDaemonSet', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  function podOn(set: KubeObject, nodeName: string, o: { ready?: boolean; hash?: string; terminating?: boolean; created?: string } = {}): KubeObject {
    const p = newDaemonPod(set, nodeName);
    p.metadata.uid = `uid-${nodeName}-${o.hash ?? 'new'}`;
    p.metadata.creationTimestamp = o.created ?? '2026-01-01T00:00:00Z';
    if (o.hash) p.metadata.labels![REVISION_LABEL] = o.hash;
    if (o.terminating) p.metadata.deletionTimestamp = '2026-01-01T00:11:00Z';
    p.spec.nodeName = nodeName;
    p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
    return p;
  }
  const nodes = [node('a'), node('b'), node('tainted', {}, [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }])];

  it('creates a pod per eligible node, skips tainted ones and counts status', () => {
    const set = ds();
    const plan = planDaemonSet(set, nodes, [podOn(set, 'a')], now);
    expect(plan.create.map((p) => targetNodeName(p))).toEqual(['b']);
    expect(plan.delete).toEqual([]);
    expect(plan.status).toEqual({
      observedGeneration: 3,
      desiredNumberScheduled: 2,
      currentNumberScheduled: 1,
      numberMisscheduled: 0,
      numberReady: 1,
      numberAvailable: 1,
      numberUnavailable: 1,
      updatedNumberScheduled: 1,
    });
  });

  it('removes pods from nodes they may not run on, and from nodes that are gone', () => {
    const set = ds({ nodeSelector: { role: 'edge' } });
    const plan = planDaemonSet(set, [node('a', { role: 'edge' }), node('b')], [podOn(set, 'a'), podOn(set, 'b'), podOn(set, 'gone')], now);
    expect(plan.delete.map((p) => targetNodeName(p))).toEqual(['b', 'gone']);
    expect(plan.status.numberMisscheduled).toBe(1);
  });

  it('keeps the oldest pod when a node has two', () => {
    const set = ds();
    const young = { ...podOn(set, 'a', { created: '2026-01-01T00:05:00Z' }), metadata: { ...podOn(set, 'a').metadata, name: 'agent-young', creationTimestamp: '2026-01-01T00:05:00Z' } };
    const plan = planDaemonSet(set, [node('a')], [young, podOn(set, 'a')], now);
    expect(plan.delete.map((p) => p.metadata.name)).toEqual(['agent-young']);
  });

  it('rolls out at most maxUnavailable pods at a time, replacing unavailable old pods at once', () => {
    const set = ds();
    const many = [node('a'), node('b'), node('c'), node('d')];
    const old = (n: string, ready = true) => podOn(set, n, { hash: 'old', ready });
    expect(planDaemonSet(set, many, ['a', 'b', 'c', 'd'].map((n) => old(n)), now).delete.map(targetNodeName)).toEqual(['a']);
    expect(planDaemonSet(set, many, [old('a'), old('b', false), old('c'), old('d')], now).delete.map(targetNodeName)).toEqual(['b']);
    // One new pod still unready: the budget of one is spent.
    expect(planDaemonSet(set, many, [podOn(set, 'a', { ready: false }), old('b'), old('c'), old('d')], now).delete).toEqual([]);
    const wide = ds({}, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '50%' } } });
    const oldWide = (n: string) => podOn(wide, n, { hash: 'old' });
    expect(planDaemonSet(wide, many, ['a', 'b', 'c', 'd'].map(oldWide), now).delete.map(targetNodeName)).toEqual(['a', 'b']);
    const onDelete = ds({}, { updateStrategy: { type: 'OnDelete' } });
    expect(planDaemonSet(onDelete, many, ['a', 'b', 'c', 'd'].map((n) => podOn(onDelete, n, { hash: 'old' })), now).delete).toEqual([]);
  });

  it('waits for a terminating pod before creating its replacement', () => {
    const set = ds();
    const plan = planDaemonSet(set, [node('a')], [podOn(set, 'a', { hash: 'old', terminating: true })], now);
    expect(plan.create).toEqual([]);
    expect(plan.delete).toEqual([]);
  });
});

describe('DaemonSetController against the embedded API server', () => {
  let server: TestServer;
  let client: KubeClient;
  let controller: DaemonSetController;

  beforeAll(async () => {
    server = await startTestServer();
    client = new KubeClient(server.kubeConfig);
    controller = new DaemonSetController(client);
    await controller.start();
  });
  afterAll(async () => {
    await controller?.stop();
    client?.close();
    await server?.destroy();
  });

  async function createNode(name: string, labels: Record<string, string> = {}, taints: Taint[] = []): Promise<void> {
    await client.create(resources.nodes, undefined, { metadata: { name, labels }, spec: taints.length ? { taints } : {} });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await client.patch(resources.nodes, undefined, name, 'merge', { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] } }, { sub: 'status' });
  }

  const podsOf = async (ns: string) => (await client.list(resources.pods, ns, { labelSelector: 'app=agent' })).items;

  it('creates one pod per eligible node, aimed at it by affinity, skips tainted nodes and follows new nodes', async () => {
    await createNode('worker-1');
    await createNode('worker-2');
    await createNode('gpu-1', {}, [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]);
    await client.create(resources.daemonsets, 'default', {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'agent' },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'a', image: 'agent:1' }] } } },
    });
    const targets = async () => (await podsOf('default')).map(targetNodeName).sort();
    await eventually(async () => expect(await targets()).toEqual(['worker-1', 'worker-2']));
    for (const p of await podsOf('default')) {
      expect(p.spec.nodeName).toBeUndefined();
      expect(p.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
        { matchFields: [{ key: 'metadata.name', operator: 'In', values: [targetNodeName(p)] }] },
      ]);
      expect(p.metadata.ownerReferences![0]).toMatchObject({ kind: 'DaemonSet', name: 'agent', controller: true });
    }
    await eventually(async () => {
      const s = (await client.get(resources.daemonsets, 'default', 'agent')).status;
      expect(s).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 0, updatedNumberScheduled: 2, numberMisscheduled: 0, observedGeneration: 1 });
      return true;
    });

    await createNode('worker-3');
    await eventually(async () => expect(await targets()).toEqual(['worker-1', 'worker-2', 'worker-3']));
    // Labelled out of the set's selector: the pod on worker-3 goes.
    await client.patch(resources.daemonsets, 'default', 'agent', 'merge', { spec: { template: { spec: { nodeSelector: { pool: 'main' } } } } });
    await client.patch(resources.nodes, undefined, 'worker-1', 'merge', { metadata: { labels: { pool: 'main' } } });
    await client.patch(resources.nodes, undefined, 'worker-2', 'merge', { metadata: { labels: { pool: 'main' } } });
    await eventually(async () => {
      const pods = await podsOf('default');
      expect(pods.map(targetNodeName).sort()).toEqual(['worker-1', 'worker-2']);
      // The new template reached every remaining node (unready old pods are replaced at once).
      expect(pods.every((p: KubeObject) => p.spec.nodeSelector?.pool === 'main')).toBe(true);
      return true;
    });
  });
});
