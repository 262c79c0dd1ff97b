/**
 * `npm run bench -- <name> [args]`: runs the benchmark `scripts/bench/<name>.ts`.
 * Each benchmark module exports `run(args): Promise<number>` (the exit code) and prints its
 * table via report.ts. An unknown or missing name lists the benchmarks and exits 2.
 */

export interface Benchmark {
  description: string;
  load: () => Promise<{ run(args: string[]): Promise<number> }>;
}

/** The registry: add a benchmark here after creating `scripts/bench/<name>.ts`. */
export const benchmarks: Record<string, Benchmark> = {
  apiserver: {
    description:
      'the HTTPS API server in a child process: creates/updates/gets per second, list of 20k, watch latency with 200 watchers, RSS, vs. raw SQLite',
    load: () => import('./apiserver.js'),
  },
  runtime: {
    description:
      'the whole embedded cluster in a child process: 1,000 simulated nodes to Ready, one Deployment 0 → 10,000 pods Ready → 0, pod start latency, RSS',
    load: () => import('./runtime.js'),
  },
  clusters: {
    description:
      'the cluster operator in its own process: 1,000 simulated-runtime Clusters and 100 real embedded control planes to Ready, reconcile p50/p99, operator RSS',
    load: () => import('./clusters.js'),
  },
  machines: {
    description:
      'the machine operator in its own process: 100 business clusters × 100 machines to Ready Nodes at zero latency and at VM 10 s / node 2 s, overhead, operator RSS',
    load: () => import('./machines.js'),
  },
};

function usage(out: NodeJS.WritableStream): void {
  out.write('usage: npm run bench -- <name> [args]\n\nbenchmarks:\n');
  const width = Math.max(...Object.keys(benchmarks).map((n) => n.length));
  for (const [name, b] of Object.entries(benchmarks)) out.write(`  ${name.padEnd(width)}  ${b.description}\n`);
}

const [name, ...args] = process.argv.slice(2);
if (name === '--help' || name === '-h') {
  usage(process.stdout);
  process.exit(0);
}
const bench = name !== undefined && Object.hasOwn(benchmarks, name) ? benchmarks[name] : undefined;
if (!bench) {
  if (name !== undefined) process.stderr.write(`unknown benchmark "${name}"\n\n`);
  usage(process.stderr);
  process.exit(2);
}
const mod = await bench.load();
try {
  process.exit(await mod.run(args));
} catch (err) {
  process.stderr.write(`bench ${name}: ${(err as Error).message ?? String(err)}\n`);
  process.exit(2);
}
