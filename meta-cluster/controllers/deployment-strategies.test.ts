/**
 * Deployment behaviour beyond the happy rolling update, against a real embedded API server with
 * both controllers: Recreate with graceful pod termination, pause and proportional scaling,
 * revisionHistoryLimit, progressDeadlineSeconds, minReadySeconds, and ReplicaSet adoption.
 * Pods are bound to a Node, so their deletion is graceful and the test kubelet finishes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { eventually, kubectl, startTestServer, type TestServer } from '../../test/helpers.js';
import { DeploymentController } from './deployment.js';
import { ReplicaSetController } from './replicaset.js';
import { resources } from './resources.js';
import type { Deployment, ReplicaSet } from './workload.js';
import { TestKubelet } from './workload-test-kubelet.js';

let server: TestServer;
let client: KubeClient;
let kubelet: TestKubelet;
/** Pods with these images never become ready. */
const stuckImages = new Set<string>(['stuck']);
const stops: Array<() => Promise<void> | void> = [];

const image = (p: KubeObject) => p.spec?.template?.spec?.containers?.[0]?.image ?? p.spec?.containers?.[0]?.image;

beforeAll(async () => {
  server = await startTestServer();
  client = new KubeClient(server.kubeConfig);
  await client.create(resources.nodes, undefined, { metadata: { name: 'node-1' } });
  const deployments = new DeploymentController(new KubeClient(server.kubeConfig));
  const replicaSets = new ReplicaSetController(new KubeClient(server.kubeConfig));
  kubelet = new TestKubelet(client, { readyAfterMs: 100, node: 'node-1', terminateAfterMs: 400, hold: (p) => stuckImages.has(image(p)) });
  await Promise.all([deployments.start(), replicaSets.start(), kubelet.start()]);
  stops.push(() => deployments.stop(), () => replicaSets.stop(), () => kubelet.stop(), () => client.close(), () => server.destroy());
});

afterAll(async () => {
  for (const s of stops) await s();
});

const k = (...args: string[]) => kubectl(server.kubeconfigPath, args);
const rsOf = async (ns: string, app: string) => (await client.list<ReplicaSet>(resources.replicasets, ns, { labelSelector: `app=${app}` })).items;
const revision = (o: KubeObject) => o.metadata.annotations?.['deployment.kubernetes.io/revision'];
const condition = (d: Deployment, type: string) => d.status?.conditions?.find((c) => c.type === type);

async function deploy(ns: string, name: string, spec: Record<string, unknown> = {}, img = 'app:1'): Promise<Deployment> {
  await client.create(resources.namespaces, undefined, { metadata: { name: ns } }).catch(() => undefined);
  return client.create<Deployment>(resources.deployments, ns, {
    metadata: { name },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: img }] } },
      ...spec,
    },
  });
}

const setImage = (ns: string, name: string, img: string) =>
  client.patch(resources.deployments, ns, name, 'strategic', { spec: { template: { spec: { containers: [{ name: 'app', image: img }] } } } });

async function available(ns: string, name: string, replicas: number, img?: string): Promise<Deployment> {
  return eventually(async () => {
    const d = await client.get<Deployment>(resources.deployments, ns, name);
    expect(d.status?.observedGeneration).toBe(d.metadata.generation);
    expect([d.status?.updatedReplicas, d.status?.availableReplicas, d.status?.replicas]).toEqual([replicas, replicas, replicas]);
    const pods = kubelet.list(ns).filter((p) => p.metadata.labels?.app === name);
    expect(pods).toHaveLength(replicas);
    if (img) expect(pods.map(image)).toEqual(Array(replicas).fill(img));
    return d;
  }, 30_000).catch(async (err) => {
    // What the controllers left behind, to tell a stuck controller from a slow one.
    const d = await client.get<Deployment>(resources.deployments, ns, name);
    const rss = (await client.list<ReplicaSet>(resources.replicasets, ns)).items.map((r) => [r.metadata.name, r.spec.replicas, r.status]);
    const pods = (await client.list(resources.pods, ns)).items.map((p) => [p.metadata.name, p.spec?.nodeName, p.status?.phase, p.metadata.deletionTimestamp]);
    console.error(`deployment ${ns}/${name} did not settle:`, JSON.stringify({ status: d.status, rss, pods }));
    throw err;
  });
}

describe('Deployment strategies and limits', () => {
  it('Recreate: scales the old pods to zero and waits until they are gone before creating new ones', async () => {
    await deploy('recreate', 'api', { strategy: { type: 'Recreate' } });
    await available('recreate', 'api', 3, 'app:1');
    let mixed = 0;
    let sawTerminating = 0;
    const stop = kubelet.observe((all) => {
      const pods = all.filter((p) => p.metadata.namespace === 'recreate');
      const images = new Set(pods.map(image));
      if (images.has('app:1') && images.has('app:2')) mixed++;
      if (pods.some((p) => p.metadata.deletionTimestamp)) sawTerminating++;
    });
    await setImage('recreate', 'api', 'app:2');
    const d = await available('recreate', 'api', 3, 'app:2');
    stop();
    expect(sawTerminating).toBeGreaterThan(0);
    expect(mixed).toBe(0);
    expect(revision(d)).toBe('2');
    expect(condition(d, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
  });

  it('pause: no rollout while paused, scaling still applies; resume rolls out', async () => {
    await deploy('paused', 'web');
    await available('paused', 'web', 3);
    expect((await k('-n', 'paused', 'rollout', 'pause', 'deployment/web')).code).toBe(0);
    await setImage('paused', 'web', 'app:2');
    await eventually(async () => {
      const d = await client.get<Deployment>(resources.deployments, 'paused', 'web');
      expect(d.status?.observedGeneration).toBe(d.metadata.generation);
      expect(condition(d, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
      return true;
    });
    expect((await k('-n', 'paused', 'scale', 'deployment/web', '--replicas=5')).code).toBe(0);
    await eventually(async () => {
      const rss = await rsOf('paused', 'web');
      expect(rss.map((rs) => [image(rs), rs.spec.replicas])).toEqual([['app:1', 5]]);
      return true;
    });
    expect((await k('-n', 'paused', 'rollout', 'resume', 'deployment/web')).code).toBe(0);
    const d = await available('paused', 'web', 5, 'app:2');
    expect(revision(d)).toBe('2');
  });

  it('scales proportionally in the middle of a stuck rolling update', async () => {
    await deploy('proportional', 'web', { replicas: 10, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } } });
    await available('proportional', 'web', 10);
    await setImage('proportional', 'web', 'stuck');
    // New pods never get ready: the new ReplicaSet reaches 5 (3 surge + 2 unavailable), the old 8.
    await eventually(async () => {
      const sizes = Object.fromEntries((await rsOf('proportional', 'web')).map((rs) => [image(rs), rs.spec.replicas]));
      expect(sizes).toEqual({ 'app:1': 8, stuck: 5 });
      return true;
    }, 20_000);
    await client.patch(resources.deployments, 'proportional', 'web', 'merge', { spec: { replicas: 20 } });
    // 23 allowed (20 + surge 3), 13 there: 10 more spread by size against max-replicas 13:
    // old round(8·23/13) = 14, new gets the remaining 4 → 9.
    await eventually(async () => {
      const sizes = Object.fromEntries((await rsOf('proportional', 'web')).map((rs) => [image(rs), rs.spec.replicas]));
      expect(sizes).toEqual({ 'app:1': 14, stuck: 9 });
      return true;
    }, 20_000);
  });

  it('keeps only revisionHistoryLimit old ReplicaSets', async () => {
    await deploy('history', 'web', { revisionHistoryLimit: 1 });
    await available('history', 'web', 3);
    for (const img of ['app:2', 'app:3', 'app:4']) {
      await setImage('history', 'web', img);
      await available('history', 'web', 3, img);
    }
    await eventually(async () => {
      const rss = await rsOf('history', 'web');
      expect(rss.map((rs) => [revision(rs), image(rs)]).sort()).toEqual([['3', 'app:3'], ['4', 'app:4']]);
      return true;
    }, 20_000);
  });

  it('reports ProgressDeadlineExceeded when a rollout stalls past progressDeadlineSeconds', async () => {
    await deploy('deadline', 'web', { progressDeadlineSeconds: 2 });
    await available('deadline', 'web', 3);
    await setImage('deadline', 'web', 'stuck');
    const d = await eventually(async () => {
      const d = await client.get<Deployment>(resources.deployments, 'deadline', 'web');
      expect(condition(d, 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
      return d;
    }, 20_000);
    expect(condition(d, 'Available')?.status).toBe('True');
    const status = await k('-n', 'deadline', 'rollout', 'status', 'deployment/web', '--timeout=10s');
    expect(status.code).not.toBe(0);
    expect(status.stderr).toMatch(/exceeded its progress deadline/);
  });

  it('counts pods available only after minReadySeconds', async () => {
    await deploy('minready', 'web', { minReadySeconds: 2 });
    await eventually(async () => {
      const d = await client.get<Deployment>(resources.deployments, 'minready', 'web');
      expect(d.status?.readyReplicas).toBe(3);
      return true;
    }, 20_000);
    const early = await client.get<Deployment>(resources.deployments, 'minready', 'web');
    expect(early.status?.availableReplicas ?? 0).toBe(0);
    expect(condition(early, 'Available')?.status).toBe('False');
    const [rs] = await rsOf('minready', 'web');
    expect(rs.spec.minReadySeconds).toBe(2);
    await available('minready', 'web', 3);
  });

  it('orphaned ReplicaSets and pods are adopted again by a new Deployment of the same template', async () => {
    await deploy('adopt', 'web');
    await available('adopt', 'web', 3);
    const podsBefore = kubelet.list('adopt').map((p) => p.metadata.name).sort();
    expect((await k('-n', 'adopt', 'delete', 'deployment', 'web', '--cascade=orphan')).code).toBe(0);
    await eventually(async () => {
      const [rs] = await rsOf('adopt', 'web');
      expect(rs.metadata.ownerReferences ?? []).toEqual([]);
      return true;
    });
    const d = await deploy('adopt', 'web');
    await eventually(async () => {
      const rss = await rsOf('adopt', 'web');
      expect(rss).toHaveLength(1);
      expect(rss[0].metadata.ownerReferences).toEqual([
        { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid, controller: true, blockOwnerDeletion: true },
      ]);
      return true;
    });
    await available('adopt', 'web', 3);
    expect(kubelet.list('adopt').map((p) => p.metadata.name).sort()).toEqual(podsBefore);
  });
});
