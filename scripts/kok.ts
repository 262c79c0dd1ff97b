/** The `kok` command line. */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { crdsYaml } from '../meta-cluster/api/crds.js';
import { startEmbeddedCluster } from '../meta-cluster/cluster.js';

const program = new Command('kok').description('kok — a Kubernetes-on-Kubernetes fleet controller').showHelpAfterError();

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${v}" is not a port (0-65535)`);
  return n;
}

function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 5000) throw new InvalidArgumentError(`"${v}" is not a node count (0-5000)`);
  return n;
}

interface StartOptions {
  dataDir: string;
  port: number;
  nodes: number;
}

/** Runs until SIGINT/SIGTERM, then stops cleanly: every acknowledged write is already on disk. */
async function runMetaCluster(opts: StartOptions): Promise<void> {
  const dir = resolve(opts.dataDir);
  const cluster = await startEmbeddedCluster({ dataDir: dir, port: opts.port, nodes: opts.nodes, clusterName: 'kok' });
  const server = cluster.apiServer;
  console.log(`kok meta-cluster serving on ${server.url} (port ${server.port}) with ${opts.nodes} simulated node(s)`);
  console.log(`kubeconfig: ${server.kubeconfigPath}`);
  console.log(`try:        KUBECONFIG=${server.kubeconfigPath} kubectl get namespaces`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    await cluster.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** `kok start` is the main job; today it is the meta-cluster, later operators and a fleet join it. */
function startCommand(cmd: Command, description: string): void {
  cmd
    .description(description)
    .option('--data-dir <dir>', 'where state, PKI and the kubeconfig are kept', '.kok/meta-cluster')
    .option('--port <port>', 'HTTPS port on 127.0.0.1 (0 picks a free one)', port, 0)
    .option('--nodes <n>', 'simulated nodes run by the node agent', count, 3)
    .action((o: StartOptions) => runMetaCluster(o));
}

startCommand(program.command('meta-cluster').description('the embedded meta-cluster').command('start'), 'run the embedded meta-cluster in the foreground');
startCommand(program.command('start'), 'the main job: run the meta-cluster with everything kok has (what `npm start` runs)');

program
  .command('crds')
  .description('print the CustomResourceDefinitions of fleet.kok.dev as YAML (regenerate meta-cluster/api/crds.yaml with it)')
  .action(() => {
    process.stdout.write(crdsYaml());
  });

await program.parseAsync(process.argv);
