/**
 * kok's node agent: one process plays the kubelet for many simulated nodes (like kwok). It is a
 * client of the Kubernetes API only.
 *
 * - Registration: each node's Node is created (or adopted after an agent restart) with the
 *   well-known labels and the annotation `kok.dev/simulated: "true"`, its status written through
 *   nodes/status (Ready, no pressure, nodeInfo with containerRuntimeVersion kok-sim://1.0), and
 *   its Lease created in kube-node-lease.
 * - Heartbeats: Leases renewed every heartbeatIntervalMs, node status every 5th beat, spread over
 *   the interval with bounded concurrency (heartbeat.ts). pauseHeartbeats/resumeHeartbeats let
 *   tests and chaos make a node look dead; detachNode stops serving a node whose machine died,
 *   leaving its Node and Lease to the node lifecycle controller (removeNode deregisters it).
 * - Pods: one informer on pods with `spec.nodeName` set; each pod of an agent node is synced in a
 *   work queue (concurrency 64): Pending (ContainerCreating) → Running → Ready, through pods/status.
 *   With no start latency and no readiness delay a pod is Ready in one status write, with no timer.
 *   Every simulated pod carries the condition `kok.dev/Simulated=True` (SimulatedContainers); a pod
 *   whose runtime really serves carries `kok.dev/Simulated=False` (InProcessRuntime).
 * - Deletion: a pod with a deletionTimestamp has its containers stopped at once (a simulated
 *   process stops at once), its containers marked terminated (Completed, exit 0), and is then
 *   deleted for good with gracePeriodSeconds=0 and a uid precondition.
 * - Runtimes: a RuntimeRegistry may give images a real process (runtime.ts); the default runtime
 *   simulates the containers.
 *
 * Pod annotations read by the agent (fault injection):
 * - `kok.dev/crash-after: "2s"` — the containers exit after running that long (Go duration:
 *   500ms, 2s, 1m30s). With restartPolicy Always (or OnFailure and a non-zero exit) they restart
 *   after a kubelet-like backoff (10s, 20s, 40s … 5m; see crashLoopBackoffBaseMs), restartCount
 *   counts up and the container waits in CrashLoopBackOff meanwhile; otherwise the pod ends
 *   Failed (exit ≠ 0) or Succeeded (exit 0).
 * - `kok.dev/exit-code: "0"` — the exit code of that crash; @default 1.
 * - `kok.dev/never-ready: "true"` — the containers run but never become ready.
 * - `kok.dev/termination-delay: "5s"` — on deletion the containers take this long to stop
 *   (bounded by the pod's grace period).
 * An annotation that cannot be read is named in the Simulated condition's message.
 */
import { randomUUID } from 'node:crypto';
import pRetry from 'p-retry';
import { isAlreadyExists, isConflict, isNotFound, type KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { Informer } from '../../operators/runtime/informer.js';
import { WorkQueue } from '../../operators/runtime/workqueue.js';
import { resources } from '../controllers/resources.js';
import { NodeAgentError } from './errors.js';
import pLimit, { type LimitFunction } from 'p-limit';
import { Heartbeats } from './heartbeat.js';
import {
  adoptionPatch, desiredLease, desiredNode, desiredNodeStatus, indexOfPodCIDR, MAX_NODES, microTime, NODE_LEASE_NAMESPACE,
  nodeInternalIP, nodePodCIDR, type SimulatedNodeSpec,
} from './node-status.js';
import { PodIpPool, PodLifecycle, type PodHost } from './pod-lifecycle.js';
import { RuntimeRegistry } from './runtime.js';

export type { SimulatedNodeSpec } from './node-status.js';

export interface NodeAgentOptions {
  nodes: SimulatedNodeSpec[];
  /** Lease renewal period. @default 10_000 */
  heartbeatIntervalMs?: number;
  /** @default 40 */
  leaseDurationSeconds?: number;
  /** Node status is reported every this many lease renewals (and on resume). @default 5 */
  nodeStatusEvery?: number;
  /** From a pod's arrival on its node to its containers running. @default 0 */
  startLatencyMs?: number;
  /** From containers running to ready. @default 0 */
  readinessDelayMs?: number;
  /** Pods synced at once. @default 64 */
  concurrency?: number;
  /** Heartbeat and registration writes at once, over all nodes. @default 16 */
  heartbeatConcurrency?: number;
  /** @default a registry whose every image runs simulated */
  runtimes?: RuntimeRegistry;
  /** First crash-loop backoff; doubles per restart. @default 10_000 (tests use ~100) */
  crashLoopBackoffBaseMs?: number;
  /** @default 300_000 (5 minutes) */
  crashLoopBackoffMaxMs?: number;
  /** How often a non-simulated runtime's ready() is polled. @default 1_000 */
  runtimePollMs?: number;
  /** @default console.warn, at most once per 30 s for the same message */
  log?: (message: string, err?: unknown) => void;
}

interface NodeEntry extends PodHost {
  spec: SimulatedNodeSpec;
  index: number;
  uid?: string;
  bootID: string;
  /** Node, status and Lease written: its pods are served. */
  registered: boolean;
  /** The Node as this agent last wrote it: status reports start from it, and read afresh only after a conflict. */
  lastNode?: KubeObject;
  registration?: Promise<void>;
}

const splitKey = (key: string): [string, string] => {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
};

export class NodeAgent {
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly usedIndexes = new Set<number>();
  /** Detached nodes' indexes: their Nodes still hold the pod CIDRs, until they come back or are removed. */
  private readonly detached = new Map<string, number>();
  /** Nodes that existed when the agent started: addNode reads these before registering. */
  private readonly listedAtStart = new Set<string>();
  private readonly pending: SimulatedNodeSpec[];
  private readonly informer: Informer;
  private readonly queue: WorkQueue;
  private readonly heartbeats: Heartbeats;
  private readonly lifecycle: PodLifecycle;
  private readonly registrations: LimitFunction;
  private readonly log: (message: string, err?: unknown) => void;
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private podsReady!: Promise<void>;
  private starting?: Promise<void>;
  /** Settles once start() has read the existing Nodes and claimed its nodes' indexes. */
  private listed?: Promise<void>;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: NodeAgentOptions,
  ) {
    this.pending = [...opts.nodes];
    this.log = opts.log ?? throttledWarn();
    this.informer = new Informer({ client, resource: resources.pods, fieldSelector: 'spec.nodeName!=' });
    this.informer.on({
      add: (p) => this.enqueue(p),
      update: (_old, p) => this.enqueue(p),
      delete: (p) => this.enqueue(p),
    });
    this.queue = new WorkQueue((key) => this.syncPod(key), {
      name: 'node-agent-pods',
      concurrency: opts.concurrency ?? 64,
      onError: (key, err, attempt) => {
        if (!isConflict(err) && (attempt === 1 || attempt % 10 === 0)) this.log(`pod ${key}: sync failed (attempt ${attempt})`, err);
      },
    });
    this.heartbeats = new Heartbeats({
      intervalMs: opts.heartbeatIntervalMs ?? 10_000,
      statusEvery: opts.nodeStatusEvery ?? 5,
      concurrency: opts.heartbeatConcurrency ?? 16,
      renewLease: (n) => this.renewLease(n),
      reportStatus: (n) => this.reportStatus(n),
      onError: (n, what, err) => this.log(`node ${n}: ${what} heartbeat failed`, err),
    });
    this.registrations = pLimit(2 * (opts.heartbeatConcurrency ?? 16));
    this.lifecycle = new PodLifecycle({
      client,
      runtimes: opts.runtimes ?? new RuntimeRegistry(),
      startLatencyMs: opts.startLatencyMs ?? 0,
      readinessDelayMs: opts.readinessDelayMs ?? 0,
      backoffBaseMs: opts.crashLoopBackoffBaseMs ?? 10_000,
      backoffMaxMs: opts.crashLoopBackoffMaxMs ?? 300_000,
      runtimePollMs: opts.runtimePollMs ?? 1_000,
      log: this.log,
    });
  }

  /** Registers the configured nodes and starts serving their pods; resolves once all are registered. */
  start(): Promise<void> {
    if (this.state === 'stopped') return Promise.reject(new NodeAgentError('NotStarted', 'the node agent is stopped'));
    this.starting ??= this.startOnce();
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    this.state = 'starting';
    let listed!: () => void;
    this.listed = new Promise<void>((r) => (listed = r));
    let existing: Map<string, KubeObject>;
    let entries: NodeEntry[];
    try {
      const { items } = await this.client.list(resources.nodes);
      existing = new Map(items.map((n) => [n.metadata.name!, n]));
      for (const name of existing.keys()) this.listedAtStart.add(name);
      for (const n of items) {
        const i = indexOfPodCIDR(n.spec?.podCIDR);
        if (i !== undefined) this.usedIndexes.add(i);
      }
      entries = this.pending.splice(0).map((spec) => this.createEntry(spec, existing.get(spec.name), true));
    } finally {
      listed();
    }
    this.podsReady = this.informer.start().then(() => {
      for (const pod of this.informer.list()) {
        const host = this.hostOf(pod, false);
        if (host) this.lifecycle.reserveAddress(pod, host);
      }
    });
    this.state = 'running';
    await Promise.all([this.podsReady, ...entries.map((e) => this.register(e, existing.get(e.name)))]);
  }

  /** Stops heartbeats, pod work and runtimes. The API objects stay: a restarted agent adopts them. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasStarted = this.state !== 'new';
    this.state = 'stopped';
    this.queue.stop();
    await Promise.all([this.heartbeats.stop(), wasStarted && this.informer.stop(), this.queue.idle()]);
    await this.lifecycle.stopAll();
  }

  /** Adds and registers a node; resolves once it is Ready (before start: once start registers it). */
  async addNode(spec: SimulatedNodeSpec): Promise<void> {
    const known = this.nodes.get(spec.name);
    if (known) return known.registration;
    if (this.state === 'new') {
      if (!this.pending.some((s) => s.name === spec.name)) this.pending.push(spec);
      return;
    }
    if (this.state === 'stopped') throw new NodeAgentError('NotStarted', `node ${spec.name}: the node agent is stopped`);
    await this.listed;
    let node: KubeObject | undefined;
    // A Node listed at start or detached is read first, to serve it again with its pod CIDR. Any
    // other is created straight away: one that turns out to exist is adopted then (registerOnce).
    if (this.listedAtStart.has(spec.name) || this.detached.has(spec.name)) {
      try {
        node = await this.client.get(resources.nodes, undefined, spec.name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (this.nodes.has(spec.name)) return this.nodes.get(spec.name)!.registration;
    await this.register(this.createEntry(spec, node, false), node);
  }

  /**
   * Stops a node's heartbeats and pods, then deletes its Lease and Node. Its pods stay for the API to
   * collect. A detached node is deleted too.
   */
  async removeNode(name: string): Promise<void> {
    const entry = this.nodes.get(name);
    const index = entry?.index ?? this.detached.get(name);
    if (index === undefined) return;
    if (entry) {
      this.nodes.delete(name);
      this.heartbeats.remove(name);
      await this.lifecycle.forgetNode(name);
    }
    this.detached.delete(name);
    for (const [r, ns] of [[resources.leases, NODE_LEASE_NAMESPACE], [resources.nodes, undefined]] as const) {
      try {
        await this.client.delete(r, ns, name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    this.usedIndexes.delete(index);
  }

  /**
   * Stops serving a node as if its machine died: no more heartbeats, its pods' containers stop and
   * their status is no longer written, but the Node and its Lease stay (a dead machine does not
   * deregister; the node lifecycle controller marks it Unknown after its grace period). The node
   * keeps its pod CIDR in this agent, so addNode serves it again by adopting the Node.
   */
  async detachNode(name: string): Promise<void> {
    const entry = this.nodes.get(name);
    if (!entry) return;
    this.nodes.delete(name);
    this.detached.set(name, entry.index);
    this.heartbeats.remove(name);
    await this.lifecycle.forgetNode(name);
  }

  pauseHeartbeats(name: string): void {
    this.heartbeats.pause(name);
  }

  /** Renews the Lease and reports status at once, then beats as before. */
  resumeHeartbeats(name: string): Promise<void> {
    const entry = this.nodes.get(name);
    if (entry) entry.lastNode = undefined; // a lifecycle controller may have marked it meanwhile
    return this.heartbeats.resume(name);
  }

  nodeNames(): string[] {
    return [...this.nodes.keys()];
  }

  stats(): { nodes: number; pods: number; leaseRenewals: number; podStatusWrites: number; queueDepth: number } {
    return {
      nodes: this.nodes.size,
      pods: this.lifecycle.size,
      leaseRenewals: this.heartbeats.renewals,
      podStatusWrites: this.lifecycle.statusWrites,
      queueDepth: this.queue.depth,
    };
  }

  // --- nodes ------------------------------------------------------------------------------------

  private createEntry(spec: SimulatedNodeSpec, existing: KubeObject | undefined, fromStart: boolean): NodeEntry {
    if (this.nodes.has(spec.name)) throw new NodeAgentError('DuplicateNode', `node ${spec.name} is configured twice`);
    // A node detached before comes back to the index it kept (its Node's pod CIDR).
    const kept = this.detached.get(spec.name);
    if (kept !== undefined) {
      this.detached.delete(spec.name);
      this.usedIndexes.delete(kept);
    }
    let index = indexOfPodCIDR(existing?.spec?.podCIDR);
    // At start the index is already counted as used (from the node list); later it must be free.
    if (index === undefined || (!fromStart && this.usedIndexes.has(index))) index = this.freeIndex(spec.name);
    this.usedIndexes.add(index);
    const cidr = existing?.spec?.podCIDR && indexOfPodCIDR(existing.spec.podCIDR) === index ? existing.spec.podCIDR : nodePodCIDR(index);
    const entry: NodeEntry = {
      name: spec.name,
      spec,
      index,
      hostIP: spec.address ?? nodeInternalIP(index),
      ips: new PodIpPool(cidr),
      bootID: randomUUID(),
      registered: false,
    };
    this.nodes.set(spec.name, entry);
    return entry;
  }

  /**
   * A Node found on create (registered by someone before this agent knew of it) keeps the pod CIDR
   * it has: the entry moves to that range when no other node here uses it. Nothing is served yet.
   */
  private adoptPodCIDR(entry: NodeEntry, node: KubeObject): void {
    const index = indexOfPodCIDR(node.spec?.podCIDR);
    if (index === undefined || index === entry.index || this.usedIndexes.has(index)) return;
    this.usedIndexes.delete(entry.index);
    this.usedIndexes.add(index);
    entry.index = index;
    entry.hostIP = entry.spec.address ?? nodeInternalIP(index);
    entry.ips = new PodIpPool(node.spec.podCIDR);
  }

  private freeIndex(name: string): number {
    for (let i = 0; i < MAX_NODES; i++) if (!this.usedIndexes.has(i)) return i;
    throw new NodeAgentError('NodeIndexExhausted', `node ${name}: all ${MAX_NODES} simulated node addresses are in use`);
  }

  private register(entry: NodeEntry, existing: KubeObject | undefined): Promise<void> {
    let known = existing; // a retry reads the Node afresh
    entry.registration ??= this.registrations(() =>
      pRetry(() => this.registerOnce(entry, known).finally(() => (known = undefined)), {
        retries: 5,
        minTimeout: 200,
        onFailedAttempt: (e) => this.log(`node ${entry.name}: registration attempt ${e.attemptNumber} failed`, e),
      }),
    );
    return entry.registration;
  }

  private async registerOnce(entry: NodeEntry, existing: KubeObject | undefined): Promise<void> {
    if (!this.serving(entry)) return;
    let node: KubeObject | undefined = existing;
    if (!node) {
      // As the kubelet's initialNode: the Node is created with its status, Ready from the start.
      const fresh = desiredNode(entry.spec, entry.index);
      fresh.status = desiredNodeStatus(entry.spec, entry.index, undefined, new Date(), entry.bootID);
      try {
        entry.lastNode = await this.client.create(resources.nodes, undefined, fresh);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        node = await this.client.get<KubeObject>(resources.nodes, undefined, entry.name);
        this.adoptPodCIDR(entry, node);
      }
    }
    if (node) {
      const patch = adoptionPatch(entry.spec, node, entry.index);
      await this.writeNodeStatus(entry, patch ? await this.client.patch<KubeObject>(resources.nodes, undefined, entry.name, 'merge', patch) : node);
    }
    entry.uid = entry.lastNode!.metadata.uid;
    await this.renewLease(entry.name, true);
    if (!this.serving(entry)) return;
    entry.registered = true;
    this.heartbeats.add(entry.name);
    for (const pod of this.informer.list()) if (pod.spec?.nodeName === entry.name) this.queue.add(`${pod.metadata.namespace}/${pod.metadata.name}`);
  }

  /** The entry is still this agent's node (not removed, agent not stopped). */
  private serving(entry: NodeEntry): boolean {
    return this.nodes.get(entry.name) === entry && this.state !== 'stopped';
  }

  /** Renews the node's Lease (one merge patch), creating it when missing; at registration, create first. */
  private async renewLease(name: string, createFirst = false): Promise<void> {
    const entry = this.nodes.get(name);
    if (!entry) return;
    const now = new Date();
    const dur = this.opts.leaseDurationSeconds ?? 40;
    const create = () => this.client.create(resources.leases, NODE_LEASE_NAMESPACE, desiredLease(name, entry.uid, dur, now));
    const renew = () =>
      this.client.patch(resources.leases, NODE_LEASE_NAMESPACE, name, 'merge', {
        spec: { holderIdentity: name, leaseDurationSeconds: dur, renewTime: microTime(now) },
      });
    try {
      await (createFirst ? create() : renew());
    } catch (err) {
      if (createFirst ? !isAlreadyExists(err) : !isNotFound(err)) throw err;
      await (createFirst ? renew() : create());
    }
  }

  /**
   * The kubelet's status report. It starts from the Node as last written (a Node changes rarely
   * under its kubelet), guarded by its resourceVersion; on a conflict it reads the Node afresh.
   */
  private async reportStatus(name: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const entry = this.nodes.get(name);
      if (!entry) return;
      const node = entry.lastNode ?? (await this.client.get<KubeObject>(resources.nodes, undefined, name));
      try {
        await this.writeNodeStatus(entry, node);
        return;
      } catch (err) {
        entry.lastNode = undefined;
        if (!isConflict(err) || attempt >= 3) throw err;
      }
    }
  }

  private async writeNodeStatus(entry: NodeEntry, node: KubeObject): Promise<void> {
    const status = desiredNodeStatus(entry.spec, entry.index, node, new Date(), entry.bootID);
    entry.lastNode = await this.client.patch(resources.nodes, undefined, entry.name, 'merge', { metadata: { resourceVersion: node.metadata.resourceVersion }, status }, { sub: 'status' });
  }

  // --- pods -------------------------------------------------------------------------------------

  private hostOf(pod: KubeObject, registeredOnly = true): NodeEntry | undefined {
    const entry = this.nodes.get(pod.spec?.nodeName);
    return entry && (entry.registered || !registeredOnly) ? entry : undefined;
  }

  private enqueue(pod: KubeObject): void {
    if (this.nodes.has(pod.spec?.nodeName)) this.queue.add(`${pod.metadata.namespace}/${pod.metadata.name}`);
  }

  private async syncPod(key: string) {
    await this.podsReady;
    const [ns, name] = splitKey(key);
    const pod = this.informer.get(ns, name);
    return this.lifecycle.sync(key, pod, pod && this.hostOf(pod));
  }
}

/** console.warn, each distinct message at most once per 30 s (1,000 nodes fail together). */
function throttledWarn(): (message: string, err?: unknown) => void {
  const last = new Map<string, number>();
  return (message, err) => {
    const detail = err instanceof Error ? err.message : err === undefined ? '' : String(err);
    const key = `${message.replace(/\S+\/\S+|node \S+/g, '')}${detail}`;
    const now = Date.now();
    if ((last.get(key) ?? 0) > now - 30_000) return;
    last.set(key, now);
    console.warn(`node-agent: ${message}${detail ? `: ${detail}` : ''}`);
  };
}
