import { describe, expect, it } from 'vitest';
import {
  findActiveOrLatest,
  isScalingEvent,
  maxSurgeOf,
  maxUnavailableOf,
  newRSNewReplicas,
  planOldScaleDown,
  planProportionalScale,
  replicaSetsToCleanup,
  resolveFenceposts,
  scaledValue,
} from './deployment-rollout.js';
import { revisionOf, type Deployment, type IntOrString, type ReplicaSet } from './workload.js';

function deployment(replicas: number, o: { surge?: IntOrString; unavailable?: IntOrString; recreate?: boolean; history?: number; statusReplicas?: number } = {}): Deployment {
  return {
    metadata: { name: 'web', namespace: 'ns', uid: 'd1', generation: 1 },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      strategy: o.recreate ? { type: 'Recreate' } : { type: 'RollingUpdate', rollingUpdate: { maxSurge: o.surge ?? '25%', maxUnavailable: o.unavailable ?? '25%' } },
      revisionHistoryLimit: o.history,
    },
    status: { replicas: o.statusReplicas },
  };
}

let seq = 0;
/** A ReplicaSet with spec size, available pods, and optional status replicas and annotations. */
function rs(name: string, spec: number, available = spec, o: { status?: number; desired?: number; max?: number; revision?: number; created?: string } = {}): ReplicaSet {
  const annotations: Record<string, string> = {};
  if (o.desired !== undefined) annotations['deployment.kubernetes.io/desired-replicas'] = String(o.desired);
  if (o.max !== undefined) annotations['deployment.kubernetes.io/max-replicas'] = String(o.max);
  if (o.revision !== undefined) annotations['deployment.kubernetes.io/revision'] = String(o.revision);
  return {
    metadata: { name, uid: name, creationTimestamp: o.created ?? `2024-01-01T00:00:${String(10 + seq++).padStart(2, '0')}Z`, annotations, generation: 1 },
    spec: { replicas: spec, selector: {}, template: {} },
    status: { replicas: o.status ?? spec, availableReplicas: available, observedGeneration: 1 },
  };
}

describe('scaledValue and fenceposts', () => {
  it.each([
    [3, 10, true, 3],
    ['25%', 10, true, 3],
    ['25%', 10, false, 2],
    ['25%', 3, true, 1],
    ['25%', 3, false, 0],
    ['100%', 7, false, 7],
    ['0%', 7, true, 0],
    ['5', 7, true, 5],
    [undefined, 7, true, 0],
  ] as const)('%s of %d (round up %s) is %d', (v, total, up, want) => {
    expect(scaledValue(v as IntOrString | undefined, total, up)).toBe(want);
  });

  it('rejects strings that are neither ints nor percentages', () => {
    expect(() => scaledValue('abc', 10, true)).toThrow(/not an integer or a percentage/);
  });

  it.each([
    ['25%', '25%', 3, { maxSurge: 1, maxUnavailable: 0 }],
    ['25%', '25%', 10, { maxSurge: 3, maxUnavailable: 2 }],
    [0, '10%', 5, { maxSurge: 0, maxUnavailable: 1 }],
    [0, 0, 5, { maxSurge: 0, maxUnavailable: 1 }],
    ['1%', '1%', 10, { maxSurge: 1, maxUnavailable: 0 }],
    [2, 1, 0, { maxSurge: 2, maxUnavailable: 1 }],
  ] as const)('maxSurge %s, maxUnavailable %s of %d → %o', (s, u, n, want) => {
    expect(resolveFenceposts(s, u, n)).toEqual(want);
  });

  it('caps maxUnavailable at replicas, zero for Recreate and for zero replicas', () => {
    expect(maxUnavailableOf(deployment(2, { unavailable: 5 }))).toBe(2);
    expect(maxUnavailableOf(deployment(0, { unavailable: 5 }))).toBe(0);
    expect(maxUnavailableOf(deployment(4, { recreate: true }))).toBe(0);
    expect(maxSurgeOf(deployment(4, { recreate: true }))).toBe(0);
    expect(maxSurgeOf(deployment(4, { surge: '50%' }))).toBe(2);
  });
});

describe('newRSNewReplicas', () => {
  it.each([
    // replicas, surge, old sizes [spec, status], new spec → new size
    ['fresh rollout grows by the surge', 10, 3, [[10, 10]], 0, 3],
    ['no room while the total is at the limit', 10, 3, [[10, 10]], 3, 3],
    ['room freed by scaling old down', 10, 3, [[8, 8]], 3, 5],
    ['old pods still there count until gone', 10, 3, [[8, 10]], 3, 3],
    ['never past replicas', 3, 5, [[1, 1]], 2, 3],
    ['surge 0 waits for old to go down', 3, 0, [[3, 3]], 0, 0],
  ] as const)('%s', (_name, replicas, surge, old, newSpec, want) => {
    const d = deployment(replicas, { surge, unavailable: 1 });
    const oldRSs = old.map(([spec, status], i) => rs(`old${i}`, spec, spec, { status }));
    const newRS = rs('new', newSpec, 0);
    expect(newRSNewReplicas(d, [...oldRSs, newRS], newRS)).toBe(want);
  });

  it('Recreate goes straight to replicas', () => {
    expect(newRSNewReplicas(deployment(4, { recreate: true }), [], rs('new', 0))).toBe(4);
  });
});

describe('planOldScaleDown', () => {
  it('scales available old pods down to replicas − maxUnavailable, oldest first', () => {
    const d = deployment(10, { surge: 3, unavailable: 2 });
    const older = rs('older', 4, 4);
    const old = rs('old', 6, 6);
    const plan = planOldScaleDown(d, rs('new', 3, 0), [older, old]);
    // 13 pods, min available 8, new has 3 unavailable: 2 may go, from the oldest.
    expect([...plan]).toEqual([['older', 2]]);
  });

  it('removes unhealthy old pods first, then available ones down to the minimum', () => {
    // 10 pods, 7 available, minimum 7: only the 3 unavailable go.
    expect([...planOldScaleDown(deployment(10, { surge: 0, unavailable: 3 }), rs('new', 0, 0), [rs('old', 10, 7)])]).toEqual([['old', 7]]);
    // Minimum 6: the 3 unavailable, then 1 available.
    expect([...planOldScaleDown(deployment(10, { surge: 0, unavailable: 4 }), rs('new', 0, 0), [rs('old', 10, 7)])]).toEqual([['old', 6]]);
    // Minimum 9: room for only 1 to go, an unavailable one.
    expect([...planOldScaleDown(deployment(10, { surge: 0, unavailable: 1 }), rs('new', 0, 0), [rs('old', 10, 7)])]).toEqual([['old', 9]]);
  });

  it('does nothing while the new pods are not available', () => {
    const d = deployment(3, { surge: 1, unavailable: 0 });
    expect(planOldScaleDown(d, rs('new', 1, 0), [rs('old', 3, 3)]).size).toBe(0);
  });

  it('continues once the new pods are available', () => {
    const d = deployment(3, { surge: 1, unavailable: 0 });
    expect([...planOldScaleDown(d, rs('new', 1, 1), [rs('old', 3, 3)])]).toEqual([['old', 2]]);
  });

  it('does not count pods an old ReplicaSet is still deleting as available', () => {
    const d = deployment(5, { surge: 2, unavailable: 1 });
    // Just scaled 5 → 4; its status still says 5 available. Settled: 4 + 2 = 6, minimum 4.
    const old = rs('old', 4, 5, { status: 5 });
    expect([...planOldScaleDown(d, rs('new', 2, 2), [old])]).toEqual([['old', 2]]);
  });

  it('never takes available pods below the minimum across several old ReplicaSets', () => {
    const d = deployment(6, { surge: 2, unavailable: 2 });
    const plan = planOldScaleDown(d, rs('new', 2, 2), [rs('a', 3, 3), rs('b', 3, 3)]);
    // 8 available, minimum 4: 4 go, a first (oldest): a 3 → 0, b 3 → 2.
    expect([...plan]).toEqual([
      ['a', 0],
      ['b', 2],
    ]);
  });
});

describe('proportional scaling', () => {
  it('gives a single active ReplicaSet the new size', () => {
    const only = rs('only', 3, 3, { desired: 3, max: 4 });
    expect(planProportionalScale(deployment(5), only, [rs('old', 0, 0)])).toEqual([[only, 5]]);
  });

  it('scales the latest when none is active', () => {
    const older = rs('older', 0, 0);
    const newer = rs('newer', 0, 0);
    expect(planProportionalScale(deployment(2), undefined, [older, newer]).map(([r, n]) => [r.metadata.name, n])).toEqual([['newer', 2]]);
  });

  it('drops old ReplicaSets once the new one is saturated', () => {
    const newRS = rs('new', 3, 3, { desired: 3 });
    const old = rs('old', 1, 1);
    expect(planProportionalScale(deployment(3), newRS, [old]).map(([r, n]) => [r.metadata.name, n])).toEqual([['old', 0]]);
  });

  it.each([
    // replicas before → after, surge, old and new sizes before, expected after
    ['scale up 10 → 20 mid-rollout', 20, 3, 13, [8, 5], [14, 9]],
    ['scale down 10 → 5 mid-rollout', 5, 3, 13, [8, 5], [5, 3]],
    ['scale to zero', 0, 3, 13, [8, 5], [0, 0]],
  ] as const)('%s', (_name, replicas, surge, max, [oldSize, newSize], [wantOld, wantNew]) => {
    const d = deployment(replicas, { surge, unavailable: 2 });
    const old = rs('old', oldSize, oldSize, { max });
    const newRS = rs('new', newSize, 0, { max });
    const sizes = Object.fromEntries(planProportionalScale(d, newRS, [old]).map(([r, n]) => [r.metadata.name, n]));
    expect(sizes).toEqual({ old: wantOld, new: wantNew });
  });

  it('sees a scaling event when an active ReplicaSet was sized for other replicas', () => {
    expect(isScalingEvent(deployment(5), [rs('a', 3, 3, { desired: 3 })])).toBe(true);
    expect(isScalingEvent(deployment(3), [rs('a', 3, 3, { desired: 3 })])).toBe(false);
    expect(isScalingEvent(deployment(5), [rs('a', 0, 0, { desired: 3 }), rs('b', 5, 5)])).toBe(false);
  });

  it('finds nothing to resize alone when several ReplicaSets are active', () => {
    expect(findActiveOrLatest(rs('n', 1), [rs('o', 2)])).toBeUndefined();
  });
});

describe('replicaSetsToCleanup', () => {
  it('deletes the lowest revisions beyond the limit that are fully scaled down', () => {
    const d = deployment(3, { history: 2 });
    const old = [rs('r1', 0, 0, { revision: 1 }), rs('r2', 0, 0, { revision: 2 }), rs('r3', 1, 1, { revision: 3 }), rs('r4', 0, 0, { revision: 4 })];
    // 4 old, limit 2: r1 and r2 go.
    expect(replicaSetsToCleanup(d, old, revisionOf).map((r) => r.metadata.name)).toEqual(['r1', 'r2']);
    // A candidate that still has pods is skipped, not replaced by a newer one.
    old[0] = rs('r1', 0, 0, { revision: 1, status: 1 });
    expect(replicaSetsToCleanup(d, old, revisionOf).map((r) => r.metadata.name)).toEqual(['r2']);
  });

  it('keeps everything without a limit or within it', () => {
    expect(replicaSetsToCleanup(deployment(3), [rs('a', 0, 0)], revisionOf)).toEqual([]);
    expect(replicaSetsToCleanup(deployment(3, { history: 0 }), [rs('a', 0, 0)], revisionOf).map((r) => r.metadata.name)).toEqual(['a']);
  });
});
