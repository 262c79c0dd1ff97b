/** The `kok` command line. */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { crdsYaml } from '../meta-cluster/api/crds.js';
import { startEmbeddedCluster } from '../meta-cluster/cluster.js';
import { runOperator } from './operator.js';
import { up } from './up.js';

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
  controlPlaneRuntime: 'embedded' | 'simulated';
}

function runtimeKind(v: string): 'embedded' | 'simulated' {
  if (v !== 'embedded' && v !== 'simulated') throw new InvalidArgumentError(`"${v}" is not a control-plane runtime (embedded or simulated)`);
  return v;
}

/** Runs until SIGINT/SIGTERM, then stops cleanly: every acknowledged write is already on disk. */
async function runMetaCluster(opts: StartOptions): Promise<void> {
  const dir = resolve(opts.dataDir);
  const cluster = await startEmbeddedCluster({
    dataDir: dir,
    port: opts.port,
    nodes: opts.nodes,
    clusterName: 'kok',
    controlPlaneRuntime: opts.controlPlaneRuntime,
  });
  const server = cluster.apiServer;
  console.log(`kok meta-cluster serving on ${server.url} (port ${server.port}) with ${opts.nodes} simulated node(s)`);
  console.log(`kubeconfig: ${server.kubeconfigPath}`);
  console.log(`try:        KUBECONFIG=${server.kubeconfigPath} kubectl get namespaces`);
  if (cluster.cloud) console.log(`simulated cloud: ${cluster.cloud.path} (instances at simulated CloudTargets boot here)`);
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

program
  .command('meta-cluster')
  .description('the embedded meta-cluster')
  .command('start')
  .description('run the embedded meta-cluster alone, in the foreground')
  .option('--data-dir <dir>', 'where state, PKI and the kubeconfig are kept', '.kok/meta-cluster')
  .option('--port <port>', 'HTTPS port on 127.0.0.1 (0 picks a free one)', port, 0)
  .option('--nodes <n>', 'simulated nodes run by the node agent', count, 3)
  .option('--control-plane-runtime <kind>', 'embedded: business control-plane pods really serve; simulated: they only pretend', runtimeKind, 'embedded')
  .action((o: StartOptions) => runMetaCluster(o));

for (const name of ['up', 'start']) {
  program
    .command(name)
    .description(
      name === 'up'
        ? 'the main job: meta-cluster, operators and an example fleet, with progress until Ready'
        : 'the same as `kok up` (what `npm start` runs)',
    )
    .option('--dir <dir>', 'where everything is kept (the meta-cluster in DIR/meta-cluster)', '.kok')
    .option('--port <port>', 'HTTPS port of the meta-cluster on 127.0.0.1 (0 picks a free one)', port, 0)
    .option('--nodes <n>', 'simulated nodes of the meta-cluster', count, 3)
    .option('--fleet <file>', 'the Clusters to apply', 'blueprints/examples/fleet.yaml')
    .action((o: { dir: string; port: number; nodes: number; fleet: string }) => up(o));
}

const operatorCommand = program.command('operator').description('run a kok operator against a meta-cluster (as its Deployment does)');
const operatorOptions = (c: Command, what: string, concurrency: number) =>
  c
    .option('--kubeconfig <file>', 'kubeconfig of the meta-cluster (default: in-cluster config or $KUBECONFIG)')
    .option('--metrics-port <port>', 'HTTPS port of /metrics (0 picks a free one)', port, 8443)
    .option('--metrics-host <host>', 'address /metrics listens on', '127.0.0.1')
    .option('--concurrency <n>', `${what} reconciled at once`, count, concurrency)
    .option('--no-leader-elect', 'run without leader election (only for a single replica)');
operatorOptions(operatorCommand.command('cluster').description('the cluster operator: business clusters whose control planes run as pods'), 'Clusters', 8).action((o) =>
  runOperator('cluster', o),
);
operatorOptions(operatorCommand.command('machine').description('the machine operator: machines on cloud targets that join clusters as Nodes'), 'Machines', 16)
  .option('--simulated-cloud <file>', "the simulated cloud's SQLite file (default: from the meta-cluster's Secret kok-system/kok-simulated-cloud)")
  .action((o) => runOperator('machine', o));

program
  .command('crds')
  .description('print the CustomResourceDefinitions of fleet.kok.dev as YAML (regenerate meta-cluster/api/crds.yaml with it)')
  .action(() => {
    process.stdout.write(crdsYaml());
  });

await program.parseAsync(process.argv);
