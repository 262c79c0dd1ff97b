import { describe, expect, it } from 'vitest';
import { SchedulerCache } from './cache.js';
import { makeNode, makePod, type PodFixture } from './fixtures.test-util.js';
import { podInfo, type Taint } from './pod-info.js';
import { selectHost } from './scoring.js';

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomCluster(seed: number) {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const cache = new SchedulerCache();
  const taints: Taint[][] = [[], [], [], [{ key: 'spot', effect: 'PreferNoSchedule' }], [{ key: 'gpu', value: 'a', effect: 'NoSchedule' }]];
  const nodeCount = 1 + Math.floor(r() * 12);
  for (let i = 0; i < nodeCount; i++) {
    cache.setNode(
      makeNode({
        name: `n${pick(['a', 'b', 'c'])}${i}`,
        cpu: pick(['1', '2', '4', '500m']),
        memory: pick(['1Gi', '4Gi', '8Gi']),
        pods: pick(['3', '110']),
        ready: pick(['True', 'True', 'True', 'False'] as const),
        unschedulable: r() < 0.1,
        labels: { zone: pick(['a', 'b']) },
        taints: pick(taints),
        extra: r() < 0.2 ? { 'nvidia.com/gpu': '1' } : {},
      }),
    );
  }
  const podSpec = (): PodFixture => ({
    cpu: pick([undefined, '0', '100m', '500m', '1', '3']),
    memory: pick([undefined, '128Mi', '1Gi', '3Gi']),
    owner: pick([undefined, 'rs1', 'rs2']),
    nodeSelector: r() < 0.2 ? { zone: pick(['a', 'b']) } : undefined,
    tolerations: r() < 0.3 ? [pick([{ operator: 'Exists' }, { key: 'gpu', operator: 'Exists' }, { key: 'spot', operator: 'Exists' }])] : undefined,
    extra: r() < 0.1 ? { 'nvidia.com/gpu': '1' } : undefined,
  });
  return { cache, podSpec, r };
}

describe('NodeTable.selectHost', () => {
  it('chooses exactly as the reference selectHost over random clusters, as pods are assumed', () => {
    let decisions = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const { cache, podSpec } = randomCluster(seed);
      for (let k = 0; k < 15; k++) {
        const pod = podInfo(makePod({ name: `s${seed}-${k}`, ...podSpec() }));
        const fast = cache.selectHost(pod);
        const reference = selectHost(pod, cache.nodes.values());
        expect({ seed, k, node: fast.node?.name, message: fast.message }).toEqual({ seed, k, node: reference.node?.name, message: reference.message });
        if (fast.node) cache.assume(pod, fast.node.name);
        decisions++;
      }
    }
    expect(decisions).toBe(4500);
  });

  it('follows nodes leaving, pods leaving, and slot reuse', () => {
    const cache = new SchedulerCache();
    for (const name of ['a', 'b', 'c']) cache.setNode(makeNode({ name, cpu: '1' }));
    const big = podInfo(makePod({ name: 'big', cpu: '800m' }));
    cache.assume(big, 'a');
    cache.removeNode('b');
    cache.setNode(makeNode({ name: 'd', cpu: '1' }));
    const next = podInfo(makePod({ name: 'next', cpu: '500m' }));
    expect(cache.selectHost(next).node?.name).toBe('c');
    expect(selectHost(next, cache.nodes.values()).node?.name).toBe('c');
    cache.forget(big.uid);
    expect(cache.selectHost(podInfo(makePod({ name: 'x', cpu: '900m' }))).node?.name).toBe('a');
    expect(cache.selectHost(podInfo(makePod({ name: 'y', cpu: '2' }))).message).toBe('0/3 nodes are available: 3 Insufficient cpu.');
  });
});
