/**
 * `kok operator run [name...]`: kok's operators in one process, the way the install chart's
 * Deployments run them on a real meta-cluster (one operator per Deployment) and the way tests and
 * benchmarks run them beside the embedded one. Credentials come from --kubeconfig, else
 * $KUBECONFIG / ~/.kube/config, else the pod's in-cluster ServiceAccount. /metrics is served over
 * TLS; the bearer token comes from $KOK_METRICS_TOKEN or is generated and written to a file.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createCA, issueCertificate } from '../meta-cluster/pki/pki.js';
import { generateToken } from '../meta-cluster/pki/kubeconfig.js';
import type { OperatorName } from '../operators/catalog.js';
import { ClusterOperator, DEFAULT_CONCURRENCY as CLUSTER_CONCURRENCY } from '../operators/cluster/operator.js';
import { MachineOperator, DEFAULT_CONCURRENCY as MACHINE_CONCURRENCY } from '../operators/machine/operator.js';
import { createLogger } from '../operators/runtime/log.js';
import { OperatorMetrics, serveMetrics } from '../operators/runtime/metrics.js';
import type { OperatorProcess } from '../operators/runtime/operator-process.js';

export interface OperatorCliOptions {
  kubeconfig?: string;
  metricsPort: number;
  metricsHost: string;
  /** Reconciles at once; undefined: each operator's default. */
  concurrency?: number;
  leaderElect: boolean;
  /** machine operator: the simulated cloud's file (default: from the meta-cluster's Secret). */
  simulatedCloud?: string;
}

/** Each operator's own default concurrency (for --help; without --concurrency the operator applies it). */
export const defaultConcurrency: Record<OperatorName, number> = { cluster: CLUSTER_CONCURRENCY, machine: MACHINE_CONCURRENCY };

export async function runOperators(names: readonly OperatorName[], o: OperatorCliOptions): Promise<void> {
  const log = createLogger({ name: 'kok-operator' });
  const kubeConfig = new k8s.KubeConfig();
  if (o.kubeconfig) kubeConfig.loadFromFile(o.kubeconfig);
  else kubeConfig.loadFromDefault();
  // One registry: the operators' series differ by their controller label.
  const metrics = new OperatorMetrics();
  const operators: OperatorProcess[] = names.map((name) => {
    const common = {
      kubeConfig,
      metrics,
      log: log.child({ component: `${name}-operator` }),
      concurrency: o.concurrency,
      leaderElection: o.leaderElect ? {} : (false as const),
    };
    return name === 'cluster' ? new ClusterOperator(common) : new MachineOperator({ ...common, simulatedCloudPath: o.simulatedCloud });
  });
  await Promise.all(operators.map((op) => op.start()));

  const token = process.env['KOK_METRICS_TOKEN'];
  const tokenFile = token ? undefined : join(mkdtempSync(join(tmpdir(), 'kok-operator-')), 'metrics-token');
  const server = await serveOperatorMetrics(metrics, { host: o.metricsHost, port: o.metricsPort, token, tokenFile });
  if (tokenFile) log.info({ file: tokenFile }, 'metrics bearer token written');
  log.info({ url: `${server.url}/metrics`, operators: names, identity: operators.map((op) => op.identity) }, 'operators running');
  // On stdout as well, whatever the log level: scripts (the benchmark) read it.
  console.log(`metrics: ${server.url}/metrics`);

  const stop = async () => {
    await Promise.all(operators.map((op) => op.stop()));
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

/**
 * /metrics, /healthz and /readyz over HTTPS with a certificate from a CA made for the purpose
 * (kubelet probes do not verify it; scrapers are given the CA). With `tokenFile`, the token is
 * kept there across runs and the CA written beside it.
 */
export async function serveOperatorMetrics(metrics: OperatorMetrics, o: { host: string; port: number; token?: string; tokenFile?: string }) {
  let token = o.token;
  if (!token && o.tokenFile) {
    mkdirSync(join(o.tokenFile, '..'), { recursive: true, mode: 0o700 });
    try {
      token = readFileSync(o.tokenFile, 'utf8').trim();
    } catch {
      token = generateToken();
      writeFileSync(o.tokenFile, token, { mode: 0o600 });
    }
  }
  if (!token) throw new Error('serveOperatorMetrics: a token or a tokenFile is needed');
  const ca = await createCA({ commonName: 'kok-operator-metrics-ca' });
  const tls = await issueCertificate(ca, {
    commonName: 'kok-operator-metrics',
    usages: ['server'],
    ipAddresses: ['127.0.0.1'],
    dnsNames: ['localhost', 'kok-operator-metrics.kok-system.svc'],
  });
  if (o.tokenFile) writeFileSync(join(o.tokenFile, '..', 'metrics-ca.crt'), ca.certPem);
  return serveMetrics(metrics, { host: o.host, port: o.port, tls, token });
}
