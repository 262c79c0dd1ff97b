/**
 * One embedded Kubernetes API server: store, registry, verbs, background collector and HTTPS
 * front, with its PKI, admin token and kubeconfig kept in a data dir. Used for the meta-cluster and
 * (later) for each business cluster's API.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildKubeconfig, kubeconfigYaml } from '../pki/kubeconfig.js';
import { loadOrCreateServerCredentials } from '../pki/server-credentials.js';
import { Api } from './api.js';
import { seededNamespaces } from './builtins.js';
import { Collector } from './collector.js';
import { ApiMetrics } from './metrics.js';
import { Registry } from './registry.js';
import { ApiHttpServer } from './server.js';
import { Store } from './store.js';

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
  stop(): Promise<void>;
}

const crdResource = 'apiextensions.k8s.io/customresourcedefinitions';

export async function startApiServer(opts: ApiServerOptions): Promise<RunningApiServer> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const host = opts.host ?? '127.0.0.1';
  const creds = await loadOrCreateServerCredentials(opts.dataDir, { hosts: [host] });
  const store = new Store(join(opts.dataDir, 'state.db'), {
    compactionWindowMs: opts.compactionWindowMs,
    synchronous: opts.synchronous,
  });
  const registry = new Registry();
  const api = new Api(store, registry);

  // Served custom resources follow their CRDs: registered the moment a CRD is stored (and so
  // established), dropped once it is gone.
  for (const crd of store.list(crdResource, '').items) registry.setCrd(crd);
  store.subscribe((e) => {
    if (e.resource !== crdResource) return;
    if (e.type === 'DELETED') registry.removeCrd(e.name);
    else registry.setCrd(e.object);
  });

  const namespaces = registry.lookup('', 'v1', 'namespaces')!;
  for (const name of seededNamespaces) {
    if (!api.tryGet(namespaces, '', name)) api.create(namespaces, '', { metadata: { name } });
  }

  const collector = new Collector(api);
  const metrics = new ApiMetrics(() => store.revision);
  const http = new ApiHttpServer(api, {
    tls: { certPem: creds.certPem, keyPem: creds.keyPem, caPem: creds.caPem },
    tokens: new Map([[creds.adminToken, { user: 'kok-admin', groups: ['system:masters', 'system:authenticated'] }]]),
    bookmarkIntervalMs: opts.bookmarkIntervalMs,
    metrics,
  });
  let port: number;
  try {
    port = await http.listen(opts.port ?? 0, host);
  } catch (err) {
    collector.stop();
    store.close();
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
    api,
    store,
    collector,
    metrics,
    async stop() {
      if (stopped) return;
      stopped = true;
      collector.stop();
      await http.close();
      store.close();
    },
  };
}
