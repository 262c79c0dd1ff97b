/**
 * The storage-and-verbs core of one Kubernetes API, without a listener: the SQLite store in a data
 * dir, the registry of served kinds (custom resources follow their CRDs), the verbs, the seeded
 * namespaces and the background collector. One backend can sit behind several HTTPS listeners —
 * the business clusters' kube-apiserver pods share theirs the way replicas share one etcd.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Api } from './api.js';
import { seededNamespaces } from './builtins.js';
import { Collector } from './collector.js';
import { ApiMetrics } from './metrics.js';
import { Registry } from './registry.js';
import { Store } from './store.js';

export interface ApiBackendOptions {
  /** Holds `state.db` (and its WAL); created with mode 0700 when missing. */
  dataDir: string;
  compactionWindowMs?: number;
  synchronous?: 'NORMAL' | 'FULL';
}

export interface ApiBackend {
  readonly dataDir: string;
  readonly store: Store;
  readonly registry: Registry;
  readonly api: Api;
  readonly collector: Collector;
  /** One set of metrics for every listener of this backend. */
  readonly metrics: ApiMetrics;
  /** Stops the collector and closes the store; the data stays on disk. Idempotent. */
  close(): void;
}

const crdResource = 'apiextensions.k8s.io/customresourcedefinitions';

export function openApiBackend(opts: ApiBackendOptions): ApiBackend {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const store = new Store(join(opts.dataDir, 'state.db'), {
    compactionWindowMs: opts.compactionWindowMs,
    synchronous: opts.synchronous,
  });
  let collector: Collector | undefined;
  try {
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

    collector = new Collector(api);
    const metrics = new ApiMetrics(() => store.revision);
    let closed = false;
    const c = collector;
    return {
      dataDir: opts.dataDir,
      store,
      registry,
      api,
      collector: c,
      metrics,
      close() {
        if (closed) return;
        closed = true;
        c.stop();
        store.close();
      },
    };
  } catch (err) {
    collector?.stop();
    store.close();
    throw err;
  }
}
