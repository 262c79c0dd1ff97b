/**
 * `npm run bench -- clusters`: the cluster operator at fleet scale.
 *
 * Two runs, each on a fresh scratch dir with two child processes started through the `kok` CLI
 * exactly as a user would: the meta-cluster (`kok meta-cluster start`) and the cluster operator
 * (`kok operator run cluster`, without leader election), so the operator's RSS is its own.
 *   simulated → `--simulated` Clusters (default 1,000; 3 API servers and 3 etcd members each, the
 *               CRD's defaults) on a meta-cluster whose control-plane pods are simulated
 *               (`--control-plane-runtime simulated`): PKI, Secrets, workloads, the node agent's
 *               pods and the load balancer are all real; only the processes are not, and
 *               ControlPlaneReady says so instead of probing /readyz;
 *   real      → `--real` Clusters (default 100; 1 API server, 1 etcd member) on a meta-cluster
 *               whose kube-apiserver, kube-controller-manager and kube-scheduler pods really run:
 *               Ready means the operator's probe of each business API's /readyz succeeded.
 * All Clusters are created at once; timed from the first create to the watch seeing every
 * Cluster's Ready=True. Reconcile p50/p99 come from the operator's own
 * kok_reconcile_duration_seconds histogram (/metrics), interpolated within buckets as PromQL's
 * histogram_quantile does. Operator RSS is VmRSS from /proc at the end of the simulated run
 * (and its peak, VmHWM).
 *
 * Args: --simulated N (1000)  --real N (100)  --nodes N (meta-cluster nodes for the simulated
 *       run, 400)  --timeout S (per run, 600)  --check (exit 1 on a missed target)
 *       --cpu-prof DIR (profile the simulated run: DIR/operator and DIR/meta-cluster; in each, the
 *       largest file is the main thread)
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { Informer } from '../../operators/runtime/informer.js';
import { clusterResource } from '../../operators/cluster/reconcile.js';
import { generateToken } from '../../meta-cluster/pki/kubeconfig.js';
import { gauge, httpsGet, profileArgs, startChild, stopForProfile, type Child } from './children.js';
import { benchOptions, missedTargets, printTable, progress, scratchRun, waitUntil, writeResult, type Metric, procStatusMiB } from './report.js';

/** histogram_quantile over the cumulative `le` buckets of one histogram in a Prometheus text page. */
export function histogramQuantile(metricsText: string, name: string, q: number): number {
  const buckets: Array<[number, number]> = [];
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le) buckets.push([le === '+Inf' ? Infinity : Number(le), v]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (!total) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

interface RunResult {
  readySec: number;
  /** Clusters Ready when the run ended (all of them, or as many as the timeout allowed). */
  ready: number;
  p50Ms: number;
  p99Ms: number;
  rssMiB: number;
  hwmMiB: number;
  heapUsedMiB: number;
}

async function runFleet(opts: { count: number; nodes: number; runtime: 'simulated' | 'embedded'; replicas: 1 | 3; timeoutS: number; cpuProfDir?: string }): Promise<RunResult> {
  let meta: Child | undefined;
  let operator: Child | undefined;
  let client: KubeClient | undefined;
  const scratch = scratchRun({
    prefix: 'kok-bench-clusters-',
    what: 'meta-cluster and operator',
    hardTimeoutS: opts.timeoutS + 180,
    release: () => {
      client?.close();
      operator?.proc.kill('SIGKILL');
      meta?.proc.kill('SIGKILL');
    },
  });
  try {
    const prof = (who: string) => profileArgs(opts.cpuProfDir, join(opts.runtime, who));
    meta = startChild(
      ['meta-cluster', 'start', '--data-dir', join(scratch.tmp, 'meta'), '--nodes', String(opts.nodes), '--control-plane-runtime', opts.runtime],
      {},
      prof('meta-cluster'),
    );
    const kubeconfig = await meta.waitFor(/kubeconfig: (\S+)/, 120_000);
    const token = generateToken();
    operator = startChild(['operator', 'run', 'cluster', '--kubeconfig', kubeconfig, '--no-leader-elect', '--metrics-port', '0', '--concurrency', '16'], { KOK_METRICS_TOKEN: token }, prof('operator'));
    const metricsUrl = await operator.waitFor(/metrics: (\S+)/, 60_000);

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    client = new KubeClient(kc, { fieldManager: 'bench' });
    await client.create({ group: '', version: 'v1', plural: 'namespaces', namespaced: false }, undefined, { metadata: { name: 'fleet' } });
    const ready = new Set<string>();
    const informer = new Informer<KubeObject>({ client, resource: clusterResource, namespace: 'fleet' });
    const onChange = (c: KubeObject) => {
      if ((c.status?.conditions ?? []).some((x: { type: string; status: string }) => x.type === 'Ready' && x.status === 'True')) ready.add(c.metadata.name!);
    };
    informer.on({ add: onChange, update: (_o, c) => onChange(c) });
    await informer.start();

    progress(`${opts.runtime}: creating ${opts.count} Clusters`);
    const t0 = performance.now();
    const names = Array.from({ length: opts.count }, (_, i) => `c${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(
        names.slice(i, i + 50).map((name) =>
          client!.create(clusterResource, 'fleet', {
            apiVersion: 'fleet.kok.dev/v1alpha1',
            kind: 'Cluster',
            metadata: { name },
            spec: { version: '1.31', controlPlane: { replicas: opts.replicas, datastore: { replicas: opts.replicas } } },
          }),
        ),
      );
    }
    await waitUntil(
      () => ready.size >= opts.count,
      (s) => `${opts.runtime}: ${ready.size}/${opts.count} Ready after ${s.toFixed(0)}s; operator RSS ${procStatusMiB(operator!.proc.pid!).rss.toFixed(0)} MiB`,
      { deadline: t0 + opts.timeoutS * 1000, since: t0, pollMs: 250 },
    );
    const readySec = ready.size === opts.count ? (performance.now() - t0) / 1000 : NaN;
    progress(`${opts.runtime}: ${ready.size}/${opts.count} Ready${Number.isNaN(readySec) ? ' (timed out)' : ` in ${readySec.toFixed(1)}s`}`);
    const text = await httpsGet(metricsUrl, token);
    const mem = procStatusMiB(operator.proc.pid!);
    await informer.stop();
    if (opts.cpuProfDir) await stopForProfile([operator, meta]);
    return {
      readySec,
      ready: ready.size,
      p50Ms: histogramQuantile(text, 'kok_reconcile_duration_seconds', 0.5) * 1000,
      p99Ms: histogramQuantile(text, 'kok_reconcile_duration_seconds', 0.99) * 1000,
      rssMiB: mem.rss,
      hwmMiB: mem.hwm,
      heapUsedMiB: gauge(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
    };
  } finally {
    scratch.dispose();
  }
}

export async function run(args: string[]): Promise<number> {
  const cfg = benchOptions(
    args,
    {
      simulated: { flag: 'simulated', default: 1_000, min: 0 },
      real: { flag: 'real', default: 100, min: 0 },
      nodes: { flag: 'nodes', default: 400, min: 1 },
      timeoutS: { flag: 'timeout', default: 600, min: 10 },
    },
    'scripts/bench/clusters.ts',
  );
  const sim = cfg.simulated > 0 ? await runFleet({ count: cfg.simulated, nodes: cfg.nodes, runtime: 'simulated', replicas: 3, timeoutS: cfg.timeoutS, cpuProfDir: cfg.cpuProfDir }) : undefined;
  const real = cfg.real > 0 ? await runFleet({ count: cfg.real, nodes: 20, runtime: 'embedded', replicas: 1, timeoutS: cfg.timeoutS, cpuProfDir: cfg.cpuProfDir }) : undefined;
  const metrics: Metric[] = [
    { name: 'simulated1kReadySec', value: sim?.readySec ?? NaN, unit: 's', target: { op: '<', value: 300, note: `${cfg.simulated} simulated-runtime Clusters` } },
    { name: 'simulatedReady', value: sim?.ready ?? NaN, unit: 'clusters', note: `Ready when the run ended (timeout ${cfg.timeoutS} s)` },
    { name: 'simulatedClustersPerMin', value: sim ? (sim.ready / (Number.isNaN(sim.readySec) ? cfg.timeoutS : sim.readySec)) * 60 : NaN, unit: '/min' },
    { name: 'real100ReadySec', value: real?.readySec ?? NaN, unit: 's', target: { op: '<', value: 180, note: `${cfg.real} real embedded control planes` } },
    { name: 'realReady', value: real?.ready ?? NaN, unit: 'clusters' },
    { name: 'realClustersPerMin', value: real ? (real.ready / (Number.isNaN(real.readySec) ? cfg.timeoutS : real.readySec)) * 60 : NaN, unit: '/min' },
    { name: 'reconcileP50Ms', value: sim?.p50Ms ?? NaN, unit: 'ms', note: 'simulated run, from the operator histogram (bucket-interpolated)' },
    { name: 'reconcileP99Ms', value: sim?.p99Ms ?? NaN, unit: 'ms' },
    { name: 'realReconcileP50Ms', value: real?.p50Ms ?? NaN, unit: 'ms' },
    { name: 'realReconcileP99Ms', value: real?.p99Ms ?? NaN, unit: 'ms' },
    { name: 'operatorRssMiB', value: sim?.rssMiB ?? NaN, unit: 'MiB', target: { op: '<', value: 300, note: `at ${cfg.simulated} Clusters` } },
    { name: 'operatorPeakRssMiB', value: sim?.hwmMiB ?? NaN, unit: 'MiB' },
    { name: 'operatorHeapUsedMiB', value: sim?.heapUsedMiB ?? NaN, unit: 'MiB', note: 'V8 heap in use at the end of the simulated run (nodejs_heap_size_used_bytes)' },
  ];
  printTable(metrics);
  const path = writeResult('clusters', metrics, { ...cfg }, { loadavg1: loadavg()[0] });
  progress(`wrote ${path}`);
  return cfg.check && missedTargets(metrics).length ? 1 : 0;
}
