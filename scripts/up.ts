/**
 * `kok up` — the main job (`npm start`): the embedded meta-cluster in `.kok/` (with the simulated
 * cloud it hosts), the cluster and machine operators beside it, an example fleet applied
 * (Clusters, CloudTargets of every tier, MachinePools), progress shown until every Cluster and
 * pool is Ready, and then how to reach each cluster with kubectl. Ctrl-C stops; everything is kept on disk, so
 * running it again resumes where it was.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startEmbeddedCluster } from '../meta-cluster/cluster.js';
import { ClusterOperator } from '../operators/cluster/operator.js';
import { childResources, clusterResource } from '../operators/cluster/reconcile.js';
import { MachineOperator } from '../operators/machine/operator.js';
import { fleetResources } from '../meta-cluster/api/resources.js';
import { KubeClient, type KubeObject, type ResourceRef } from '../operators/runtime/client.js';
import { createLogger, type LogLevel } from '../operators/runtime/log.js';
import { OperatorMetrics } from '../operators/runtime/metrics.js';
import { serveOperatorMetrics } from './operator.js';
import { loadBlueprint } from './synth.js';

export interface UpOptions {
  /** @default '.kok' */
  readonly dir: string;
  readonly port: number;
  readonly nodes: number;
  /** The fleet to apply: a blueprint (.ts, as `kok synth` takes) or YAML of several documents. */
  readonly fleet: string;
}

const kinds: Record<string, ResourceRef> = { Namespace: childResources.Namespace, ...fleetResources };

function refFor(o: KubeObject): ResourceRef {
  const r = o?.kind ? kinds[o.kind] : undefined;
  if (!r) throw new Error(`kok up: the fleet file may hold ${Object.keys(kinds).join(', ')}; not ${o?.kind ?? 'a document without kind'}`);
  return r;
}

/** Runs until SIGINT/SIGTERM. */
export async function up(opts: UpOptions): Promise<void> {
  const dir = resolve(opts.dir);
  // The progress lines are the user's view here; operator logs only say something when it matters.
  const log = createLogger({ name: 'kok', level: (process.env['KOK_LOG_LEVEL'] as LogLevel | undefined) ?? 'warn' });
  // A blueprint is synthesised here, as `kok synth` would; YAML is read as it is.
  const yaml = /\.[mc]?[tj]s$/.test(opts.fleet) ? (await loadBlueprint(opts.fleet)).synthYaml() : readFileSync(opts.fleet, 'utf8');
  const fleet = parseAllDocuments(yaml).map((d) => d.toJSON() as KubeObject).filter(Boolean);
  fleet.forEach(refFor); // a bad fleet file fails before anything starts

  console.log(`starting the embedded meta-cluster in ${join(dir, 'meta-cluster')} …`);
  const meta = await startEmbeddedCluster({ dataDir: join(dir, 'meta-cluster'), port: opts.port, nodes: opts.nodes, clusterName: 'kok', simulatedCloud: { thread: true } });
  // One registry for both operators: their series differ by the controller label.
  const metrics = new OperatorMetrics();
  const operators = [
    new ClusterOperator({ kubeConfig: meta.kubeConfig, metrics, log: log.child({ component: 'cluster-operator' }) }),
    new MachineOperator({ kubeConfig: meta.kubeConfig, metrics, simulatedCloud: meta.cloud?.cloud, log: log.child({ component: 'machine-operator' }) }),
  ];
  await Promise.all(operators.map((o) => o.start()));
  const metricsServer = await serveOperatorMetrics(metrics, { host: '127.0.0.1', port: 0, tokenFile: join(dir, 'operator', 'metrics-token') });
  const client = new KubeClient(meta.kubeConfig, { fieldManager: 'kok-up' });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping (state is kept in ${dir}; run again to resume)`);
    await Promise.all(operators.map((o) => o.stop()));
    await metricsServer.close();
    client.close();
    await meta.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  for (const o of fleet) {
    await client.patch(refFor(o), o.metadata.namespace, o.metadata.name!, 'apply', o, { force: true });
  }
  const clusters = fleet.filter((o) => o.kind === 'Cluster');
  const watched = fleet.filter((o) => o.kind === 'Cluster' || o.kind === 'MachinePool');
  console.log(`applied ${clusters.length} Cluster(s) and ${watched.length - clusters.length} MachinePool(s) from ${opts.fleet}; waiting for them to be Ready …`);
  await showProgress(client, watched, () => stopping);
  if (stopping) return;

  const kubeconfigs = join(dir, 'clusters');
  mkdirSync(kubeconfigs, { recursive: true, mode: 0o700 });
  console.log('\nthe meta-cluster:');
  console.log(`  export KUBECONFIG=${meta.apiServer.kubeconfigPath}`);
  console.log('  kubectl get clusters,machinepools,machines -A    # or: kubectl get kok -A');
  console.log('  kubectl get cloudtargets                          # capacity, machines in use, cost per hour');
  console.log('  kubectl get pods -n kcp-<namespace>-<name>   # a control plane, as pods');
  for (const c of clusters) {
    const ns = c.metadata.namespace!;
    const name = c.metadata.name!;
    const cluster = await client.get(clusterResource, ns, name);
    const secretName = cluster.status?.kubeconfigSecretRef?.name;
    const secret = await client.get(childResources.Secret, ns, secretName);
    const file = join(kubeconfigs, `${ns}-${name}.kubeconfig`);
    writeFileSync(file, Buffer.from(secret.data.value, 'base64'), { mode: 0o600 });
    console.log(`\nbusiness cluster ${ns}/${name} (${cluster.status?.version} at ${cluster.status?.endpoint}):`);
    console.log(`  kubectl --kubeconfig ${file} get nodes -L fleet.kok.dev/tier,fleet.kok.dev/unit,topology.kubernetes.io/zone`);
    console.log(`  # the same kubeconfig from the meta-cluster: kubectl get secret -n ${ns} ${secretName} -o jsonpath='{.data.value}' | base64 -d`);
  }
  console.log(`\noperator metrics: ${metricsServer.url}/metrics (bearer token in ${join(dir, 'operator', 'metrics-token')})`);
  console.log('Ctrl-C stops everything; state stays in', dir);
}

/** Prints a line whenever a Cluster's or pool's phase or Ready message changes, until all are Ready. */
async function showProgress(client: KubeClient, objects: KubeObject[], stopped: () => boolean): Promise<void> {
  const last = new Map<string, string>();
  const started = Date.now();
  for (;;) {
    let ready = 0;
    for (const c of objects) {
      const key = `${c.kind} ${c.metadata.namespace}/${c.metadata.name}`;
      const got = await client.get(refFor(c), c.metadata.namespace, c.metadata.name!).catch(() => undefined);
      const readyCond = (got?.status?.conditions ?? []).find((x: { type: string }) => x.type === 'Ready');
      const line = `${got?.status?.phase ?? 'Pending'}${readyCond?.status === 'True' ? '' : ` — ${readyCond?.message ?? 'waiting for the operator'}`}`;
      if (readyCond?.status === 'True') ready++;
      if (last.get(key) !== line) {
        last.set(key, line);
        console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${key}: ${line}`);
      }
    }
    if (ready === objects.length || stopped()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** /metrics over TLS with a bearer token, both made on first start and kept in `dir`. */
