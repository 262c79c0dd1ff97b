import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { eventually, startTestServer, type TestServer } from '../../test/helpers.js';
import {
  DELETION_TIMEOUT_MS,
  DisruptionController,
  computePdbStatus,
  expectedAndDesired,
  pruneDisruptedPods,
  selectedPods,
  type ControllerScale,
} from './disruption.js';
import { resources } from './resources.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

const pdb = (spec: Record<string, unknown>, status?: Record<string, unknown>): KubeObject => ({
  metadata: { name: 'budget', namespace: 'ns', generation: 4 },
  spec: { selector: { matchLabels: { app: 'db' } }, ...spec },
  ...(status ? { status } : {}),
});

function pod(name: string, o: { ready?: boolean; owner?: string; terminating?: boolean; labels?: Record<string, string> } = {}): KubeObject {
  return {
    metadata: {
      name,
      namespace: 'ns',
      labels: o.labels ?? { app: 'db' },
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: o.owner, uid: o.owner, controller: true }] } : {}),
      ...(o.terminating ? { deletionTimestamp: iso(NOW) } : {}),
    },
    spec: {},
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  };
}

describe('expectedAndDesired', () => {
  const pods = [pod('a', { owner: 'rs1' }), pod('b', { owner: 'rs1' }), pod('c', { owner: 'rs2' }), pod('d')];
  it.each<[string, Record<string, unknown>, ControllerScale[], { expected: number; desired: number }]>([
    ['integer minAvailable counts the selected pods', { minAvailable: 2 }, [], { expected: 4, desired: 2 }],
    ['maxUnavailable uses the controllers’ scales', { maxUnavailable: 1 }, [{ uid: 'rs1', replicas: 5 }, { uid: 'rs2', replicas: 1 }], { expected: 6, desired: 5 }],
    ['a percentage rounds up', { minAvailable: '50%' }, [{ uid: 'rs1', replicas: 3 }], { expected: 3, desired: 2 }],
    ['maxUnavailable percentage rounds up too', { maxUnavailable: '10%' }, [{ uid: 'rs1', replicas: 5 }], { expected: 5, desired: 4 }],
    ['an unreadable scale counts its pods', { maxUnavailable: 0 }, [{ uid: 'rs1' }, { uid: 'rs2', replicas: 2 }], { expected: 4, desired: 4 }],
    ['desiredHealthy never goes below zero', { maxUnavailable: 9 }, [{ uid: 'rs1', replicas: 2 }], { expected: 2, desired: 0 }],
    ['a controller met twice counts once', { maxUnavailable: 1 }, [{ uid: 'd1', replicas: 3 }, { uid: 'd1', replicas: 3 }], { expected: 3, desired: 2 }],
  ])('%s', (_t, spec, scales, want) => expect(expectedAndDesired(pdb(spec), pods, scales)).toEqual(want));
});

describe('pruneDisruptedPods', () => {
  it('keeps recent entries of live pods and drops gone, terminating or overdue ones', () => {
    const recent = iso(NOW - 30_000);
    const disrupted = { live: recent, gone: recent, going: recent, old: iso(NOW - DELETION_TIMEOUT_MS - 1000) };
    const { kept, recheckAt } = pruneDisruptedPods(disrupted, [pod('live'), pod('going', { terminating: true }), pod('old'), pod('other')], NOW);
    expect(kept).toEqual({ live: recent });
    expect(recheckAt).toBe(NOW - 30_000 + DELETION_TIMEOUT_MS);
  });
});

describe('computePdbStatus', () => {
  it('allows disruptions while more pods are healthy than desired', () => {
    const { status } = computePdbStatus(pdb({ minAvailable: 2 }), [pod('a'), pod('b'), pod('c', { ready: false })].concat(pod('d')), [], NOW);
    expect(status).toEqual({
      observedGeneration: 4,
      disruptionsAllowed: 1,
      currentHealthy: 3,
      desiredHealthy: 2,
      expectedPods: 4,
      conditions: [{ type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods', message: '', lastTransitionTime: iso(NOW), observedGeneration: 4 }],
    });
  });

  it('does not count recently evicted pods as healthy, and rechecks when their entry expires', () => {
    const at = iso(NOW - 10_000);
    const old = { conditions: [{ type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }], disruptedPods: { a: at } };
    const { status, recheckAfterMs } = computePdbStatus(pdb({ minAvailable: 2 }, old), [pod('a'), pod('b'), pod('c')], [], NOW);
    expect(status).toMatchObject({ currentHealthy: 2, disruptionsAllowed: 0, disruptedPods: { a: at } });
    expect(status.conditions[0]).toMatchObject({ status: 'False', reason: 'InsufficientPods', lastTransitionTime: '2025-01-01T00:00:00Z' });
    expect(recheckAfterMs).toBeGreaterThan(DELETION_TIMEOUT_MS - 10_000);
  });

  it('allows nothing when no pods are expected, and fails safe on a bad percentage', () => {
    expect(computePdbStatus(pdb({ maxUnavailable: 1 }), [], [], NOW).status.disruptionsAllowed).toBe(0);
    const bad = computePdbStatus(pdb({ minAvailable: 'half' }, { disruptionsAllowed: 3 }), [pod('a', { owner: 'rs1' })], [{ uid: 'rs1', replicas: 1 }], NOW).status;
    expect(bad.disruptionsAllowed).toBe(0);
    expect(bad.conditions[0]).toMatchObject({ status: 'False', reason: 'SyncFailed' });
  });

  it('selects nothing without a selector and everything with an empty one', () => {
    const pods = [pod('a'), pod('b', { labels: { app: 'web' } })];
    expect(selectedPods({ ...pdb({}), spec: {} }, pods)).toEqual([]);
    expect(selectedPods(pdb({ selector: {} }), pods)).toHaveLength(2);
    expect(selectedPods(pdb({}), pods).map((p) => p.metadata.name)).toEqual(['a']);
  });
});

describe('DisruptionController against the embedded API server', () => {
  let server: TestServer;
  let client: KubeClient;
  let controller: DisruptionController;
  const ns = 'default';

  beforeAll(async () => {
    server = await startTestServer();
    client = new KubeClient(server.kubeConfig);
    controller = new DisruptionController(client);
    await controller.start();
  });
  afterAll(async () => {
    await controller?.stop();
    client?.close();
    await server?.destroy();
  });

  const template = { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'c', image: 'db:1' }] } };

  /** The pods of a ReplicaSet made by hand (no ReplicaSet controller runs here), Running and Ready. */
  async function readyPods(rs: KubeObject, names: string[]): Promise<void> {
    for (const name of names) {
      await client.create(resources.pods, ns, {
        metadata: { name, labels: { app: 'db' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name!, uid: rs.metadata.uid!, controller: true }] },
        spec: template.spec,
      });
      const now = iso(Date.now());
      await client.patch(resources.pods, ns, name, 'merge', { status: { phase: 'Running', podIP: '10.0.0.9', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } }, { sub: 'status' });
    }
  }

  const evict = (name: string) =>
    client.createSub(resources.pods, ns, name, 'eviction', { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns } });
  const status = async (name: string) => (await client.get(resources.poddisruptionbudgets, ns, name)).status;

  it('computes disruptionsAllowed, and the eviction API refuses with 429 once it is 0', async () => {
    const deploy = await client.create(resources.deployments, ns, {
      metadata: { name: 'db' },
      spec: { replicas: 4, selector: { matchLabels: { app: 'db' } }, template },
    });
    const rs = await client.create(resources.replicasets, ns, {
      metadata: { name: 'db-1', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'db', uid: deploy.metadata.uid!, controller: true }] },
      spec: { replicas: 3, selector: { matchLabels: { app: 'db' } }, template },
    });
    await readyPods(rs, ['db-a', 'db-b', 'db-c']);
    await client.create(resources.poddisruptionbudgets, ns, { metadata: { name: 'db-min' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'db' } } } });
    // Counted against the Deployment's 4 replicas, not the 3 pods: nothing may go.
    await client.create(resources.poddisruptionbudgets, ns, { metadata: { name: 'db-max' }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'db' } } } });

    await eventually(async () => {
      expect(await status('db-min')).toMatchObject({ observedGeneration: 1, expectedPods: 3, currentHealthy: 3, desiredHealthy: 2, disruptionsAllowed: 1 });
      expect((await status('db-min')).conditions).toEqual([expect.objectContaining({ type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods' })]);
      expect(await status('db-max')).toMatchObject({ expectedPods: 4, currentHealthy: 3, desiredHealthy: 3, disruptionsAllowed: 0 });
      return true;
    });
    // db-max covers the pods too and allows nothing: drop it to test db-min alone.
    await client.delete(resources.poddisruptionbudgets, ns, 'db-max');

    await evict('db-a');
    await eventually(async () => {
      expect(await status('db-min')).toMatchObject({ currentHealthy: 2, disruptionsAllowed: 0 });
      expect((await status('db-min')).conditions[0]).toMatchObject({ status: 'False', reason: 'InsufficientPods' });
      return true;
    });
    const refused = await evict('db-b').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KubeApiError);
    expect((refused as KubeApiError).code).toBe(429);
    expect((await client.get(resources.pods, ns, 'db-b')).metadata.deletionTimestamp).toBeUndefined();

    // A replacement becomes ready: one disruption is allowed again.
    await readyPods(rs, ['db-d']);
    await eventually(async () => (await status('db-min')).disruptionsAllowed === 1);
    await evict('db-b');
  });

  it('lets an unready pod be evicted while the budget is healthy, as the apiserver does (IfHealthyBudget)', async () => {
    await client.create(resources.namespaces, undefined, { metadata: { name: 'unready' } });
    const ns2 = 'unready';
    const pods = ['u-a', 'u-b', 'u-c'];
    for (const name of pods) {
      await client.create(resources.pods, ns2, { metadata: { name, labels: { app: 'u' } }, spec: template.spec });
      const ready = name === 'u-c' ? 'False' : 'True';
      await client.patch(resources.pods, ns2, name, 'merge', { status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready }] } }, { sub: 'status' });
    }
    await client.create(resources.poddisruptionbudgets, ns2, { metadata: { name: 'u' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'u' } } } });
    const budget = async () => (await client.get(resources.poddisruptionbudgets, ns2, 'u')).status;
    await eventually(async () => {
      expect(await budget()).toMatchObject({ observedGeneration: 1, currentHealthy: 2, desiredHealthy: 2, disruptionsAllowed: 0 });
      return true;
    });
    const evictIn = (name: string) => client.createSub(resources.pods, ns2, name, 'eviction', { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns2 } });
    // u-c does not count as healthy: evicting it costs the budget nothing.
    await evictIn('u-c');
    expect((await budget()).disruptedPods?.['u-c']).toBeUndefined();
    const refused = await evictIn('u-a').catch((e: unknown) => e);
    expect((refused as KubeApiError).code).toBe(429);
  });
});
