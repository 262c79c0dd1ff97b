import { describe, expect, it } from 'vitest';
import { calculateStatus, deploymentComplete, deploymentProgressing, pausedConditions, rolloutStatus } from './deployment-status.js';
import type { Condition, Deployment, DeploymentStatus, ReplicaSet } from './workload.js';

const t0 = Date.parse('2024-05-01T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function deployment(replicas: number, status: DeploymentStatus = {}, spec: Partial<Deployment['spec']> = {}): Deployment {
  return {
    metadata: { name: 'web', namespace: 'ns', generation: 2 },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: {},
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } },
      progressDeadlineSeconds: 60,
      ...spec,
    },
    status,
  };
}

const rs = (name: string, replicas: number, ready: number, available: number, conditions?: Condition[]): ReplicaSet => ({
  metadata: { name },
  spec: { replicas, selector: {}, template: {} },
  status: { replicas, readyReplicas: ready, availableReplicas: available, ...(conditions ? { conditions } : {}) },
});

const cond = (s: DeploymentStatus, type: string) => s.conditions?.find((c) => c.type === type);
const progressing = (reason: string, at: number, status: Condition['status'] = 'True'): Condition => ({
  type: 'Progressing',
  status,
  reason,
  lastUpdateTime: iso(at),
  lastTransitionTime: iso(at),
});

describe('calculateStatus', () => {
  it('sums ReplicaSet statuses and drops zero counters', () => {
    const newRS = rs('new', 2, 1, 1);
    const s = calculateStatus(deployment(4), [rs('old', 3, 3, 3), newRS], newRS, t0);
    expect(s).toMatchObject({ observedGeneration: 2, replicas: 5, updatedReplicas: 2, readyReplicas: 4, availableReplicas: 4, unavailableReplicas: 1 });
    const empty = calculateStatus(deployment(0), [], undefined, t0);
    expect(Object.keys(empty).sort()).toEqual(['conditions', 'observedGeneration']);
  });

  it.each([
    [3, 4, 'True', 'MinimumReplicasAvailable'],
    [2, 4, 'False', 'MinimumReplicasUnavailable'],
  ] as const)('%d available of %d with maxUnavailable 1 → Available %s', (available, replicas, status, reason) => {
    const r = rs('a', replicas, available, available);
    expect(cond(calculateStatus(deployment(replicas), [r], r, t0), 'Available')).toMatchObject({ status, reason });
  });

  it('keeps the transition time while Available does not flip', () => {
    const before: Condition = { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', lastTransitionTime: iso(t0 - 5000), lastUpdateTime: iso(t0 - 5000) };
    const r = rs('a', 2, 2, 2);
    expect(cond(calculateStatus(deployment(2, { conditions: [before] }), [r], r, t0), 'Available')).toEqual(before);
  });
});

describe('complete and progressing', () => {
  it('is complete only when every replica is updated and available at this generation', () => {
    const d = deployment(3);
    expect(deploymentComplete(d, { replicas: 3, updatedReplicas: 3, availableReplicas: 3, observedGeneration: 2 })).toBe(true);
    expect(deploymentComplete(d, { replicas: 4, updatedReplicas: 3, availableReplicas: 3, observedGeneration: 2 })).toBe(false);
    expect(deploymentComplete(d, { replicas: 3, updatedReplicas: 3, availableReplicas: 3, observedGeneration: 1 })).toBe(false);
  });

  it.each([
    ['more updated', { replicas: 4, updatedReplicas: 2 }, true],
    ['fewer old', { replicas: 3, updatedReplicas: 1 }, true],
    ['more available', { replicas: 4, updatedReplicas: 1, availableReplicas: 4 }, true],
    ['nothing moved', { replicas: 4, updatedReplicas: 1, availableReplicas: 3 }, false],
  ] as const)('%s → %s', (_n, next, want) => {
    const d = deployment(3, { replicas: 4, updatedReplicas: 1, availableReplicas: 3, readyReplicas: 3 });
    expect(deploymentProgressing(d, { readyReplicas: 3, ...next })).toBe(want);
  });
});

describe('rolloutStatus', () => {
  it('says NewReplicaSetAvailable once complete, and stops asking to be requeued', () => {
    const newRS = rs('web-1', 3, 3, 3);
    const { status, requeueAfterMs } = rolloutStatus(deployment(3, { conditions: [progressing('ReplicaSetUpdated', t0 - 1000)] }), [newRS], newRS, t0);
    expect(cond(status, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable', message: 'ReplicaSet "web-1" has successfully progressed.' });
    expect(requeueAfterMs).toBeUndefined();
  });

  it('refreshes lastUpdateTime on progress but keeps lastTransitionTime', () => {
    const newRS = rs('web-1', 2, 1, 1);
    const d = deployment(3, { replicas: 3, updatedReplicas: 1, conditions: [progressing('ReplicaSetUpdated', t0 - 30_000)] });
    const { status, requeueAfterMs } = rolloutStatus(d, [rs('old', 2, 2, 2), newRS], newRS, t0);
    expect(cond(status, 'Progressing')).toMatchObject({ reason: 'ReplicaSetUpdated', lastUpdateTime: iso(t0), lastTransitionTime: iso(t0 - 30_000) });
    // Look again when the deadline would pass (60 s from now, plus a second).
    expect(requeueAfterMs).toBe(61_000);
  });

  it('times out after progressDeadlineSeconds without progress', () => {
    const newRS = rs('web-1', 1, 0, 0);
    const d = deployment(3, { replicas: 4, updatedReplicas: 1, readyReplicas: 3, availableReplicas: 3, conditions: [progressing('ReplicaSetUpdated', t0 - 61_000)] });
    const { status, requeueAfterMs } = rolloutStatus(d, [rs('old', 3, 3, 3), newRS], newRS, t0);
    expect(cond(status, 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-1" has timed out progressing.' });
    expect(requeueAfterMs).toBeUndefined();
    // Before the deadline: unchanged, and a requeue for when it passes.
    const early = rolloutStatus({ ...d, status: { ...d.status, conditions: [progressing('ReplicaSetUpdated', t0 - 50_000)] } }, [rs('old', 3, 3, 3), newRS], newRS, t0);
    expect(cond(early.status, 'Progressing')?.reason).toBe('ReplicaSetUpdated');
    expect(early.requeueAfterMs).toBe(11_000);
  });

  it('drops Progressing without a deadline and copies ReplicaFailure from the ReplicaSets', () => {
    const failure: Condition = { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'quota' };
    const newRS = rs('web-1', 2, 0, 0, [failure]);
    const d = deployment(2, { conditions: [progressing('ReplicaSetUpdated', t0)] }, { progressDeadlineSeconds: undefined });
    const { status } = rolloutStatus(d, [newRS], newRS, t0);
    expect(cond(status, 'Progressing')).toBeUndefined();
    expect(cond(status, 'ReplicaFailure')).toMatchObject({ status: 'True', reason: 'FailedCreate', message: 'quota' });
  });
});

describe('pausedConditions', () => {
  it('marks a pause and a resume on Progressing, once', () => {
    const paused = pausedConditions(deployment(1, {}, { paused: true }), t0);
    expect(paused?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
    expect(pausedConditions(deployment(1, { conditions: paused }, { paused: true }), t0)).toBeUndefined();
    const resumed = pausedConditions(deployment(1, { conditions: paused }), t0);
    expect(resumed?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentResumed' });
  });

  it('leaves a timed-out deployment alone', () => {
    const d = deployment(1, { conditions: [progressing('ProgressDeadlineExceeded', t0, 'False')] }, { paused: true });
    expect(pausedConditions(d, t0)).toBeUndefined();
  });
});
