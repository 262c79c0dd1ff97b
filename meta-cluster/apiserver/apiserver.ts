/**
 * One embedded Kubernetes API server: a backend (store, registry, verbs, collector; backend.ts)
 * behind an HTTPS front, with its PKI, admin token and kubeconfig kept in a data dir. Used for the
 * meta-cluster; business clusters' kube-apiserver pods put their own listeners over a backend
 * (control-plane/kube-apiserver-runtime.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildKubeconfig, kubeconfigYaml } from '../pki/kubeconfig.js';
import { loadOrCreateServerCredentials } from '../pki/server-credentials.js';
import type { Api } from './api.js';
import { openApiBackend } from './backend.js';
import type { Collector } from './collector.js';
import type { ApiMetrics } from './metrics.js';
import { openAuditLog, type AuditLog } from './audit.js';
import { withPrivilegedGroup, type AuthorizationMode, type Authorizer } from './authorizer.js';
import { reconcileBootstrapPolicy } from './bootstrap-policy.js';
import { bootstrapTokenAuthenticator } from './bootstrap-tokens.js';
import { RbacAuthorizer } from './rbac.js';
import { RbacCache } from './rbac-cache.js';
import { ApiHttpServer, chainTokenAuthenticators } from './server.js';
import { ServiceAccountTokens } from './service-account-tokens.js';
import type { Store } from './store.js';

export interface ApiServerOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Name of the cluster and context in the written kubeconfig. */
  clusterName?: string;
  compactionWindowMs?: number;
  bookmarkIntervalMs?: number;
  synchronous?: 'NORMAL' | 'FULL';
  /**
   * Appends an audit event (audit.k8s.io/v1, level Metadata) per request to this file as JSON
   * lines, as kube-apiserver's `--audit-log-path`. Created 0600 with its directory if missing.
   * @default - no audit log
   */
  auditLogPath?: string;
  /**
   * As kube-apiserver's `--authorization-mode`: 'RBAC' enforces the Roles, ClusterRoles and their
   * bindings (./rbac.ts), creating the default policy at start (./bootstrap-policy.ts);
   * 'AlwaysAllow' lets every authenticated request through. `system:masters` (the admin
   * kubeconfig) may do everything either way.
   * @default 'AlwaysAllow' - kube-apiserver's default; the embedded meta-cluster (../cluster.ts) uses 'RBAC'
   */
  authorization?: AuthorizationMode;
}

export interface RunningApiServer {
  port: number;
  url: string;
  kubeconfigPath: string;
  adminToken: string;
  caPem: string;
  api: Api;
  store: Store;
  collector: Collector;
  metrics: ApiMetrics;
  authorization: AuthorizationMode;
  stop(): Promise<void>;
}

export async function startApiServer(opts: ApiServerOptions): Promise<RunningApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const backend = openApiBackend({ dataDir: opts.dataDir, compactionWindowMs: opts.compactionWindowMs, synchronous: opts.synchronous });
  let creds: Awaited<ReturnType<typeof loadOrCreateServerCredentials>>;
  let http: ApiHttpServer;
  let port: number;
  let auditLog: AuditLog | undefined;
  let rbac: RbacCache | undefined;
  const authorization = opts.authorization ?? 'AlwaysAllow';
  if (authorization !== 'RBAC' && authorization !== 'AlwaysAllow') {
    backend.close();
    throw new Error(`authorization mode "${String(authorization)}" is not supported: use RBAC or AlwaysAllow`);
  }
  try {
    let authorizer: Authorizer | undefined;
    if (authorization === 'RBAC') {
      reconcileBootstrapPolicy(backend.api);
      rbac = new RbacCache(backend.store);
      authorizer = withPrivilegedGroup(new RbacAuthorizer(rbac));
    }
    creds = await loadOrCreateServerCredentials(opts.dataDir, { hosts: [host] });
    const serviceAccountTokens = await ServiceAccountTokens.create(backend.api, {
      privateKeyPem: creds.serviceAccountKeyPem,
      publicKeyPem: creds.serviceAccountPublicKeyPem,
    });
    auditLog = opts.auditLogPath ? openAuditLog(opts.auditLogPath) : undefined;
    http = new ApiHttpServer(backend.api, {
      tls: { certPem: creds.certPem, keyPem: creds.keyPem, caPem: creds.caPem },
      tokens: new Map([[creds.adminToken, { user: 'kok-admin', groups: ['system:masters', 'system:authenticated'] }]]),
      // Machines joining the meta-cluster itself register with bootstrap tokens, as on kubeadm clusters.
      tokenAuthenticator: chainTokenAuthenticators(bootstrapTokenAuthenticator(backend.api), serviceAccountTokens.authenticate),
      serviceAccountTokens,
      audit: auditLog?.write,
      bookmarkIntervalMs: opts.bookmarkIntervalMs,
      metrics: backend.metrics,
      authorizer,
    });
    port = await http.listen(opts.port ?? 0, host);
  } catch (err) {
    await auditLog?.close();
    rbac?.close();
    backend.close();
    throw err;
  }
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const clusterName = opts.clusterName ?? 'kok';
  const kubeconfigPath = join(opts.dataDir, 'kubeconfig');
  const kubeconfig = buildKubeconfig({
    clusterName,
    server: url,
    caPem: creds.caPem,
    user: { name: `${clusterName}-admin`, token: creds.adminToken },
  });
  writeFileSync(kubeconfigPath, kubeconfigYaml(kubeconfig), { mode: 0o600 });

  let stopped = false;
  return {
    port,
    url,
    kubeconfigPath,
    adminToken: creds.adminToken,
    caPem: creds.caPem,
    api: backend.api,
    store: backend.store,
    collector: backend.collector,
    metrics: backend.metrics,
    authorization,
    async stop() {
      if (stopped) return;
      stopped = true;
      backend.collector.stop();
      await http.close();
      rbac?.close();
      backend.close();
      // Last: answers still waiting for the final commit are audited as they leave.
      await auditLog?.close();
    },
  };
}
