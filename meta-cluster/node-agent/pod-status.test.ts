import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../operators/runtime/client.js';
import {
  canonical, crashBackoffMs, desiredPodStatus, nextChangeAt, parseDuration, podAnnotations, restarts, statusMatches,
  type PodRun,
} from './pod-status.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function pod(extra: { annotations?: Record<string, string>; spec?: Record<string, unknown>; conditions?: unknown[] } = {}): KubeObject {
  return {
    metadata: { name: 'web', namespace: 'shop', uid: 'u-1', annotations: extra.annotations },
    spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'nginx:1.27' }, { name: 'log', image: 'fluent:2' }], ...extra.spec },
    status: { phase: 'Pending', qosClass: 'BestEffort', ...(extra.conditions ? { conditions: extra.conditions } : {}) },
  };
}

function run(extra: Partial<PodRun> = {}): PodRun {
  return {
    uid: 'u-1', seenAt: T0, startAt: T0, hostIP: '10.0.0.1', state: 'creating', runtimeReady: true,
    restartCount: 0, backoffSteps: 0, simulated: true, runtimeName: 'simulated', ...extra,
  };
}

const running = (extra: Partial<PodRun> = {}) => run({ state: 'running', podIP: '10.64.0.2', runStartedAt: T0, readyAt: T0, ...extra });
const noAnn = podAnnotations(pod());
const cond = (s: Record<string, any>, type: string) => s.conditions.find((c: { type: string }) => c.type === type);

describe('parseDuration', () => {
  it.each([
    ['2s', 2000], ['100ms', 100], ['1m30s', 90_000], ['1.5s', 1500], ['1h', 3_600_000], [' 3s ', 3000],
    ['abc', undefined], ['5', undefined], ['-1s', undefined], ['', undefined],
  ])('%j → %j', (text, ms) => expect(parseDuration(text)).toBe(ms));
});

describe('podAnnotations', () => {
  it('reads the fault-injection annotations', () => {
    const a = podAnnotations(pod({ annotations: { 'kok.dev/crash-after': '2s', 'kok.dev/exit-code': '0', 'kok.dev/never-ready': 'true', 'kok.dev/termination-delay': '500ms' } }));
    expect(a).toEqual({ crashAfterMs: 2000, exitCode: 0, neverReady: true, terminationDelayMs: 500, problems: [] });
  });

  it('names unreadable annotations instead of dropping them silently', () => {
    const a = podAnnotations(pod({ annotations: { 'kok.dev/crash-after': 'soon', 'kok.dev/exit-code': '300' } }));
    expect(a.crashAfterMs).toBeUndefined();
    expect(a.exitCode).toBe(1);
    expect(a.problems).toEqual([
      'ignored kok.dev/crash-after="soon": not a duration like 2s or 500ms',
      'ignored kok.dev/exit-code="300": not an exit code 0..255',
    ]);
    expect(cond(desiredPodStatus(pod(), running(), a, T0), 'kok.dev/Simulated').message).toContain('ignored kok.dev/crash-after="soon"');
  });
});

describe('restart policy and backoff', () => {
  it.each([
    ['Always', 1, true], ['Always', 0, true], ['OnFailure', 1, true], ['OnFailure', 0, false], ['Never', 1, false], [undefined, 1, true],
  ])('restartPolicy %s, exit %i → restart %s', (policy, code, expected) => expect(restarts(policy, code)).toBe(expected));

  it('doubles from the base and stops at the cap, like the kubelet (10s … 5m)', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((s) => crashBackoffMs(s, 10_000, 300_000) / 1000)).toEqual([10, 20, 40, 80, 160, 300, 300]);
  });
});

describe('desiredPodStatus', () => {
  it('creating: Pending, containers ContainerCreating, no pod IP yet', () => {
    const s = desiredPodStatus(pod(), run({ startAt: T0 + 1000 }), noAnn, T0);
    expect(s.phase).toBe('Pending');
    expect(s.podIP).toBeNull();
    expect(s.hostIP).toBe('10.0.0.1');
    expect(s.containerStatuses.map((c: any) => c.state)).toEqual([{ waiting: { reason: 'ContainerCreating' } }, { waiting: { reason: 'ContainerCreating' } }]);
    expect(cond(s, 'PodReadyToStartContainers').status).toBe('False');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app log]' });
  });

  it('running with no readiness delay: Ready in the same status', () => {
    const s = desiredPodStatus(pod(), running(), noAnn, T0);
    expect(s.phase).toBe('Running');
    expect(s.podIPs).toEqual([{ ip: '10.64.0.2' }]);
    expect(s.startTime).toBe('2026-01-01T00:00:00Z');
    for (const t of ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready', 'PodScheduled', 'kok.dev/Simulated']) {
      expect(cond(s, t).status, t).toBe('True');
    }
    expect(s.containerStatuses[0]).toEqual({
      name: 'app', image: 'nginx:1.27', imageID: 'sim://nginx:1.27', containerID: 'sim://u-1/app',
      ready: true, started: true, restartCount: 0, state: { running: { startedAt: '2026-01-01T00:00:00Z' } }, lastState: {},
    });
  });

  it('running before the readiness delay: started, not ready', () => {
    const s = desiredPodStatus(pod(), running({ readyAt: T0 + 5000 }), noAnn, T0 + 1000);
    expect(s.containerStatuses[0]).toMatchObject({ ready: false, started: true });
    expect(cond(s, 'Ready').status).toBe('False');
  });

  it('never-ready and a runtime that is not ready keep Ready False', () => {
    const never = podAnnotations(pod({ annotations: { 'kok.dev/never-ready': 'true' } }));
    expect(cond(desiredPodStatus(pod(), running(), never, T0 + 60_000), 'Ready').status).toBe('False');
    expect(cond(desiredPodStatus(pod(), running({ runtimeReady: false }), noAnn, T0), 'Ready').status).toBe('False');
  });

  it('backoff: waiting CrashLoopBackOff with the last exit in lastState, phase Running', () => {
    const exit = { exitCode: 1, reason: 'Error', startedAt: T0, finishedAt: T0 + 2000 };
    const s = desiredPodStatus(pod(), running({ state: 'backoff', restartCount: 2, lastExit: exit, backoffUntil: T0 + 22_000 }), noAnn, T0 + 3000);
    expect(s.phase).toBe('Running');
    expect(s.containerStatuses[0]).toMatchObject({
      restartCount: 2,
      ready: false,
      state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s restarting failed container=app pod=web_shop(u-1)' } },
      lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:00:02Z' } },
    });
  });

  it.each([
    [0, 'Succeeded', 'Completed', 'PodCompleted'],
    [1, 'Failed', 'Error', 'ContainersNotReady'],
  ])('exited with %i: phase %s', (exitCode, phase, reason, readyReason) => {
    const exit = { exitCode, reason, startedAt: T0, finishedAt: T0 + 1000 };
    const s = desiredPodStatus(pod(), running({ state: 'exited', lastExit: exit }), noAnn, T0 + 2000);
    expect(s.phase).toBe(phase);
    expect(s.containerStatuses[0].state.terminated).toMatchObject({ exitCode, reason });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: readyReason });
  });

  it('keeps conditions of other owners and the scheduler’s PodScheduled; readiness gates hold Ready back', () => {
    const scheduled = { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2025-12-31T23:59:59Z' };
    const gate = { type: 'example.com/lb', status: 'False', lastTransitionTime: '2025-12-31T23:59:59Z' };
    const p = pod({ spec: { readinessGates: [{ conditionType: 'example.com/lb' }] }, conditions: [scheduled, gate] });
    const s = desiredPodStatus(p, running(), noAnn, T0);
    expect(cond(s, 'PodScheduled')).toEqual(scheduled);
    expect(cond(s, 'example.com/lb')).toEqual(gate);
    expect(cond(s, 'ContainersReady').status).toBe('True');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady' });
    const opened = pod({ spec: p.spec, conditions: [scheduled, { ...gate, status: 'True' }] });
    expect(cond(desiredPodStatus(opened, running(), noAnn, T0), 'Ready').status).toBe('True');
  });

  it('init containers show Completed once the pod started; runtimes that run a process say Simulated=False', () => {
    const p = pod({ spec: { initContainers: [{ name: 'migrate', image: 'tool:1' }] } });
    const s = desiredPodStatus(p, running({ simulated: false, runtimeName: 'kube-apiserver' }), noAnn, T0);
    expect(s.initContainerStatuses[0].state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(cond(s, 'kok.dev/Simulated')).toMatchObject({ status: 'False', reason: 'InProcessRuntime', message: expect.stringContaining("kok's kube-apiserver runtime") });
    expect(cond(desiredPodStatus(p, run({ startAt: T0 + 1 }), noAnn, T0), 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized' });
  });

  it('is deterministic, and a pod holding it matches (so it is written once)', () => {
    const a = desiredPodStatus(pod(), running(), noAnn, T0);
    const b = desiredPodStatus(pod(), running(), noAnn, T0 + 30_000);
    expect(canonical(a)).toBe(canonical(b));
    const written: KubeObject = { ...pod(), status: { qosClass: 'BestEffort', ...JSON.parse(JSON.stringify(a)) } };
    for (const k of Object.keys(written.status)) if (written.status[k] === null) delete written.status[k];
    expect(statusMatches(written, a)).toBe(true);
    expect(statusMatches(pod(), a)).toBe(false);
  });
});

describe('nextChangeAt', () => {
  const crash = podAnnotations(pod({ annotations: { 'kok.dev/crash-after': '2s' } }));
  it.each([
    ['creating: the start', run({ startAt: T0 + 300 }), noAnn, T0, T0 + 300],
    ['running, ready, no crash: never', running(), noAnn, T0, undefined],
    ['running before readiness: ready time', running({ readyAt: T0 + 500 }), noAnn, T0, T0 + 500],
    ['running with crash-after: the crash', running(), crash, T0 + 100, T0 + 2000],
    ['backoff: its end', running({ state: 'backoff', backoffUntil: T0 + 9000 }), noAnn, T0, T0 + 9000],
    ['exited: never', running({ state: 'exited' }), crash, T0, undefined],
  ])('%s', (_name, r, ann, now, expected) => expect(nextChangeAt(r, ann, now)).toBe(expected));
});
