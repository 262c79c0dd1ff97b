/**
 * The Machine reconciler, in cluster-api's skeleton: get (gone → done) → ensure the finalizer →
 * if deleting: drain, delete the instance, delete the Node, drop the finalizer → else: find the
 * cluster, the bootstrap credential, the instance (found by the Machine's uid before anything is
 * created, so a restarted operator never makes a second one), then the Node → finally patch the
 * status. Waiting on the world (a full target, an instance booting, a cluster not Ready) is a
 * requeue with a condition saying what is awaited, never an error loop.
 */
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { CloudTarget } from '../../meta-cluster/api/v1alpha1/cloud-target.js';
import { findCondition, MachineConditions, MachineReasons, setCondition, type ConditionUpdate } from '../../meta-cluster/api/v1alpha1/conditions.js';
import type { Machine, MachineStatus } from '../../meta-cluster/api/v1alpha1/machine.js';
import { META_CLUSTER, type MachinePool } from '../../meta-cluster/api/v1alpha1/machine-pool.js';
import { BOOTSTRAP_TOKEN_NAMESPACE, BOOTSTRAP_TOKEN_SECRET_TYPE } from '../../meta-cluster/apiserver/bootstrap-tokens.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { formatVersion, resolveVersion } from '../cluster/versions.js';
import { isAlreadyExists, isNotFound, type KubeClient, type KubeObject } from '../runtime/client.js';
import type { EventRecorder } from '../runtime/events.js';
import { parseObjectKey, type Informer } from '../runtime/informer.js';
import { addFinalizer, controllerOf, hasFinalizer, removeFinalizer } from '../runtime/objects.js';
import type { ReconcileResult } from '../runtime/workqueue.js';
import type { ClusterAccess, ClusterLookup, ClusterTarget } from './cluster-access.js';
import { drainStep } from './drain.js';
import { encodeJoinConfiguration } from './join.js';
import { labels, MACHINE_FINALIZER } from './names.js';
import { isNodeReady, type NodeCaches } from './node-caches.js';
import { isProviderError } from './provider/errors.js';
import type { Instance, Provider } from './provider/provider.js';
import { fleetResources } from '../../meta-cluster/api/resources.js';
import { kubeletSkewProblem } from './skew.js';

export type MachineObject = Machine & KubeObject;

/** Gives the Provider of a CloudTarget, or why there is none (an unsupported provider). */
export interface ProviderSource {
  providerFor(target: CloudTarget & KubeObject): Provider | { unsupported: string };
}

export interface MachineReconcilerDeps {
  readonly client: KubeClient;
  readonly machines: Informer<MachineObject>;
  readonly pools: Informer<MachinePool & KubeObject>;
  readonly targets: Informer<CloudTarget & KubeObject>;
  readonly clusters: ClusterAccess;
  readonly nodes: NodeCaches;
  readonly providers: ProviderSource;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly now?: () => Date;
}

/** How often a machine is looked at while its instance boots or its kubelet registers. */
const POLL_MS = 2_000;
/** How long a machine waits before asking a full target or an unready cluster again. */
const WAIT_MS = 10_000;
const DEFAULT_DRAIN_TIMEOUT_SECONDS = 300;

/** The bootstrap token of a cluster: one per cluster, kept in the meta-cluster beside its machines. */
const tokenSecretName = (clusterName: string) => `${clusterName}-bootstrap-token`;

interface Scope {
  /** As last stored: a spec write in the reconcile replaces it, so the status records its generation. */
  machine: MachineObject;
  readonly now: Date;
  status: MachineStatus;
  requeueAfterMs?: number;
}

const requeue = (scope: Scope, ms: number) => {
  scope.requeueAfterMs = Math.min(scope.requeueAfterMs ?? Infinity, ms);
};

function condition(scope: Scope, update: ConditionUpdate): void {
  scope.status = { ...scope.status, conditions: setCondition(scope.status.conditions, { observedGeneration: scope.machine.metadata.generation, ...update }, scope.now) };
}

export class MachineReconciler {
  private readonly now: () => Date;
  /** Bootstrap tokens known to exist in their cluster, by cluster key and uid (a recreated Cluster is another). */
  private readonly tokens = new Map<string, string>();

  constructor(private readonly deps: MachineReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  readonly reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const { namespace, name } = parseObjectKey(key);
    let machine = this.deps.machines.get(namespace, name);
    if (!machine) return;
    if (machine.metadata.deletionTimestamp) return this.reconcileDelete(machine);
    // The finalizer is stored before anything exists to clean up; the reconcile goes on with the
    // stored object (an echo of the write would be one more pass over every new Machine).
    machine = await addFinalizer(this.deps.client, fleetResources.Machine, machine, MACHINE_FINALIZER);
    const scope: Scope = { machine, now: this.now(), status: structuredClone(machine.status ?? {}) };
    try {
      await this.reconcileNormal(scope);
    } finally {
      await this.patchStatus(scope);
    }
    return scope.requeueAfterMs !== undefined ? { requeueAfterMs: scope.requeueAfterMs } : undefined;
  };

  private async reconcileNormal(scope: Scope): Promise<void> {
    const { machine } = scope;
    if (scope.status.phase === 'Failed') return;
    const target = this.deps.targets.get(undefined, machine.spec.targetRef.name);
    if (!target) {
      this.waiting(scope, 'Pending', MachineConditions.InstanceProvisioned, MachineReasons.WaitingForInstance, `CloudTarget ${machine.spec.targetRef.name} does not exist`);
      return;
    }
    const provider = this.deps.providers.providerFor(target);
    if ('unsupported' in provider) return this.fail(scope, 'InstanceCreateFailed', provider.unsupported);

    const found = await this.lookupCluster(machine);
    let instance = await this.findInstance(scope, provider);
    if (!instance && machine.spec.providerID) {
      // Recorded once, now unknown to the provider: never create a second one for this Machine.
      return this.fail(scope, MachineReasons.InstanceDied, `the instance ${machine.spec.providerID} is gone from CloudTarget ${machine.spec.targetRef.name}`);
    }
    if (!('ok' in found)) {
      // Without a cluster to join there is nothing to create; an instance that exists keeps running.
      if (!instance) return this.waiting(scope, 'Pending', MachineConditions.InstanceProvisioned, MachineReasons.WaitingForInstance, 'wait' in found ? found.wait : found.gone);
    } else if (!instance) {
      const skew = kubeletSkewProblem(machine.spec.version ?? found.ok.version, found.ok.version);
      if (skew) return this.fail(scope, 'VersionSkew', `Machine ${machine.metadata.namespace}/${machine.metadata.name}: ${skew}`);
      instance = await this.createInstance(scope, provider, target, found.ok);
      if (!instance) return;
    }
    if (!instance) return;
    await this.observeInstance(scope, instance, 'ok' in found ? found.ok : undefined);
  }

  /** The cluster the machine joins; one that is gone is dropped from the client registry and Node caches. */
  private async lookupCluster(machine: MachineObject): Promise<ClusterLookup> {
    const found = await this.deps.clusters.lookup(machine.metadata.namespace!, machine.spec.clusterName);
    if ('gone' in found) {
      this.deps.clusters.forget(machine.metadata.namespace!, machine.spec.clusterName);
      await this.deps.nodes.forget(`${machine.metadata.namespace}/${machine.spec.clusterName}`);
    }
    return found;
  }

  /** The machine's instance: by the id recorded in status, else by the uid tag (a create that was not recorded). */
  private async findInstance(scope: Scope, provider: Provider): Promise<Instance | undefined> {
    const { machine } = scope;
    const byId = scope.status.instanceID ? await provider.describe(scope.status.instanceID) : undefined;
    return byId ?? (await provider.findByMachine(machine.metadata.uid!));
  }

  private async createInstance(scope: Scope, provider: Provider, target: CloudTarget & KubeObject, cluster: ClusterTarget): Promise<Instance | undefined> {
    const { machine } = scope;
    const ref = `${machine.metadata.namespace}/${machine.metadata.name}`;
    const token = await this.bootstrapToken(machine, cluster);
    const types = target.spec.machineTypes ?? [];
    const type = types.find((t) => t.name === machine.spec.machineType);
    if (!type) {
      this.fail(scope, 'InstanceCreateFailed', `CloudTarget ${target.metadata.name} offers no machine type "${machine.spec.machineType}" (it offers ${types.map((t) => t.name).join(', ')})`);
      return undefined;
    }
    const version = resolveVersion(machine.spec.version ?? cluster.version);
    const nodeLabels: Record<string, string> = {
      ...(machine.spec.labels ?? {}),
      [labels.machine]: machine.metadata.name!,
      [labels.machineNamespace]: machine.metadata.namespace!,
      [labels.target]: target.metadata.name!,
      [labels.tier]: target.spec.tier,
      [labels.region]: target.spec.region,
      [labels.instanceType]: type.name,
      ...(machine.spec.unit ? { [labels.unit]: machine.spec.unit } : {}),
      ...(machine.spec.zone ? { [labels.zone]: machine.spec.zone } : {}),
    };
    const userData = encodeJoinConfiguration({
      server: cluster.server,
      caPem: cluster.caPem,
      token,
      nodeName: machine.metadata.name!,
      labels: nodeLabels,
      kubeletVersion: version ? formatVersion(version) : cluster.version,
      capacity: { cpu: String(type.cpu), memory: `${type.memoryGiB}Gi`, pods: '110' },
    });
    try {
      const instance = await provider.create({
        machineUid: machine.metadata.uid!,
        machineNamespace: machine.metadata.namespace!,
        machineName: machine.metadata.name!,
        cluster: machine.spec.clusterName,
        machineType: machine.spec.machineType,
        zone: machine.spec.zone,
        tags: { ...(machine.spec.unit ? { [labels.unit]: machine.spec.unit } : {}), ...(machine.metadata.labels?.[labels.pool] ? { [labels.pool]: machine.metadata.labels[labels.pool] } : {}) },
        userData,
      });
      void this.deps.events.event(machine, 'Normal', 'InstanceCreated', `created instance ${instance.id} in CloudTarget ${target.metadata.name} zone ${instance.zone}`);
      return instance;
    } catch (err) {
      if (isProviderError(err, 'QuotaExceeded')) {
        if (findCondition(scope.status.conditions, MachineConditions.InstanceProvisioned)?.reason !== MachineReasons.QuotaExceeded) {
          void this.deps.events.event(machine, 'Warning', MachineReasons.QuotaExceeded, (err as Error).message);
        }
        this.waiting(scope, 'Pending', MachineConditions.InstanceProvisioned, MachineReasons.QuotaExceeded, (err as Error).message);
        return undefined;
      }
      if (isProviderError(err) && err.retry === 'never') {
        this.fail(scope, MachineReasons.InstanceCreateFailed, (err as Error).message);
        return undefined;
      }
      condition(scope, { type: MachineConditions.InstanceProvisioned, status: 'False', reason: MachineReasons.InstanceCreateFailed, message: (err as Error).message });
      scope.status.phase = 'Provisioning';
      this.deps.log.info({ machine: ref, code: isProviderError(err) ? err.code : undefined }, 'instance create failed; retrying');
      throw err;
    }
  }

  /** Records what the instance and its Node say. */
  private async observeInstance(scope: Scope, instance: Instance, cluster: ClusterTarget | undefined): Promise<void> {
    const { machine } = scope;
    scope.status.instanceID = instance.id;
    scope.status.addresses = [{ type: 'InternalIP', address: instance.address }];
    if (machine.spec.providerID !== instance.providerID) {
      scope.machine = await this.deps.client.patch<MachineObject>(fleetResources.Machine, machine.metadata.namespace, machine.metadata.name!, 'merge', {
        spec: { providerID: instance.providerID, ...(machine.spec.zone ? {} : { zone: instance.zone }) },
      });
    }
    if (instance.state === 'failed' || instance.state === 'terminated') {
      return this.fail(scope, MachineReasons.InstanceDied, `instance ${instance.id} ${instance.state === 'failed' ? `failed: ${instance.failureReason ?? 'no reason given'}` : 'was deleted outside kok'}`);
    }
    if (instance.state !== 'running') {
      this.waiting(scope, 'Provisioning', MachineConditions.InstanceProvisioned, MachineReasons.WaitingForInstance, `instance ${instance.id} is ${instance.state}`, POLL_MS);
      return;
    }
    condition(scope, { type: MachineConditions.InstanceProvisioned, status: 'True', reason: MachineReasons.AsExpected });
    if (!cluster) {
      condition(scope, { type: MachineConditions.Ready, status: 'False', reason: MachineReasons.WaitingForBootstrap, message: 'its cluster cannot be reached' });
      return requeue(scope, WAIT_MS);
    }
    const node = this.deps.nodes.get(cluster.key, cluster.client, machine.metadata.name!);
    if (node === 'syncing') return requeue(scope, POLL_MS);
    if (!node || node.spec?.providerID !== instance.providerID) {
      if (scope.status.phase !== 'Running') scope.status.phase = 'Provisioned';
      const message = node ? `Node ${node.metadata.name} has providerID ${node.spec?.providerID}, not ${instance.providerID}` : `waiting for Node ${machine.metadata.name} to register`;
      condition(scope, { type: MachineConditions.NodeJoined, status: 'False', reason: MachineReasons.WaitingForBootstrap, message });
      condition(scope, { type: MachineConditions.Ready, status: 'False', reason: MachineReasons.WaitingForBootstrap, message });
      return requeue(scope, WAIT_MS);
    }
    scope.status.nodeRef = { name: node.metadata.name!, uid: node.metadata.uid };
    condition(scope, { type: MachineConditions.NodeJoined, status: 'True', reason: MachineReasons.AsExpected });
    if (isNodeReady(node)) {
      scope.status.phase = 'Running';
      condition(scope, { type: MachineConditions.NodeHealthy, status: 'True', reason: MachineReasons.AsExpected });
      condition(scope, { type: MachineConditions.Ready, status: 'True', reason: MachineReasons.AsExpected });
    } else {
      // Once Running, a machine stays Running while its Node is not Ready: the pool's health check decides.
      if (scope.status.phase !== 'Running') scope.status.phase = 'Joining';
      const message = `Node ${node.metadata.name} is not Ready`;
      condition(scope, { type: MachineConditions.NodeHealthy, status: 'False', reason: MachineReasons.NodeNotReady, message });
      condition(scope, { type: MachineConditions.Ready, status: 'False', reason: MachineReasons.NodeNotReady, message });
    }
  }

  /**
   * The cluster's bootstrap token: kept in a meta-cluster Secret beside the machines, and present
   * in the cluster as kube-system/bootstrap-token-<id> (created again if the cluster lost it).
   */
  private async bootstrapToken(machine: MachineObject, cluster: ClusterTarget): Promise<string> {
    const cacheKey = `${cluster.key}/${cluster.cluster?.metadata.uid ?? ''}`;
    const known = this.tokens.get(cacheKey);
    if (known) return known;
    const namespace = cluster.key === META_CLUSTER ? 'kok-system' : machine.metadata.namespace!;
    const name = tokenSecretName(cluster.key === META_CLUSTER ? META_CLUSTER : machine.spec.clusterName);
    let token: string;
    try {
      const s = await this.deps.client.get(resources.secrets, namespace, name);
      token = Buffer.from(s.data?.token ?? '', 'base64').toString('utf8');
    } catch (err) {
      if (!isNotFound(err)) throw err;
      token = `${randomBytes(8).toString('hex').slice(0, 6)}.${randomBytes(8).toString('hex')}`;
      const owner = cluster.cluster;
      try {
        await this.deps.client.create(resources.secrets, namespace, {
          metadata: {
            name,
            labels: { [labels.cluster]: machine.spec.clusterName },
            ...(owner ? { ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name!, uid: owner.metadata.uid! }] } : {}),
          },
          type: 'Opaque',
          stringData: { token },
        });
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        return this.bootstrapToken(machine, cluster);
      }
    }
    const [id, secret] = token.split('.') as [string, string];
    try {
      await cluster.client.create(resources.secrets, BOOTSTRAP_TOKEN_NAMESPACE, {
        metadata: { name: `bootstrap-token-${id}` },
        type: BOOTSTRAP_TOKEN_SECRET_TYPE,
        stringData: {
          'token-id': id,
          'token-secret': secret,
          'usage-bootstrap-authentication': 'true',
          'auth-extra-groups': 'system:bootstrappers:kok:machines',
          description: 'Joins kok machines to this cluster (fleet.kok.dev machine operator).',
        },
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    this.tokens.set(cacheKey, token);
    return token;
  }

  private async reconcileDelete(machine: MachineObject): Promise<ReconcileResult | void> {
    if (!hasFinalizer(machine, MACHINE_FINALIZER)) return;
    const scope: Scope = { machine, now: this.now(), status: structuredClone(machine.status ?? {}) };
    try {
      scope.status.phase = 'Deleting';
      const found = await this.lookupCluster(machine);
      const cluster = 'ok' in found ? found.ok : undefined;
      const nodeName = scope.status.nodeRef?.name;
      if (cluster && nodeName) {
        const drained = await this.drain(scope, cluster, nodeName);
        if (!drained) return { requeueAfterMs: scope.requeueAfterMs ?? POLL_MS };
      } else if (nodeName && 'wait' in found) {
        // An unreachable cluster cannot be drained; wait for it within the drain timeout.
        const started = this.drainStartedAt(scope);
        if (scope.now.getTime() - started < this.drainTimeoutSeconds(machine) * 1000) {
          condition(scope, { type: MachineConditions.Ready, status: 'False', reason: MachineReasons.Draining, message: found.wait });
          return { requeueAfterMs: WAIT_MS };
        }
      }
      const target = this.deps.targets.get(undefined, machine.spec.targetRef.name);
      const provider = target ? this.deps.providers.providerFor(target) : undefined;
      if (provider && !('unsupported' in provider)) {
        const instance = (scope.status.instanceID && (await provider.describe(scope.status.instanceID))) || (await provider.findByMachine(machine.metadata.uid!));
        if (instance && instance.state !== 'terminated') {
          await provider.delete(instance.id);
          void this.deps.events.event(machine, 'Normal', 'InstanceDeleted', `deleted instance ${instance.id} from CloudTarget ${provider.target}`);
        }
      }
      if (cluster && nodeName) {
        try {
          await cluster.client.delete(resources.nodes, undefined, nodeName);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    } finally {
      await this.patchStatus(scope);
    }
    await removeFinalizer(this.deps.client, fleetResources.Machine, machine, MACHINE_FINALIZER);
  }

  /** One drain pass; true once the Node may go (drained, timed out, or drain disabled). */
  private async drain(scope: Scope, cluster: ClusterTarget, nodeName: string): Promise<boolean> {
    const timeoutSeconds = this.drainTimeoutSeconds(scope.machine);
    const result = await drainStep(cluster.client, nodeName, { startedAt: this.drainStartedAt(scope), timeoutSeconds, now: () => scope.now.getTime() });
    if (result.done) return true;
    if (result.timedOut) {
      condition(scope, { type: MachineConditions.Ready, status: 'False', reason: MachineReasons.DrainTimeout, message: result.message });
      void this.deps.events.event(scope.machine, 'Warning', MachineReasons.DrainTimeout, result.message);
      return true;
    }
    condition(scope, { type: MachineConditions.Ready, status: 'False', reason: MachineReasons.Draining, message: result.message });
    requeue(scope, result.requeueAfterMs || POLL_MS);
    return false;
  }

  /** The drain clock starts with the deletion, so a restarted operator does not restart it. */
  private drainStartedAt(scope: Scope): number {
    return Date.parse(scope.machine.metadata.deletionTimestamp ?? '') || scope.now.getTime();
  }

  private drainTimeoutSeconds(machine: MachineObject): number {
    const owner = controllerOf(machine);
    const pool = owner ? this.deps.pools.get(machine.metadata.namespace, owner.name) : undefined;
    return pool?.spec.drainTimeoutSeconds ?? DEFAULT_DRAIN_TIMEOUT_SECONDS;
  }

  private waiting(scope: Scope, phase: 'Pending' | 'Provisioning', type: string, reason: string, message: string, after = WAIT_MS): void {
    scope.status.phase = phase;
    condition(scope, { type, status: 'False', reason, message });
    condition(scope, { type: MachineConditions.Ready, status: 'False', reason, message });
    requeue(scope, after);
  }

  /** Failed for good: the pool replaces the machine. */
  private fail(scope: Scope, reason: string, message: string): void {
    if (scope.status.phase !== 'Failed') void this.deps.events.event(scope.machine, 'Warning', reason, message);
    scope.status.phase = 'Failed';
    scope.status.failureReason = reason;
    scope.status.failureMessage = message;
    condition(scope, { type: MachineConditions.Ready, status: 'False', reason, message });
  }

  private async patchStatus(scope: Scope): Promise<void> {
    const { machine } = scope;
    const status: MachineStatus = { ...scope.status, observedGeneration: machine.metadata.generation };
    if (isDeepStrictEqual(status, machine.status ?? {})) return;
    try {
      await this.deps.client.patch(fleetResources.Machine, machine.metadata.namespace, machine.metadata.name!, 'merge', { status }, { sub: 'status' });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
