/**
 * The machine operator end to end on the embedded meta-cluster: a business Cluster (its control
 * plane really serving), CloudTargets on the simulated cloud the meta-cluster hosts, MachinePools
 * declared with kubectl. Asserted through kubectl on both clusters and against the provider's own
 * inventory (the simulated cloud's file, opened here as a second process would).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCluster, type EmbeddedCluster } from '../meta-cluster/cluster.js';
import { ClusterOperator } from '../operators/cluster/operator.js';
import { MachineOperator } from '../operators/machine/operator.js';
import { SimulatedCloud } from '../operators/machine/provider/simulated.js';
import type { Instance } from '../operators/machine/provider/provider.js';
import { createLogger } from '../operators/runtime/log.js';
import { eventually, kubectl, tempDir } from './helpers.js';

const dir = tempDir('kok-machine-op-');
const log = createLogger({ name: 'test', level: 'silent' });
let meta: EmbeddedCluster;
let kc: string;
let business: string;
let clusterOp: ClusterOperator;
let machineOp: MachineOperator | undefined;
/** The simulated cloud's file, opened the way another process would: the provider's truth. */
let cloud: SimulatedCloud;

const k = async (args: string[], input?: string, kubeconfig = kc) => {
  const r = await kubectl(kubeconfig, args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const json = async (args: string[], kubeconfig = kc) => JSON.parse(await k([...args, '-o', 'json'], undefined, kubeconfig));
const apply = (yaml: string, kubeconfig = kc) => k(['apply', '-f', '-'], yaml, kubeconfig);

function startMachineOperator(): MachineOperator {
  const op = new MachineOperator({ kubeConfig: meta.kubeConfig, log, leaderElection: { leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5 } });
  void op.start();
  return op;
}

const target = (name: string, tier: string, extra = '') => `---
apiVersion: fleet.kok.dev/v1alpha1
kind: CloudTarget
metadata: {name: ${name}}
spec:
  tier: ${tier}
  provider: simulated
  region: ${tier}-1
  zones: [${tier}-1a, ${tier}-1b]
  machineTypes: [{name: std4, cpu: 4, memoryGiB: 16, pricePerHour: 0.2}]
${extra}
`;

const pool = (name: string, targetName: string, replicas: number, extra = '') => `
apiVersion: fleet.kok.dev/v1alpha1
kind: MachinePool
metadata: {name: ${name}, namespace: fleet}
spec:
  clusterName: biz
  replicas: ${replicas}
  unit: unit-a
  template: {targetRef: {name: ${targetName}}, machineType: std4}
  healthCheck: {nodeNotReadySeconds: 2}
  drainTimeoutSeconds: 60
${extra}`;

const machinesOf = async (poolName: string) => (await json(['get', 'machines', '-n', 'fleet', '-l', `fleet.kok.dev/pool=${poolName}`])).items as any[];
const cond = (o: any, type: string) => o.status?.conditions?.find((c: any) => c.type === type);
const readyNodes = async (selector: string) =>
  ((await json(['get', 'nodes', '-l', selector], business)).items as any[]).filter((n) => cond(n, 'Ready')?.status === 'True');

/** Instances the provider holds for a pool's machines. */
const liveInstances = async (targetName: string): Promise<Instance[]> => cloud.provider(targetName, { zones: ['x'], machineTypes: [{ name: 'std4', cpu: 4, memoryGiB: 16, pricePerHour: 0.2 }] }).list();

async function waitPool(name: string, replicas: number, timeoutMs = 60_000) {
  return eventually(async () => {
    const p = await json(['get', 'machinepool', '-n', 'fleet', name]);
    expect(p.status?.readyReplicas, JSON.stringify(p.status)).toBe(replicas);
    expect(p.status?.replicas).toBe(replicas);
    expect(cond(p, 'Ready')?.status, JSON.stringify(p.status?.conditions)).toBe('True');
    return p;
  }, timeoutMs, 250);
}

beforeAll(async () => {
  meta = await startEmbeddedCluster({
    dataDir: join(dir.path, 'meta'),
    clusterName: 'meta',
    nodes: 3,
    // A short grace period (here and in the business cluster) needs heartbeats well within it.
    nodeAgent: { startLatencyMs: 200, readinessDelayMs: 50, heartbeatIntervalMs: 500, nodeStatusEvery: 1 },
    controlPlaneRetryMs: 200,
    nodeMonitorGracePeriodSeconds: 3,
    simulatedCloud: { pollIntervalMs: 200, nodeAgent: { heartbeatIntervalMs: 500, nodeStatusEvery: 1 } },
  });
  kc = meta.apiServer.kubeconfigPath;
  cloud = new SimulatedCloud(meta.cloud!.path);
  clusterOp = new ClusterOperator({ kubeConfig: meta.kubeConfig, log, probeIntervalMs: 500, leaderElection: false });
  await clusterOp.start();
  machineOp = startMachineOperator();
  await k(['create', 'namespace', 'fleet']);
  await apply(`apiVersion: fleet.kok.dev/v1alpha1
kind: Cluster
metadata: {name: biz, namespace: fleet}
spec: {version: "1.31", controlPlane: {replicas: 1, datastore: {replicas: 1}}}
`);
  await apply(target('dc-east', 'private') + target('partner', 'hybrid', '  capacity: {machines: 2}') + target('public-a', 'public'));
  const c = await eventually(async () => {
    const c = await json(['get', 'cluster', '-n', 'fleet', 'biz']);
    expect(cond(c, 'Ready')?.status).toBe('True');
    return c;
  }, 90_000, 250);
  const secret = await json(['get', 'secret', '-n', 'fleet', c.status.kubeconfigSecretRef.name]);
  business = join(dir.path, 'biz.kubeconfig');
  writeFileSync(business, Buffer.from(secret.data.value, 'base64'));
}, 120_000);

afterAll(async () => {
  await machineOp?.stop();
  await clusterOp?.stop();
  cloud?.close();
  await meta?.stop();
  dir.remove();
}, 60_000);

describe('machine operator', () => {
  it('brings a pool of 5 to 5 Running machines and 5 Ready Nodes with their labels', async () => {
    await apply(pool('workers', 'dc-east', 5));
    await waitPool('workers', 5);
    const machines = await machinesOf('workers');
    expect(machines.map((m) => m.status.phase)).toEqual(Array(5).fill('Running'));
    const nodes = await readyNodes('fleet.kok.dev/target=dc-east');
    expect(nodes).toHaveLength(5);
    for (const m of machines) {
      const node = nodes.find((n) => n.metadata.name === m.status.nodeRef.name);
      expect(node, m.metadata.name).toBeDefined();
      expect(node.spec.providerID).toBe(m.spec.providerID);
      expect(node.metadata.labels).toMatchObject({
        'fleet.kok.dev/unit': 'unit-a',
        'fleet.kok.dev/tier': 'private',
        'fleet.kok.dev/target': 'dc-east',
        'node.kubernetes.io/instance-type': 'std4',
        'topology.kubernetes.io/zone': m.spec.zone,
      });
    }
    // Spread evenly over the target's two zones.
    const zones = machines.map((m) => m.spec.zone).sort();
    expect(zones.filter((z) => z === 'private-1a').length).toBeGreaterThanOrEqual(2);
    expect(zones.filter((z) => z === 'private-1b').length).toBeGreaterThanOrEqual(2);
    // kubectl shows where the Nodes came from.
    const table = await k(['get', 'nodes', '-L', 'fleet.kok.dev/tier'], undefined, business);
    expect(table.split('\n')[0]).toMatch(/TIER/);
    expect(table.match(/private/g)?.length).toBe(5);
    // The target reports usage and cost from the provider.
    const t = await eventually(async () => {
      const t = await json(['get', 'cloudtarget', 'dc-east']);
      expect(t.status?.machinesInUse).toBe(5);
      return t;
    }, 40_000, 250);
    expect(t.status.costPerHour).toBeCloseTo(1.0, 5);
    expect((await liveInstances('dc-east')).length).toBe(5);
  }, 120_000);

  it('scales 5 → 8 → 2 without a Deployment dropping below its disruption budget', async () => {
    await apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec: {minAvailable: 3, selector: {matchLabels: {app: web}}}
`, business);
    await eventually(async () => {
      const d = await json(['get', 'deployment', '-n', 'default', 'web'], business);
      expect(d.status?.readyReplicas).toBe(4);
      return d;
    }, 60_000, 250);

    let minReady = Infinity;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const pods = (await json(['get', 'pods', '-n', 'default', '-l', 'app=web'], business)).items as any[];
        const ready = pods.filter((p) => !p.metadata.deletionTimestamp && cond(p, 'Ready')?.status === 'True').length;
        minReady = Math.min(minReady, ready);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await k(['scale', 'machinepool', '-n', 'fleet', 'workers', '--replicas=8']);
      await waitPool('workers', 8);
      await k(['scale', 'machinepool', '-n', 'fleet', 'workers', '--replicas=2']);
      await waitPool('workers', 2, 120_000);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(minReady).toBeGreaterThanOrEqual(3);
    await eventually(async () => {
      expect((await readyNodes('fleet.kok.dev/target=dc-east')).length).toBe(2);
      expect((await liveInstances('dc-east')).length).toBe(2);
      return true;
    }, 30_000, 250);
    const d = await json(['get', 'deployment', '-n', 'default', 'web'], business);
    expect(d.status.readyReplicas).toBe(4);
  }, 240_000);
});
