import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNotFound, KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { eventually, startTestServer, type TestServer } from '../../test/helpers.js';
import { resources } from './resources.js';
import {
  POD_INDEX_LABEL,
  POD_NAME_LABEL,
  REVISION_LABEL,
  StatefulSetController,
  ordinalOf,
  planStatefulSet,
  templateHash,
  updateRevisionOf,
} from './statefulset.js';

const template = (image = 'nginx:1') => ({ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image }] } });

function sts(spec: Record<string, unknown> = {}, status?: Record<string, unknown>): KubeObject {
  return {
    metadata: { name: 'web', namespace: 'ns', uid: 'sts-uid', generation: 2 },
    spec: {
      replicas: 3,
      serviceName: 'web',
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      selector: { matchLabels: { app: 'web' } },
      template: template(),
      ...spec,
    },
    ...(status ? { status } : {}),
  };
}

type PodState = 'ready' | 'pending' | 'terminating' | 'failed';

function pod(set: KubeObject, ord: number, state: PodState = 'ready', revision = updateRevisionOf(set)): KubeObject {
  return {
    metadata: {
      name: `web-${ord}`,
      namespace: 'ns',
      uid: `pod-${ord}`,
      labels: { app: 'web', [REVISION_LABEL]: revision },
      ...(state === 'terminating' ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}),
    },
    spec: { containers: [{ name: 'c', image: 'nginx:0' }], nodeName: 'n1' },
    status: {
      phase: state === 'pending' ? 'Pending' : state === 'failed' ? 'Failed' : 'Running',
      conditions: [{ type: 'Ready', status: state === 'ready' || state === 'terminating' ? 'True' : 'False' }],
    },
  };
}

const names = (pods: KubeObject[]) => pods.map((p) => p.metadata.name);

describe('templateHash and ordinals', () => {
  it('is deterministic, independent of key order, and changes with the template', () => {
    const a = templateHash({ spec: { containers: [{ name: 'c', image: 'x' }] }, metadata: { labels: { a: '1', b: '2' } } });
    const b = templateHash({ metadata: { labels: { b: '2', a: '1' } }, spec: { containers: [{ image: 'x', name: 'c' }] } });
    expect(a).toBe(b);
    expect(a).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
    expect(templateHash(template('nginx:2'))).not.toBe(templateHash(template('nginx:1')));
  });

  it.each([
    ['web-0', 0],
    ['web-12', 12],
    ['web-01', undefined],
    ['web-', undefined],
    ['webx-1', undefined],
    ['web-1-2', undefined],
  ])('ordinalOf(web, %s) = %s', (name, ord) => expect(ordinalOf('web', name)).toBe(ord));
});

describe('planStatefulSet', () => {
  const old = 'web-old';
  it.each<[string, KubeObject, (s: KubeObject) => KubeObject[], string[], string[]]>([
    ['OrderedReady creates ordinal 0 first', sts(), () => [], ['web-0'], []],
    ['OrderedReady waits for a pending pod', sts(), (s) => [pod(s, 0, 'pending')], [], []],
    ['OrderedReady creates the next ordinal once the previous is ready', sts(), (s) => [pod(s, 0)], ['web-1'], []],
    ['OrderedReady fills a gap before anything else', sts(), (s) => [pod(s, 0), pod(s, 2)], ['web-1'], []],
    ['Parallel creates every missing ordinal at once', sts({ podManagementPolicy: 'Parallel' }), () => [], ['web-0', 'web-1', 'web-2'], []],
    ['scale down removes the highest ordinal only', sts({ replicas: 1 }), (s) => [pod(s, 0), pod(s, 1), pod(s, 2)], [], ['web-2']],
    ['scale down waits for a terminating pod', sts({ replicas: 1 }), (s) => [pod(s, 0), pod(s, 1), pod(s, 2, 'terminating')], [], []],
    ['Parallel scale down removes all condemned', sts({ replicas: 1, podManagementPolicy: 'Parallel' }), (s) => [pod(s, 0), pod(s, 1), pod(s, 2)], [], ['web-2', 'web-1']],
    ['a failed pod is deleted to be recreated', sts(), (s) => [pod(s, 0, 'failed')], [], ['web-0']],
    ['rolling update starts at the highest ordinal', sts({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }, { currentRevision: old }), (s) => [pod(s, 0, 'ready', old), pod(s, 1, 'ready', old), pod(s, 2, 'ready', old)], [], ['web-2']],
    ['rolling update goes down once the higher pod is updated and ready', sts({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }, { currentRevision: old }), (s) => [pod(s, 0, 'ready', old), pod(s, 1, 'ready', old), pod(s, 2)], [], ['web-1']],
    ['rolling update never goes below the partition', sts({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }, { currentRevision: old }), (s) => [pod(s, 0, 'ready', old), pod(s, 1), pod(s, 2)], [], []],
    ['rolling update waits for the updated pod to be ready', sts({}, { currentRevision: old }), (s) => [pod(s, 0, 'ready', old), pod(s, 1, 'ready', old), pod(s, 2, 'pending')], [], []],
    ['OnDelete leaves old pods alone', sts({ updateStrategy: { type: 'OnDelete' } }, { currentRevision: old }), (s) => [pod(s, 0, 'ready', old), pod(s, 1, 'ready', old), pod(s, 2, 'ready', old)], [], []],
  ])('%s', (_title, set, pods, created, deleted) => {
    const plan = planStatefulSet(set, pods(set));
    expect(names(plan.create)).toEqual(created);
    expect(names(plan.delete)).toEqual(deleted);
  });

  it('gives created pods their stable identity, revision and owner', () => {
    const set = sts();
    const [p] = planStatefulSet(set, []).create;
    expect(p!.metadata.labels).toEqual({ app: 'web', [POD_NAME_LABEL]: 'web-0', [POD_INDEX_LABEL]: '0', [REVISION_LABEL]: updateRevisionOf(set) });
    expect(p!.spec.hostname).toBe('web-0');
    expect(p!.spec.subdomain).toBe('web');
    expect(p!.metadata.ownerReferences).toEqual([
      { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'sts-uid', controller: true, blockOwnerDeletion: true },
    ]);
  });

  it('recreates a lost pod below the partition at the current revision, from a sibling', () => {
    const set = sts({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } }, { currentRevision: 'web-old' });
    const plan = planStatefulSet(set, [pod(set, 1, 'ready', 'web-old'), pod(set, 2)]);
    expect(names(plan.create)).toEqual(['web-0']);
    expect(plan.create[0]!.metadata.labels![REVISION_LABEL]).toBe('web-old');
    expect(plan.create[0]!.spec.containers[0].image).toBe('nginx:0');
    expect(plan.create[0]!.spec.nodeName).toBeUndefined();
  });

  it('counts status and completes the rollout once every pod is updated and ready', () => {
    const set = sts({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }, { currentRevision: 'web-old' });
    const partial = planStatefulSet(set, [pod(set, 0, 'ready', 'web-old'), pod(set, 1, 'pending'), pod(set, 2)]).status;
    expect(partial).toEqual({
      observedGeneration: 2,
      replicas: 3,
      readyReplicas: 2,
      availableReplicas: 2,
      currentReplicas: 1,
      updatedReplicas: 2,
      currentRevision: 'web-old',
      updateRevision: updateRevisionOf(set),
    });
    const done = planStatefulSet(set, [pod(set, 0), pod(set, 1), pod(set, 2)]).status;
    expect(done.currentRevision).toBe(updateRevisionOf(set));
    expect(done.currentReplicas).toBe(3);
  });
});

describe('StatefulSetController against the embedded API server', () => {
  let server: TestServer;
  let client: KubeClient;
  let controller: StatefulSetController;

  beforeAll(async () => {
    server = await startTestServer();
    client = new KubeClient(server.kubeConfig);
    controller = new StatefulSetController(client);
    await controller.start();
    await client.create(resources.nodes, undefined, { metadata: { name: 'n1' } });
  });
  afterAll(async () => {
    await controller?.stop();
    client?.close();
    await server?.destroy();
  });

  const getPod = (ns: string, name: string) => client.get(resources.pods, ns, name).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));

  /** The test plays the kubelet: the pod runs on n1 and is Ready. */
  async function runReady(ns: string, name: string): Promise<void> {
    const p = await client.get(resources.pods, ns, name);
    if (!p.spec.nodeName) {
      await client.createSub(resources.pods, ns, name, 'binding', { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { kind: 'Node', name: 'n1' } });
    }
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await client.patch(resources.pods, ns, name, 'merge', { status: { phase: 'Running', podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } }, { sub: 'status' });
  }

  async function namespace(name: string): Promise<string> {
    await client.create(resources.namespaces, undefined, { metadata: { name } });
    return name;
  }

  const statefulSet = (replicas: number) => ({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web' },
    spec: { replicas, serviceName: 'web', selector: { matchLabels: { app: 'web' } }, template: template() },
  });

  it('brings pods up in ordinal order and scales down from the top, one terminated pod at a time', async () => {
    const ns = await namespace('ordered');
    await client.create(resources.statefulsets, ns, statefulSet(3));
    const pod0 = (await eventually(() => getPod(ns, 'web-0')))!;
    expect(pod0.metadata.labels).toMatchObject({ [POD_NAME_LABEL]: 'web-0', [POD_INDEX_LABEL]: '0' });
    await new Promise((r) => setTimeout(r, 400));
    expect(await getPod(ns, 'web-1')).toBeUndefined();

    await runReady(ns, 'web-0');
    await eventually(() => getPod(ns, 'web-1'));
    await new Promise((r) => setTimeout(r, 300));
    expect(await getPod(ns, 'web-2')).toBeUndefined();
    await runReady(ns, 'web-1');
    await eventually(() => getPod(ns, 'web-2'));
    await runReady(ns, 'web-2');
    await eventually(async () => {
      const s = (await client.get(resources.statefulsets, ns, 'web')).status;
      expect(s).toMatchObject({ replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3, observedGeneration: 1 });
      expect(s.currentRevision).toBe(s.updateRevision);
      return true;
    });

    await client.patch(resources.statefulsets, ns, 'web', 'merge', { spec: { replicas: 1 } });
    // web-2 runs on a node, so it terminates gracefully; web-1 must wait for it to be gone.
    await eventually(async () => (await getPod(ns, 'web-2'))?.metadata.deletionTimestamp);
    await new Promise((r) => setTimeout(r, 300));
    expect((await getPod(ns, 'web-1'))?.metadata.deletionTimestamp).toBeUndefined();
    await client.delete(resources.pods, ns, 'web-2', { gracePeriodSeconds: 0 });
    await eventually(async () => (await getPod(ns, 'web-1'))?.metadata.deletionTimestamp);
    await client.delete(resources.pods, ns, 'web-1', { gracePeriodSeconds: 0 });
    await eventually(async () => (await client.get(resources.statefulsets, ns, 'web')).status.replicas === 1);
    expect((await getPod(ns, 'web-0'))?.metadata.uid).toBe(pod0.metadata.uid);
  });

  it('rolls a new template only onto ordinals at or above the partition, highest first', async () => {
    const ns = await namespace('partition');
    await client.create(resources.statefulsets, ns, { ...statefulSet(3), spec: { ...statefulSet(3).spec, podManagementPolicy: 'Parallel' } });
    for (const n of ['web-0', 'web-1', 'web-2']) await eventually(() => getPod(ns, n));
    for (const n of ['web-0', 'web-1', 'web-2']) await runReady(ns, n);
    const before = await eventually(async () => {
      const s = await client.get(resources.statefulsets, ns, 'web');
      return s.status?.readyReplicas === 3 ? s : undefined;
    }).then((s) => s!);
    const oldRevision = before.status.updateRevision;
    const uids = Object.fromEntries(await Promise.all(['web-0', 'web-1', 'web-2'].map(async (n) => [n, (await getPod(ns, n))!.metadata.uid])));

    await client.patch(resources.statefulsets, ns, 'web', 'merge', {
      spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } }, template: template('nginx:2') },
    });
    // The pods are on a node, so each old one terminates until the "kubelet" finishes it.
    const replace = async (name: string) => {
      await eventually(async () => (await getPod(ns, name))?.metadata.deletionTimestamp);
      await client.delete(resources.pods, ns, name, { gracePeriodSeconds: 0 });
      const fresh = await eventually(async () => {
        const p = await getPod(ns, name);
        return p && p.metadata.uid !== uids[name] ? p : undefined;
      }).then((p) => p!);
      expect(fresh.spec.containers[0].image).toBe('nginx:2');
      expect(fresh.metadata.labels![REVISION_LABEL]).not.toBe(oldRevision);
      return fresh;
    };
    await replace('web-2');
    await new Promise((r) => setTimeout(r, 300));
    expect((await getPod(ns, 'web-1'))?.metadata.deletionTimestamp).toBeUndefined();
    await runReady(ns, 'web-2');
    await replace('web-1');
    await runReady(ns, 'web-1');

    const status = await eventually(async () => {
      const s = (await client.get(resources.statefulsets, ns, 'web')).status;
      return s.updatedReplicas === 2 && s.readyReplicas === 3 ? s : undefined;
    });
    expect(status).toMatchObject({ currentReplicas: 1, currentRevision: oldRevision });
    expect(status.updateRevision).not.toBe(oldRevision);
    await new Promise((r) => setTimeout(r, 300));
    const pod0 = await getPod(ns, 'web-0');
    expect(pod0?.metadata.uid).toBe(uids['web-0']);
    expect(pod0?.metadata.deletionTimestamp).toBeUndefined();
    expect(pod0?.metadata.labels![REVISION_LABEL]).toBe(oldRevision);
  });
});
