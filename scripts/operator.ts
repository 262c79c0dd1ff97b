/**
 * `kok operator cluster|machine`: an operator as its own process, the way its Deployment runs it
 * on a real meta-cluster (and the way the benchmarks measure its memory). /metrics is served over
 * TLS; the bearer token comes from $KOK_METRICS_TOKEN or is generated and written to a file.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createCA, issueCertificate } from '../meta-cluster/pki/pki.js';
import { generateToken } from '../meta-cluster/pki/kubeconfig.js';
import { ClusterOperator } from '../operators/cluster/operator.js';
import { MachineOperator } from '../operators/machine/operator.js';
import { createLogger } from '../operators/runtime/log.js';
import { serveMetrics } from '../operators/runtime/metrics.js';

export interface OperatorCliOptions {
  kubeconfig?: string;
  metricsPort: number;
  metricsHost: string;
  concurrency: number;
  leaderElect: boolean;
  /** machine operator: the simulated cloud's file (default: from the meta-cluster's Secret). */
  simulatedCloud?: string;
}

export type OperatorKind = 'cluster' | 'machine';

export async function runOperator(kind: OperatorKind, o: OperatorCliOptions): Promise<void> {
  const log = createLogger({ name: `${kind}-operator` });
  const kubeConfig = new k8s.KubeConfig();
  if (o.kubeconfig) kubeConfig.loadFromFile(o.kubeconfig);
  else kubeConfig.loadFromDefault();
  const common = { kubeConfig, log, concurrency: o.concurrency, leaderElection: o.leaderElect ? {} : (false as const) };
  const operator = kind === 'cluster' ? new ClusterOperator(common) : new MachineOperator({ ...common, simulatedCloudPath: o.simulatedCloud });
  await operator.start();

  let token = process.env['KOK_METRICS_TOKEN'];
  if (!token) {
    token = generateToken();
    const file = join(mkdtempSync(join(tmpdir(), 'kok-operator-')), 'metrics-token');
    writeFileSync(file, token, { mode: 0o600 });
    log.info({ file }, 'metrics bearer token written');
  }
  const ca = await createCA({ commonName: 'kok-operator-metrics-ca' });
  const tls = await issueCertificate(ca, { commonName: 'kok-operator-metrics', usages: ['server'], ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
  const metrics = await serveMetrics(operator.metrics, { host: o.metricsHost, port: o.metricsPort, tls, token, ready: () => true });
  log.info({ url: `${metrics.url}/metrics`, identity: operator.identity }, `${kind} operator running`);
  // On stdout as well, whatever the log level: scripts (the benchmark) read it.
  console.log(`metrics: ${metrics.url}/metrics`);

  const stop = async () => {
    await operator.stop();
    await metrics.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
