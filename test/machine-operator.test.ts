/**
 * The machine operator end to end on the embedded meta-cluster: a business Cluster (its control
 * plane really serving), CloudTargets on the simulated cloud the meta-cluster hosts, MachinePools
 * declared with kubectl. Asserted through kubectl on both clusters and against the provider's own
 * inventory (the simulated cloud's file, opened here as a second process would).
 */
import { spawn } from 'node:child_process';
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
  const op = new MachineOperator({ kubeConfig: meta.kubeConfig, log, orphanGraceMs: 1_000, leaderElection: { leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5 } });
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
    // In a worker thread, as the CLI runs it.
    simulatedCloud: { pollIntervalMs: 200, thread: true, nodeAgent: { heartbeatIntervalMs: 500, nodeStatusEvery: 1 } },
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

  it('rolls a template change within maxSurge and maxUnavailable', async () => {
    await apply(pool('roll', 'public-a', 3, '  strategy: {maxSurge: 1, maxUnavailable: 0}'));
    await waitPool('roll', 3);
    const before = new Set((await machinesOf('roll')).map((m) => m.metadata.name));
    let maxAlive = 0;
    let minReady = Infinity;
    await apply(pool('roll', 'public-a', 3, '  strategy: {maxSurge: 1, maxUnavailable: 0}').replace('machineType: std4}', 'machineType: std4, labels: {revision: "2"}}'));
    await eventually(async () => {
      const ms = (await machinesOf('roll')).filter((m) => !m.metadata.deletionTimestamp);
      maxAlive = Math.max(maxAlive, ms.length);
      minReady = Math.min(minReady, ms.filter((m) => cond(m, 'Ready')?.status === 'True').length);
      const p = await json(['get', 'machinepool', '-n', 'fleet', 'roll']);
      expect(p.status?.updatedReplicas).toBe(3);
      expect(cond(p, 'Ready')?.status).toBe('True');
      expect(ms.some((m) => before.has(m.metadata.name))).toBe(false);
      return true;
    }, 90_000, 100);
    expect(maxAlive).toBeLessThanOrEqual(4);
    expect(minReady).toBeGreaterThanOrEqual(3);
    const nodes = await readyNodes('fleet.kok.dev/target=public-a');
    expect(nodes.map((n) => n.metadata.labels.revision)).toEqual(['2', '2', '2']);
  }, 120_000);

  it('converges with a 30% create-failure rate, the provider holding exactly the instances the API shows', async () => {
    await apply(target('flaky', 'public', '  simulation: {createFailureRate: 0.3}'));
    await apply(pool('flaky', 'flaky', 6));
    await waitPool('flaky', 6, 120_000);
    const machines = await machinesOf('flaky');
    const instances = await liveInstances('flaky');
    expect(instances.map((i) => i.providerID).sort()).toEqual(machines.map((m) => m.spec.providerID).sort());
    expect(new Set(instances.map((i) => i.machineUid)).size).toBe(6);
  }, 150_000);

  it('replaces a machine whose Node stops heartbeating, after the health-check timeout', async () => {
    // 40% (the default maxUnhealthy) of 2 machines rounds down to 0: allow one.
    await apply(pool('health', 'dc-east', 2).replace('healthCheck: {nodeNotReadySeconds: 2}', 'healthCheck: {nodeNotReadySeconds: 2, maxUnhealthy: 1}'));
    await waitPool('health', 2);
    const [victim] = await machinesOf('health');
    expect(await meta.cloud!.host.hangKubelet(victim.status.instanceID)).toBe(true);
    await eventually(async () => {
      const ms = await machinesOf('health');
      expect(ms.map((m) => m.metadata.name), JSON.stringify(ms.map((m) => [m.metadata.name, m.metadata.deletionTimestamp, m.status]))).not.toContain(victim.metadata.name);
      return true;
    }, 60_000, 250);
    await waitPool('health', 2);
    const instance = (await cloud.provider('dc-east', { zones: ['x'], machineTypes: [{ name: 'std4', cpu: 4, memoryGiB: 16, pricePerHour: 0.2 }] }).describe(victim.status.instanceID))!;
    expect(instance.state).toBe('terminated');
    const events = (await json(['get', 'events', '-n', 'fleet', '--field-selector', 'involvedObject.name=health'])).items as any[];
    expect(events.some((e) => e.reason === 'MachineRemediated')).toBe(true);
  }, 120_000);

  it('leaves machines Pending with QuotaExceeded on a full target and goes on when capacity frees up', async () => {
    await apply(pool('fill', 'partner', 2));
    await waitPool('fill', 2);
    await apply(pool('waits', 'partner', 1));
    const pending = await eventually(async () => {
      const [m] = await machinesOf('waits');
      expect(m?.status?.phase).toBe('Pending');
      expect(cond(m, 'InstanceProvisioned')?.reason).toBe('QuotaExceeded');
      return m;
    }, 30_000, 250);
    expect(cond(pending, 'InstanceProvisioned').message).toMatch(/CloudTarget partner: quota exceeded .*2 of 2/);
    // The target's status pass runs at most once a second after its Machines change.
    await eventually(async () => {
      const t = await json(['get', 'cloudtarget', 'partner']);
      expect(t.status.phase).toBe('Full');
      expect(t.status.machinesInUse).toBe(2);
      return true;
    }, 10_000, 250);
    await k(['scale', 'machinepool', '-n', 'fleet', 'fill', '--replicas=1']);
    await waitPool('waits', 1, 60_000);
    await waitPool('fill', 1);
  }, 120_000);

  it('leaves no duplicate instance when a `kok operator run machine` process is killed mid-create', async () => {
    await machineOp!.stop();
    machineOp = undefined;
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/kok.ts', 'operator', 'run', 'machine', '--kubeconfig', kc, '--metrics-port', '0'], {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, KOK_LOG_LEVEL: 'warn', KOK_METRICS_TOKEN: 'test-token' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await apply(target('slow', 'public', '  simulation: {provisionSeconds: 1}'));
      await apply(pool('crash', 'slow', 4));
      // Killed while instances are being created and before their machines are recorded Running.
      await eventually(async () => ((await liveInstances('slow')).length > 0 ? true : undefined), 30_000, 50);
    } finally {
      child.kill('SIGKILL');
    }
    machineOp = startMachineOperator();
    await waitPool('crash', 4, 90_000);
    const machines = await machinesOf('crash');
    const instances = await liveInstances('slow');
    expect(instances).toHaveLength(4);
    expect(instances.map((i) => i.machineUid).sort()).toEqual(machines.map((m) => m.metadata.uid).sort());
  }, 150_000);

  it('finds an instance whose Machine is gone by listing the provider, and deletes it', async () => {
    const provider = cloud.provider('public-a', { zones: ['public-1a'], machineTypes: [{ name: 'std4', cpu: 4, memoryGiB: 16, pricePerHour: 0.2 }] });
    const leaked = await provider.create({ machineUid: 'no-such-machine', machineNamespace: 'fleet', machineName: 'gone', cluster: 'biz', machineType: 'std4', userData: 'not a join configuration' });
    await eventually(async () => {
      expect((await provider.describe(leaked.id))?.state).toBe('terminated');
      return true;
    }, 60_000, 250);
    const events = (await json(['get', 'events', '-A', '--field-selector', 'involvedObject.name=public-a'])).items as any[];
    const e = events.find((x) => x.reason === 'OrphanedInstanceDeleted');
    expect(e?.message).toMatch(new RegExp(`deleted instance ${leaked.id} .*Machine fleet/gone .*no longer exists`));
  }, 90_000);

  it('adds Nodes to the meta-cluster itself from a pool naming `meta-cluster`', async () => {
    await apply(pool('meta-workers', 'public-a', 2).replace('clusterName: biz', 'clusterName: meta-cluster'));
    await waitPool('meta-workers', 2);
    const nodes = ((await json(['get', 'nodes', '-l', 'fleet.kok.dev/machine'])).items as any[]).filter((n) => n.metadata.labels['fleet.kok.dev/machine'].startsWith('meta-workers-'));
    expect(nodes).toHaveLength(2);
    for (const n of nodes) expect(cond(n, 'Ready')?.status).toBe('True');
    // The meta-cluster's own nodes are untouched.
    expect((await json(['get', 'nodes'])).items.length).toBe(3 + 2);
    // Deleting the pool drains and deletes its Nodes and instances.
    await k(['delete', 'machinepool', '-n', 'fleet', 'meta-workers']);
    await eventually(async () => {
      expect((await json(['get', 'nodes'])).items.length).toBe(3);
      expect(await machinesOf('meta-workers')).toEqual([]);
      return true;
    }, 30_000, 250);
    const left = (await liveInstances('public-a')).filter((i) => i.machineName.startsWith('meta-workers-'));
    expect(left).toEqual([]);
  }, 60_000);

  it('refuses a pool whose kubelet version breaks the skew policy, creating nothing', async () => {
    await apply(pool('skewed', 'public-a', 2).replace('machineType: std4}', 'machineType: std4, version: "1.32"}'));
    const p = await eventually(async () => {
      const p = await json(['get', 'machinepool', '-n', 'fleet', 'skewed']);
      expect(cond(p, 'Ready')?.reason).toBe('VersionSkew');
      return p;
    }, 30_000, 250);
    expect(cond(p, 'Ready').message).toMatch(/MachinePool fleet\/skewed: spec\.template\.version: kubelet 1\.32\.\d+ is newer than the control plane 1\.31/);
    expect(p.status.phase).toBe('Failed');
    expect(await machinesOf('skewed')).toEqual([]);
    const table = await k(['get', 'mp', '-n', 'fleet', 'skewed']);
    expect(table).toMatch(/skewed\s+biz\s+public-a\s+std4\s+2\s+.*Failed/);
  }, 60_000);

  it('deletes the machines at the provider when their Cluster is deleted', async () => {
    expect((await json(['get', 'machines', '-n', 'fleet'])).items.length).toBeGreaterThan(0);
    await k(['delete', 'cluster', '-n', 'fleet', 'biz', '--wait=false']);
    await eventually(async () => {
      expect((await json(['get', 'machines', '-n', 'fleet'])).items).toEqual([]);
      expect((await json(['get', 'machinepools', '-n', 'fleet'])).items).toEqual([]);
      for (const t of ['dc-east', 'partner', 'public-a', 'flaky', 'slow']) expect(await liveInstances(t), t).toEqual([]);
      return true;
    }, 90_000, 500);
  }, 120_000);
});
