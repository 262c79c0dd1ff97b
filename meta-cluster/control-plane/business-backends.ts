/**
 * The API backends of business clusters, one per control-plane namespace of the meta-cluster, with
 * their data under `<meta data dir>/business/<namespace>/`. Every kube-apiserver pod of a namespace
 * shares its backend (as replicas share one etcd): the first pod to start opens it, the last to
 * stop closes it, and the data stays on disk for the next pod. When the namespace itself is gone
 * from the meta-cluster, so is the business cluster: its data dir is removed.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isNotFound, type KubeClient } from '../../operators/runtime/client.js';
import { Informer } from '../../operators/runtime/informer.js';
import { openApiBackend, type ApiBackend } from '../apiserver/backend.js';
import { resources } from '../controllers/resources.js';

export interface BusinessBackendsOptions {
  /** The meta-cluster's data dir. */
  dataDir: string;
  /** A meta-cluster client, to follow namespaces. */
  client: KubeClient;
  /** @default console.warn */
  log?: (message: string, err?: unknown) => void;
}

export interface BackendLease {
  readonly backend: ApiBackend;
  /** Gives the backend back; the last release closes it. Idempotent. */
  release(): void;
}

/** Namespace names are DNS labels; anything else must never become a path. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export class BusinessBackends {
  private readonly open = new Map<string, { backend: ApiBackend; refs: number }>();
  private readonly namespaces: Informer;
  private readonly root: string;
  private readonly log: (message: string, err?: unknown) => void;
  private started = false;
  private readonly removals = new Set<Promise<void>>();

  constructor(private readonly opts: BusinessBackendsOptions) {
    this.root = join(opts.dataDir, 'business');
    this.log = opts.log ?? ((m, e) => console.warn(`business-backends: ${m}${e ? `: ${e instanceof Error ? e.message : String(e)}` : ''}`));
    this.namespaces = new Informer({ client: opts.client, resource: resources.namespaces });
    this.namespaces.on({ delete: (ns) => this.removeIfGone(ns.metadata.name!) });
  }

  /** Where a namespace's business cluster keeps its data. */
  dataDirOf(namespace: string): string {
    if (!DNS_LABEL.test(namespace)) throw new Error(`"${namespace}" is not a namespace name (a DNS label)`);
    return join(this.root, namespace);
  }

  /** Follows namespaces; data of namespaces deleted while kok was down is removed once listed. */
  async start(): Promise<void> {
    await this.namespaces.start();
    this.started = true;
    if (!existsSync(this.root)) return;
    for (const name of readdirSync(this.root)) if (DNS_LABEL.test(name)) this.removeIfGone(name);
  }

  /** Stops following namespaces and closes the backends still open (their pods were not stopped). */
  async stop(): Promise<void> {
    this.started = false;
    await this.namespaces.stop();
    await Promise.allSettled([...this.removals]);
    for (const { backend } of this.open.values()) backend.close();
    this.open.clear();
  }

  acquire(namespace: string): BackendLease {
    let entry = this.open.get(namespace);
    if (!entry) {
      entry = { backend: openApiBackend({ dataDir: this.dataDirOf(namespace) }), refs: 0 };
      this.open.set(namespace, entry);
    }
    entry.refs++;
    const e = entry;
    let released = false;
    return {
      backend: e.backend,
      release: () => {
        if (released) return;
        released = true;
        if (--e.refs > 0 || this.open.get(namespace) !== e) return;
        this.open.delete(namespace);
        e.backend.close();
        this.removeIfGone(namespace);
      },
    };
  }

  /** Whether a backend of this namespace is open (for tests and status). */
  isOpen(namespace: string): boolean {
    return this.open.has(namespace);
  }

  /** Settles once pending data removals are done (for tests). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.removals]);
  }

  /**
   * Removes a namespace's data once the namespace is gone and no pod holds its backend. The API
   * has the last word, not the cache: a namespace created a moment ago may not be cached yet.
   */
  private removeIfGone(namespace: string): void {
    if (!this.started || this.open.has(namespace) || this.namespaces.get(undefined, namespace)) return;
    const dir = this.dataDirOf(namespace);
    if (!existsSync(dir)) return;
    const removal = this.opts.client.get(resources.namespaces, undefined, namespace).then(
      () => undefined,
      (err) => {
        if (!isNotFound(err)) throw err;
        if (!this.open.has(namespace)) rmSync(dir, { recursive: true, force: true });
      },
    );
    this.removals.add(removal);
    void removal
      .catch((err) => this.log(`removing the data of deleted namespace ${namespace} failed`, err))
      .finally(() => this.removals.delete(removal));
  }
}
