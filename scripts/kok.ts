/** The `kok` command line. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { crdsYaml } from '../meta-cluster/api/crds.js';
import { startEmbeddedCluster } from '../meta-cluster/cluster.js';
import { isOperatorName, operatorNames, type OperatorName } from '../operators/catalog.js';
import { defaultConcurrency, runOperators, type OperatorCliOptions } from './operator.js';
import { synthFile } from './synth.js';
import { BlueprintError } from '../blueprints/errors.js';
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

function concurrency(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError(`"${v}" is not a concurrency (1-256)`);
  return n;
}

interface StartOptions {
  dataDir: string;
  port: number;
  nodes: number;
  controlPlaneRuntime: 'embedded' | 'simulated';
  auditLogPath?: string;
  authorizationMode: 'RBAC' | 'AlwaysAllow';
}

function authorizationMode(v: string): 'RBAC' | 'AlwaysAllow' {
  if (v !== 'RBAC' && v !== 'AlwaysAllow') throw new InvalidArgumentError(`"${v}" is not an authorization mode (RBAC or AlwaysAllow)`);
  return v;
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
    auditLogPath: opts.auditLogPath ? resolve(opts.auditLogPath) : undefined,
    authorization: opts.authorizationMode,
    // The kubelets of the machines it boots run in a worker thread, off the API server's event loop.
    simulatedCloud: { thread: true },
  });
  const server = cluster.apiServer;
  console.log(`kok meta-cluster serving on ${server.url} (port ${server.port}) with ${opts.nodes} simulated node(s)`);
  console.log(`kubeconfig: ${server.kubeconfigPath}`);
  if (opts.auditLogPath) console.log(`audit log:  ${resolve(opts.auditLogPath)}`);
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
  .option('--audit-log-path <file>', 'append an audit event (audit.k8s.io/v1, level Metadata) per API request to this file as JSON lines')
  .option('--authorization-mode <mode>', 'RBAC: enforce Roles and bindings (the admin kubeconfig is system:masters); AlwaysAllow: any authenticated client may do anything', authorizationMode, 'RBAC')
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
    .option('--fleet <file>', 'the fleet to apply: a cdk8s blueprint (.ts) or YAML', 'blueprints/examples/fleet.ts')
    .action((o: { dir: string; port: number; nodes: number; fleet: string }) => up(o));
}

program
  .command('operator')
  .description("kok's operators against a meta-cluster")
  .command('run')
  .description('run operators (default: all) in this process, as the install chart\'s Deployments do')
  .argument('[operators...]', `which: ${operatorNames.join(', ')}`, (v: string, prev: OperatorName[] = []) => {
    if (!isOperatorName(v)) throw new InvalidArgumentError(`"${v}" is not an operator; kok has ${operatorNames.join(', ')}`);
    return [...prev, v];
  })
  .option('--kubeconfig <file>', 'kubeconfig of the meta-cluster (default: $KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount)')
  .option('--metrics-port <port>', 'HTTPS port of /metrics, /healthz, /readyz (0 picks a free one)', port, 8443)
  .option('--metrics-host <host>', 'address /metrics listens on', '127.0.0.1')
  .option('--concurrency <n>', `objects reconciled at once per operator (default: ${Object.entries(defaultConcurrency).map(([k, v]) => `${k} ${v}`).join(', ')})`, concurrency)
  .option('--no-leader-elect', 'run without leader election (only for a single replica)')
  .option('--simulated-cloud <file>', "machine operator: the simulated cloud's SQLite file (default: from the meta-cluster's Secret kok-system/kok-simulated-cloud)")
  .action((names: OperatorName[] | undefined, o: OperatorCliOptions) => runOperators(names?.length ? [...new Set(names)] : operatorNames, o));

program
  .command('synth')
  .description('synthesise a cdk8s blueprint (a module whose default export declares charts on an App) to YAML')
  .argument('<file>', 'the blueprint, e.g. blueprints/examples/multi-unit.ts')
  .option('-o, --output <file>', 'write there instead of stdout')
  .action(async (file: string, o: { output?: string }) => {
    let yaml: string;
    try {
      yaml = await synthFile(file);
    } catch (err) {
      // A blueprint's own mistakes (bad props, a missing file, no default export) are the user's to fix: the message says how.
      const e = err as Error & { code?: string };
      if (!(err instanceof BlueprintError) && e.code !== 'ERR_MODULE_NOT_FOUND' && !e.message?.startsWith(`${file}:`)) throw err;
      console.error(`kok synth: ${e.message}`);
      process.exit(1);
    }
    if (o.output) writeFileSync(o.output, yaml);
    else process.stdout.write(yaml);
  });

program
  .command('crds')
  .description('print the CustomResourceDefinitions of fleet.kok.dev as YAML (regenerate meta-cluster/api/crds.yaml with it)')
  .action(() => {
    process.stdout.write(crdsYaml());
  });

await program.parseAsync(process.argv);
