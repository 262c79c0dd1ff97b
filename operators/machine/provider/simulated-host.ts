/**
 * The data plane of the simulated cloud: instances that reached `running` behave like booted VMs
 * whose kubelet joins a cluster. It runs in the meta-cluster process, while the Machine operator
 * that creates the instances may run in another process sharing the inventory file.
 *
 * - Discovery: the host polls `SimulatedCloud.changedSince` (every pollIntervalMs), which finds
 *   what any process changed at a cost that follows the changes, not the instances; `watch` makes
 *   it prompt for what this process's providers do. Both feed one idempotent `apply`.
 * - A `running` instance boots: its user data is decoded as a JoinConfiguration (join.ts) and its
 *   node is served by a NodeAgent — one per API server and bootstrap token (and CA), with a
 *   KubeClient that authenticates with that token. The Node registers with the configuration's
 *   name, labels, capacity and kubelet version, spec.providerID = the instance's providerID, and
 *   InternalIP = the instance's address.
 * - A `failed` instance (the VM died) or a `terminated` one (deleted at the provider) stops: no
 *   more heartbeats nor pod work, but its Node and Lease stay — a dead machine does not
 *   deregister; the node lifecycle controller marks it Unknown, and the Machine operator deletes
 *   the Node of a deleted Machine. An agent left without nodes stops.
 * - Bad user data is logged once (instance id and target, never the user data) and the instance is
 *   skipped while it runs. So is an instance whose node name another running instance serves on
 *   the same API server, until that one stops.
 * - An unreachable API server: the NodeAgent retries its heartbeats by itself; an agent that cannot
 *   start, or a node whose registration it gave up on, is tried again with capped exponential
 *   backoff, so the host neither crashes nor spins.
 * - Restart: a new host on the same file serves every running instance again, the NodeAgents
 *   adopting the existing Nodes.
 */
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { NodeAgent, type NodeAgentOptions } from '../../../meta-cluster/node-agent/node-agent.js';
import type { SimulatedNodeSpec } from '../../../meta-cluster/node-agent/node-status.js';
import { buildKubeconfig, kubeconfigYaml, type Kubeconfig } from '../../../meta-cluster/pki/kubeconfig.js';
import { KubeClient } from '../../runtime/client.js';
import { createLogger, type Logger } from '../../runtime/log.js';
import { decodeJoinConfiguration, type JoinConfiguration } from '../join.js';
import type { Instance } from './provider.js';
import type { ChangeCursor, SimulatedCloud } from './simulated.js';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const INSTANCE_TYPE_LABEL = 'node.kubernetes.io/instance-type';

export interface SimulatedCloudHostOptions {
  /** The cloud whose instances to run. The host does not close it. */
  readonly cloud: SimulatedCloud;
  /** How often the inventory is read for changes made by any process (a running instance waits at most this long for its kubelet). @default 250 */
  readonly pollIntervalMs?: number;
  /**
   * Settings of every node agent (heartbeat interval, lease duration, pod latencies, runtimes).
   * @default - NodeAgent's defaults, except nodeStatusEvery 30 (with 10 s Lease renewals, a status
   * report every 5 minutes when nothing changed, as the kubelet's nodeStatusReportFrequency: the
   * Lease is the heartbeat), heartbeatConcurrency 32 and concurrency 16 per agent. Heartbeats are
   * bounded by latency, not CPU: 1,000 nodes renewing every 10 s need 100 renewals/s from one
   * agent, which 4 at a time cannot give once a busy API answers in 50 ms.
   */
  readonly nodeAgent?: Omit<NodeAgentOptions, 'nodes' | 'log'>;
  /** First wait before an agent or a node registration that failed is tried again; it doubles each time. @default 1000 */
  readonly retryBaseMs?: number;
  /** @default 60_000 */
  readonly retryMaxMs?: number;
  /** @default - a logger named 'simulated-cloud-host' */
  readonly logger?: Logger;
}

export interface SimulatedCloudHostStats {
  /** Node agents, one per API server and bootstrap token, started or waiting to start again. */
  readonly agents: number;
  /** Nodes served: registered, their agents heartbeating them. */
  readonly nodes: number;
  /** Running instances not yet decided about, and nodes being registered or waiting to try again. */
  readonly pending: number;
  /** Running instances not served: bad user data, or a node name another instance serves. */
  readonly skipped: number;
  /** Reads of the inventory so far. */
  readonly polls: number;
}

/** The Node an instance's kubelet registers, from the instance and its JoinConfiguration. */
export function joinedNodeSpec(join: JoinConfiguration, instance: Instance): SimulatedNodeSpec {
  return {
    name: join.nodeName,
    labels: { ...join.labels },
    capacity: { ...join.capacity },
    zone: join.labels[ZONE_LABEL] ?? instance.zone,
    instanceType: join.labels[INSTANCE_TYPE_LABEL] ?? instance.machineType,
    kubeletVersion: join.kubeletVersion.startsWith('v') ? join.kubeletVersion : `v${join.kubeletVersion}`,
    providerID: instance.providerID,
    address: instance.address,
  };
}

/** What the kubelet of a joining machine connects with: the API server, its CA and the bootstrap token. */
export function joinKubeconfig(join: JoinConfiguration): Kubeconfig {
  return buildKubeconfig({ clusterName: 'cluster', server: join.server, caPem: join.caPem, user: { name: 'kubelet-bootstrap', token: join.token } });
}

/** Instances decided about per turn of the event loop (about 25 ms of work). */
const ADMISSIONS_PER_TURN = 50;

/** Anything shaped like a bootstrap token is cut from messages that may quote user data. */
const TOKEN_LIKE = /[a-z0-9]{6}\.[a-z0-9]{16}/g;
const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(TOKEN_LIKE, '[REDACTED]').slice(0, 300);

/** A running instance the host has decided about. */
type Tracked =
  | { readonly kind: 'served'; instance: Instance; readonly nodeKey: string; readonly agentKey: string; readonly nodeName: string }
  | { readonly kind: 'waiting'; instance: Instance; readonly nodeKey: string }
  | { readonly kind: 'skipped'; instance: Instance };

interface NodeWant {
  readonly instanceId: string;
  readonly spec: SimulatedNodeSpec;
  registered: boolean;
  failures: number;
  timer?: NodeJS.Timeout;
}

interface HostedAgent {
  readonly key: string;
  readonly server: string;
  /** The API server, its CA and the bootstrap token. */
  readonly kubeConfig: k8s.KubeConfig;
  readonly nodes: Map<string, NodeWant>;
  readonly log: (message: string, err?: unknown) => void;
  agent?: NodeAgent;
  client?: KubeClient;
  /** The agent started: nodes are added to it as they come. */
  ready: boolean;
  failures: number;
  timer?: NodeJS.Timeout;
}

export class SimulatedCloudHost {
  private readonly cloud: SimulatedCloud;
  private readonly pollIntervalMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly log: Logger;
  /** Running instances by id. */
  private readonly tracked = new Map<string, Tracked>();
  private readonly agents = new Map<string, HostedAgent>();
  /** `<server> <node name>` → the instance whose node it is. */
  private readonly nodeOwners = new Map<string, string>();
  /** `<server> <node name>` → instances waiting for it, in order of arrival. */
  private readonly waiters = new Map<string, Set<string>>();
  /**
   * Running instances not decided about yet, admitted a few at a time: decoding user data costs
   * about half a millisecond, and a restarted host has 10,000 to decode while the process also
   * serves the meta-cluster's API. A state change applies at once, dropping an instance from here.
   */
  private readonly admissions = new Map<string, { instance: Instance; userData?: string }>();
  private admitting = false;
  private readonly stopping = new Set<Promise<void>>();
  private readonly warnThrottled: (message: string, err?: unknown) => void;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private cursor?: ChangeCursor;
  private pollTimer?: NodeJS.Timeout;
  private unwatch?: () => void;
  private polls = 0;

  constructor(private readonly opts: SimulatedCloudHostOptions) {
    this.cloud = opts.cloud;
    for (const [field, value] of [['pollIntervalMs', opts.pollIntervalMs], ['retryBaseMs', opts.retryBaseMs], ['retryMaxMs', opts.retryMaxMs]] as const) {
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        throw new RangeError(`simulated cloud host: ${field} ${value} is not valid: use a number of milliseconds above 0`);
      }
    }
    this.pollIntervalMs = opts.pollIntervalMs ?? 250;
    this.retryBaseMs = opts.retryBaseMs ?? 1_000;
    this.retryMaxMs = Math.max(opts.retryMaxMs ?? 60_000, this.retryBaseMs);
    this.log = opts.logger ?? createLogger({ name: 'simulated-cloud-host' });
    this.warnThrottled = throttled((message, detail) => this.log.warn({ detail }, message));
  }

  /**
   * Chaos: the kubelet of a running instance hangs — its Node stops heartbeating while the
   * instance still runs (so only a health check on the Node can notice). Returns false when the
   * host serves no node for that instance.
   */
  hangKubelet(instanceId: string): boolean {
    const t = this.tracked.get(instanceId);
    if (t?.kind !== 'served') return false;
    const agent = this.agents.get(t.agentKey)?.agent;
    if (!agent) return false;
    agent.pauseHeartbeats(t.nodeName);
    return true;
  }

  /** Serves every instance running now, then follows the inventory. Resolves before the nodes are registered. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`simulated cloud host: start() when ${this.state}; create a new host`);
    this.state = 'running';
    this.poll();
    this.unwatch = this.cloud.watch((change) => this.apply(change.instance, change.userData));
    this.schedulePoll();
  }

  /**
   * Stops polling and every node agent: heartbeats and pod work end, Nodes and Leases stay in
   * their clusters, so a host started later on the same file adopts them.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    clearTimeout(this.pollTimer);
    this.unwatch?.();
    for (const a of this.agents.values()) {
      clearTimeout(a.timer);
      for (const want of a.nodes.values()) clearTimeout(want.timer);
      this.retire(a);
    }
    this.agents.clear();
    this.admissions.clear();
    this.tracked.clear();
    this.nodeOwners.clear();
    this.waiters.clear();
    await Promise.all(this.stopping);
  }

  stats(): SimulatedCloudHostStats {
    let nodes = 0;
    let pending = this.admissions.size;
    for (const a of this.agents.values()) for (const want of a.nodes.values()) want.registered ? nodes++ : pending++;
    let skipped = 0;
    for (const t of this.tracked.values()) if (t.kind !== 'served') skipped++;
    return { agents: this.agents.size, nodes, pending, skipped, polls: this.polls };
  }

  // --- discovery --------------------------------------------------------------------------------

  private schedulePoll(): void {
    this.pollTimer = setTimeout(() => {
      this.poll();
      if (this.state === 'running') this.schedulePoll();
    }, this.pollIntervalMs);
    // Whoever runs the host (the meta-cluster's API server) keeps the process alive.
    this.pollTimer.unref();
  }

  private poll(): void {
    let changes: ReturnType<SimulatedCloud['changedSince']>;
    try {
      changes = this.cloud.changedSince(this.cursor);
    } catch (err) {
      this.warnThrottled('simulated cloud host: reading the inventory failed; trying again at the next poll', err);
      return;
    }
    this.cursor = changes.cursor;
    this.polls++;
    for (const instance of changes.instances) this.apply(instance);
  }

  /** Brings one instance's node in line with the instance's state. Idempotent; never throws. */
  private apply(instance: Instance, userData?: string): void {
    if (this.state !== 'running') return;
    try {
      const t = this.tracked.get(instance.id);
      if (instance.state !== 'running') {
        this.admissions.delete(instance.id);
        if (t) this.release(t);
        return;
      }
      if (t) {
        t.instance = instance;
        return;
      }
      const queued = this.admissions.get(instance.id);
      this.admissions.set(instance.id, { instance, userData: userData ?? queued?.userData });
      if (!this.admitting) {
        this.admitting = true;
        setImmediate(() => this.admitSome());
      }
    } catch (err) {
      this.log.error({ instance: instance.id, target: instance.target, err: reasonOf(err) }, 'simulated cloud host: handling an instance failed');
    }
  }

  // --- instances --------------------------------------------------------------------------------

  private admitSome(): void {
    let n = 0;
    for (const [id, { instance, userData }] of this.admissions) {
      if (this.state !== 'running' || n++ === ADMISSIONS_PER_TURN) break;
      this.admissions.delete(id);
      try {
        this.admit(instance, userData ?? this.cloud.userDataOf(id));
      } catch (err) {
        this.log.error({ instance: id, target: instance.target, err: reasonOf(err) }, 'simulated cloud host: handling an instance failed');
      }
    }
    if (this.state === 'running' && this.admissions.size > 0) setImmediate(() => this.admitSome());
    else this.admitting = false;
  }

  /** A running instance the host has not decided about yet. */
  private admit(instance: Instance, userData: string | undefined): void {
    if (userData === undefined) return; // terminated meanwhile: that change is on its way
    let join: JoinConfiguration;
    let agentKey: string;
    let kubeConfig: k8s.KubeConfig | undefined;
    try {
      join = decodeJoinConfiguration(userData);
      agentKey = createHash('sha256').update(`${join.server}\0${join.caPem}\0${join.token}`).digest('hex');
      // An agent for the same server, CA and token has had them checked already.
      if (!this.agents.has(agentKey)) {
        kubeConfig = new k8s.KubeConfig();
        kubeConfig.loadFromString(kubeconfigYaml(joinKubeconfig(join)));
      }
    } catch (err) {
      this.tracked.set(instance.id, { kind: 'skipped', instance });
      this.log.warn(
        { instance: instance.id, target: instance.target, reason: reasonOf(err) },
        'simulated cloud host: the instance user data is not a JoinConfiguration its node can join with; the instance is skipped',
      );
      return;
    }
    const nodeKey = `${join.server} ${join.nodeName}`;
    const owner = this.nodeOwners.get(nodeKey);
    if (owner !== undefined) {
      this.tracked.set(instance.id, { kind: 'waiting', instance, nodeKey });
      const waiting = this.waiters.get(nodeKey) ?? new Set<string>();
      this.waiters.set(nodeKey, waiting.add(instance.id));
      this.log.warn(
        { instance: instance.id, target: instance.target, node: join.nodeName, server: join.server, servedFor: owner },
        'simulated cloud host: another running instance already serves this node; the instance waits until that one stops',
      );
      return;
    }
    let a = this.agents.get(agentKey);
    if (!a) {
      a = { key: agentKey, server: join.server, kubeConfig: kubeConfig!, nodes: new Map(), log: this.agentLog(join.server), ready: false, failures: 0 };
      this.agents.set(agentKey, a);
      this.startAgent(a);
    }
    const want: NodeWant = { instanceId: instance.id, spec: joinedNodeSpec(join, instance), registered: false, failures: 0 };
    a.nodes.set(join.nodeName, want);
    this.nodeOwners.set(nodeKey, instance.id);
    this.tracked.set(instance.id, { kind: 'served', instance, nodeKey, agentKey, nodeName: join.nodeName });
    if (a.ready) this.register(a, want);
  }

  /** The instance is no longer running (failed or terminated): its node stops, without deregistering. */
  private release(t: Tracked): void {
    const id = t.instance.id;
    this.tracked.delete(id);
    if (t.kind === 'skipped') return;
    if (t.kind === 'waiting') {
      const waiting = this.waiters.get(t.nodeKey);
      waiting?.delete(id);
      if (waiting?.size === 0) this.waiters.delete(t.nodeKey);
      return;
    }
    if (this.nodeOwners.get(t.nodeKey) === id) this.nodeOwners.delete(t.nodeKey);
    const a = this.agents.get(t.agentKey);
    const want = a?.nodes.get(t.nodeName);
    if (a && want?.instanceId === id) {
      clearTimeout(want.timer);
      a.nodes.delete(t.nodeName);
      if (a.agent) this.detach(a, a.agent, t.nodeName);
    }
    this.admitWaiter(t.nodeKey);
    if (a?.nodes.size === 0) this.stopAgent(a);
  }

  /** The first instance waiting for a node that is free now gets it. */
  private admitWaiter(nodeKey: string): void {
    const waiting = this.waiters.get(nodeKey);
    const next = waiting?.values().next().value;
    if (next === undefined) return;
    waiting!.delete(next);
    if (waiting!.size === 0) this.waiters.delete(nodeKey);
    const t = this.tracked.get(next);
    if (!t) return;
    this.tracked.delete(next);
    this.admit(t.instance, this.cloud.userDataOf(next));
  }

  // --- agents -----------------------------------------------------------------------------------

  private startAgent(a: HostedAgent): void {
    a.timer = undefined;
    // Enough sockets for the agent's heartbeats, registrations, pod syncs and its pod watch.
    const client = new KubeClient(a.kubeConfig, { fieldManager: 'kubelet', maxSockets: 32 });
    const agent = new NodeAgent(client, { nodeStatusEvery: 30, heartbeatConcurrency: 32, concurrency: 16, ...this.opts.nodeAgent, nodes: [], log: a.log });
    a.agent = agent;
    a.client = client;
    a.ready = false;
    agent.start().then(
      () => {
        if (a.agent !== agent) return;
        a.ready = true;
        a.failures = 0;
        for (const want of a.nodes.values()) this.register(a, want);
      },
      (err: unknown) => {
        if (a.agent !== agent) return;
        this.retire(a);
        const delay = this.backoff(a.failures++);
        this.log.warn(
          { server: a.server, nodes: a.nodes.size, retryInMs: Math.round(delay), reason: reasonOf(err) },
          'simulated cloud host: a node agent could not start (its API server is unreachable or refuses the bootstrap token); trying again later',
        );
        a.timer = setTimeout(() => this.state === 'running' && this.agents.get(a.key) === a && this.startAgent(a), delay);
        a.timer.unref();
      },
    );
  }

  /** Adds a node to its started agent; if the agent gives up registering it, tries again later. */
  private register(a: HostedAgent, want: NodeWant): void {
    const agent = a.agent!;
    const name = want.spec.name;
    want.timer = undefined;
    agent.addNode(want.spec).then(
      () => {
        if (a.agent !== agent) return;
        if (a.nodes.get(name) === want) {
          want.registered = true;
          want.failures = 0;
        } else if (!a.nodes.has(name)) {
          this.detach(a, agent, name); // the instance stopped while its node was registering
        }
      },
      (err: unknown) => {
        if (a.agent !== agent) return;
        if (a.nodes.get(name) !== want) {
          if (!a.nodes.has(name)) this.detach(a, agent, name);
          return;
        }
        // The agent's own retries are spent: drop its half-registered node and start afresh later.
        this.detach(a, agent, name);
        const delay = this.backoff(want.failures++);
        a.log(`node ${name}: registration failed; trying again later`, err);
        want.timer = setTimeout(() => {
          if (this.state === 'running' && a.agent === agent && a.ready && a.nodes.get(name) === want) this.register(a, want);
        }, delay);
        want.timer.unref();
      },
    );
  }

  private detach(a: HostedAgent, agent: NodeAgent, name: string): void {
    agent.detachNode(name).catch((err: unknown) => a.log(`node ${name}: stopping it failed`, err));
  }

  private stopAgent(a: HostedAgent): void {
    this.agents.delete(a.key);
    clearTimeout(a.timer);
    this.retire(a);
  }

  /** Stops the agent's current NodeAgent and client, if any; the host waits for it in stop(). */
  private retire(a: HostedAgent): void {
    const { agent, client } = a;
    a.agent = undefined;
    a.client = undefined;
    a.ready = false;
    if (!agent) return;
    const stopped = agent
      .stop()
      .catch((err: unknown) => a.log('stopping the node agent failed', err))
      .finally(() => {
        client?.close();
        this.stopping.delete(stopped);
      });
    this.stopping.add(stopped);
  }

  private backoff(failures: number): number {
    return Math.min(this.retryBaseMs * 2 ** Math.min(failures, 30), this.retryMaxMs) * (0.8 + Math.random() * 0.4);
  }

  /** The log of one agent's NodeAgent: each kind of message at most once per 30 s (its nodes fail together). */
  private agentLog(server: string): (message: string, err?: unknown) => void {
    return throttled((message, detail) => this.log.warn({ server, detail }, `node agent: ${message}`));
  }
}

/** Calls `write` with each distinct message (node and object names aside) at most once per 30 s. */
function throttled(write: (message: string, detail: string | undefined) => void): (message: string, err?: unknown) => void {
  const last = new Map<string, number>();
  return (message, err) => {
    const detail = err === undefined ? undefined : reasonOf(err);
    const key = `${message.replace(/\S+\/\S+|node \S+/g, '')}${detail ?? ''}`;
    const now = Date.now();
    if ((last.get(key) ?? 0) > now - 30_000) return;
    if (last.size > 1_000) last.clear();
    last.set(key, now);
    write(message, detail);
  };
}
