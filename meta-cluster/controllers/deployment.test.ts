/**
 * The Deployment and ReplicaSet controllers against a real embedded API server, driven by kubectl
 * as a user drives a cluster. The test plays the kubelet (TestKubelet marks pods Ready).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { eventually, kubectl, startTestServer, type TestServer } from '../../test/helpers.js';
import { DeploymentController } from './deployment.js';
import { isReady, type Pod } from './pod-util.js';
import { ReplicaSetController } from './replicaset.js';
import { resources } from './resources.js';
import type { Deployment, ReplicaSet } from './workload.js';
import { TestKubelet } from './workload-test-kubelet.js';

let server: TestServer;
let client: KubeClient;
let kubelet: TestKubelet;
const stops: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startTestServer();
  client = new KubeClient(server.kubeConfig);
  const deployments = new DeploymentController(new KubeClient(server.kubeConfig));
  const replicaSets = new ReplicaSetController(new KubeClient(server.kubeConfig));
  kubelet = new TestKubelet(client, { readyAfterMs: 150 });
  await Promise.all([deployments.start(), replicaSets.start(), kubelet.start()]);
  stops.push(() => deployments.stop(), () => replicaSets.stop(), () => kubelet.stop(), () => client.close(), () => server.destroy());
});

afterAll(async () => {
  for (const s of stops) await s();
});

const k = (...args: string[]) => kubectl(server.kubeconfigPath, args);
const ok = async (...args: string[]) => {
  const r = await k(...args);
  expect(r.stderr + r.stdout, `kubectl ${args.join(' ')}`).not.toMatch(/^error/m);
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
const getDeploy = (ns: string, name: string) => client.get<Deployment>(resources.deployments, ns, name);
const replicaSetsOf = async (ns: string, app: string) =>
  (await client.list<ReplicaSet>(resources.replicasets, ns, { labelSelector: `app=${app}` })).items;
const revision = (rs: ReplicaSet) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'];
const image = (p: KubeObject) => p.spec?.template?.spec?.containers?.[0]?.image ?? p.spec?.containers?.[0]?.image;

async function settled(ns: string, name: string, replicas: number): Promise<Deployment> {
  return eventually(async () => {
    const d = await getDeploy(ns, name);
    const s = d.status ?? {};
    expect(s.observedGeneration).toBe(d.metadata.generation);
    expect([s.replicas ?? 0, s.updatedReplicas ?? 0, s.readyReplicas ?? 0, s.availableReplicas ?? 0]).toEqual([replicas, replicas, replicas, replicas]);
    expect(kubelet.active(ns, { app: name })).toHaveLength(replicas);
    return d;
  }, 30_000);
}

/** Records, after every pod change, the fewest ready and the most active pods of an app. */
function record(ns: string, app: string) {
  const seen = { minReady: Infinity, maxActive: 0 };
  const stop = kubelet.observe(() => {
    const active = kubelet.active(ns, { app });
    seen.minReady = Math.min(seen.minReady, active.filter(isReady).length);
    seen.maxActive = Math.max(seen.maxActive, active.length);
  });
  return { seen, stop };
}

describe('Deployment controller with kubectl', () => {
  const ns = 'rollout';

  it('creates a deployment: a ReplicaSet named by its template hash, pods, and 3/3 available', async () => {
    await ok('create', 'namespace', ns);
    await ok('-n', ns, 'create', 'deployment', 'web', '--image=nginx', '--replicas=3');
    const d = await settled(ns, 'web', 3);
    const [rs] = await replicaSetsOf(ns, 'web');
    const hash = rs.metadata.labels?.['pod-template-hash'];
    expect(hash).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
    expect(rs.metadata.name).toBe(`web-${hash}`);
    expect(rs.spec.selector.matchLabels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs.spec.template.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(revision(rs)).toBe('1');
    expect(rs.metadata.annotations?.['deployment.kubernetes.io/desired-replicas']).toBe('3');
    expect(rs.metadata.annotations?.['deployment.kubernetes.io/max-replicas']).toBe('4');
    expect(rs.metadata.ownerReferences).toEqual([
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
    for (const p of kubelet.active(ns, { app: 'web' })) {
      expect(p.metadata.name).toMatch(new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
      expect(p.metadata.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
      expect(p.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true });
    }
    expect(d.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    const conds = Object.fromEntries((d.status?.conditions ?? []).map((c) => [c.type, c]));
    expect(conds.Available).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(conds.Progressing).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
    expect(await ok('-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=30s')).toContain('successfully rolled out');
    expect(await ok('-n', ns, 'get', 'deployment', 'web')).toMatch(/web\s+3\/3\s+3\s+3/);
  });

  it('rolls a new image without dropping below replicas − maxUnavailable, to revision 2', async () => {
    const { seen, stop } = record(ns, 'web');
    await ok('-n', ns, 'set', 'image', 'deployment/web', 'nginx=nginx:2');
    expect(await ok('-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=60s')).toContain('successfully rolled out');
    await settled(ns, 'web', 3);
    stop();
    // 3 replicas at 25 %: maxSurge 1 (rounded up), maxUnavailable 0 (rounded down).
    expect(seen.minReady).toBe(3);
    expect(seen.maxActive).toBeLessThanOrEqual(4);
    expect(seen.maxActive).toBe(4);
    const rss = await replicaSetsOf(ns, 'web');
    expect(rss).toHaveLength(2);
    const current = rss.find((rs) => revision(rs) === '2')!;
    expect(image(current)).toBe('nginx:2');
    expect(current.spec.replicas).toBe(3);
    expect(rss.find((rs) => revision(rs) === '1')!.spec.replicas).toBe(0);
    expect(kubelet.active(ns, { app: 'web' }).map(image)).toEqual(['nginx:2', 'nginx:2', 'nginx:2']);
    const history = await ok('-n', ns, 'rollout', 'history', 'deployment/web');
    expect(history).toMatch(/^1\s/m);
    expect(history).toMatch(/^2\s/m);
  });

  it('rolls back with rollout undo: the revision-1 ReplicaSet is reused as revision 3', async () => {
    const before = await replicaSetsOf(ns, 'web');
    const rs1 = before.find((rs) => revision(rs) === '1')!;
    await ok('-n', ns, 'rollout', 'undo', 'deployment/web');
    expect(await ok('-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=60s')).toContain('successfully rolled out');
    const d = await settled(ns, 'web', 3);
    const rss = await replicaSetsOf(ns, 'web');
    expect(rss).toHaveLength(2);
    const reused = rss.find((rs) => rs.metadata.uid === rs1.metadata.uid)!;
    expect(revision(reused)).toBe('3');
    expect(reused.metadata.annotations?.['deployment.kubernetes.io/revision-history']).toBe('1');
    expect(reused.spec.replicas).toBe(3);
    expect(image(d)).toBe('nginx');
    expect(d.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('3');
    expect(kubelet.active(ns, { app: 'web' }).map(image)).toEqual(['nginx', 'nginx', 'nginx']);
    const history = await ok('-n', ns, 'rollout', 'history', 'deployment/web');
    expect(history).toMatch(/^2\s/m);
    expect(history).toMatch(/^3\s/m);
    expect(history).not.toMatch(/^1\s/m);
  });

  it('scales with kubectl scale', async () => {
    await ok('-n', ns, 'scale', 'deployment/web', '--replicas=5');
    await settled(ns, 'web', 5);
    const current = (await replicaSetsOf(ns, 'web')).find((rs) => revision(rs) === '3')!;
    expect(current.spec.replicas).toBe(5);
    expect(current.metadata.annotations?.['deployment.kubernetes.io/desired-replicas']).toBe('5');
    expect(current.metadata.annotations?.['deployment.kubernetes.io/max-replicas']).toBe('7');
  });

  it('restarts with rollout restart: a template annotation, so a new revision', async () => {
    const { seen, stop } = record(ns, 'web');
    await ok('-n', ns, 'rollout', 'restart', 'deployment/web');
    expect(await ok('-n', ns, 'rollout', 'status', 'deployment/web', '--timeout=60s')).toContain('successfully rolled out');
    await settled(ns, 'web', 5);
    stop();
    // 5 replicas at 25 %: maxSurge 2, maxUnavailable 1.
    expect(seen.minReady).toBeGreaterThanOrEqual(4);
    expect(seen.maxActive).toBeLessThanOrEqual(7);
    const rss = await replicaSetsOf(ns, 'web');
    const current = rss.find((rs) => revision(rs) === '4')!;
    expect(current.spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']).toBeTruthy();
    for (const p of kubelet.active(ns, { app: 'web' })) expect(p.metadata.annotations?.['kubectl.kubernetes.io/restartedAt']).toBeTruthy();
  });

  it('replaces a deleted pod', async () => {
    const victim = kubelet.active(ns, { app: 'web' })[0];
    await ok('-n', ns, 'delete', 'pod', victim.metadata.name!);
    await eventually(() => {
      const names = kubelet.ready(ns, { app: 'web' }).map((p) => p.metadata.name);
      expect(names).toHaveLength(5);
      expect(names).not.toContain(victim.metadata.name);
      return true;
    }, 20_000);
  });

  it('garbage-collects ReplicaSets and pods when the deployment is deleted', async () => {
    await ok('-n', ns, 'delete', 'deployment', 'web');
    await eventually(async () => {
      expect(await replicaSetsOf(ns, 'web')).toHaveLength(0);
      expect((await client.list<Pod>(resources.pods, ns)).items).toHaveLength(0);
      return true;
    }, 20_000);
  });
});
