import { describe, expect, it } from 'vitest';
import type { Pod } from './pod-util.js';
import pLimit from 'p-limit';
import { choosePodsToDelete, nextAvailableInMs, podFromTemplate, replicaSetStatus, slowStartBatch } from './replicaset-pods.js';
import type { ReplicaSet } from './workload.js';

const t0 = Date.parse('2024-05-01T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function replicaSet(minReadySeconds = 0): ReplicaSet {
  return {
    metadata: { name: 'web-abc', namespace: 'ns', uid: 'rs-uid', generation: 4 },
    spec: {
      replicas: 3,
      minReadySeconds,
      selector: { matchLabels: { app: 'web', 'pod-template-hash': 'abc' } },
      template: {
        metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' }, annotations: { note: 'x' }, creationTimestamp: null },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  };
}

interface PodOpts {
  node?: string;
  phase?: string;
  readySince?: number;
  created?: number;
  restarts?: number;
  labels?: Record<string, string>;
  deleting?: boolean;
}

function pod(name: string, o: PodOpts = {}): Pod {
  return {
    metadata: {
      name,
      namespace: 'ns',
      labels: o.labels ?? { app: 'web', 'pod-template-hash': 'abc' },
      creationTimestamp: iso(o.created ?? t0 - 60_000),
      ...(o.deleting ? { deletionTimestamp: iso(t0) } : {}),
    },
    spec: { nodeName: o.node },
    status: {
      phase: o.phase ?? (o.readySince !== undefined ? 'Running' : 'Pending'),
      conditions: o.readySince !== undefined ? [{ type: 'Ready', status: 'True', lastTransitionTime: iso(o.readySince) }] : [],
      containerStatuses: [{ restartCount: o.restarts ?? 0 }],
    },
  };
}

describe('podFromTemplate', () => {
  it('makes a pod named by the server from the ReplicaSet, labelled and owned', () => {
    const p = podFromTemplate(replicaSet());
    expect(p.metadata).toEqual({
      generateName: 'web-abc-',
      namespace: 'ns',
      labels: { app: 'web', 'pod-template-hash': 'abc' },
      annotations: { note: 'x' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true, blockOwnerDeletion: true }],
    });
    expect(p.spec).toEqual({ containers: [{ name: 'c', image: 'nginx' }] });
  });
});

describe('choosePodsToDelete', () => {
  const running = (name: string, readySince: number, o: PodOpts = {}) => pod(name, { node: 'n1', readySince, ...o });

  it.each([
    ['unscheduled before scheduled', [running('ready', t0 - 10_000), pod('unscheduled')], 'unscheduled'],
    ['pending before running', [running('ready', t0 - 10_000), pod('pending', { node: 'n1', phase: 'Pending' })], 'pending'],
    ['unknown before running', [running('ready', t0 - 10_000), pod('unknown', { node: 'n1', phase: 'Unknown' })], 'unknown'],
    ['not ready before ready', [running('ready', t0 - 10_000), pod('notready', { node: 'n1', phase: 'Running' })], 'notready'],
    ['ready for less time first', [running('long', t0 - 100_000), running('short', t0 - 1_000)], 'short'],
    ['more restarts first', [running('calm', t0 - 5_000), running('crashy', t0 - 5_000, { restarts: 4 })], 'crashy'],
    ['newer before older', [running('old', t0 - 5_000, { created: t0 - 90_000 }), running('new', t0 - 5_000, { created: t0 - 10_000 })], 'new'],
  ] as const)('%s', (_name, pods, first) => {
    expect(choosePodsToDelete([...pods], 1).map((p) => p.metadata.name)).toEqual([first]);
    expect(choosePodsToDelete([...pods].reverse(), 1).map((p) => p.metadata.name)).toEqual([first]);
  });

  it('returns at most n, never more than there are', () => {
    const pods = [pod('a'), pod('b')];
    expect(choosePodsToDelete(pods, 5)).toHaveLength(2);
    expect(choosePodsToDelete(pods, 0)).toEqual([]);
  });
});

describe('replicaSetStatus', () => {
  it('counts replicas, fully labelled, ready and available pods at this generation', () => {
    const pods = [
      pod('a', { readySince: t0 - 10_000 }),
      pod('b', { readySince: t0 - 1_000 }),
      pod('c', { labels: { app: 'web' } }),
    ];
    expect(replicaSetStatus(replicaSet(5), pods, undefined, t0)).toEqual({
      replicas: 3,
      fullyLabeledReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 1,
      observedGeneration: 4,
    });
    expect(replicaSetStatus(replicaSet(), [], undefined, t0)).toEqual({ replicas: 0, observedGeneration: 4 });
  });

  it('sets ReplicaFailure on a failed create and clears it after a clean sync', () => {
    const failed = replicaSetStatus(replicaSet(), [], { diff: -3, message: 'pods "x" is forbidden' }, t0);
    expect(failed.conditions).toEqual([{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'pods "x" is forbidden', lastTransitionTime: iso(t0) }]);
    const rs = { ...replicaSet(), status: failed };
    expect(replicaSetStatus(rs, [], { diff: 2, message: 'other' }, t0 + 1000).conditions).toEqual(failed.conditions);
    expect(replicaSetStatus(rs, [], undefined, t0).conditions).toBeUndefined();
    expect(replicaSetStatus(replicaSet(), [], { diff: 2, message: 'no' }, t0).conditions?.[0].reason).toBe('FailedDelete');
  });

  it('says when the next ready pod becomes available', () => {
    const pods = [pod('a', { readySince: t0 - 1_000 }), pod('b', { readySince: t0 - 4_000 }), pod('c')];
    expect(nextAvailableInMs(replicaSet(5), pods, t0)).toBe(1_050);
    expect(nextAvailableInMs(replicaSet(0), pods, t0)).toBeUndefined();
    expect(nextAvailableInMs(replicaSet(5), [pod('old', { readySince: t0 - 9_000 })], t0)).toBeUndefined();
  });
});

describe('slowStartBatch', () => {
  it('runs batches of 1, 2, 4, … and stops after the first batch with a failure', async () => {
    let calls = 0;
    const failFrom = 5;
    const r = await slowStartBatch(100, 1, pLimit(10), async () => {
      if (++calls >= failFrom) throw new Error('quota');
    });
    // Batches 1 + 2 succeed (3 calls), the batch of 4 runs completely with 2 failures, then stop.
    expect(calls).toBe(7);
    expect(r.successes).toBe(4);
    expect((r.error as Error).message).toBe('quota');
  });

  it('does all the work when nothing fails, never more than the limiter allows at once', async () => {
    let running = 0;
    let peak = 0;
    const r = await slowStartBatch(300, 1, pLimit(16), async () => {
      peak = Math.max(peak, ++running);
      await new Promise((res) => setTimeout(res, 1));
      running--;
    });
    expect(r).toEqual({ successes: 300 });
    expect(peak).toBe(16);
  });
});
