/**
 * The Cluster reconciler, in cluster-api's skeleton: get (gone → done) → ensure the finalizer →
 * if deleting, tear down → else run the phases in order → finally compute and patch the status.
 * It reads the world from informer caches and never branches on created-versus-updated: every
 * child has a deterministic name and a desired-state hash, and is written only when it differs.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { ClusterConditions, findCondition } from '../../meta-cluster/api/v1alpha1/conditions.js';
import { isAlreadyExists, isNotFound, type KubeClient, type KubeObject, type ResourceRef } from '../runtime/client.js';
import type { ClusterClientRegistry } from '../runtime/cluster-clients.js';
import type { EventRecorder } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import { addFinalizer, controllerRef, hasFinalizer, removeFinalizer } from '../runtime/objects.js';
import { TerminalError, type ReconcileResult } from '../runtime/workqueue.js';
import {
  caOf,
  credentialPlan,
  credentialProblem,
  generateCredential,
  renewalDue,
  type Credential,
  type SecretData,
} from './credentials.js';
import { desiredControlPlane, desiredNamespace } from './desired.js';
import { clusterLabels, components, controlPlaneNamespace, DESIRED_HASH_ANNOTATION, FINALIZER, kubeconfigSecretName, parseClusterKey, type ClusterRef } from './names.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { SIMULATED_CONDITION } from '../../meta-cluster/node-agent/pod-status.js';
import { fleetResources } from '../../meta-cluster/api/resources.js';
import { slimmers } from './cache.js';
import { InvalidClusterSpec, planRollout, type RolloutPlan } from './rollout.js';
import { computeStatus, type Observation } from './status.js';
import type { CertificateAndKey } from '../../meta-cluster/pki/pki.js';

export const clusterResource: ResourceRef = fleetResources.Cluster;

/** Where each kind the operator writes lives. */
export const childResources = {
  Namespace: resources.namespaces,
  Secret: resources.secrets,
  Service: resources.services,
  Pod: resources.pods,
  Deployment: resources.deployments,
  StatefulSet: resources.statefulsets,
  PodDisruptionBudget: resources.poddisruptionbudgets,
  NetworkPolicy: resources.networkpolicies,
} as const satisfies Record<string, ResourceRef>;
export type ChildKind = keyof typeof childResources;

/** The caches the reconciler reads: the Clusters, and the children (selected by the managed-by label). */
export type Caches = { Cluster: Informer<Cluster & KubeObject> } & { [K in ChildKind]: Informer };

export interface ReconcilerDeps {
  readonly client: KubeClient;
  readonly caches: Caches;
  readonly clients: ClusterClientRegistry;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly now?: () => Date;
}

/**
 * Children this reconciler created that its caches do not show yet. Without it, the reconcile
 * that follows a create (an event comes at once) would find nothing cached, create again, get
 * AlreadyExists and fall back to a server-side apply — for every child of every new cluster.
 * Entries go as soon as the cache has the object, or after a while in case it never will.
 */
class RecentCreates {
  private readonly entries = new Map<string, { obj: KubeObject; at: number }>();

  constructor(private readonly ttlMs = 30_000) {}

  remember(kind: ChildKind, obj: KubeObject): void {
    const now = Date.now();
    if (this.entries.size > 10_000) for (const [k, e] of this.entries) if (now - e.at > this.ttlMs) this.entries.delete(k);
    this.entries.set(`${kind}/${obj.metadata.namespace}/${obj.metadata.name}`, { obj: slimmers[kind](obj), at: now });
  }

  /** The cached object, or what we created when the cache does not have it yet. */
  view(kind: ChildKind, cached: KubeObject | undefined, namespace: string | undefined, name: string): KubeObject | undefined {
    const key = `${kind}/${namespace}/${name}`;
    const e = this.entries.get(key);
    if (!e) return cached;
    if (cached || Date.now() - e.at > this.ttlMs) {
      this.entries.delete(key);
      return cached;
    }
    return e.obj;
  }
}

const MAX_REQUEUE_MS = 12 * 3_600_000;

/** What one reconcile works with. */
interface Scope {
  readonly cluster: Cluster & KubeObject;
  readonly ref: ClusterRef;
  readonly key: string;
  readonly namespace: string;
  readonly now: Date;
  readonly observation: { -readonly [K in keyof Observation]: Observation[K] } & { pkiProblems: string[] };
  requeueAfterMs?: number;
  plan?: RolloutPlan;
}

const requeue = (scope: Scope, ms: number) => {
  scope.requeueAfterMs = Math.min(scope.requeueAfterMs ?? Infinity, ms);
};

export class ClusterReconciler {
  /** Secrets found good, by uid, resourceVersion and the CA versions they were checked against. */
  private readonly validated = new Map<string, { renewAt?: number }>();
  private readonly created = new RecentCreates();

  /** A child as this reconciler last knows it: the cache, or its own create the cache has not shown yet. */
  private child(kind: ChildKind, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.created.view(kind, this.deps.caches[kind].get(namespace, name), namespace, name);
  }

  constructor(private readonly deps: ReconcilerDeps) {}

  readonly reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const ref = parseClusterKey(key);
    const cluster = this.deps.caches.Cluster.get(ref.namespace, ref.name);
    if (!cluster) {
      this.deps.clients.unregister(key);
      return;
    }
    if (cluster.metadata.deletionTimestamp) return this.reconcileDelete(cluster, ref, key);
    if (!hasFinalizer(cluster, FINALIZER)) {
      // Add first, act after: the update this causes brings the key back.
      await addFinalizer(this.deps.client, clusterResource, cluster, FINALIZER);
      return;
    }
    if (cluster.spec.paused) return;

    const scope: Scope = {
      cluster,
      ref,
      key,
      namespace: controlPlaneNamespace(ref),
      now: this.deps.now?.() ?? new Date(),
      // Until the credentials phase has run to its end, PKIReady must not claim anything.
      observation: { pkiProblems: ['credentials not checked yet'] },
    };
    let reconciled = false;
    try {
      for (const phase of [this.rolloutPlan, this.ensureNamespace, this.ensureCredentials, this.ensureWorkloads, this.probe]) {
        if ((await phase.call(this, scope)) === 'stop') break;
      }
      reconciled = true;
    } catch (err) {
      if (err instanceof InvalidClusterSpec) {
        scope.observation.invalidSpec = err.message;
        void this.deps.events.event(scope.cluster, 'Warning', 'InvalidSpec', err.message);
        reconciled = true;
        throw new TerminalError(err.message);
      }
      throw err;
    } finally {
      await this.patchStatus(scope, reconciled);
    }
    return scope.requeueAfterMs === undefined ? undefined : { requeueAfterMs: Math.min(scope.requeueAfterMs, MAX_REQUEUE_MS) };
  };

  /** Which version each component runs this time; a refused change is reported, never applied. */
  private async rolloutPlan(scope: Scope): Promise<void> {
    const { namespace } = scope;
    const d = this.deps.caches.Deployment;
    const plan = planRollout(scope.cluster, {
      apiServer: d.get(namespace, components.apiServer),
      controllerManager: d.get(namespace, components.controllerManager),
      scheduler: d.get(namespace, components.scheduler),
    });
    scope.plan = plan;
    Object.assign(scope.observation, {
      runningVersion: plan.running,
      targetVersion: plan.target,
      rolloutComplete: plan.complete,
      apiServerRolledOut: plan.apiServerDone,
      previousVersion: scope.cluster.status?.version,
      refusedUpgrade: plan.refused,
    });
    if (plan.refused && findCondition(scope.cluster.status?.conditions, ClusterConditions.Upgrading)?.message !== plan.refused) {
      void this.deps.events.event(scope.cluster, 'Warning', 'UpgradeRefused', plan.refused);
    }
  }

  /** The control plane's own namespace; a namespace still terminating from an earlier life is waited out. */
  private async ensureNamespace(scope: Scope): Promise<'stop' | void> {
    const ns = await this.apply(desiredNamespace(scope.cluster, scope.namespace));
    if (ns.metadata.deletionTimestamp) {
      scope.observation.pkiProblems.push(`namespace ${scope.namespace} is still terminating`);
      requeue(scope, 2_000); // waiting for the old namespace to finish terminating
      return 'stop';
    }
  }

  /**
   * CAs, certificates, the service-account key and kubeconfigs, each in its Secret. A Secret found
   * good stays good until it or a CA before it changes, so the usual reconcile reads no key
   * material at all; otherwise every Secret is read (the cache holds no data) and checked.
   */
  private async ensureCredentials(scope: Scope): Promise<void> {
    const { cluster, namespace, observation: o } = scope;
    const endpoint = endpointOf(this.deps.caches.Service.get(namespace, components.apiServer));
    o.endpoint = endpoint?.url;
    const adminSecret = kubeconfigSecretName(scope.ref);
    const plan = credentialPlan({ cluster, namespace, endpoint, adminSecret });
    const done = () => {
      o.pkiProblems.length = 0;
      // Named in the status only once it exists (it waits for the endpoint).
      if (endpoint) o.kubeconfigSecret = adminSecret;
    };
    if (this.credentialsKnownGood(scope, plan)) return done();

    const cas = new Map<string, CertificateAndKey>();
    const caVersions: string[] = [];
    const issued: string[] = [];
    for (const c of plan) {
      const stored = await this.readSecret(c);
      const data = stored && decodeSecret(stored);
      const known = stored && this.validated.get(verdictKey(stored, caVersions));
      const problem = known ? undefined : credentialProblem(c, data, cas, scope.now);
      let current = data!;
      let version = stored?.metadata.resourceVersion;
      if (problem) {
        const generated = await generateCredential(c, cas, scope.now);
        const written = await this.writeSecret(scope, c, stored, generated.type, generated.data);
        issued.push(`${c.secret} (${problem})`);
        current = generated.data;
        version = written.metadata.resourceVersion;
        this.validated.set(verdictKey(written, caVersions), { renewAt: renewalDue(c, current)?.getTime() });
      } else if (!known) {
        this.validated.set(verdictKey(stored!, caVersions), { renewAt: renewalDue(c, current)?.getTime() });
      }
      if (c.kind === 'ca') {
        cas.set(c.secret, caOf(current));
        caVersions.push(`${c.secret}@${version}`);
      }
    }
    this.credentialsKnownGood(scope, plan);
    done();
    // One Event per reconcile, not per Secret: a new cluster issues a dozen at once.
    if (issued.length) void this.deps.events.event(cluster, 'Normal', 'CredentialsIssued', `issued ${issued.join(', ')}`);
  }

  /** True when every cached Secret of the plan was found good as it is; requeues for renewals. */
  private credentialsKnownGood(scope: Scope, plan: Credential[]): boolean {
    const caVersions: string[] = [];
    for (const c of plan) {
      const stored = this.child('Secret', c.namespace, c.secret);
      const known = stored && this.validated.get(verdictKey(stored, caVersions));
      if (!known) return false;
      if (known.renewAt !== undefined) requeue(scope, Math.max(1_000, known.renewAt - scope.now.getTime())); // certificate renewal
      if (c.kind === 'ca') caVersions.push(`${c.secret}@${stored!.metadata.resourceVersion}`);
    }
    return true;
  }

  /**
   * The Secret with its data. One the cache has never seen is taken as missing without asking:
   * if the cache is merely behind, creating it fails with AlreadyExists and the reconcile retries.
   */
  private async readSecret(c: Credential): Promise<KubeObject | undefined> {
    if (!this.child('Secret', c.namespace, c.secret)) return undefined;
    try {
      return await this.deps.client.get(childResources.Secret, c.namespace, c.secret);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async writeSecret(scope: Scope, c: Credential, stored: KubeObject | undefined, type: string, data: SecretData): Promise<KubeObject> {
    const isAdmin = c.namespace === scope.ref.namespace;
    const body: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: c.secret,
        namespace: c.namespace,
        labels: clusterLabels(scope.ref, isAdmin ? 'kubeconfig' : 'pki'),
        // The admin kubeconfig sits beside its Cluster and goes with it; the rest goes with the namespace.
        ...(isAdmin ? { ownerReferences: [controllerRef(scope.cluster)] } : {}),
      },
      type,
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    };
    const secrets = childResources.Secret;
    if (!stored) {
      try {
        const created = await this.deps.client.create(secrets, c.namespace, body);
        this.created.remember('Secret', created);
        return created;
      } catch (err) {
        // Created since we read it: never overwrite what someone else just wrote; retry with a fresh view.
        if (isAlreadyExists(err)) throw new Error(`Secret ${c.namespace}/${c.secret} was created concurrently; retrying`);
        throw err;
      }
    }
    body.metadata.resourceVersion = stored.metadata.resourceVersion;
    return this.deps.client.update(secrets, body);
  }

  /** etcd, the API server, controller-manager, scheduler, their Services, PDBs and NetworkPolicy. */
  private async ensureWorkloads(scope: Scope): Promise<void> {
    const { namespace, observation: o } = scope;
    // Independent objects: written side by side, a round trip each at most.
    const written = await Promise.all(desiredControlPlane({ cluster: scope.cluster, namespace, versions: scope.plan!.versions }).map((obj) => this.apply(obj)));
    for (const w of written) {
      if (w.kind === 'StatefulSet') o.etcd = w;
      if (w.kind !== 'Deployment') continue;
      const name = w.metadata.name;
      if (name === components.apiServer) o.apiServer = w;
      else if (name === components.controllerManager) o.controllerManager = w;
      else o.scheduler = w;
    }
  }

  /**
   * ControlPlaneReady rests on the business API's own /readyz through its endpoint. API server
   * pods that only simulate a server (a benchmark's simulated runtime) cannot answer: then the
   * pods' readiness stands in, and the condition says so.
   */
  private async probe(scope: Scope): Promise<void> {
    const { observation: o, namespace, key } = scope;
    if (!o.endpoint || !o.kubeconfigSecret || Number(o.apiServer?.status?.readyReplicas ?? 0) === 0) return;
    const pods = this.deps.caches.Pod.list(namespace).filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === components.apiServer);
    const simulated = pods.length > 0 && pods.every((p) => (p.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === SIMULATED_CONDITION && c.status === 'True'));
    if (simulated) {
      o.probe = { ok: true, simulated: true, message: 'the API server pods are simulated, /readyz was not probed' };
      return;
    }
    this.deps.clients.register(key, { secretNamespace: scope.ref.namespace, secretName: o.kubeconfigSecret });
    const result = await this.deps.clients.probe(key);
    o.probe = result;
    if (!result.ok) requeue(scope, 2_000); // waiting for the business API to answer
  }

  /** Finalizer last: the control-plane namespace (and so every child in it) must be gone first. */
  private async reconcileDelete(cluster: Cluster & KubeObject, ref: ClusterRef, key: string): Promise<ReconcileResult | void> {
    if (!hasFinalizer(cluster, FINALIZER)) return;
    const namespace = controlPlaneNamespace(ref);
    const nsRef = childResources.Namespace;
    let ns: KubeObject | undefined;
    try {
      ns = await this.deps.client.get(nsRef, undefined, namespace);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (ns) {
      if (!ns.metadata.deletionTimestamp) {
        await this.deps.client.delete(nsRef, undefined, namespace, { propagationPolicy: 'Background' });
        void this.deps.events.event(cluster, 'Normal', 'Deleting', `deleting control-plane namespace ${namespace}`);
      }
      if (cluster.status?.phase !== 'Deleting') {
        // Only the phase for `kubectl get`; the teardown goes on whether or not it is written.
        await this.deps.client
          .patch(clusterResource, ref.namespace, ref.name, 'merge', { status: { phase: 'Deleting' } }, { sub: 'status' })
          .catch((err) => this.deps.log.warn({ key, err: (err as Error).message }, 'could not set phase Deleting'));
      }
      return { requeueAfterMs: 1_000 }; // waiting for the namespace's contents to go
    }
    this.deps.clients.unregister(key);
    await removeFinalizer(this.deps.client, clusterResource, cluster, FINALIZER);
  }

  /** Writes a child only when its desired-state hash differs from what the cache holds. */
  private async apply(obj: KubeObject): Promise<KubeObject> {
    const kind = obj.kind as ChildKind;
    const ns = obj.metadata.namespace;
    const name = obj.metadata.name!;
    const cached = this.child(kind, ns, name);
    if (cached && cached.metadata.annotations?.[DESIRED_HASH_ANNOTATION] === obj.metadata.annotations?.[DESIRED_HASH_ANNOTATION]) return cached;
    this.deps.log.debug({ kind, namespace: ns, name }, cached ? 'updating' : 'creating');
    const ref = childResources[kind];
    if (!cached) {
      // A plain create is the cheap path for a new child; server-side apply settles the rest.
      try {
        const created = await this.deps.client.create(ref, ns, obj);
        this.created.remember(kind, created);
        return created;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    }
    return this.deps.client.patch(ref, ns, name, 'apply', obj, { force: true });
  }

  private async patchStatus(scope: Scope, reconciled: boolean): Promise<void> {
    const { cluster, ref } = scope;
    const status = computeStatus(cluster, scope.observation, scope.now, reconciled);
    if (isDeepStrictEqual(status, cluster.status ?? {})) return;
    const before = findCondition(cluster.status?.conditions, ClusterConditions.Ready)?.status;
    const after = findCondition(status.conditions, ClusterConditions.Ready);
    try {
      await this.deps.client.patch(clusterResource, ref.namespace, ref.name, 'merge', { status }, { sub: 'status' });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    if (after && after.status !== before) {
      void this.deps.events.event(cluster, after.status === 'True' ? 'Normal' : 'Warning', after.status === 'True' ? 'ClusterReady' : after.reason, after.message ?? '');
    }
  }
}

/** `https://host:port` from the API server Service's load-balancer status. */
export function endpointOf(service: KubeObject | undefined): { host: string; url: string } | undefined {
  const ingress = service?.status?.loadBalancer?.ingress?.[0];
  const host: string | undefined = ingress?.ip ?? ingress?.hostname;
  if (!host) return undefined;
  // kok's loopback load balancer publishes the port it listens on; a cloud one listens on the Service port.
  const port = ingress.ports?.[0]?.port ?? service!.spec?.ports?.[0]?.port ?? 6443;
  return { host, url: `https://${host.includes(':') ? `[${host}]` : host}:${port}` };
}

/** A Secret's verdict holds for this exact version and the exact versions of the CAs before it. */
const verdictKey = (s: KubeObject, caVersions: readonly string[]) => `${s.metadata.uid}/${s.metadata.resourceVersion}/${caVersions.join(',')}`;

function decodeSecret(s: KubeObject): SecretData {
  const data = (s.data ?? {}) as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
}
