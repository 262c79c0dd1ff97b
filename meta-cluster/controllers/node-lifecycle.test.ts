import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNotFound, KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { microTime } from '../../operators/runtime/leader-election.js';
import { eventually, startTestServer, type TestServer } from '../../test/helpers.js';
import type { Taint, Toleration } from './daemonset.js';
import {
  MESSAGE_STOPPED_POSTING,
  NodeLifecycleController,
  REASON_NODE_STATUS_UNKNOWN,
  TAINT_NOT_READY,
  TAINT_UNREACHABLE,
  desiredNodeTaints,
  podEvictionTime,
  unknownConditions,
} from './node-lifecycle.js';
import { NODE_LEASE_NAMESPACE, resources } from './resources.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

const node = (conditions: Array<Record<string, string>>, spec: Record<string, unknown> = {}): KubeObject => ({
  metadata: { name: 'n1', creationTimestamp: '2026-01-01T00:00:00Z' },
  spec,
  status: { conditions },
});
const ready = (status: string) => ({ type: 'Ready', status, reason: 'KubeletReady', lastHeartbeatTime: '2026-01-01T11:00:00Z', lastTransitionTime: '2026-01-01T10:00:00Z' });

describe('unknownConditions', () => {
  it('turns the kubelet conditions Unknown and leaves other conditions alone', () => {
    const n = node([ready('True'), { type: 'MemoryPressure', status: 'False' }, { type: 'NetworkUnavailable', status: 'False' }]);
    expect(unknownConditions(n, NOW)).toEqual([
      { type: 'Ready', status: 'Unknown', reason: REASON_NODE_STATUS_UNKNOWN, message: MESSAGE_STOPPED_POSTING, lastHeartbeatTime: '2026-01-01T11:00:00Z', lastTransitionTime: iso(NOW) },
      { type: 'MemoryPressure', status: 'Unknown', reason: REASON_NODE_STATUS_UNKNOWN, message: MESSAGE_STOPPED_POSTING, lastTransitionTime: iso(NOW) },
      { type: 'NetworkUnavailable', status: 'False' },
    ]);
  });
  it('changes nothing on a node already Unknown, and adds Ready to a node that never posted one', () => {
    expect(unknownConditions(node([ready('Unknown')]), NOW)).toBeUndefined();
    expect(unknownConditions(node([]), NOW)).toEqual([
      { type: 'Ready', status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.', lastHeartbeatTime: '2026-01-01T00:00:00Z', lastTransitionTime: iso(NOW) },
    ]);
  });
});

describe('desiredNodeTaints', () => {
  const user: Taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
  it.each<[string, KubeObject, Taint[] | undefined]>([
    ['Unknown → unreachable', node([ready('Unknown')], { taints: [user] }), [user, { key: TAINT_UNREACHABLE, effect: 'NoSchedule' }, { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: iso(NOW) }]],
    ['False → not-ready', node([ready('False')]), [{ key: TAINT_NOT_READY, effect: 'NoSchedule' }, { key: TAINT_NOT_READY, effect: 'NoExecute', timeAdded: iso(NOW) }]],
    ['True → ours removed, the user’s kept', node([ready('True')], { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: 'x' }, user] }), [user]],
    ['True and untainted → unchanged', node([ready('True')], { taints: [user] }), undefined],
    ['already tainted → unchanged, timeAdded kept', node([ready('Unknown')], { taints: [{ key: TAINT_UNREACHABLE, effect: 'NoSchedule' }, { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: 'then' }] }), undefined],
    ['Unknown after False → not-ready swapped for unreachable', node([ready('Unknown')], { taints: [{ key: TAINT_NOT_READY, effect: 'NoExecute', timeAdded: 'then' }] }), [{ key: TAINT_UNREACHABLE, effect: 'NoSchedule' }, { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: iso(NOW) }]],
    ['unschedulable', node([ready('True')], { unschedulable: true }), [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }]],
  ])('%s', (_t, n, want) => expect(desiredNodeTaints(n, NOW)).toEqual(want));
});

describe('podEvictionTime', () => {
  const unreachable: Taint = { key: TAINT_UNREACHABLE, effect: 'NoExecute', timeAdded: iso(NOW - 10_000) };
  const withTolerations = (tolerations: Toleration[]): KubeObject => ({ metadata: { name: 'p' }, spec: { tolerations } });
  it.each<[string, Taint[], Toleration[], number | undefined]>([
    ['no toleration → now', [unreachable], [], NOW],
    ['tolerationSeconds counts from timeAdded', [unreachable], [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }], NOW + 20_000],
    ['the smallest of the matching tolerations wins', [unreachable], [{ operator: 'Exists', tolerationSeconds: 60 }, { key: TAINT_UNREACHABLE, operator: 'Exists', tolerationSeconds: 5 }], NOW - 5_000],
    ['no tolerationSeconds → tolerated forever', [unreachable], [{ key: TAINT_UNREACHABLE, operator: 'Exists' }], undefined],
    ['a NoSchedule toleration does not cover NoExecute', [unreachable], [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoSchedule' }], NOW],
    ['NoSchedule taints never evict', [{ key: 'x', effect: 'NoSchedule' }], [], undefined],
    ['one untolerated taint among tolerated ones → now', [unreachable, { key: 'x', effect: 'NoExecute' }], [{ key: TAINT_UNREACHABLE, operator: 'Exists' }], NOW],
    ['a taint without timeAdded counts from the fallback', [{ key: 'x', effect: 'NoExecute' }], [{ key: 'x', operator: 'Exists', tolerationSeconds: 2 }], NOW - 1_000 + 2_000],
  ])('%s', (_t, taints, tolerations, want) => expect(podEvictionTime(withTolerations(tolerations), taints, NOW, NOW - 1_000)).toBe(want));
});

describe('NodeLifecycleController against the embedded API server', () => {
  let server: TestServer;
  let client: KubeClient;
  let controller: NodeLifecycleController;
  const renewing = new Set<string>();
  let heartbeat: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    server = await startTestServer();
    client = new KubeClient(server.kubeConfig);
  });
  afterAll(async () => {
    clearInterval(heartbeat);
    await controller?.stop();
    client?.close();
    await server?.destroy();
  });

  const now = () => iso(Date.now());
  const renew = (name: string) =>
    client.patch(resources.leases, NODE_LEASE_NAMESPACE, name, 'merge', { spec: { renewTime: microTime(new Date()) } });
  async function postReady(name: string): Promise<void> {
    await client.patch(resources.nodes, undefined, name, 'merge', { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now(), lastTransitionTime: now() }] } }, { sub: 'status' });
  }
  /** The test plays the kubelet: a Node, Ready, with a Lease renewed every 200 ms while `renewing`. */
  async function kubelet(name: string): Promise<void> {
    await client.create(resources.nodes, undefined, { metadata: { name, labels: { 'kubernetes.io/hostname': name } } });
    await postReady(name);
    await client.create(resources.leases, NODE_LEASE_NAMESPACE, {
      metadata: { name },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime(new Date()) },
    });
    renewing.add(name);
  }
  async function podOn(name: string, nodeName: string, tolerations: Toleration[] = []): Promise<void> {
    await client.create(resources.pods, 'default', { metadata: { name }, spec: { nodeName, tolerations, containers: [{ name: 'c', image: 'app:1' }] } });
  }
  const getPod = (name: string) => client.get(resources.pods, 'default', name).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
  const getNode = (name: string) => client.get(resources.nodes, undefined, name);
  const readyOf = (n: KubeObject) => n.status.conditions.find((c: { type: string }) => c.type === 'Ready');
  const taintKeys = (n: KubeObject) => (n.spec.taints ?? []).map((t: Taint) => `${t.key}:${t.effect}`).sort();

  it('marks a node whose lease stops Unknown and unreachable, evicts its pods by their tolerations, and untaints it when it returns', async () => {
    await kubelet('alive');
    await kubelet('lost');
    heartbeat = setInterval(() => {
      for (const n of renewing) void renew(n).catch(() => {});
    }, 200);
    await podOn('plain', 'lost');
    await podOn('patient', 'lost', [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 2 }]);
    await podOn('forever', 'lost', [{ key: TAINT_UNREACHABLE, operator: 'Exists', effect: 'NoExecute' }]);
    await podOn('bystander', 'alive');

    controller = new NodeLifecycleController(client, { nodeMonitorGracePeriodSeconds: 2 });
    await controller.start();
    await new Promise((r) => setTimeout(r, 2500));
    // Renewing leases keep both nodes Ready past the grace period.
    for (const n of ['alive', 'lost']) {
      expect(readyOf(await getNode(n)).status).toBe('True');
      expect(taintKeys(await getNode(n))).toEqual([]);
    }

    renewing.delete('lost');
    const stoppedAt = Date.now();
    const lost = await eventually(async () => {
      const n = await getNode('lost');
      return readyOf(n).status === 'Unknown' && taintKeys(n).length === 2 ? n : undefined;
    }, 6000).then((n) => n!);
    expect(Date.now() - stoppedAt).toBeLessThan(4500);
    expect(readyOf(lost)).toMatchObject({ reason: REASON_NODE_STATUS_UNKNOWN, message: MESSAGE_STOPPED_POSTING });
    expect(taintKeys(lost)).toEqual([`${TAINT_UNREACHABLE}:NoExecute`, `${TAINT_UNREACHABLE}:NoSchedule`]);

    // No toleration: evicted at once, and forcibly, since no kubelet will finish it.
    await eventually(async () => (await getPod('plain')) === undefined, 2000);
    expect(await getPod('patient')).toBeDefined();
    await eventually(async () => (await getPod('patient')) === undefined, 5000);
    const taintedAt = Date.parse(lost.spec.taints.find((t: Taint) => t.effect === 'NoExecute').timeAdded);
    expect(Date.now() - taintedAt).toBeGreaterThanOrEqual(1000);
    expect(await getPod('forever')).toBeDefined();
    expect(await getPod('bystander')).toBeDefined();
    expect(readyOf(await getNode('alive')).status).toBe('True');
    expect(taintKeys(await getNode('alive'))).toEqual([]);

    // The kubelet is back: the lease renews and it posts Ready; the controller lifts its taints.
    renewing.add('lost');
    await renew('lost');
    await postReady('lost');
    await eventually(async () => taintKeys(await getNode('lost')).length === 0, 3000);
    await new Promise((r) => setTimeout(r, 2500));
    expect(readyOf(await getNode('lost')).status).toBe('True');
    expect(taintKeys(await getNode('lost'))).toEqual([]);
  });
});
