/**
 * The cluster operator end to end on the embedded meta-cluster: Clusters declared with kubectl
 * become business clusters whose control planes run as pods and really serve; asserted through
 * kubectl on both the meta-cluster and the business clusters.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCluster, type EmbeddedCluster } from '../meta-cluster/cluster.js';
import { ClusterOperator } from '../operators/cluster/operator.js';
import * as k8s from '@kubernetes/client-node';
import { resources } from '../meta-cluster/controllers/resources.js';
import { KubeClient } from '../operators/runtime/client.js';
import { createLogger } from '../operators/runtime/log.js';
import { eventually, kubectl, tempDir } from './helpers.js';

let meta: EmbeddedCluster;
const dir = tempDir('kok-cluster-op-');
let kc: string;
const operators: ClusterOperator[] = [];
const log = createLogger({ name: 'test', level: 'silent' });

const k = async (args: string[], input?: string, kubeconfig = kc) => {
  const r = await kubectl(kubeconfig, args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const json = async (...args: string[]) => JSON.parse(await k([...args, '-o', 'json']));

/** Short leases keep the tests quick; `defaultLease` matches a `kok operator run cluster` process. */
function startOperator(identity: string, defaultLease = false): ClusterOperator {
  const op = new ClusterOperator({
    kubeConfig: meta.kubeConfig,
    identity,
    log,
    probeIntervalMs: 500,
    leaderElection: defaultLease ? {} : { leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5 },
  });
  operators.push(op);
  void op.start();
  return op;
}

const clusterYaml = (name: string, version = '1.31', replicas = 1) => `
apiVersion: fleet.kok.dev/v1alpha1
kind: Cluster
metadata: {name: ${name}, namespace: fleet}
spec: {version: "${version}", controlPlane: {replicas: ${replicas}, datastore: {replicas: 1}}}
`;

const condition = (c: any, type: string) => c.status?.conditions?.find((x: any) => x.type === type);
const waitReady = (name: string, timeoutMs = 60_000) =>
  eventually(async () => {
    const c = await json('get', 'cluster', '-n', 'fleet', name);
    expect(condition(c, 'Ready')?.status, JSON.stringify(c.status?.conditions)).toBe('True');
    return c;
  }, timeoutMs, 250);

/** The business cluster's admin kubeconfig, from the Secret the Cluster's status names. */
async function businessKubeconfig(name: string): Promise<string> {
  const c = await json('get', 'cluster', '-n', 'fleet', name);
  const secret = await json('get', 'secret', '-n', 'fleet', c.status.kubeconfigSecretRef.name);
  const file = join(dir.path, `${name}.kubeconfig`);
  writeFileSync(file, Buffer.from(secret.data.value, 'base64'));
  return file;
}

beforeAll(async () => {
  meta = await startEmbeddedCluster({
    dataDir: join(dir.path, 'meta'),
    clusterName: 'meta',
    nodes: 3,
    nodeAgent: { startLatencyMs: 1_500, readinessDelayMs: 50 },
    controlPlaneRetryMs: 200,
  });
  kc = meta.apiServer.kubeconfigPath;
  await k(['create', 'namespace', 'fleet']);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(operators.map((o) => o.stop()));
  await meta?.stop();
  dir.remove();
});

describe('cluster operator', () => {
  it('rejects an invalid spec naming the field, and reports an unsupported version', async () => {
    const bad = await kubectl(kc, ['apply', '-f', '-'], { input: clusterYaml('bad', 'v1.31') });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/spec\.version/);

    startOperator('op-a');
    await k(['apply', '-f', '-'], clusterYaml('old', '1.20'));
    const c = await eventually(async () => {
      const got = await json('get', 'cluster', '-n', 'fleet', 'old');
      expect(got.status?.phase).toBe('Failed');
      return got;
    }, 20_000);
    expect(condition(c, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(c, 'Ready').message).toMatch(/Cluster fleet\/old: spec.version "1.20" is not supported/);
    await k(['delete', 'cluster', '-n', 'fleet', 'old', '--wait=true', '--timeout=30s']);
  }, 60_000);

  it('provisions a Cluster to Ready; its kubeconfig Secret works with kubectl; the control plane is pods', async () => {
    await k(['apply', '-f', '-'], clusterYaml('pay'));
    const c = await waitReady('pay');
    expect(c.status.phase).toBe('Ready');
    expect(c.status.version).toBe('1.31.10');
    expect(c.status.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(c.status.observedGeneration).toBe(c.metadata.generation);
    for (const t of ['PKIReady', 'DatastoreReady', 'ControlPlaneReady']) expect(condition(c, t).status).toBe('True');

    const table = await k(['get', 'clusters', '-n', 'fleet', 'pay']);
    expect(table).toMatch(/PHASE\s+VERSION\s+ENDPOINT/);
    expect(table).toMatch(/pay\s+Ready\s+1\.31/);

    const pods = await json('get', 'pods', '-n', 'kcp-fleet-pay');
    const images = pods.items.map((p: any) => p.spec.containers[0].image).sort();
    expect(images).toEqual([
      'registry.k8s.io/etcd:3.5.16-0',
      'registry.k8s.io/kube-apiserver:v1.31.10',
      'registry.k8s.io/kube-controller-manager:v1.31.10',
      'registry.k8s.io/kube-controller-manager:v1.31.10',
      'registry.k8s.io/kube-scheduler:v1.31.10',
      'registry.k8s.io/kube-scheduler:v1.31.10',
    ]);
    // etcd is only simulated here, and says so.
    const etcd = pods.items.find((p: any) => p.metadata.name === 'etcd-0');
    expect(etcd.status.conditions.find((x: any) => x.type === 'kok.dev/Simulated')?.status).toBe('True');

    const bkc = await businessKubeconfig('pay');
    expect(await k(['get', 'ns', '-o', 'name'], undefined, bkc)).toMatch(/namespace\/kube-system/);
    await k(['create', 'configmap', 'ledger', '--from-literal=balance=42'], undefined, bkc);
  }, 120_000);

  it('brings the business API back with its data after its API server pod is deleted', async () => {
    const bkc = await businessKubeconfig('pay');
    const readySince = condition(await json('get', 'cluster', '-n', 'fleet', 'pay'), 'Ready').lastTransitionTime;
    await k(['delete', 'pods', '-n', 'kcp-fleet-pay', '-l', 'app.kubernetes.io/component=kube-apiserver', '--wait=false']);
    // Down until the replacement pod serves (the node agent takes 1.5 s to start it). Observed
    // with client-node: kubectl itself retries a reset connection for up to ten seconds.
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromFile(bkc);
    const business = new KubeClient(kubeConfig);
    try {
      await eventually(() => business.list(resources.namespaces).then(() => false, () => true), 10_000, 20);
    } finally {
      business.close();
    }
    await eventually(async () => {
      const c = await json('get', 'cluster', '-n', 'fleet', 'pay');
      return condition(c, 'Ready')?.status === 'False' || condition(c, 'Ready')?.lastTransitionTime !== readySince;
    }, 10_000, 50);
    await waitReady('pay');
    expect(await k(['get', 'configmap', 'ledger', '-o', 'jsonpath={.data.balance}'], undefined, bkc)).toBe('42');
  }, 120_000);

  it('upgrades one minor, API server first; refuses a downgrade and a skipped minor without touching anything', async () => {
    const seen: string[] = [];
    const images = async () => {
      const ds = await json('get', 'deployments', '-n', 'kcp-fleet-pay');
      return Object.fromEntries(ds.items.map((d: any) => [d.metadata.name, d.spec.template.spec.containers[0].image]));
    };
    await k(['patch', 'cluster', '-n', 'fleet', 'pay', '--type=merge', '-p', '{"spec":{"version":"1.32"}}']);
    await eventually(async () => {
      const now = await images();
      for (const [name, img] of Object.entries(now)) if ((img as string).endsWith('v1.32.6') && !seen.includes(name)) seen.push(name);
      const c = await json('get', 'cluster', '-n', 'fleet', 'pay');
      expect(c.status.version).toBe('1.32.6');
      expect(condition(c, 'Upgrading')).toMatchObject({ status: 'False', reason: 'AsExpected' });
      expect(condition(c, 'Ready').status).toBe('True');
      return true;
    }, 90_000, 100);
    expect(seen[0]).toBe('kube-apiserver');
    expect(seen.slice(1).sort()).toEqual(['kube-controller-manager', 'kube-scheduler']);

    for (const [version, why] of [['1.31', /downgrade from 1\.32\.6/], ['1.34', /skips a minor version/]] as const) {
      const before = await images();
      await k(['patch', 'cluster', '-n', 'fleet', 'pay', '--type=merge', '-p', JSON.stringify({ spec: { version } })]);
      const c = await eventually(async () => {
        const got = await json('get', 'cluster', '-n', 'fleet', 'pay');
        expect(condition(got, 'Upgrading')).toMatchObject({ status: 'False', reason: 'UpgradeRefused' });
        expect(condition(got, 'Upgrading').message).toMatch(why);
        return got;
      }, 20_000);
      expect(c.status.version).toBe('1.32.6');
      expect(await images()).toEqual(before);
    }
    const events = await k(['get', 'events', '-n', 'fleet', '--field-selector', 'involvedObject.name=pay,reason=UpgradeRefused', '-o', 'name']);
    expect(events.trim()).not.toBe('');
  }, 150_000);

  it('deletes everything of a Cluster before letting it go', async () => {
    await k(['delete', 'cluster', '-n', 'fleet', 'pay', '--wait=true', '--timeout=60s']);
    expect((await kubectl(kc, ['get', 'namespace', 'kcp-fleet-pay'])).stderr).toMatch(/NotFound/);
    expect((await kubectl(kc, ['get', 'secret', '-n', 'fleet', 'pay-kubeconfig'])).stderr).toMatch(/NotFound/);
  }, 90_000);

  it('converges without duplicates after the leading operator process is killed -9 mid-provisioning; a standby takes over', async () => {
    await Promise.all(operators.map((o) => o.stop()));
    // The leader is a real `kok operator run cluster` process, so that it can really die.
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/kok.ts', 'operator', 'run', 'cluster', '--kubeconfig', kc, '--metrics-port', '0'], {
      stdio: 'ignore',
      env: { ...process.env, KOK_LOG_LEVEL: 'silent', KOK_METRICS_TOKEN: 'test-token' },
    });
    try {
      await eventually(async () => {
        const holder: string = (await json('get', 'lease', '-n', 'kok-system', 'kok-cluster-operator')).spec.holderIdentity ?? '';
        return holder !== '' && !holder.startsWith('op-');
      }, 30_000, 100);
      // Replicas share their lease settings: each judges the holder's lease by its own duration.
      const standby = startOperator('op-c', true);
      await k(['apply', '-f', '-'], clusterYaml('web'));
      // Killed as soon as it has written part of the PKI.
      await eventually(() => k(['get', 'secret', '-n', 'kcp-fleet-web', 'ca', '-o', 'name']), 30_000, 20);
      child.kill('SIGKILL');
      expect(standby.isLeading).toBe(false);
      const caUid = (await json('get', 'secret', '-n', 'kcp-fleet-web', 'ca')).metadata.uid;

      // The dead leader never released its Lease: the standby waits out its 15 s, then leads.
      await eventually(() => expect(standby.isLeading).toBe(true), 40_000, 200);
      await waitReady('web');
      expect((await json('get', 'secret', '-n', 'kcp-fleet-web', 'ca')).metadata.uid).toBe(caUid);
      const rs = await json('get', 'replicasets', '-n', 'kcp-fleet-web');
      // One ReplicaSet per Deployment: the templates never changed between operator lives.
      expect(rs.items.map((r: any) => r.metadata.ownerReferences[0].name).sort()).toEqual(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);
      const secrets = await json('get', 'secrets', '-n', 'kcp-fleet-web');
      expect(secrets.items).toHaveLength(10);

      // Of two live replicas only one acts; a graceful stop hands over at once.
      const second = startOperator('op-d', true);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(second.isLeading).toBe(false);
      await standby.stop();
      await eventually(() => expect(second.isLeading).toBe(true), 20_000);
      await k(['apply', '-f', '-'], clusterYaml('shop'));
      await waitReady('shop');
    } finally {
      child.kill('SIGKILL');
    }
  }, 180_000);
});
