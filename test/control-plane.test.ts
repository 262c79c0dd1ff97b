/**
 * A business cluster's control plane really serving on the embedded meta-cluster: its manifests
 * (as the Cluster operator will write them) are applied with kubectl; the kube-apiserver pod
 * serves the business API over TLS with the cluster's PKI behind a LoadBalancer Service, its
 * controller-manager and scheduler run against it under leader election, and etcd stays simulated.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../operators/runtime/client.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../meta-cluster/cluster.js';
import { resources } from '../meta-cluster/controllers/resources.js';
import { buildKubeconfig, kubeconfigYaml } from '../meta-cluster/pki/kubeconfig.js';
import { controlPlaneManifests, type ControlPlaneFixture } from './control-plane-manifests.js';
import { eventually, kubectl, tempDir } from './helpers.js';

const NS = 'cp-acme';
const dir = tempDir('kok-control-plane-');
let cluster: EmbeddedCluster;
let fixture: ControlPlaneFixture;
let metaKc: string;
let adminKc: string;

const run = async (kubeconfig: string, ...args: string[]) => {
  const r = await kubectl(kubeconfig, args, { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const meta = (...args: string[]) => run(metaKc, ...args);
const business = (...args: string[]) => run(adminKc, ...args);
const metaJson = async (...args: string[]) => JSON.parse(await meta(...args, '-o', 'json'));
const condition = (pod: any, type: string) => pod.status?.conditions?.find((c: any) => c.type === type);
const isReady = (pod: any) => !pod.metadata.deletionTimestamp && condition(pod, 'Ready')?.status === 'True';
const podsOf = async (component: string) => (await metaJson('get', 'pods', '-n', NS, '-l', `component=${component}`)).items;

const clusterOptions = {
  dataDir: dir.path,
  clusterName: 'meta',
  nodes: 3,
  // The readiness delay makes the gap between an apiserver pod's loss and its replacement observable.
  nodeAgent: { heartbeatIntervalMs: 500, readinessDelayMs: 800, runtimePollMs: 50, crashLoopBackoffBaseMs: 200 },
  controlPlaneRetryMs: 200,
};

beforeAll(async () => {
  cluster = await startEmbeddedCluster(clusterOptions);
  metaKc = cluster.apiServer.kubeconfigPath;
  fixture = await controlPlaneManifests(NS);
  await meta('create', 'namespace', NS);
  const r = await kubectl(metaKc, ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: fixture.objects }) });
  if (r.code !== 0) throw new Error(r.stderr);
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  dir.remove();
});

describe('business control plane on the embedded meta-cluster', () => {
  it('gives the kube-apiserver Service a loopback ingress and serves the business API through it', async () => {
    const svc = await eventually(async () => {
      const s = await metaJson('get', 'service', 'kube-apiserver', '-n', NS);
      return s.status?.loadBalancer?.ingress?.[0]?.ports?.[0]?.port ? s : undefined;
    }, 20_000);
    const ingress = svc.status.loadBalancer.ingress[0];
    expect(ingress.ip).toBe('127.0.0.1');
    expect(svc.metadata.annotations['kok.dev/loopback-port']).toBe(`6443=${ingress.ports[0].port}`);

    adminKc = join(dir.path, 'acme-admin.kubeconfig');
    writeFileSync(adminKc, kubeconfigYaml(buildKubeconfig({
      clusterName: 'acme', server: `https://127.0.0.1:${ingress.ports[0].port}`, caPem: fixture.ca.certPem,
      user: { name: 'kubernetes-admin', ...fixture.admin },
    })), { mode: 0o600 });
    await eventually(() => business('create', 'configmap', 'hello', '--from-literal=greeting=hi'), 20_000, 200);
    expect(JSON.parse(await business('get', 'configmap', 'hello', '-o', 'json')).data).toEqual({ greeting: 'hi' });
    // The business API is its own: the meta-cluster has no such ConfigMap.
    expect((await kubectl(metaKc, ['get', 'configmap', 'hello'])).code).not.toBe(0);
    expect(existsSync(join(dir.path, 'business', NS, 'state.db'))).toBe(true);
  });

  it('says which pods really run: the apiserver does, etcd is simulated', async () => {
    const [apiserver] = await podsOf('kube-apiserver');
    expect(condition(apiserver, 'kok.dev/Simulated')).toMatchObject({ status: 'False', reason: 'InProcessRuntime' });
    const etcd = await eventually(async () => (await podsOf('etcd')).find(isReady), 10_000);
    expect(condition(etcd, 'kok.dev/Simulated')).toMatchObject({ status: 'True', reason: 'SimulatedContainers' });
  });

  it('fails to start an apiserver pod that lacks a required flag, saying which', async () => {
    const template = fixture.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'kube-apiserver')!.spec.template;
    const container = { ...template.spec.containers[0], args: template.spec.containers[0].args.filter((a: string) => !a.startsWith('--client-ca-file')) };
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'no-client-ca', namespace: NS }, spec: { ...template.spec, restartPolicy: 'Never', containers: [container] } };
    await kubectl(metaKc, ['apply', '-f', '-'], { input: JSON.stringify(pod) });
    const failed = await eventually(async () => {
      const p = await metaJson('get', 'pod', 'no-client-ca', '-n', NS);
      return p.status.phase === 'Failed' ? p : undefined;
    }, 10_000);
    expect(failed.status.containerStatuses[0].state.terminated).toMatchObject({
      reason: 'StartError',
      message: expect.stringContaining(`pod ${NS}/no-client-ca container kube-apiserver: --client-ca-file is required`),
    });
  });

  it('rejects clients without a certificate of the cluster CA', async () => {
    const anonymous = join(dir.path, 'anonymous.kubeconfig');
    const server = new URL(k8sServer(adminKc));
    writeFileSync(anonymous, kubeconfigYaml(buildKubeconfig({ clusterName: 'acme', server: server.origin, caPem: fixture.ca.certPem, user: { name: 'x', token: 'not-a-token' } })));
    const r = await kubectl(anonymous, ['get', 'configmaps']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Unauthorized|provide credentials/);
  });

  it('runs the controller-manager against the business API under a Lease it holds', async () => {
    const [kcm] = await eventually(async () => {
      const pods = (await podsOf('kube-controller-manager')).filter(isReady);
      return pods.length ? pods : undefined;
    }, 20_000);
    const lease = await eventually(async () => JSON.parse(await business('get', 'lease', 'kube-controller-manager', '-n', 'kube-system', '-o', 'json')), 20_000, 200);
    expect(lease.spec.holderIdentity).toMatch(new RegExp(`^${kcm.metadata.name}_`));
    await eventually(async () => JSON.parse(await business('get', 'lease', 'kube-scheduler', '-n', 'kube-system', '-o', 'json')), 20_000, 200);

    await business('create', 'deployment', 'web', '--image=nginx:1.27', '--replicas=2');
    const rs = await eventually(async () => {
      const items = JSON.parse(await business('get', 'replicasets', '-l', 'app=web', '-o', 'json')).items;
      return items.length ? items : undefined;
    }, 20_000, 200);
    expect(rs[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'Deployment', name: 'web' });
    // Its pods wait for nodes (the business cluster has none yet), which its scheduler says.
    const pending = await eventually(async () => {
      const pods = JSON.parse(await business('get', 'pods', '-l', 'app=web', '-o', 'json')).items;
      return pods.length === 2 && pods.every((p: any) => condition(p, 'PodScheduled')?.reason === 'Unschedulable') ? pods : undefined;
    }, 20_000, 200);
    expect(pending).toHaveLength(2);
  });

  it('fails requests while the apiserver pod is replaced, then serves the same data from the replacement', async () => {
    const client = new KubeClient(loadKubeConfig(adminKc));
    try {
      const [old] = await podsOf('kube-apiserver');
      await meta('delete', 'pod', old.metadata.name, '-n', NS, '--wait=false');
      const get = () => client.get(resources.configmaps, 'default', 'hello');
      await eventually(() => get().then(() => false, () => true), 10_000, 20);
      const served = await eventually(() => get(), 30_000, 50);
      expect(served.data).toEqual({ greeting: 'hi' });
      const pods = await podsOf('kube-apiserver');
      const replacement = pods.find((p: any) => p.metadata.name !== old.metadata.name && isReady(p));
      expect(replacement).toBeDefined();
      expect(pods.some((p: any) => p.metadata.name === old.metadata.name)).toBe(false);
      // The controllers are still at work after the outage.
      await business('scale', 'deployment', 'web', '--replicas=3');
      await eventually(async () => JSON.parse(await business('get', 'pods', '-l', 'app=web', '-o', 'json')).items.length === 3, 20_000, 200);
    } finally {
      client.close();
    }
  });

  it('serves the same business API on the same port after kok restarts', async () => {
    await cluster.stop();
    cluster = await startEmbeddedCluster(clusterOptions);
    metaKc = cluster.apiServer.kubeconfigPath;
    const served = await eventually(async () => JSON.parse(await business('get', 'configmap', 'hello', '-o', 'json')), 20_000, 100);
    expect(served.data).toEqual({ greeting: 'hi' });
    await eventually(async () => JSON.parse(await business('get', 'replicasets', '-l', 'app=web', '-o', 'json')).items.length === 1, 20_000, 200);
  });

  it('removes the business data when the control-plane namespace is deleted', async () => {
    await meta('delete', 'namespace', NS, '--timeout=60s');
    await eventually(() => !existsSync(join(dir.path, 'business', NS)), 20_000, 100);
    expect(cluster.controlPlane!.backends.isOpen(NS)).toBe(false);
  });
});

function loadKubeConfig(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

function k8sServer(path: string): string {
  return loadKubeConfig(path).getCurrentCluster()!.server;
}

describe("controlPlaneRuntime: 'simulated'", () => {
  it('runs control-plane images simulated; the load balancer still gives the Service an address', async () => {
    const simDir = tempDir('kok-control-plane-sim-');
    const sim = await startEmbeddedCluster({ dataDir: simDir.path, clusterName: 'sim', nodes: 1, controlPlaneRuntime: 'simulated' });
    try {
      expect(sim.controlPlane).toBeUndefined();
      const kc = sim.apiServer.kubeconfigPath;
      const objects = (await controlPlaneManifests('default')).objects.filter((o) => o.metadata.name === 'kube-apiserver');
      const r = await kubectl(kc, ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
      expect(r.code).toBe(0);
      const pod = await eventually(async () => {
        const items = JSON.parse(await run(kc, 'get', 'pods', '-l', 'component=kube-apiserver', '-o', 'json')).items;
        return items.find(isReady);
      }, 10_000);
      expect(condition(pod, 'kok.dev/Simulated')).toMatchObject({ status: 'True', reason: 'SimulatedContainers' });
      const svc = await eventually(async () => {
        const got = JSON.parse(await run(kc, 'get', 'service', 'kube-apiserver', '-o', 'json'));
        return got.status?.loadBalancer?.ingress?.[0] ? got : undefined;
      }, 10_000);
      expect(svc.status.loadBalancer.ingress[0].ip).toBe('127.0.0.1');
    } finally {
      await sim.stop();
      simDir.remove();
    }
  });
});
