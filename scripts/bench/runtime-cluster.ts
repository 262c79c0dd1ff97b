/**
 * The child process of `npm run bench -- runtime` (scripts/bench/runtime.ts): one whole embedded
 * cluster (API server, controllers, scheduler, node agent) with no nodes at first, driven over the
 * IPC channel so the benchmark can watch it from outside and read its RSS from /proc.
 *
 *   node --import tsx scripts/bench/runtime-cluster.ts --data-dir DIR --heartbeat-ms MS --grace-s S
 *
 * Messages from the parent: `{ type: 'addNodes', count }` (registers `kok-node-0..count-1` through
 * NodeAgent.addNode, all at once; the agent bounds the writes), `{ type: 'stats', id }` (answers
 * `{ type: 'stats', id, ... }`), `{ type: 'stop' }` (stops the cluster and exits 0, so a
 * `--cpu-prof` profile is written). It exits by itself when the parent goes away.
 */
import { defaultNodes, startEmbeddedCluster, type EmbeddedCluster } from '../../meta-cluster/cluster.js';

export type ToChild = { type: 'addNodes'; count: number } | { type: 'stats'; id: number } | { type: 'stop' };

export type FromChild =
  | { type: 'ready'; url: string; kubeconfigPath: string; startMs: number }
  | { type: 'nodesAdded'; count: number; ms: number; failed: number; firstError?: string }
  | {
      type: 'stats';
      id: number;
      nodeAgent: ReturnType<EmbeddedCluster['nodeAgent']['stats']>;
      scheduler: EmbeddedCluster['scheduler']['stats'];
      schedulerPending: EmbeddedCluster['scheduler']['pendingCounts'];
      memory: NodeJS.MemoryUsage;
      storeRevision: number;
    }
  | { type: 'error'; message: string };

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const send = (m: FromChild) => process.send?.(m);

async function main(): Promise<void> {
  if (!process.send) throw new Error('runtime-cluster.ts runs as a child of scripts/bench/runtime.ts (it needs an IPC channel)');
  const dataDir = arg('--data-dir', '');
  if (!dataDir) throw new Error('--data-dir is required');
  const heartbeatIntervalMs = Number(arg('--heartbeat-ms', '60000'));
  const graceS = Number(arg('--grace-s', '240'));
  const t0 = performance.now();
  const cluster = await startEmbeddedCluster({
    dataDir,
    port: 0,
    clusterName: 'kok',
    nodes: 0,
    // Zero configured delays: a pod is Ready in one status write once its node agent sees it bound.
    nodeAgent: { heartbeatIntervalMs, leaseDurationSeconds: graceS, startLatencyMs: 0, readinessDelayMs: 0 },
    nodeMonitorGracePeriodSeconds: graceS,
  });
  send({ type: 'ready', url: cluster.apiServer.url, kubeconfigPath: cluster.apiServer.kubeconfigPath, startMs: performance.now() - t0 });

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => process.exit(code), 15_000);
    try {
      await cluster.stop();
    } finally {
      clearTimeout(timer);
      process.exit(code);
    }
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.on('disconnect', () => void stop(0));

  process.on('message', (m: ToChild) => {
    switch (m.type) {
      case 'addNodes': {
        const start = performance.now();
        const specs = defaultNodes('kok', m.count);
        let failed = 0;
        let firstError: string | undefined;
        void Promise.all(
          specs.map((s) =>
            cluster.nodeAgent.addNode(s).catch((err: unknown) => {
              failed++;
              firstError ??= err instanceof Error ? err.message : String(err);
            }),
          ),
        ).then(() => send({ type: 'nodesAdded', count: m.count, ms: performance.now() - start, failed, firstError }));
        break;
      }
      case 'stats':
        send({
          type: 'stats',
          id: m.id,
          nodeAgent: cluster.nodeAgent.stats(),
          scheduler: { ...cluster.scheduler.stats },
          schedulerPending: cluster.scheduler.pendingCounts,
          memory: process.memoryUsage(),
          storeRevision: cluster.apiServer.store.revision,
        });
        break;
      case 'stop':
        void stop(0);
        break;
    }
  });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  console.error(err);
  process.exit(1);
});
