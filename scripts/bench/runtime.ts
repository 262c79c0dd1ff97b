/**
 * `npm run bench -- runtime`: the whole embedded cluster under a kwok-like load.
 *
 * The cluster (API server + controllers + scheduler + node agent, `startEmbeddedCluster`) runs in
 * a child process (scripts/bench/runtime-cluster.ts, via `node --import tsx`, so the child's pid is
 * the cluster and /proc/<pid>/status gives its RSS), started with no nodes, on a fresh temp data
 * dir. This process only drives it (IPC for "add nodes", the API for the Deployment) and watches it
 * through the API with operators/runtime informers on nodes, the benchmark's pods and its Deployment;
 * it never shares the cluster's event loop.
 *
 * Phases (each bounded by the global deadline; a phase that does not finish stops the run):
 *   nodes      → the child adds `--nodes` simulated nodes at once through NodeAgent.addNode; timed
 *                from the request to the node watch showing every Node Ready. Heartbeats every
 *                `--heartbeat-ms` (60 s by default, so that 1,000 nodes' lease renewals stay a
 *                background load); the lease duration and node-monitor grace period are set to
 *                4× the heartbeat so that no node goes Unknown between beats;
 *   scale up   → a Deployment with replicas 0 is created, then PATCHed to `--pods` replicas; timed
 *                until its status.readyReplicas = `--pods`. Pod start latency is measured per pod
 *                from the moment this process SAW the pod's ADDED watch event to the moment it saw
 *                the pod Ready=True (creationTimestamp has one-second resolution, so it is not used);
 *                the node agent runs with startLatencyMs = readinessDelayMs = 0;
 *   scale down → PATCH replicas to 0; timed until the pod watch holds no pod of the Deployment
 *                (graceful deletion → node agent stops the containers → final delete), then checked
 *                with a list;
 *   memory     → VmRSS of the child with all pods Ready (and after nodes, after scale-down), VmHWM.
 *
 * Args: --nodes N (1000)  --pods N (10000)  --heartbeat-ms MS (60000)  --timeout S (360)
 *       --cpu-prof DIR (profile the child: a .cpuprofile per thread there on exit; the largest is
 *       the main thread, the other is tsx's loader)  --check (exit 1 on a missed target)
 * Exits non-zero when a phase does not finish before the deadline (the table then shows what was
 * reached) or on an error; the child is always killed and the temp dir removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { Informer } from '../../operators/runtime/informer.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import type { FromChild, ToChild } from './runtime-cluster.js';
import { benchOptions, scratchRun, cpuShare, cpuTimes, missedTargets, percentile, printTable, progress, writeResult, type Metric, procCpuSeconds, procStatusMiB } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Config {
  nodes: number;
  pods: number;
  heartbeatMs: number;
  timeoutS: number;
  cpuProfDir?: string;
  check: boolean;
}

function parseConfig(args: string[]): Config {
  return benchOptions(
    args,
    {
      nodes: { flag: 'nodes', default: 1_000, min: 1 },
      pods: { flag: 'pods', default: 10_000, min: 1 },
      heartbeatMs: { flag: 'heartbeat-ms', default: 60_000, min: 100 },
      timeoutS: { flag: 'timeout', default: 360 },
    },
    'scripts/bench/runtime.ts',
  );
}

// ---------------------------------------------------------------------------------------------
// The cluster child

type Stats = Extract<FromChild, { type: 'stats' }>;

interface ClusterChild {
  proc: ChildProcess;
  pid: number;
  kubeconfigPath: string;
  startMs: number;
  send(m: ToChild): void;
  next<T extends FromChild['type']>(type: T, timeoutMs: number): Promise<Extract<FromChild, { type: T }>>;
  stats(timeoutMs?: number): Promise<Stats | undefined>;
  output(): string;
}

async function startCluster(dataDir: string, cfg: Config, graceS: number): Promise<ClusterChild> {
  const nodeArgs = cfg.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cfg.cpuProfDir] : [];
  const proc = spawn(
    process.execPath,
    [
      ...nodeArgs,
      '--import',
      'tsx',
      join(here, 'runtime-cluster.ts'),
      '--data-dir',
      dataDir,
      '--heartbeat-ms',
      String(cfg.heartbeatMs),
      '--grace-s',
      String(graceS),
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
  );
  let tail = '';
  let forwarded = 0;
  let partial = '';
  const keep = (c: Buffer) => {
    const s = c.toString();
    tail = (tail + s).slice(-16_384);
    // The cluster's own warnings (throttled by its components) are worth seeing live, up to a point.
    partial += s;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line.trim() && forwarded++ < 40) progress(`  [cluster] ${line}`);
    }
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);

  const waiters: Array<{ type: string; resolve: (m: FromChild) => void }> = [];
  const statsWaiters = new Map<number, (m: Stats) => void>();
  proc.on('message', (m: FromChild) => {
    if (m.type === 'stats') {
      statsWaiters.get(m.id)?.(m);
      statsWaiters.delete(m.id);
      return;
    }
    const i = waiters.findIndex((w) => w.type === m.type || m.type === 'error');
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
  });
  const next = <T extends FromChild['type']>(type: T, timeoutMs: number) =>
    new Promise<Extract<FromChild, { type: T }>>((res, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${type}" from the cluster within ${Math.round(timeoutMs / 1000)}s`)), timeoutMs);
      const onExit = (code: number | null, sig: string | null) => {
        clearTimeout(timer);
        reject(new Error(`the cluster exited (${code ?? sig}) while waiting for "${type}":\n${tail}`));
      };
      proc.once('exit', onExit);
      waiters.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          proc.off('exit', onExit);
          if (m.type === 'error') reject(new Error(`the cluster failed: ${m.message}`));
          else res(m as Extract<FromChild, { type: T }>);
        },
      });
    });
  let statsId = 0;
  const alive = () => proc.exitCode === null && proc.signalCode === null && proc.connected;
  const send = (m: ToChild) => {
    if (alive()) proc.send(m);
  };
  const stats = (timeoutMs = 2_000) =>
    new Promise<Stats | undefined>((res) => {
      if (!alive()) return res(undefined);
      const id = ++statsId;
      const timer = setTimeout(() => {
        statsWaiters.delete(id);
        res(undefined);
      }, timeoutMs);
      statsWaiters.set(id, (m) => {
        clearTimeout(timer);
        res(m);
      });
      send({ type: 'stats', id });
    });

  const ready = await next('ready', 90_000);
  return { proc, pid: proc.pid!, kubeconfigPath: ready.kubeconfigPath, startMs: ready.startMs, send, next, stats, output: () => tail };
}

/** Asks the cluster to stop (so a CPU profile gets written), then kills it after `graceMs`. */
async function stopCluster(c: ClusterChild, graceMs: number): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.proc.once('exit', () => r()));
  c.send({ type: 'stop' });
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

const selfCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

// ---------------------------------------------------------------------------------------------
// What the watches saw

const isReady = (o: KubeObject) =>
  ((o.status?.conditions ?? []) as Array<{ type: string; status: string }>).some((c) => c.type === 'Ready' && c.status === 'True');

interface PodSeen {
  seenAt: number;
  readyAt?: number;
  bound: boolean;
  terminating: boolean;
}

class Observer {
  readonly readyNodes = new Set<string>();
  readonly pods = new Map<string, PodSeen>();
  /** Pods of the scale-up: ADDED seen → Ready seen, ms. */
  readonly startLatencies: number[] = [];
  podsSeen = 0;
  podsBound = 0;
  podsReady = 0;
  podsTerminating = 0;
  podsDeleted = 0;
  /** Pods that went Ready → not Ready while they were not being deleted (should stay 0). */
  podsUnready = 0;
  deployment?: KubeObject;
  /** performance.now() of the first moment each condition held; set by the handlers, read by the phases. */
  marks = new Map<string, number>();
  private checks: Array<{ name: string; cond: () => boolean }> = [];

  readonly nodeInformer: Informer;
  readonly podInformer: Informer;
  readonly deployInformer: Informer;

  constructor(client: KubeClient, namespace: string, label: string) {
    const relistIntervalMs = 24 * 3600_000; // no safety-net relists during a run
    this.nodeInformer = new Informer({ client, resource: resources.nodes, relistIntervalMs }).on({
      add: (n) => this.node(n),
      update: (_o, n) => this.node(n),
      delete: (n) => {
        this.readyNodes.delete(n.metadata.name!);
        this.check();
      },
    });
    this.podInformer = new Informer({ client, resource: resources.pods, namespace, labelSelector: label, relistIntervalMs }).on({
      add: (p) => this.pod(p),
      update: (_o, p) => this.pod(p),
      delete: (p) => this.podGone(p),
    });
    this.deployInformer = new Informer({ client, resource: resources.deployments, namespace, relistIntervalMs }).on({
      add: (d) => this.deploy(d),
      update: (_o, d) => this.deploy(d),
      delete: () => {
        this.deployment = undefined;
        this.check();
      },
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.nodeInformer.start(), this.podInformer.start(), this.deployInformer.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.nodeInformer.stop(), this.podInformer.stop(), this.deployInformer.stop()]);
  }

  get watchRestarts(): number {
    return this.nodeInformer.restarts + this.podInformer.restarts + this.deployInformer.restarts;
  }

  /** Marks `name` with the time `cond` first holds (checked after every event). */
  when(name: string, cond: () => boolean): void {
    this.checks.push({ name, cond });
    this.check();
  }

  /** Resolves true once `name` is marked, false at the deadline. */
  async reached(name: string, deadline: number): Promise<boolean> {
    while (!this.marks.has(name)) {
      if (performance.now() >= deadline) return false;
      await sleep(25);
    }
    return true;
  }

  private check(): void {
    if (this.checks.length === 0) return;
    const t = performance.now();
    this.checks = this.checks.filter((c) => {
      if (!c.cond()) return true;
      this.marks.set(c.name, t);
      return false;
    });
  }

  private node(n: KubeObject): void {
    if (isReady(n)) this.readyNodes.add(n.metadata.name!);
    else this.readyNodes.delete(n.metadata.name!);
    this.check();
  }

  private pod(p: KubeObject): void {
    const t = performance.now();
    const name = p.metadata.name!;
    let s = this.pods.get(name);
    if (!s) {
      s = { seenAt: t, bound: false, terminating: false };
      this.pods.set(name, s);
      this.podsSeen++;
    }
    if (!s.bound && p.spec?.nodeName) {
      s.bound = true;
      this.podsBound++;
    }
    if (!s.terminating && p.metadata.deletionTimestamp) {
      s.terminating = true;
      this.podsTerminating++;
    }
    const ready = isReady(p);
    if (ready && s.readyAt === undefined) {
      s.readyAt = t;
      this.podsReady++;
      this.startLatencies.push(t - s.seenAt);
    } else if (!ready && s.readyAt !== undefined && !s.terminating) {
      this.podsUnready++;
    }
    this.check();
  }

  private podGone(p: KubeObject): void {
    if (this.pods.delete(p.metadata.name!)) this.podsDeleted++;
    this.check();
  }

  private deploy(d: KubeObject): void {
    this.deployment = d;
    this.check();
  }
}

// ---------------------------------------------------------------------------------------------

interface PhaseCpu {
  seconds: number;
  clusterCpuS: number;
  clientCpuS: number;
  /** API writes (store revisions) during the phase. */
  writes?: number;
}

export async function run(args: string[]): Promise<number> {
  const cfg = parseConfig(args);
  const graceS = Math.max(40, Math.ceil((4 * cfg.heartbeatMs) / 1000));
  const load0 = loadavg()[0];
  const cpu0 = cpuTimes();
  let cluster: ClusterChild | undefined;
  let client: KubeClient | undefined;
  let observer: Observer | undefined;
  const { tmp, dispose } = scratchRun({
    prefix: 'kok-bench-runtime-',
    what: 'cluster',
    hardTimeoutS: cfg.timeoutS + 60,
    release: () => {
      client?.close();
      if (cluster && cluster.proc.exitCode === null && cluster.proc.signalCode === null) cluster.proc.kill('SIGKILL');
    },
  });
  if (cfg.cpuProfDir) mkdirSync(cfg.cpuProfDir, { recursive: true });
  const runStart = performance.now();
  const deadline = runStart + cfg.timeoutS * 1000;

  const ns = 'bench';
  const label = 'app=bench-runtime';
  const phases: Record<string, PhaseCpu> = {};
  const rss: Record<string, { rss: number; hwm: number }> = {};
  let timedOutIn: string | undefined;
  let ticker: NodeJS.Timeout | undefined;

  /** Runs a phase, printing progress every 3 s; records its wall and CPU time. */
  const phase = async (name: string, status: () => string, body: () => Promise<boolean>): Promise<boolean> => {
    const rev0 = (await cluster!.stats())?.storeRevision;
    const c0 = procCpuSeconds(cluster!.pid);
    const s0 = selfCpuSeconds();
    const t0 = performance.now();
    let lastCpu = c0;
    let lastAt = t0;
    ticker = setInterval(() => {
      void cluster!.stats(1_500).then((st) => {
        const nowCpu = procCpuSeconds(cluster!.pid);
        const at = performance.now();
        const pct = ((nowCpu - lastCpu) / ((at - lastAt) / 1000)) * 100;
        lastCpu = nowCpu;
        lastAt = at;
        const agent = st ? `; agent queue ${st.nodeAgent.queueDepth}, agent pods ${st.nodeAgent.pods}, bound ${st.scheduler.bound}` : '; (cluster stats timed out)';
        progress(`  ${name}: ${status()}${agent}; cluster RSS ${procStatusMiB(cluster!.pid).rss.toFixed(0)} MiB, CPU ${pct.toFixed(0)}%`);
      });
    }, 3_000);
    let ok: boolean;
    try {
      ok = await body();
    } finally {
      clearInterval(ticker);
      ticker = undefined;
    }
    phases[name] = {
      seconds: (performance.now() - t0) / 1000,
      clusterCpuS: Math.round((procCpuSeconds(cluster!.pid) - c0) * 100) / 100,
      clientCpuS: Math.round((selfCpuSeconds() - s0) * 100) / 100,
    };
    const rev1 = (await cluster!.stats())?.storeRevision;
    if (rev0 !== undefined && rev1 !== undefined) phases[name].writes = rev1 - rev0;
    if (!ok) {
      timedOutIn = name;
      progress(`  ${name}: deadline (${cfg.timeoutS}s) reached: ${status()}`);
    }
    return ok;
  };

  try {
    progress(
      `starting the cluster with 0 nodes (data dir ${tmp}/data; heartbeat ${cfg.heartbeatMs / 1000}s, lease/grace ${graceS}s)` +
        (cfg.cpuProfDir ? `, CPU profile to ${cfg.cpuProfDir}` : ''),
    );
    cluster = await startCluster(join(tmp, 'data'), cfg, graceS);
    const c = cluster;
    rss.start = procStatusMiB(c.pid);
    progress(`cluster pid ${c.pid} up after ${(c.startMs / 1000).toFixed(1)}s, RSS ${rss.start.rss.toFixed(0)} MiB`);

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(c.kubeconfigPath);
    client = new KubeClient(kc, { fieldManager: 'bench-runtime', maxSockets: 16 });
    await client.create(resources.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const obs = (observer = new Observer(client, ns, label));
    await obs.start();

    // --- nodes -------------------------------------------------------------------------------
    progress(`nodes: adding ${cfg.nodes} simulated nodes`);
    let nodesAdded: Extract<FromChild, { type: 'nodesAdded' }> | undefined;
    const nodesStart = performance.now();
    obs.when('nodesReady', () => obs.readyNodes.size >= cfg.nodes);
    c.send({ type: 'addNodes', count: cfg.nodes });
    const added = c.next('nodesAdded', cfg.timeoutS * 1000).then((m) => (nodesAdded = m), () => undefined);
    const nodesOk = await phase('nodes', () => `${obs.readyNodes.size}/${cfg.nodes} Ready`, () => obs.reached('nodesReady', deadline));
    if (nodesOk) await Promise.race([added, sleep(5_000)]);
    const nodesSec = ((obs.marks.get('nodesReady') ?? NaN) - nodesStart) / 1000;
    rss.nodes = procStatusMiB(c.pid);
    if (nodesOk) {
      progress(
        `  nodes: ${cfg.nodes} Ready in ${nodesSec.toFixed(2)}s (${Math.round(cfg.nodes / nodesSec)}/s); addNode calls settled after ` +
          `${nodesAdded ? (nodesAdded.ms / 1000).toFixed(2) : '?'}s${nodesAdded?.failed ? `, ${nodesAdded.failed} failed: ${nodesAdded.firstError}` : ''}; ` +
          `cluster RSS ${rss.nodes.rss.toFixed(0)} MiB`,
      );
    }

    // --- scale up ----------------------------------------------------------------------------
    let upSec = NaN;
    let upOk = false;
    let allPodsReadySec = NaN;
    let allCreatedSec = NaN;
    let allBoundSec = NaN;
    let statsAtPeak: Stats | undefined;
    let podJsonBytes = NaN;
    if (nodesOk) {
      const deploy = await client.create(resources.deployments, ns, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'bench', namespace: ns },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'bench-runtime' } },
          template: {
            metadata: { labels: { app: 'bench-runtime' } },
            spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
          },
        },
      });
      // Let the controller see it (and make its ReplicaSet) before the clock starts.
      obs.when('deployObserved', () => (obs.deployment?.status?.observedGeneration ?? 0) >= (deploy.metadata.generation ?? 1));
      await obs.reached('deployObserved', Math.min(deadline, performance.now() + 30_000));

      progress(`scale up: Deployment ${ns}/bench 0 → ${cfg.pods} replicas`);
      const upStart = performance.now();
      obs.when('upReady', () => (obs.deployment?.status?.readyReplicas ?? 0) >= cfg.pods);
      obs.when('upPodsReady', () => obs.podsReady >= cfg.pods);
      obs.when('upCreated', () => obs.podsSeen >= cfg.pods);
      obs.when('upBound', () => obs.podsBound >= cfg.pods);
      await client.patch(resources.deployments, ns, 'bench', 'merge', { spec: { replicas: cfg.pods } });
      upOk = await phase(
        'scaleUp',
        () =>
          `pods seen ${obs.podsSeen}, bound ${obs.podsBound}, Ready ${obs.podsReady}/${cfg.pods}; ` +
          `deployment readyReplicas ${obs.deployment?.status?.readyReplicas ?? 0}`,
        async () => (await obs.reached('upReady', deadline)) && (await obs.reached('upPodsReady', Math.min(deadline, performance.now() + 10_000))),
      );
      const since = (mark: string) => ((obs.marks.get(mark) ?? NaN) - upStart) / 1000;
      upSec = since('upReady');
      allPodsReadySec = since('upPodsReady');
      allCreatedSec = since('upCreated');
      allBoundSec = since('upBound');
      rss.up = procStatusMiB(c.pid);
      statsAtPeak = await c.stats(5_000);
      const sample = obs.podInformer.list()[0];
      if (sample) podJsonBytes = JSON.stringify(sample).length;
      if (upOk) {
        progress(
          `  scale up: readyReplicas ${cfg.pods} after ${upSec.toFixed(2)}s; all pods seen after ${allCreatedSec.toFixed(2)}s, bound after ` +
            `${allBoundSec.toFixed(2)}s, seen Ready after ${allPodsReadySec.toFixed(2)}s; cluster RSS ${rss.up.rss.toFixed(0)} MiB`,
        );
      }
    }

    // --- scale down --------------------------------------------------------------------------
    let downSec = NaN;
    let downOk = false;
    let remaining = NaN;
    if (upOk) {
      progress(`scale down: ${cfg.pods} → 0 replicas`);
      const deleted0 = obs.podsDeleted;
      const downStart = performance.now();
      obs.when('downGone', () => obs.pods.size === 0);
      obs.when('downAllTerminating', () => obs.podsTerminating >= cfg.pods);
      await client.patch(resources.deployments, ns, 'bench', 'merge', { spec: { replicas: 0 } });
      downOk = await phase(
        'scaleDown',
        () => `pods left ${obs.pods.size}, terminating ${obs.podsTerminating}, deleted ${obs.podsDeleted - deleted0}/${cfg.pods}`,
        () => obs.reached('downGone', deadline),
      );
      downSec = ((obs.marks.get('downGone') ?? NaN) - downStart) / 1000;
      const list = await client.list(resources.pods, ns, { labelSelector: label });
      remaining = list.items.length;
      rss.down = procStatusMiB(c.pid);
      progress(
        `  scale down: no pod left after ${downSec.toFixed(2)}s (all marked terminating after ` +
          `${(((obs.marks.get('downAllTerminating') ?? NaN) - downStart) / 1000).toFixed(2)}s); a list finds ${remaining}; cluster RSS ${rss.down.rss.toFixed(0)} MiB`,
      );
    }

    const statsEnd = await c.stats(5_000);
    rss.end = procStatusMiB(c.pid);
    const lat = obs.startLatencies;
    const hb = `heartbeat every ${cfg.heartbeatMs / 1000}s (lease duration and node-monitor grace ${graceS}s)`;
    const totalSeconds = (performance.now() - runStart) / 1000;
    const metrics: Metric[] = [
      {
        name: 'nodes1kReadySec',
        value: nodesSec,
        unit: 's',
        target: { op: '<', value: 30, note: `${cfg.nodes} nodes, 2 cores` },
        note:
          `${cfg.nodes} nodes added at once through NodeAgent.addNode in the cluster process (which started with 0), until this ` +
          `process's node watch showed all Ready; ${hb}` + (nodesOk ? '' : `; only ${obs.readyNodes.size} were Ready at the deadline`),
      },
      { name: 'nodesPerSec', value: cfg.nodes / nodesSec, unit: 'nodes/s' },
      {
        name: 'pods10kReadySec',
        value: upSec,
        unit: 's',
        target: { op: '<', value: 60, note: `${cfg.pods} pods, 2 cores` },
        note:
          `PATCH replicas 0 → ${cfg.pods} until the Deployment's status.readyReplicas = ${cfg.pods}; the pod watch saw all pods ` +
          `after ${allCreatedSec.toFixed(2)}s, all bound after ${allBoundSec.toFixed(2)}s, all Ready after ${allPodsReadySec.toFixed(2)}s` +
          (upOk || !nodesOk ? '' : `; at the deadline: ${obs.podsSeen} seen, ${obs.podsBound} bound, ${obs.podsReady} Ready`),
      },
      { name: 'podsReadyPerSec', value: cfg.pods / upSec, unit: 'pods/s' },
      {
        name: 'pods10kDeletedSec',
        value: downSec,
        unit: 's',
        target: { op: '<', value: 60, note: `${cfg.pods} pods, 2 cores` },
        note:
          `PATCH replicas → 0 until the pod watch held no pod (graceful delete, node agent stops containers and deletes for good); ` +
          `a list afterwards found ${remaining}` + (downOk || !upOk ? '' : `; ${obs.pods.size} were left at the deadline`),
      },
      { name: 'podsDeletedPerSec', value: cfg.pods / downSec, unit: 'pods/s' },
      ...(['scaleUp', 'scaleDown'] as const).flatMap((k): Metric[] => {
        const ph = phases[k];
        if (!ph) return [];
        return [
          {
            name: `${k}ClusterCpuSec`,
            value: ph.clusterCpuS,
            unit: 'CPU s',
            note:
              `CPU time of the cluster process (all threads) over the ${ph.seconds.toFixed(1)}s of the phase; less sensitive to other load ` +
              `on the machine than wall time` +
              (ph.writes ? `; ${ph.writes} API writes (${(ph.writes / cfg.pods).toFixed(1)} per pod), ${Math.round((ph.clusterCpuS / ph.writes) * 1e6)} µs CPU per write` : ''),
          },
        ];
      }),
      {
        name: 'podStartP50Ms',
        value: percentile(lat, 50),
        unit: 'ms',
        note:
          `${lat.length} pods: from this process SEEING the pod's ADDED watch event to seeing it Ready=True (creationTimestamp has ` +
          `1 s resolution); startLatencyMs = readinessDelayMs = 0, so this is scheduler + node agent + API/watch queueing under the burst`,
      },
      { name: 'podStartP99Ms', value: percentile(lat, 99), unit: 'ms' },
      { name: 'podStartMaxMs', value: lat.length ? Math.max(...lat) : NaN, unit: 'ms' },
      {
        name: 'rssMiB',
        value: rss.up?.rss ?? rss.end.rss,
        unit: 'MiB',
        note:
          `VmRSS of the cluster process ${upOk ? `with all ${cfg.pods} pods Ready` : 'at the end of the scale-up'} (${rss.start.rss.toFixed(0)} MiB at start, ` +
          `${rss.nodes.rss.toFixed(0)} MiB with ${cfg.nodes} nodes, ${(rss.down?.rss ?? NaN).toFixed(0)} MiB after scale-down); ` +
          `V8 heap used ${statsAtPeak ? (statsAtPeak.memory.heapUsed / 2 ** 20).toFixed(0) : '?'} MiB at the peak; one Ready pod is ${podJsonBytes} bytes of JSON`,
      },
      { name: 'peakRssMiB', value: rss.end.hwm, unit: 'MiB' },
      {
        name: 'podsUnready',
        value: obs.podsUnready,
        unit: 'count',
        target: { op: '<=', value: 0, note: 'sanity' },
        note: 'pods seen Ready that went not-Ready while not being deleted (e.g. a node going Unknown)',
      },
      { name: 'watchRestarts', value: obs.watchRestarts, unit: 'count', target: { op: '<=', value: 0, note: 'sanity' } },
    ];
    process.stdout.write('\n');
    printTable(metrics);
    const share = cpuShare(cpu0, cpuTimes());
    const machine = { loadavg1AtStart: Math.round(load0 * 100) / 100, ...(share ?? {}) };
    const path = writeResult(
      'runtime',
      metrics,
      {
        nodes: cfg.nodes,
        pods: cfg.pods,
        heartbeatIntervalMs: cfg.heartbeatMs,
        leaseDurationSeconds: graceS,
        nodeMonitorGracePeriodSeconds: graceS,
        startLatencyMs: 0,
        readinessDelayMs: 0,
        timeoutS: cfg.timeoutS,
        totalSeconds: Math.round(totalSeconds * 10) / 10,
        clusterStartSeconds: Math.round(c.startMs / 100) / 10,
        completed: timedOutIn === undefined,
        ...(timedOutIn ? { timedOutIn } : {}),
        phases,
        podJsonBytes,
        rssMiB: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, { rss: Math.round(v.rss), hwm: Math.round(v.hwm) }])),
        clusterStats: statsEnd ? { nodeAgent: statsEnd.nodeAgent, scheduler: statsEnd.scheduler, storeRevision: statsEnd.storeRevision } : undefined,
      },
      machine,
    );
    process.stdout.write(`\nwrote ${path}\n`);
    process.stdout.write(
      `phases (wall s / cluster CPU s / this process CPU s): ` +
        Object.entries(phases)
          .map(([k, p]) => `${k} ${p.seconds.toFixed(1)}/${p.clusterCpuS.toFixed(1)}/${p.clientCpuS.toFixed(1)}`)
          .join(', ') +
        '\n' +
        `API writes (store revisions): ` +
        Object.entries(phases)
          .map(([k, p]) => (p.writes === undefined ? `${k} ?` : `${k} ${p.writes} (${Math.round(p.writes / p.seconds)}/s, cluster CPU ${Math.round((p.clusterCpuS / Math.max(1, p.writes)) * 1e6)} µs/write)`))
          .join(', ') +
        '\n',
    );
    process.stdout.write(
      `machine: ${machine.loadavg1AtStart} load at start` +
        (share ? `, all CPUs ${share.busyPct}% busy and ${share.stealPct}% stolen by the hypervisor during the run` : '') +
        '\n',
    );
    if (load0 > 0.5 || (share && share.stealPct > 5)) {
      process.stdout.write('warning: the machine was not idle (other load or CPU steal): expect noisy numbers, compare several runs\n');
    }
    const missed = missedTargets(metrics);
    if (missed.length) process.stdout.write(`missed targets: ${missed.map((m) => m.name).join(', ')}\n`);
    if (timedOutIn) process.stdout.write(`incomplete: the ${timedOutIn} phase did not finish within the ${cfg.timeoutS}s timeout\n`);
    await observer.stop();
    observer = undefined;
    if (cfg.cpuProfDir) {
      progress('stopping the cluster so that it writes its CPU profile');
      await stopCluster(c, 60_000);
      process.stdout.write(`cluster CPU profile in ${cfg.cpuProfDir} (the largest .cpuprofile is the main thread)\n`);
    }
    if (timedOutIn) return 1;
    return cfg.check && missed.length ? 1 : 0;
  } catch (err) {
    progress(`failed: ${(err as Error).stack ?? String(err)}`);
    if (cluster) process.stderr.write(`--- cluster output (tail) ---\n${cluster.output()}\n`);
    return 1;
  } finally {
    clearInterval(ticker);
    await observer?.stop().catch(() => undefined);
    if (cluster) await stopCluster(cluster, cfg.cpuProfDir ? 60_000 : 10_000).catch(() => undefined);
    dispose();
  }
}
