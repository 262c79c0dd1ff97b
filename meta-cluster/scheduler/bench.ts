/**
 * Scheduler throughput against the embedded API server in this same process: `nodes` Ready nodes,
 * then `pods` pods of ten ReplicaSet-like owners created (64 at a time) while the scheduler runs.
 * With `backlog`, the pods are created first and the scheduler started afterwards, which times
 * binding alone. Prints one JSON line: seconds to create the pods, seconds until every pod is
 * bound, and the process's CPU and memory. Shaped like scripts/bench modules (`run(args)`).
 *
 *   npx tsx meta-cluster/scheduler/bench.ts [nodes=1000] [pods=10000] [backlog]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KubeClient } from '../../operators/runtime/client.js';
import { startApiServer } from '../apiserver/apiserver.js';
import { resources } from '../controllers/resources.js';
import { Scheduler } from './scheduler.js';

async function inParallel(count: number, limit: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

const seconds = (ms: number) => Number((ms / 1000).toFixed(2));

export async function run(args: string[]): Promise<number> {
  const nodes = Number(args[0] ?? 1000);
  const pods = Number(args[1] ?? 10_000);
  const backlog = args[2] === 'backlog';
  const dir = mkdtempSync(join(tmpdir(), 'kok-scheduler-bench-'));
  const server = await startApiServer({ dataDir: dir });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  const client = new KubeClient(kc);
  const scheduler = new Scheduler(client);
  try {
    const capacity = { cpu: '16', memory: '64Gi', pods: '110' };
    await inParallel(nodes, 32, async (i) => {
      const name = `node-${String(i).padStart(4, '0')}`;
      await client.create(resources.nodes, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { zone: `z${i % 3}` } } });
      const status = { capacity, allocatable: capacity, conditions: [{ type: 'Ready', status: 'True' }] };
      await client.patch(resources.nodes, undefined, name, 'merge', { status }, { sub: 'status' });
    });
    if (!backlog) await scheduler.start();
    const owners = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        client.create(resources.replicasets, 'default', {
          metadata: { name: `rs-${i}` },
          spec: {
            selector: { matchLabels: { rs: `${i}` } },
            template: { metadata: { labels: { rs: `${i}` } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
          },
        }),
      ),
    );
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    await inParallel(pods, 64, async (i) => {
      const owner = owners[i % owners.length]!;
      await client.create(resources.pods, 'default', {
        metadata: {
          name: `p-${i}`,
          labels: { rs: `${i % owners.length}` },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true }],
        },
        spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '100m', memory: '128Mi' } } }] },
      });
    });
    const created = performance.now();
    if (backlog) await scheduler.start();
    while (scheduler.stats.bound < pods) await new Promise((r) => setTimeout(r, 20));
    const bound = performance.now();
    const cpu = process.cpuUsage(cpuBefore);
    console.log(
      JSON.stringify({
        nodes,
        pods,
        createSeconds: seconds(created - start),
        allBoundSeconds: seconds(bound - start),
        ...(backlog ? { bindSeconds: seconds(bound - created) } : {}),
        podsPerSecond: Math.round(pods / ((bound - start) / 1000)),
        cpuSeconds: seconds((cpu.user + cpu.system) / 1000),
        rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
        stats: scheduler.stats,
      }),
    );
    return 0;
  } finally {
    await scheduler.stop();
    client.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(await run(process.argv.slice(2)));
