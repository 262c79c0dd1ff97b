import { describe, expect, it } from 'vitest';
import { SchedulerCache } from './cache.js';
import { makeNode, makePod } from './fixtures.test-util.js';
import { podInfo } from './pod-info.js';

const bound = (name: string, nodeName: string, cpu = '1', phase?: string) => {
  const p = makePod({ name, cpu, owner: 'rs' });
  p.spec.nodeName = nodeName;
  if (phase) p.status = { phase };
  return p;
};

function cacheWithNode() {
  const cache = new SchedulerCache();
  cache.setNode(makeNode({ name: 'n1' }));
  return cache;
}

describe('SchedulerCache', () => {
  it('accounts bound pods on their node and frees them on delete or completion', () => {
    const cache = cacheWithNode();
    cache.addBoundPod(bound('a', 'n1'));
    cache.addBoundPod(bound('b', 'n1', '500m'));
    const n1 = cache.nodes.get('n1')!;
    expect([n1.requested.milliCPU, n1.podCount, n1.ownerCounts.get('rs')]).toEqual([1500, 2, 2]);
    expect(cache.addBoundPod(bound('a', 'n1', '1', 'Succeeded'))).toBe(true);
    expect(cache.removeBoundPod(bound('b', 'n1'))).toBe(true);
    expect([n1.requested.milliCPU, n1.podCount, n1.ownerCounts.has('rs')]).toEqual([0, 0, false]);
  });

  it('confirms an assumed pod without counting it twice', () => {
    const cache = cacheWithNode();
    cache.assume(podInfo(makePod({ name: 'a', cpu: '1', owner: 'rs' })), 'n1');
    expect(cache.isAssumed('uid-a')).toBe(true);
    expect(cache.addBoundPod(bound('a', 'n1'))).toBe(false);
    expect(cache.isAssumed('uid-a')).toBe(false);
    expect(cache.nodes.get('n1')!.requested.milliCPU).toBe(1000);
    // A confirmed pod is not forgotten when a late binding error arrives.
    expect(cache.forget('uid-a')).toBe(false);
    expect(cache.nodes.get('n1')!.podCount).toBe(1);
  });

  it('forgets an assumption whose binding failed', () => {
    const cache = cacheWithNode();
    cache.assume(podInfo(makePod({ name: 'a', cpu: '1' })), 'n1');
    expect(cache.forget('uid-a')).toBe(true);
    expect(cache.nodes.get('n1')!.requested.milliCPU).toBe(0);
    expect(cache.has('uid-a')).toBe(false);
  });

  it('moves a pod the API bound elsewhere than assumed', () => {
    const cache = cacheWithNode();
    cache.setNode(makeNode({ name: 'n2' }));
    cache.assume(podInfo(makePod({ name: 'a', cpu: '1' })), 'n1');
    expect(cache.addBoundPod(bound('a', 'n2'))).toBe(true);
    expect(cache.nodes.get('n1')!.podCount).toBe(0);
    expect(cache.nodes.get('n2')!.podCount).toBe(1);
  });

  it('expires assumed pods nobody confirmed, but only after their binding returned', () => {
    const cache = cacheWithNode();
    cache.assume(podInfo(makePod({ name: 'a' })), 'n1');
    cache.assume(podInfo(makePod({ name: 'b' })), 'n1');
    cache.finishBinding('uid-a', 1000);
    expect(cache.expireAssumed(1000 + 30_000, 60_000)).toBe(0);
    expect(cache.expireAssumed(1000 + 61_000, 60_000)).toBe(1);
    expect([cache.has('uid-a'), cache.has('uid-b')]).toEqual([false, true]);
  });

  it('keeps pods of an unknown node in a placeholder until the node arrives', () => {
    const cache = new SchedulerCache();
    cache.addBoundPod(bound('a', 'later'));
    expect(cache.nodes.get('later')?.node).toBeUndefined();
    cache.setNode(makeNode({ name: 'later' }));
    expect(cache.nodes.get('later')!.requested.milliCPU).toBe(1000);
    cache.removeNode('later');
    expect(cache.nodes.has('later')).toBe(true);
    cache.removeBoundPod(bound('a', 'later'));
    expect(cache.nodes.has('later')).toBe(false);
  });

  it('reports whether a node change matters for placement', () => {
    const cache = new SchedulerCache();
    const node = makeNode({ name: 'n1' });
    expect(cache.setNode(node)).toBe(true);
    const heartbeat = structuredClone(node);
    heartbeat.status.conditions[0].lastHeartbeatTime = '2025-01-01T00:00:00Z';
    expect(cache.setNode(heartbeat)).toBe(false);
    expect(cache.setNode(makeNode({ name: 'n1', cpu: '8' }))).toBe(true);
  });
});
