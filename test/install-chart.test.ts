/**
 * kok installed the way a platform engineer does it, on the embedded meta-cluster: the install
 * chart and the multi-unit fleet synthesised with `kok synth` and applied with kubectl, each
 * operator a separate `kok operator run <name>` process authenticated as its ServiceAccount
 * (a token from `kubectl create token`). The fleet reaches Ready; a pool on the meta-cluster
 * itself is drained away and a Cluster deleted — all with the meta-cluster enforcing RBAC, so a
 * permission missing from the chart fails the run with a 403. The meta-cluster's audit log then
 * shows exactly which API requests each ServiceAccount made, and the test compares them with the
 * RBAC the chart grants: nothing used is missing, nothing granted goes unused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCluster, type EmbeddedCluster } from '../meta-cluster/cluster.js';
import { operatorCatalog, operatorNames, type OperatorName } from '../operators/catalog.js';
import { eventually, kubectl, tempDir } from './helpers.js';

const repo = join(import.meta.dirname, '..');
const dir = tempDir('kok-install-');
const auditLog = join(dir.path, 'audit.jsonl');
let meta: EmbeddedCluster;
let kc: string;
const operators: ChildProcess[] = [];
const output: string[] = [];

const k = async (args: string[], input?: string) => {
  const r = await kubectl(kc, args, { input, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const json = async (args: string[]) => JSON.parse(await k([...args, '-o', 'json']));

/** `kok …` as a user runs it, from the repository. */
function kok(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/kok.ts', ...args], {
    cwd: repo,
    env: { ...process.env, KOK_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => output.push(String(d)));
  child.stderr!.on('data', (d) => output.push(String(d)));
  return child;
}

async function synth(blueprint: string): Promise<string> {
  const file = join(dir.path, `${blueprint}.yaml`);
  const child = kok(['synth', `blueprints/examples/${blueprint}.ts`, '-o', file]);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`kok synth ${blueprint} exited ${code}: ${output.join('')}`);
  return file;
}

/** A kubeconfig for the operator's ServiceAccount, as a user would make one from `kubectl create token`. */
async function serviceAccountKubeconfig(name: OperatorName): Promise<string> {
  const token = (await k(['create', 'token', `kok-${name}-operator`, '-n', 'kok-system', '--duration', '2h'])).trim();
  const config = parse(readFileSync(kc, 'utf8'));
  for (const u of config.users) u.user = { token };
  const file = join(dir.path, `${name}-operator.kubeconfig`);
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}

const readyOf = (o: any) => o.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True';

beforeAll(async () => {
  meta = await startEmbeddedCluster({ dataDir: join(dir.path, 'meta'), clusterName: 'kok', nodes: 3, auditLogPath: auditLog });
  kc = meta.apiServer.kubeconfigPath;
}, 60_000);

afterAll(async () => {
  for (const c of operators) c.kill('SIGTERM');
  await Promise.all(operators.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : undefined)));
  await meta?.stop();
  dir.remove();
}, 60_000);

describe('the install chart and a fleet, applied with kubectl', () => {
  it('installs kok: CRDs, ServiceAccounts, RBAC, and Deployments that become Available', async () => {
    await k(['apply', '-f', await synth('kok-install')]);
    await k(['wait', '-n', 'kok-system', '--for=condition=Available', 'deployment', '--all', '--timeout=60s']);
    const deployments = (await json(['get', 'deployments', '-n', 'kok-system'])).items;
    expect(deployments.map((d: any) => [d.metadata.name, d.status.availableReplicas]).sort()).toEqual(operatorNames.map((n) => [`kok-${n}-operator`, 2]));
    // The embedded meta-cluster only simulates these pods' containers (and says so); the operators run below as processes.
    const pods = (await json(['get', 'pods', '-n', 'kok-system'])).items;
    expect(pods[0].status.conditions).toContainEqual(expect.objectContaining({ type: 'kok.dev/Simulated', status: 'True' }));
    expect(await k(['get', 'crd', 'clusters.fleet.kok.dev', '-o', 'name'])).toMatch(/clusters.fleet.kok.dev/);
  }, 90_000);

  it('brings the multi-unit fleet to Ready with each operator a `kok operator run` process of its ServiceAccount', async () => {
    for (const name of operatorNames) {
      operators.push(kok(['operator', 'run', name, '--kubeconfig', await serviceAccountKubeconfig(name), '--metrics-port', '0'], { KOK_METRICS_TOKEN: 'test' }));
    }
    await k(['apply', '-f', await synth('multi-unit')]);
    await k(['wait', '-n', 'shop', '--for=condition=Ready', 'clusters,machinepools', '--all', '--timeout=150s']);
    const clusters = (await json(['get', 'clusters', '-n', 'shop'])).items;
    expect(clusters.map((c: any) => c.metadata.name).sort()).toEqual(['orders-east', 'orders-west', 'payments']);
    for (const c of clusters) expect(readyOf(c)).toBe(true);
    const pools = (await json(['get', 'machinepools', '-n', 'shop'])).items;
    expect(pools).toHaveLength(9);
    for (const p of pools) expect(p.status.readyReplicas).toBe(p.spec.replicas);
    const leases = (await json(['get', 'leases', '-n', 'kok-system'])).items.map((l: any) => l.metadata.name);
    expect(leases).toEqual(expect.arrayContaining(operatorNames.map((n) => `kok-${n}-operator`)));
  }, 200_000);

  it('drains and removes a meta-cluster Node of a pool scaled to zero, and deletes a Cluster with its machines', async () => {
    await k(['apply', '-f', '-'], stringify({
      apiVersion: 'fleet.kok.dev/v1alpha1',
      kind: 'MachinePool',
      metadata: { name: 'meta-extra', namespace: 'shop' },
      spec: { clusterName: 'meta-cluster', replicas: 1, template: { targetRef: { name: 'dc-beijing' }, machineType: 'std16' }, drainTimeoutSeconds: 30 },
    }));
    await k(['wait', '-n', 'shop', '--for=condition=Ready', 'machinepool/meta-extra', '--timeout=60s']);
    const [machine] = (await json(['get', 'machines', '-n', 'shop', '-l', 'fleet.kok.dev/pool=meta-extra'])).items;
    const node = await json(['get', 'node', machine.status.nodeRef.name]);
    expect(node.metadata.labels['fleet.kok.dev/machine']).toBe(machine.metadata.name);
    // A workload pinned to the new Node, so draining it has something to evict.
    await k(['create', 'deployment', 'pinned', '-n', 'default', '--image', 'registry.k8s.io/pause:3.10']);
    await k(['patch', 'deployment', 'pinned', '-n', 'default', '--type', 'merge', '-p', JSON.stringify({ spec: { template: { spec: { nodeName: node.metadata.name } } } })]);
    await k(['rollout', 'status', 'deployment/pinned', '-n', 'default', '--timeout=60s']);
    await k(['scale', 'machinepool', 'meta-extra', '-n', 'shop', '--replicas=0']);
    await eventually(async () => (await kubectl(kc, ['get', 'node', node.metadata.name])).code !== 0, 90_000, 500);

    await k(['delete', 'cluster', 'orders-west', '-n', 'shop', '--timeout=120s']);
    const machines = (await json(['get', 'machines', '-n', 'shop', '-l', 'fleet.kok.dev/cluster=orders-west'])).items;
    expect(machines).toEqual([]);
    await eventually(async () => (await kubectl(kc, ['get', 'namespace', 'kcp-shop-orders-west'])).code !== 0, 60_000, 500);
  }, 240_000);

  it('grants each operator exactly the API access it used, as the audit log records it', async () => {
    const events = readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    for (const name of operatorNames) {
      const user = `system:serviceaccount:kok-system:kok-${name}-operator`;
      const used = new Set<string>();
      const outsideOwnNamespace = new Set<string>();
      for (const e of events) {
        if (e.user?.username !== user || !e.objectRef) continue;
        const resource = e.objectRef.subresource ? `${e.objectRef.resource}/${e.objectRef.subresource}` : e.objectRef.resource;
        const key = `${e.objectRef.apiGroup ?? ''}|${resource}|${e.verb}`;
        used.add(key);
        if (e.objectRef.namespace !== 'kok-system') outsideOwnNamespace.add(key);
      }
      const granted = new Set<string>();
      for (const p of operatorCatalog[name].permissions) {
        for (const verb of p.verbs) {
          const key = `${p.apiGroup}|${p.resource}|${verb}`;
          granted.add(key);
          // What is granted only in kok-system is used only there.
          if (p.ownNamespaceOnly) expect(outsideOwnNamespace.has(key), `${name} operator: ${key} outside kok-system`).toBe(false);
        }
      }
      expect([...used].filter((k) => !granted.has(k)), `${name} operator: requests RBAC would refuse`).toEqual([]);
      const optional = notExercisedHere[name];
      for (const k of Object.keys(optional)) expect(granted.has(k), `${name} operator: ${k} is listed below but not granted`).toBe(true);
      const unused = [...granted].filter((k) => !used.has(k) && !(k in optional));
      expect(unused, `${name} operator: grants this run did not use (use them, drop them, or list their code path below)`).toEqual([]);
    }
  });
});

/**
 * Grants whose code paths this scenario may not take (retries and repeats under load sometimes
 * take them), each with the path that needs it. Any other grant going unused fails the test.
 */
const notExercisedHere: Record<OperatorName, Record<string, string>> = {
  cluster: {
    'apps|deployments|patch': 'a control-plane Deployment whose desired state changed (an upgrade, a replica change) is server-side applied',
    'apps|statefulsets|patch': 'the etcd StatefulSet is server-side applied when its desired state changes (datastore replicas)',
    'policy|poddisruptionbudgets|patch': 'a PDB is server-side applied when the replicas it protects change',
    'networking.k8s.io|networkpolicies|patch': 'the NetworkPolicy is server-side applied when its desired state changes (a new kok version)',
    '|services|patch': 'a Service is server-side applied when its desired state changes (a new kok version)',
    '|secrets|update': 'a certificate Secret is reissued in place (expiring within 30 days, a missing SAN, a foreign CA)',
    '|events|get': 'an Event series continued after the operator restarted reads the stored Event first',
  },
  machine: {
    '|events|patch': 'a repeated Event (the same reason and message again) is counted on the stored Event',
    '|events|get': 'an Event series continued after the operator restarted reads the stored Event first',
  },
};
