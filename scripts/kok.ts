/** The `kok` command line. */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { startApiServer } from '../meta-cluster/apiserver/apiserver.js';

const program = new Command('kok').description('kok — a Kubernetes-on-Kubernetes fleet controller').showHelpAfterError();

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${v}" is not a port (0-65535)`);
  return n;
}

/** Runs until SIGINT/SIGTERM, then stops cleanly: every acknowledged write is already on disk. */
async function runMetaCluster(dataDir: string, opts: { port: number }): Promise<void> {
  const dir = resolve(dataDir);
  const server = await startApiServer({ dataDir: dir, port: opts.port });
  console.log(`kok meta-cluster serving on ${server.url} (port ${server.port})`);
  console.log(`kubeconfig: ${server.kubeconfigPath}`);
  console.log(`try:        KUBECONFIG=${server.kubeconfigPath} kubectl get namespaces`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

const meta = program.command('meta-cluster').description('the embedded meta-cluster');
meta
  .command('start')
  .description('run the embedded meta-cluster in the foreground')
  .option('--data-dir <dir>', 'where state, PKI and the kubeconfig are kept', '.kok/meta-cluster')
  .option('--port <port>', 'HTTPS port on 127.0.0.1 (0 picks a free one)', port, 0)
  .action((o: { dataDir: string; port: number }) => runMetaCluster(o.dataDir, o));

program
  .command('start')
  .description('the main job: run the meta-cluster with everything kok has (what `npm start` runs)')
  .option('--data-dir <dir>', 'where state is kept', '.kok/meta-cluster')
  .option('--port <port>', 'HTTPS port on 127.0.0.1 (0 picks a free one)', port, 0)
  .action((o: { dataDir: string; port: number }) => runMetaCluster(o.dataDir, o));

await program.parseAsync(process.argv);
