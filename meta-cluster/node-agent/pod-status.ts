/**
 * A pod's status as a kubelet would report it, computed from what the agent remembers of the
 * pod's containers (a PodRun) and the time. Pure: no I/O, every timestamp comes from the run, so
 * computing twice gives the same status and an unchanged pod is never written again.
 *
 * All containers of a pod share one simulated lifecycle (they start, crash and restart together).
 */
import type { KubeObject } from '../../operators/runtime/client.js';
import { rfc3339 } from './node-status.js';

export const SIMULATED_CONDITION = 'kok.dev/Simulated';
export const SIMULATED_REASON = 'SimulatedContainers';
export const SIMULATED_MESSAGE = "containers are simulated by kok's node agent; no process runs";
/** A pod under a runtime that really serves (the kube-apiserver image served by kok's API server). */
export const IN_PROCESS_REASON = 'InProcessRuntime';
export const inProcessMessage = (runtime: string) =>
  `kok's ${runtime} runtime serves this pod's containers inside the node agent's process; the image is not pulled`;

export const ANNOTATIONS = {
  crashAfter: 'kok.dev/crash-after',
  exitCode: 'kok.dev/exit-code',
  neverReady: 'kok.dev/never-ready',
  terminationDelay: 'kok.dev/termination-delay',
} as const;

/** Condition types the agent owns on a pod; others (readiness gates, DisruptionTarget) are kept. */
const OWN_CONDITIONS = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled', SIMULATED_CONDITION]);
/** The status fields the agent writes (null clears). */
export const MANAGED_STATUS_FIELDS = [
  'phase', 'conditions', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime',
  'containerStatuses', 'initContainerStatuses', 'reason', 'message',
] as const;

export interface ContainerExit {
  exitCode: number;
  reason: string;
  message?: string;
  startedAt: number;
  finishedAt: number;
}

/** The kubelet's memory of one pod. Times are epoch milliseconds. */
export interface PodRun {
  uid: string;
  /** When the agent first saw the pod on its node (startTime, PodScheduled when not bound by a scheduler). */
  seenAt: number;
  /** When its containers are due to start (seenAt + start latency). */
  startAt: number;
  hostIP: string;
  podIP?: string;
  state: 'creating' | 'running' | 'backoff' | 'exited';
  runStartedAt?: number;
  /** While running: ready from this time on (runStartedAt + readiness delay). */
  readyAt?: number;
  /** While running: the runtime says the process serves. */
  runtimeReady: boolean;
  restartCount: number;
  /** Steps of crash-loop backoff taken; reset after a long clean run, like the kubelet's. */
  backoffSteps: number;
  backoffUntil?: number;
  /** The last end of the containers: lastState while restarting, state once exited. */
  lastExit?: ContainerExit;
  simulated: boolean;
  runtimeName: string;
}

export interface PodAnnotations {
  crashAfterMs?: number;
  exitCode: number;
  neverReady: boolean;
  terminationDelayMs?: number;
  /** Annotations that could not be read, said in the Simulated condition rather than ignored silently. */
  problems: string[];
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations: `2s`, `100ms`, `1m30s`, `1.5s`; undefined if not one. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNITS[m[2]!]!;
  return Math.round(total);
}

export function podAnnotations(pod: KubeObject): PodAnnotations {
  const a = pod.metadata.annotations ?? {};
  const problems: string[] = [];
  const duration = (key: string): number | undefined => {
    if (a[key] === undefined) return undefined;
    const ms = parseDuration(a[key]);
    if (ms === undefined) problems.push(`ignored ${key}=${JSON.stringify(a[key])}: not a duration like 2s or 500ms`);
    return ms;
  };
  const crashAfterMs = duration(ANNOTATIONS.crashAfter);
  const terminationDelayMs = duration(ANNOTATIONS.terminationDelay);
  let exitCode = 1;
  if (a[ANNOTATIONS.exitCode] !== undefined) {
    const n = Number(a[ANNOTATIONS.exitCode]);
    if (Number.isInteger(n) && n >= 0 && n <= 255) exitCode = n;
    else problems.push(`ignored ${ANNOTATIONS.exitCode}=${JSON.stringify(a[ANNOTATIONS.exitCode])}: not an exit code 0..255`);
  }
  return {
    crashAfterMs,
    exitCode,
    neverReady: a[ANNOTATIONS.neverReady] === 'true',
    terminationDelayMs,
    problems,
  };
}

/** Whether the kubelet restarts a container that exited with this code. */
export function restarts(restartPolicy: string | undefined, exitCode: number): boolean {
  if (restartPolicy === 'Never') return false;
  if (restartPolicy === 'OnFailure') return exitCode !== 0;
  return true;
}

/** The kubelet's crash-loop backoff: base, 2×base, 4×base … capped (10s … 5m by default). */
export function crashBackoffMs(step: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, step - 1), maxMs);
}

/** Whether the containers count as ready at `now`. */
export function containersReady(run: PodRun, ann: PodAnnotations, now: number): boolean {
  return run.state === 'running' && !ann.neverReady && run.runtimeReady && run.readyAt !== undefined && now >= run.readyAt;
}

/** When the status next changes by itself (start, readiness, crash, end of backoff); undefined: never. */
export function nextChangeAt(run: PodRun, ann: PodAnnotations, now: number): number | undefined {
  const times: number[] = [];
  if (run.state === 'creating') times.push(run.startAt);
  if (run.state === 'backoff' && run.backoffUntil !== undefined) times.push(run.backoffUntil);
  if (run.state === 'running' && run.runStartedAt !== undefined) {
    if (ann.crashAfterMs !== undefined) times.push(run.runStartedAt + ann.crashAfterMs);
    if (!ann.neverReady && run.readyAt !== undefined && now < run.readyAt) times.push(run.readyAt);
  }
  return times.length ? Math.min(...times) : undefined;
}

type Obj = Record<string, any>;

function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(3)}s`;
  return `${Math.floor(ms / 60_000)}m${+((ms % 60_000) / 1000).toFixed(3)}s`;
}

function terminated(e: ContainerExit, containerID: string): Obj {
  return {
    exitCode: e.exitCode,
    reason: e.reason,
    ...(e.message ? { message: e.message } : {}),
    startedAt: rfc3339(e.startedAt),
    finishedAt: rfc3339(e.finishedAt),
    containerID,
  };
}

function containerStatus(pod: KubeObject, c: Obj, run: PodRun, ready: boolean): Obj {
  const containerID = `sim://${run.uid}/${c.name}`;
  const base = { name: c.name, image: c.image, restartCount: run.restartCount };
  const ids = { imageID: `sim://${c.image}`, containerID };
  const lastState = run.state !== 'exited' && run.lastExit ? { terminated: terminated(run.lastExit, containerID) } : {};
  switch (run.state) {
    case 'creating':
      return { ...base, imageID: '', ready: false, started: false, state: { waiting: { reason: 'ContainerCreating' } }, lastState: {} };
    case 'running':
      return { ...base, ...ids, ready, started: true, state: { running: { startedAt: rfc3339(run.runStartedAt!) } }, lastState };
    case 'backoff': {
      const wait = formatDuration((run.backoffUntil ?? 0) - (run.lastExit?.finishedAt ?? 0));
      const message = `back-off ${wait} restarting failed container=${c.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${run.uid})`;
      return { ...base, ...ids, ready: false, started: false, state: { waiting: { reason: 'CrashLoopBackOff', message } }, lastState };
    }
    case 'exited':
      return { ...base, ...ids, ready: false, started: false, state: { terminated: terminated(run.lastExit!, containerID) }, lastState: {} };
  }
}

const condition = (type: string, status: boolean, at: number, reason?: string, message?: string): Obj => ({
  type,
  status: status ? 'True' : 'False',
  lastProbeTime: null,
  lastTransitionTime: rfc3339(at),
  ...(reason ? { reason } : {}),
  ...(message ? { message } : {}),
});

/** The status fields the agent manages (see MANAGED_STATUS_FIELDS) for `pod` at `now`. */
export function desiredPodStatus(pod: KubeObject, run: PodRun, ann: PodAnnotations, now: number): Obj {
  const spec = pod.spec ?? {};
  const containers: Obj[] = spec.containers ?? [];
  const inits: Obj[] = spec.initContainers ?? [];
  const ready = containersReady(run, ann, now);
  const started = run.state !== 'creating';
  const phase = run.state === 'creating' ? 'Pending' : run.state === 'exited' ? (run.lastExit!.exitCode === 0 ? 'Succeeded' : 'Failed') : 'Running';
  const current: Obj[] = pod.status?.conditions ?? [];

  const notReadySince = run.lastExit?.finishedAt ?? run.seenAt;
  const names = containers.map((c) => c.name).join(' ');
  const containersCond = ready
    ? condition('ContainersReady', true, run.readyAt!)
    : phase === 'Succeeded'
      ? condition('ContainersReady', false, notReadySince, 'PodCompleted')
      : condition('ContainersReady', false, notReadySince, 'ContainersNotReady', `containers with unready status: [${names}]`);
  const unmetGate = (spec.readinessGates ?? [])
    .map((g: Obj) => g.conditionType)
    .find((t: string) => current.find((c) => c.type === t)?.status !== 'True');
  const readyCond = !ready || !unmetGate
    ? { ...containersCond, type: 'Ready' }
    : condition('Ready', false, run.readyAt!, 'ReadinessGatesNotReady', `corresponding condition of pod readiness gate "${unmetGate}" does not exist.`);

  const scheduled = current.find((c) => c.type === 'PodScheduled' && c.status === 'True') ?? condition('PodScheduled', true, run.seenAt);
  const conditions: Obj[] = [
    condition('PodReadyToStartContainers', started, started ? run.startAt : run.seenAt),
    inits.length && !started
      ? condition('Initialized', false, run.seenAt, 'ContainersNotInitialized', `containers with incomplete status: [${inits.map((c) => c.name).join(' ')}]`)
      : condition('Initialized', true, inits.length ? run.startAt : run.seenAt),
    readyCond,
    containersCond,
    scheduled,
  ];
  // Said both ways, so `kubectl get pod -o yaml` tells a pod that really serves from one that does not.
  const message = [run.simulated ? SIMULATED_MESSAGE : inProcessMessage(run.runtimeName), ...ann.problems].join('; ');
  conditions.push(condition(SIMULATED_CONDITION, run.simulated, run.seenAt, run.simulated ? SIMULATED_REASON : IN_PROCESS_REASON, message));
  conditions.push(...current.filter((c) => !OWN_CONDITIONS.has(c.type)));

  const initStatuses = inits.map((c) => {
    const sidecar = c.restartPolicy === 'Always';
    if (!started || (sidecar && run.state === 'running')) return containerStatus(pod, c, run, ready);
    const done: ContainerExit = { exitCode: 0, reason: 'Completed', startedAt: run.startAt, finishedAt: run.startAt };
    return containerStatus(pod, c, { ...run, state: 'exited', restartCount: 0, lastExit: done }, false);
  });

  return {
    phase,
    conditions,
    hostIP: run.hostIP,
    hostIPs: [{ ip: run.hostIP }],
    podIP: run.podIP ?? null,
    podIPs: run.podIP ? [{ ip: run.podIP }] : null,
    startTime: rfc3339(run.seenAt),
    containerStatuses: containers.map((c) => containerStatus(pod, c, run, ready)),
    initContainerStatuses: inits.length ? initStatuses : null,
    reason: null,
    message: null,
  };
}

/** Whether the pod carries conditions the agent does not own (readiness gates, DisruptionTarget). */
export function hasForeignConditions(pod: KubeObject): boolean {
  return (pod.status?.conditions ?? []).some((c: { type: string }) => !OWN_CONDITIONS.has(c.type));
}

/** Key-order-insensitive JSON; null and absent are the same. */
export function canonical(v: unknown): string {
  return JSON.stringify(sortKeys(v) ?? null);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => sortKeys(x) ?? null);
  if (v && typeof v === 'object') {
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) {
      const x = sortKeys((v as Obj)[k]);
      if (x !== undefined && x !== null) out[k] = x;
    }
    return out;
  }
  return v ?? undefined;
}

/** Whether the pod's status already says what `desired` says. */
export function statusMatches(pod: KubeObject, desired: Obj): boolean {
  const status = pod.status ?? {};
  return MANAGED_STATUS_FIELDS.every((f) => canonical(status[f]) === canonical(desired[f]));
}
