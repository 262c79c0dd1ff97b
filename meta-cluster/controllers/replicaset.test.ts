/**
 * The ReplicaSet controller alone against a real embedded API server; the test plays the kubelet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../operators/runtime/client.js';
import { eventually, kubectl, startTestServer, type TestServer } from '../../test/helpers.js';
import { isActive, type Pod } from './pod-util.js';
import { ReplicaSetController } from './replicaset.js';
import { resources } from './resources.js';
import type { ReplicaSet } from './workload.js';
import { TestKubelet } from './workload-test-kubelet.js';

let server: TestServer;
let client: KubeClient;
let kubelet: TestKubelet;
let controller: ReplicaSetController;
const hold = new Set<string>();
const stops: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startTestServer();
  client = new KubeClient(server.kubeConfig);
  controller = new ReplicaSetController(new KubeClient(server.kubeConfig));
  kubelet = new TestKubelet(client, { hold: (p) => hold.has(p.metadata.labels?.app ?? '') });
  await Promise.all([controller.start(), kubelet.start()]);
  stops.push(() => controller.stop(), () => kubelet.stop(), () => client.close(), () => server.destroy());
});

afterAll(async () => {
  for (const s of stops) await s();
});

function replicaSet(name: string, replicas: number, extra: { finalizers?: string[] } = {}): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name, tier: 'web' }, ...extra }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
    },
  };
}

const podsOf = (app: string) => kubelet.list('default').filter((p) => p.metadata.labels?.app === app);
const activeOf = (app: string) => podsOf(app).filter(isActive);
const getRs = (name: string) => client.get<ReplicaSet>(resources.replicasets, 'default', name);

async function settled(name: string, replicas: number, ready = replicas): Promise<ReplicaSet> {
  return eventually(async () => {
    const rs = await getRs(name);
    expect(rs.status).toMatchObject({ replicas, readyReplicas: ready || undefined, availableReplicas: ready || undefined, observedGeneration: rs.metadata.generation });
    expect(activeOf(name)).toHaveLength(replicas);
    return rs;
  }, 20_000);
}

describe('ReplicaSet controller', () => {
  it('creates owned, labelled pods named from the ReplicaSet and reports status', async () => {
    const created = await client.create<ReplicaSet>(resources.replicasets, 'default', replicaSet('web', 3));
    const rs = await settled('web', 3);
    expect(rs.status?.fullyLabeledReplicas).toBe(3);
    for (const p of activeOf('web')) {
      expect(p.metadata.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      expect(p.metadata.labels).toEqual({ app: 'web', tier: 'web' });
      expect(p.metadata.ownerReferences).toEqual([
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: created.metadata.uid, controller: true, blockOwnerDeletion: true },
      ]);
    }
    const out = await kubectl(server.kubeconfigPath, ['get', 'rs', 'web']);
    expect(out.stdout).toMatch(/web\s+3\s+3\s+3/);
  });

  it('replaces a deleted pod and a Failed one; the Failed pod no longer counts', async () => {
    const [deleted, failed] = activeOf('web');
    await client.delete(resources.pods, 'default', deleted.metadata.name!);
    await kubelet.markFailed(failed);
    await eventually(() => {
      const active = activeOf('web').map((p) => p.metadata.name);
      expect(active).toHaveLength(3);
      expect(active).not.toContain(deleted.metadata.name);
      expect(active).not.toContain(failed.metadata.name);
      return true;
    }, 20_000);
    await settled('web', 3);
    expect(podsOf('web').find((p) => p.metadata.name === failed.metadata.name)?.status?.phase).toBe('Failed');
  });

  it('scales down by deleting the pods that are not ready first', async () => {
    await client.patch(resources.replicasets, 'default', 'web', 'merge', { spec: { replicas: 5 } });
    await settled('web', 5);
    const [a, b] = activeOf('web');
    for (const p of [a, b]) {
      await client.patch(resources.pods, 'default', p.metadata.name!, 'merge', { status: { conditions: [{ type: 'Ready', status: 'False' }] } }, { sub: 'status' });
    }
    await eventually(async () => expect((await getRs('web')).status?.readyReplicas).toBe(3));
    await client.patch(resources.replicasets, 'default', 'web', 'merge', { spec: { replicas: 3 } });
    await settled('web', 3);
    const names = activeOf('web').map((p) => p.metadata.name);
    expect(names).not.toContain(a.metadata.name);
    expect(names).not.toContain(b.metadata.name);
  });

  it('adopts a matching orphan pod and releases a pod whose labels stop matching', async () => {
    const orphan = await client.create<Pod>(resources.pods, 'default', {
      metadata: { name: 'stray', labels: { app: 'adopt', tier: 'web' } },
      spec: { containers: [{ name: 'c', image: 'nginx' }] },
    });
    const rs = await client.create<ReplicaSet>(resources.replicasets, 'default', replicaSet('adopt', 2));
    await settled('adopt', 2);
    const adopted = await client.get<Pod>(resources.pods, 'default', 'stray');
    expect(adopted.metadata.uid).toBe(orphan.metadata.uid);
    expect(adopted.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', uid: rs.metadata.uid, controller: true });

    await client.patch(resources.pods, 'default', 'stray', 'merge', { metadata: { labels: { app: 'elsewhere' } } });
    await eventually(async () => {
      const released = await client.get<Pod>(resources.pods, 'default', 'stray');
      expect(released.metadata.ownerReferences ?? []).toEqual([]);
      return true;
    });
    await settled('adopt', 2);
  });

  it('sets ReplicaFailure when pods cannot be created, and clears it once they can', async () => {
    // The pod template carries an invalid finalizer: every create is refused by the API.
    await client.create(resources.replicasets, 'default', replicaSet('broken', 20, { finalizers: [''] }));
    const failing = await eventually(async () => {
      const rs = await getRs('broken');
      expect(rs.status?.conditions?.find((c) => c.type === 'ReplicaFailure')).toMatchObject({ status: 'True', reason: 'FailedCreate' });
      return rs;
    });
    expect(failing.status?.conditions?.[0].message).toMatch(/finalizers/);
    expect(activeOf('broken')).toHaveLength(0);
    await client.patch(resources.replicasets, 'default', 'broken', 'merge', { spec: { template: { metadata: { finalizers: null } } } });
    const rs = await settled('broken', 20);
    expect(rs.status?.conditions ?? []).toEqual([]);
  });

  it('ignores terminating pods and creates their replacements at once', async () => {
    await client.create(resources.nodes, undefined, { metadata: { name: 'node-a' } });
    hold.add('graceful');
    await client.create(resources.replicasets, 'default', replicaSet('graceful', 2));
    await eventually(() => expect(podsOf('graceful')).toHaveLength(2));
    // A pod bound to an existing node is deleted gracefully: it stays, terminating.
    const [victim] = podsOf('graceful');
    await client.createSub(resources.pods, 'default', victim.metadata.name!, 'binding', {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: victim.metadata.name },
      target: { apiVersion: 'v1', kind: 'Node', name: 'node-a' },
    });
    await client.delete(resources.pods, 'default', victim.metadata.name!);
    await eventually(() => {
      expect(podsOf('graceful').find((p) => p.metadata.name === victim.metadata.name)?.metadata.deletionTimestamp).toBeTruthy();
      expect(activeOf('graceful')).toHaveLength(2);
      return true;
    });
    const rs = await eventually(async () => {
      const r = await getRs('graceful');
      expect(r.status?.replicas).toBe(2);
      return r;
    });
    expect(rs.status?.readyReplicas).toBeUndefined();
  });

  it('garbage collection takes the pods with a deleted ReplicaSet', async () => {
    await client.delete(resources.replicasets, 'default', 'web', { propagationPolicy: 'Background' });
    // The Failed pod is owned too, and goes with the others.
    await eventually(() => expect(podsOf('web')).toHaveLength(0), 20_000);
    expect(controller.expectations.pending('default/web')).toBeUndefined();
  });
});
