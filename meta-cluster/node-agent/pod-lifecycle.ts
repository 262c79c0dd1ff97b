/**
 * The kubelet's pod worker for simulated nodes: for one pod key, advance its containers in time
 * (start → run → crash → back off → restart, or exit), write the status the pure functions of
 * pod-status.ts compute when it differs from what the API holds, and finish graceful deletions.
 * Runs inside the agent's work queue, so one pod is never synced twice at once.
 */
import { isConflict, isNotFound, type KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import type { ReconcileResult } from '../../operators/runtime/workqueue.js';
import { resources } from '../controllers/resources.js';
import { NodeAgentError } from './errors.js';
import {
  canonical, crashBackoffMs, desiredPodStatus, hasForeignConditions, nextChangeAt, podAnnotations, restarts, statusMatches,
  type ContainerExit, type PodAnnotations, type PodRun,
} from './pod-status.js';
import type { RunningPod, RuntimeRegistry } from './runtime.js';

/** A node's pod addresses: host numbers 2..254 of its /24 (.1 is the node's bridge). */
export class PodIpPool {
  private readonly owners = new Map<number, string>();
  private readonly prefix: string;

  constructor(readonly cidr: string) {
    this.prefix = cidr.replace(/\.0\/24$/, '.');
  }

  /** Claims a specific address (one a pod already had before an agent restart). */
  reserve(ip: string, owner: string): boolean {
    if (!ip.startsWith(this.prefix)) return false;
    const host = Number(ip.slice(this.prefix.length));
    if (!(host >= 2 && host <= 254)) return false;
    const current = this.owners.get(host);
    if (current !== undefined && current !== owner) return false;
    this.owners.set(host, owner);
    return true;
  }

  allocate(owner: string): string | undefined {
    for (let host = 2; host <= 254; host++) {
      if (!this.owners.has(host)) {
        this.owners.set(host, owner);
        return this.prefix + host;
      }
    }
    return undefined;
  }

  release(ip: string | undefined, owner: string): void {
    if (!ip?.startsWith(this.prefix)) return;
    const host = Number(ip.slice(this.prefix.length));
    if (this.owners.get(host) === owner) this.owners.delete(host);
  }
}

/** The node a pod runs on, as its pod worker needs it. */
export interface PodHost {
  name: string;
  hostIP: string;
  ips: PodIpPool;
}

export interface PodLifecycleOptions {
  client: KubeClient;
  runtimes: RuntimeRegistry;
  startLatencyMs: number;
  readinessDelayMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How often a non-simulated runtime's ready() is polled. */
  runtimePollMs: number;
  log(message: string, err?: unknown): void;
}

interface Tracked {
  key: string;
  host: PodHost;
  run: PodRun;
  handle?: RunningPod;
  abort: AbortController;
  /** An adopted pod keeps the start and readiness times its status already shows. */
  resume?: { runStartedAt: number; readyAt?: number };
  deletingSeenAt?: number;
  /** The last status written, and the resourceVersion it was computed from. */
  written?: { basedOnRv?: string; json: string };
  /** What the last sync saw (pod resourceVersion, run state, readiness, restarts) and until when its status holds. */
  settled?: { seen: string; until: number };
}

const keyOf = (pod: KubeObject) => `${pod.metadata.namespace}/${pod.metadata.name}`;
const isTerminal = (pod: KubeObject) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
const time = (s: unknown): number | undefined => {
  const t = typeof s === 'string' ? Date.parse(s) : NaN;
  return Number.isFinite(t) ? t : undefined;
};

export class PodLifecycle {
  private readonly tracked = new Map<string, Tracked>();
  /** Pods whose deletion this agent finished: no second DELETE while the informer catches up. */
  private readonly finished = new Map<string, string>();
  private closed = false;
  statusWrites = 0;

  constructor(private readonly opts: PodLifecycleOptions) {}

  get size(): number {
    return this.tracked.size;
  }

  /** Before the first sync after a (re)start: pods keep the addresses their status shows. */
  reserveAddress(pod: KubeObject, host: PodHost): void {
    const ip = pod.status?.podIP;
    if (ip && !isTerminal(pod)) host.ips.reserve(ip, keyOf(pod));
  }

  /** Brings one pod key up to date; `host` is undefined when its node is not (or no longer) ours. */
  async sync(key: string, pod: KubeObject | undefined, host: PodHost | undefined): Promise<ReconcileResult | void> {
    let t = this.tracked.get(key);
    if (t && (!pod || !host || pod.metadata.uid !== t.run.uid)) {
      await this.forget(key);
      t = undefined;
    }
    if (!pod) this.finished.delete(key);
    if (!pod || !host || this.closed || this.finished.get(key) === pod.metadata.uid) return;
    const ann = podAnnotations(pod);
    if (pod.metadata.deletionTimestamp) return this.terminate(pod, t, ann);
    if (!t) {
      if (isTerminal(pod)) return; // finished before this agent started
      t = this.track(key, pod, host);
    }
    await this.advance(t, pod, ann);
    const now = Date.now();
    // A runtime poll that found nothing new — the same pod, state, readiness and restarts, and no
    // transition due since — would compute the status written or confirmed last time: skip that.
    const seen = `${pod.metadata.resourceVersion} ${t.run.state} ${t.run.runtimeReady} ${t.run.restartCount}`;
    let next = nextChangeAt(t.run, ann, now);
    if (t.settled?.seen !== seen || now >= t.settled.until) {
      await this.write(pod, t, desiredPodStatus(pod, t.run, ann, now));
      t.settled = { seen, until: next ?? Infinity };
    }
    if (!t.run.simulated && t.run.state === 'running') next = Math.min(next ?? Infinity, now + this.opts.runtimePollMs);
    return next === undefined ? undefined : { requeueAfterMs: Math.max(0, next - now) };
  }

  /** Stops a pod's containers and frees its address, without touching the API. */
  async forget(key: string): Promise<void> {
    const t = this.tracked.get(key);
    if (!t) return;
    this.tracked.delete(key);
    t.abort.abort();
    t.host.ips.release(t.run.podIP, key);
    await this.stopContainers(t);
  }

  async forgetNode(nodeName: string): Promise<void> {
    const keys = [...this.tracked.values()].filter((t) => t.host.name === nodeName).map((t) => t.key);
    await Promise.all(keys.map((k) => this.forget(k)));
  }

  /** Stops every pod's containers; nothing starts afterwards. */
  async stopAll(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.tracked.keys()].map((k) => this.forget(k)));
  }

  private track(key: string, pod: KubeObject, host: PodHost): Tracked {
    const now = Date.now();
    const runtime = this.opts.runtimes.resolve(pod);
    const status = pod.status ?? {};
    const seenAt = time(status.startTime) ?? now;
    const run: PodRun = {
      uid: pod.metadata.uid!,
      seenAt,
      startAt: seenAt + this.opts.startLatencyMs,
      hostIP: host.hostIP,
      state: 'creating',
      runtimeReady: false,
      restartCount: 0,
      backoffSteps: 0,
      simulated: Boolean(runtime.simulated),
      runtimeName: runtime.name,
    };
    const t: Tracked = { key, host, run, abort: new AbortController() };
    // A pod this agent ran before it restarted: its process is restarted at once, and its status
    // keeps the times, address and restart count it already shows.
    const cs = status.containerStatuses?.[0];
    if (status.phase === 'Running' && status.podIP && host.ips.reserve(status.podIP, key)) {
      run.podIP = status.podIP;
      run.startAt = time(status.conditions?.find((c: { type: string }) => c.type === 'PodReadyToStartContainers')?.lastTransitionTime) ?? seenAt;
      run.restartCount = cs?.restartCount ?? 0;
      const last = cs?.lastState?.terminated;
      if (last) run.lastExit = { exitCode: last.exitCode ?? 1, reason: last.reason ?? 'Error', startedAt: time(last.startedAt) ?? now, finishedAt: time(last.finishedAt) ?? now };
      const startedAt = time(cs?.state?.running?.startedAt);
      const ready = status.conditions?.find((c: { type: string; status: string }) => c.type === 'ContainersReady' && c.status === 'True');
      if (startedAt !== undefined) t.resume = { runStartedAt: startedAt, readyAt: time(ready?.lastTransitionTime) };
    }
    this.tracked.set(key, t);
    return t;
  }

  /** Applies every transition that is due; a handful per sync at most, the rest on requeue. */
  private async advance(t: Tracked, pod: KubeObject, ann: PodAnnotations): Promise<void> {
    for (let step = 0; step < 8; step++) {
      const run = t.run;
      const now = Date.now();
      if (run.state === 'creating' ? now < run.startAt : run.state === 'backoff' ? now < run.backoffUntil! : run.state === 'exited') return;
      if (run.state !== 'running') {
        await this.startContainers(t, pod);
        continue;
      }
      run.runtimeReady = ready(t.handle);
      if (ann.crashAfterMs === undefined || now < run.runStartedAt! + ann.crashAfterMs) return;
      await this.stopContainers(t);
      const finishedAt = run.runStartedAt! + ann.crashAfterMs;
      this.exit(t, pod, { exitCode: ann.exitCode, reason: ann.exitCode === 0 ? 'Completed' : 'Error', startedAt: run.runStartedAt!, finishedAt });
    }
  }

  private async startContainers(t: Tracked, pod: KubeObject): Promise<void> {
    const run = t.run;
    if (!run.podIP) {
      run.podIP = pod.spec?.hostNetwork ? t.host.hostIP : t.host.ips.allocate(t.key);
      if (!run.podIP) throw new NodeAgentError('PodNetworkExhausted', `node ${t.host.name}: no free pod address in ${t.host.ips.cidr} for pod ${t.key}`);
    }
    const runtime = this.opts.runtimes.resolve(pod);
    try {
      t.handle = await runtime.start(pod, { nodeName: t.host.name, podIP: run.podIP, hostIP: t.host.hostIP, signal: t.abort.signal });
    } catch (err) {
      const now = Date.now();
      const message = err instanceof Error ? err.message : String(err);
      this.exit(t, pod, { exitCode: 128, reason: 'StartError', message, startedAt: now, finishedAt: now });
      return;
    }
    if (t.abort.signal.aborted) {
      // The pod went away while its process started.
      await this.stopContainers(t);
      return;
    }
    run.state = 'running';
    run.runStartedAt = t.resume?.runStartedAt ?? Date.now();
    run.readyAt = t.resume ? t.resume.readyAt ?? Date.now() + this.opts.readinessDelayMs : run.runStartedAt + this.opts.readinessDelayMs;
    t.resume = undefined;
    run.runtimeReady = ready(t.handle);
  }

  private async stopContainers(t: Tracked): Promise<void> {
    const h = t.handle;
    t.handle = undefined;
    if (!h) return;
    try {
      await h.stop();
    } catch (err) {
      this.opts.log(`pod ${t.key}: runtime ${t.run.runtimeName} failed to stop`, err);
    }
  }

  /** The containers ended: restart after backoff, or stay terminated, as the restartPolicy says. */
  private exit(t: Tracked, pod: KubeObject, e: ContainerExit): void {
    const run = t.run;
    run.lastExit = e;
    run.readyAt = undefined;
    run.runtimeReady = false;
    if (restarts(pod.spec?.restartPolicy, e.exitCode)) {
      // Like the kubelet, a container that ran cleanly for twice the cap starts its backoff over.
      if (e.finishedAt - e.startedAt >= 2 * this.opts.backoffMaxMs) run.backoffSteps = 0;
      run.backoffSteps++;
      run.restartCount++;
      run.state = 'backoff';
      run.backoffUntil = e.finishedAt + crashBackoffMs(run.backoffSteps, this.opts.backoffBaseMs, this.opts.backoffMaxMs);
    } else {
      run.state = 'exited';
      // The address goes back to the pool; the status keeps showing it, as the kubelet's does.
      t.host.ips.release(run.podIP, t.key);
    }
  }

  /** Graceful deletion: stop the containers (after kok.dev/termination-delay), say so, then delete for good. */
  private async terminate(pod: KubeObject, t: Tracked | undefined, ann: PodAnnotations): Promise<ReconcileResult | void> {
    const now = Date.now();
    if (t) {
      t.deletingSeenAt ??= now;
      const graceMs = Number(pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000;
      const at = t.deletingSeenAt + Math.min(ann.terminationDelayMs ?? 0, graceMs);
      if (now < at) return { requeueAfterMs: at - now };
      await this.stopContainers(t);
      const run = t.run;
      if (run.state === 'running') this.exit(t, { ...pod, spec: { ...pod.spec, restartPolicy: 'Never' } }, {
        exitCode: 0, reason: 'Completed', startedAt: run.runStartedAt!, finishedAt: Date.now(),
      });
      if (run.state === 'backoff') run.state = 'exited';
      // The terminated state is written only when the pod lingers (a termination delay): with none,
      // the DELETE follows at once and nobody could observe it, so it would only cost a write.
      if (run.state === 'exited' && (ann.terminationDelayMs ?? 0) > 0) {
        await this.write(pod, t, desiredPodStatus(pod, run, ann, Date.now()));
      }
    }
    try {
      await this.opts.client.delete(resources.pods, pod.metadata.namespace, pod.metadata.name!, {
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid },
      });
    } catch (err) {
      // Gone already, or a new pod of the same name: nothing of ours is left to delete.
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
    this.finished.set(keyOf(pod), pod.metadata.uid!);
    await this.forget(keyOf(pod));
  }

  private async write(pod: KubeObject, t: Tracked, desired: Record<string, unknown>): Promise<void> {
    if (statusMatches(pod, desired)) {
      t.written = undefined;
      return;
    }
    const json = canonical(desired);
    // Our last write has not reached the informer yet and would say the same again.
    if (t.written && t.written.json === json && t.written.basedOnRv === pod.metadata.resourceVersion) return;
    // The uid pins the write to this pod, not a namesake; conditions of other owners are only
    // rewritten from an up-to-date copy.
    const metadata = { uid: pod.metadata.uid, ...(hasForeignConditions(pod) ? { resourceVersion: pod.metadata.resourceVersion } : {}) };
    try {
      await this.opts.client.patch(resources.pods, pod.metadata.namespace, pod.metadata.name!, 'merge', { metadata, status: desired }, { sub: 'status' });
      this.statusWrites++;
    } catch (err) {
      if (isNotFound(err)) return; // deleted meanwhile; the informer tells us next
      throw err;
    }
    t.written = { basedOnRv: pod.metadata.resourceVersion, json };
  }
}

function ready(h: RunningPod | undefined): boolean {
  try {
    return h ? h.ready() : false;
  } catch {
    return false;
  }
}
