/**
 * `npm run bench -- machines`: the machine operator at fleet scale.
 *
 * Three child processes started through the `kok` CLI as a user would: the meta-cluster (`kok
 * meta-cluster start`, business control planes really serving, the simulated cloud hosted in
 * it), the cluster operator and the machine operator (`kok operator run machine`, whose RSS is
 * reported). `--clusters` business Clusters (1 API server, 1 etcd member) are brought to Ready
 * first (not timed). Then two runs, each creating one MachinePool of `--machines` machines per
 * Cluster at once and timing from the first create until every Machine reports its Node Ready:
 *   zero latency → a CloudTarget whose instances run at once;
 *   latency      → Cluster API's in-memory provider latencies: VM 10 s, node 2 s, jitter 0.2.
 *                  Overhead = (time to all Ready − the slowest instance's drawn latency, read
 *                  from the provider) / that latency.
 * Between the runs the first pools are deleted and every instance is gone at the provider.
 *
 * Args: --clusters N (100)  --machines N per cluster (100)  --timeout S (per run, 600)
 *       --latency 0 (skip the second run)
 *       --check (exit 1 on a missed target)
 *       --cpu-prof DIR (profile every child: DIR/meta-cluster, DIR/cluster-operator,
 *       DIR/machine-operator; in each, the largest file is the main thread)
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { SimulatedCloud } from '../../operators/machine/provider/simulated.js';
import { SIMULATED_CLOUD_SECRET } from '../../operators/machine/providers.js';
import { fleetResources } from '../../meta-cluster/api/resources.js';
import { KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { Informer } from '../../operators/runtime/informer.js';
import { generateToken } from '../../meta-cluster/pki/kubeconfig.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { gauge, httpsGet, profileArgs, startChild, stopForProfile, type Child } from './children.js';
import { benchOptions, missedTargets, percentile, printTable, procStatusMiB, progress, scratchRun, waitUntil, writeResult, type Metric } from './report.js';

const readyCondition = (o: KubeObject) => (o.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');

export async function run(args: string[]): Promise<number> {
  const cfg = benchOptions(
    args,
    {
      clusters: { flag: 'clusters', default: 100, min: 1 },
      machines: { flag: 'machines', default: 100, min: 1 },
      timeoutS: { flag: 'timeout', default: 600, min: 10 },
      latencyRun: { flag: 'latency', default: 1 },
    },
    'scripts/bench/machines.ts',
  );
  const children: Child[] = [];
  let client: KubeClient | undefined;
  let cloud: SimulatedCloud | undefined;
  const scratch = scratchRun({
    prefix: 'kok-bench-machines-',
    what: 'meta-cluster and operators',
    hardTimeoutS: 3 * cfg.timeoutS + 300,
    release: () => {
      client?.close();
      for (const c of children) c.proc.kill('SIGKILL');
    },
  });
  try {
    const prof = (who: string) => profileArgs(cfg.cpuProfDir, who);
    const meta = startChild(['meta-cluster', 'start', '--data-dir', join(scratch.tmp, 'meta'), '--nodes', '20', '--control-plane-runtime', 'embedded'], {}, prof('meta-cluster'));
    children.push(meta);
    const kubeconfig = await meta.waitFor(/kubeconfig: (\S+)/, 120_000);
    children.push(startChild(['operator', 'run', 'cluster', '--kubeconfig', kubeconfig, '--no-leader-elect', '--metrics-port', '0', '--concurrency', '16'], {}, prof('cluster-operator')));
    const token = generateToken();
    const machineOp = startChild(['operator', 'run', 'machine', '--kubeconfig', kubeconfig, '--no-leader-elect', '--metrics-port', '0', '--concurrency', '64'], { KOK_METRICS_TOKEN: token }, prof('machine-operator'));
    children.push(machineOp);
    const metricsUrl = await machineOp.waitFor(/metrics: (\S+)/, 60_000);

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    client = new KubeClient(kc, { fieldManager: 'bench' });
    const c = client;
    const secret = await c.get(resources.secrets, SIMULATED_CLOUD_SECRET.namespace, SIMULATED_CLOUD_SECRET.name);
    cloud = new SimulatedCloud(Buffer.from(secret.data.path, 'base64').toString('utf8'));
    await c.create(resources.namespaces, undefined, { metadata: { name: 'fleet' } });

    // The business clusters (not timed: the clusters benchmark measures them).
    const clusterNames = Array.from({ length: cfg.clusters }, (_, i) => `b${String(i).padStart(3, '0')}`);
    const clusters = new Informer<KubeObject>({ client: c, resource: fleetResources.Cluster, namespace: 'fleet' });
    await clusters.start();
    for (const name of clusterNames) {
      await c.create(fleetResources.Cluster, 'fleet', { apiVersion: 'fleet.kok.dev/v1alpha1', kind: 'Cluster', metadata: { name }, spec: { version: '1.31', controlPlane: { replicas: 1, datastore: { replicas: 1 } } } });
    }
    const clustersReady = () => clusters.list('fleet').filter(readyCondition).length;
    await waitUntil(() => clustersReady() === cfg.clusters, (s) => `clusters: ${clustersReady()}/${cfg.clusters} Clusters Ready after ${s.toFixed(0)}s`, { deadline: performance.now() + cfg.timeoutS * 1000 });
    const usable = clusters.list('fleet').filter(readyCondition).map((o) => o.metadata.name!);
    await clusters.stop();
    if (usable.length < cfg.clusters) progress(`only ${usable.length} of ${cfg.clusters} Clusters became Ready; machines go to those`);

    const machines = new Informer<KubeObject>({ client: c, resource: fleetResources.Machine, namespace: 'fleet' });
    // When each Machine was first seen, and first seen Ready (wall clock, as the provider stamps its instances).
    const seen = new Map<string, { created: number; ready?: number }>();
    const observe = (m: KubeObject) => {
      let entry = seen.get(m.metadata.uid!);
      if (!entry) seen.set(m.metadata.uid!, (entry = { created: Date.now() }));
      if (entry.ready === undefined && readyCondition(m)) entry.ready = Date.now();
    };
    machines.on({ add: observe, update: (_, m) => observe(m) });
    await machines.start();
    const total = usable.length * cfg.machines;

    const runPools = async (targetName: string, simulation: Record<string, number>) => {
      await c.create(fleetResources.CloudTarget, undefined, {
        apiVersion: 'fleet.kok.dev/v1alpha1',
        kind: 'CloudTarget',
        metadata: { name: targetName },
        spec: { tier: 'public', provider: 'simulated', region: 'bench', zones: ['a', 'b', 'c'], machineTypes: [{ name: 'm', cpu: 4, memoryGiB: 16, pricePerHour: 0.1 }], simulation },
      });
      const t0 = performance.now();
      const wallT0 = Date.now();
      for (const cluster of usable) {
        await c.create(fleetResources.MachinePool, 'fleet', {
          apiVersion: 'fleet.kok.dev/v1alpha1',
          kind: 'MachinePool',
          metadata: { name: `${cluster}-${targetName}` },
          spec: { clusterName: cluster, replicas: cfg.machines, template: { targetRef: { name: targetName }, machineType: 'm' } },
        });
      }
      const ready = () => machines.list('fleet').filter((m) => m.spec.targetRef?.name === targetName && readyCondition(m)).length;
      await waitUntil(
        () => ready() === total,
        (s) => `${targetName}: ${ready()}/${total} machines with Ready Nodes after ${s.toFixed(0)}s; machine operator RSS ${procStatusMiB(machineOp.proc.pid!).rss.toFixed(0)} MiB`,
        { deadline: t0 + cfg.timeoutS * 1000, since: t0 },
      );
      const readySec = ready() === total ? (performance.now() - t0) / 1000 : NaN;
      progress(`${targetName}: ${ready()}/${total} Ready${Number.isNaN(readySec) ? ' (timed out)' : ` in ${readySec.toFixed(1)}s`}`);
      const instances = await cloud!.provider(targetName, { zones: ['a', 'b', 'c'], machineTypes: [{ name: 'm', cpu: 4, memoryGiB: 16, pricePerHour: 0.1 }], simulation }).list();
      const slowestLatencySec = Math.max(0, ...instances.map((i) => (Date.parse(i.runningSince ?? i.createdAt) - Date.parse(i.createdAt)) / 1000));
      // Where the time beyond the provider's latency goes: the pools created → their Machines
      // created (the pool controller), Machine → its instance created (the operator's create), and
      // instance running → Machine Ready (Node registration and join).
      const pool: number[] = [];
      const create: number[] = [];
      const join: number[] = [];
      for (const i of instances) {
        const m = seen.get(i.machineUid);
        if (!m) continue;
        pool.push((m.created - wallT0) / 1000);
        create.push((Date.parse(i.createdAt) - m.created) / 1000);
        if (m.ready !== undefined && i.runningSince) join.push((m.ready - Date.parse(i.runningSince)) / 1000);
      }
      const stages = Object.fromEntries(
        Object.entries({ Pool: pool, Create: create, Join: join }).map(([stage, v]) => [stage, { p50: percentile(v, 50), max: percentile(v, 100) }]),
      ) as Stages;
      return { readySec, ready: ready(), instances: instances.length, slowestLatencySec, stages };
    };

    const zero = await runPools('zero', {});
    const text = await httpsGet(metricsUrl, token);
    const mem = procStatusMiB(machineOp.proc.pid!);

    let latency: Awaited<ReturnType<typeof runPools>> | undefined;
    if (cfg.latencyRun) {
      progress('deleting the first pools');
      for (const cluster of usable) await c.delete(fleetResources.MachinePool, 'fleet', `${cluster}-zero`);
      await waitUntil(() => machines.list('fleet').length === 0, (s) => `cleanup: ${machines.list('fleet').length} machines left after ${s.toFixed(0)}s`, { deadline: performance.now() + cfg.timeoutS * 1000 });
      latency = await runPools('latency', { provisionSeconds: 10, bootSeconds: 2, jitter: 0.2 });
    }
    await machines.stop();
    if (cfg.cpuProfDir) await stopForProfile(children);
    const overheadPct = latency ? ((latency.readySec - latency.slowestLatencySec) / latency.slowestLatencySec) * 100 : NaN;

    const metrics: Metric[] = [
      { name: 'machines', value: total, unit: 'machines', note: `${usable.length} Clusters × ${cfg.machines}` },
      { name: 'zeroLatency10kReadySec', value: zero.readySec, unit: 's', target: { op: '<', value: 300, note: `${total} machines, zero provider latency` } },
      { name: 'machinesPerSec', value: zero.ready / (Number.isNaN(zero.readySec) ? cfg.timeoutS : zero.readySec), unit: '/s', note: 'zero-latency run' },
      { name: 'latencyReadySec', value: latency?.readySec ?? NaN, unit: 's', note: latency ? 'VM 10 s, node 2 s, jitter 0.2' : 'not measured (--latency 0)' },
      { name: 'slowestConfiguredLatencySec', value: latency?.slowestLatencySec ?? NaN, unit: 's', note: "the slowest instance's drawn latency, from the provider" },
      latency
        ? { name: 'latencyOverheadPct', value: overheadPct, unit: '%', target: { op: '<', value: 20, note: 'time to all Ready above the slowest configured latency' } }
        : { name: 'latencyOverheadPct', value: NaN, unit: '%', note: 'not measured (--latency 0)' },
      { name: 'operatorRssMiB', value: mem.rss, unit: 'MiB', target: { op: '<', value: 500, note: `machine operator at ${total} machines` } },
      { name: 'operatorPeakRssMiB', value: mem.hwm, unit: 'MiB' },
      { name: 'operatorHeapUsedMiB', value: gauge(text, 'nodejs_heap_size_used_bytes') / 2 ** 20, unit: 'MiB' },
      ...stageMetrics('zero', zero.stages),
      ...(latency ? stageMetrics('latency', latency.stages) : []),
      { name: 'providerInstancesZero', value: zero.instances, unit: 'instances', note: 'live at the provider at the end of the zero-latency run (= machines)' },
    ];
    printTable(metrics);
    const path = writeResult('machines', metrics, { ...cfg }, { loadavg1: loadavg()[0] });
    progress(`wrote ${path}`);
    return cfg.check && missedTargets(metrics).length ? 1 : 0;
  } finally {
    cloud?.close();
    scratch.dispose();
  }
}

type Stages = Record<'Pool' | 'Create' | 'Join', { p50: number; max: number }>;

const stageNotes: Record<keyof Stages, string> = {
  Pool: 'MachinePools created → their Machine created (p50; then max)',
  Create: 'Machine created → its instance created (p50; then max)',
  Join: 'instance running → Machine Ready: Node registered, Ready, seen (p50; then max)',
};

/** Per run and stage, the p50 and the max over its machines. */
function stageMetrics(run: string, stages: Stages): Metric[] {
  return (Object.keys(stageNotes) as Array<keyof Stages>).flatMap((stage) => [
    { name: `${run}${stage}P50Sec`, value: stages[stage].p50, unit: 's', note: stageNotes[stage] },
    { name: `${run}${stage}MaxSec`, value: stages[stage].max, unit: 's' },
  ]);
}
