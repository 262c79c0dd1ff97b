import { describe, expect, it } from 'vitest';
import { makeNode, makePod, type NodeFixture, type PodFixture } from './fixtures.test-util.js';
import { NodeInfo } from './node-info.js';
import { podInfo } from './pod-info.js';
import { compareScores, leastRequestedScore, scoreNode, selectHost } from './scoring.js';

const nodeWith = (f: NodeFixture, pods: PodFixture[] = []) => NodeInfo.of(makeNode(f), pods.map((p) => podInfo(makePod(p))));

describe('scoreNode', () => {
  it.each<[string, PodFixture, NodeFixture, PodFixture[], { sameOwner: number; leastRequested: number; preferNoSchedule: number }]>([
    ['an empty node', { cpu: '1', memory: '2Gi' }, { name: 'a' }, [], { sameOwner: 0, leastRequested: 75, preferNoSchedule: 0 }],
    ['counts pods of the same owner', { owner: 'rs1' }, { name: 'a' }, [{ owner: 'rs1' }, { owner: 'rs1' }, { owner: 'rs2' }, {}], expect.objectContaining({ sameOwner: 2 })],
    ['no owner, no spreading', {}, { name: 'a' }, [{ owner: 'rs1' }], expect.objectContaining({ sameOwner: 0 })],
    ['defaults apply to pods without requests', {}, { name: 'a', cpu: '1', memory: '1Gi' }, [], expect.objectContaining({ leastRequested: Math.floor((90 + 80) / 2) })],
    ['an overcommitted resource scores 0', { cpu: '3' }, { name: 'a', cpu: '2', memory: '1Gi' }, [], expect.objectContaining({ leastRequested: Math.floor((0 + 80) / 2) })],
    ['untolerated PreferNoSchedule taints', {}, { name: 'a', taints: [{ key: 'spot', effect: 'PreferNoSchedule' }, { key: 'old', effect: 'PreferNoSchedule' }] }, [], expect.objectContaining({ preferNoSchedule: 2 })],
    ['a tolerated PreferNoSchedule taint', { tolerations: [{ key: 'spot', operator: 'Exists' }] }, { name: 'a', taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }, [], expect.objectContaining({ preferNoSchedule: 0 })],
    ['a NoSchedule toleration does not count against PreferNoSchedule', { tolerations: [{ key: 'spot', operator: 'Exists', effect: 'NoSchedule' }] }, { name: 'a', taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }, [], expect.objectContaining({ preferNoSchedule: 1 })],
  ])('%s', (_name, pod, node, onNode, want) => {
    expect(scoreNode(podInfo(makePod(pod)), nodeWith(node, onNode))).toEqual(want);
  });

  it('leastRequested falls as the node fills', () => {
    const p = podInfo(makePod({ cpu: '1', memory: '1Gi' }));
    const empty = leastRequestedScore(p, nodeWith({ name: 'a' }));
    const half = leastRequestedScore(p, nodeWith({ name: 'a' }, [{ cpu: '2', memory: '4Gi' }]));
    expect(empty).toBeGreaterThan(half);
  });
});

describe('compareScores', () => {
  const s = (sameOwner: number, leastRequested: number, preferNoSchedule: number) => ({ sameOwner, leastRequested, preferNoSchedule });
  it.each<[string, ReturnType<typeof s>, string, ReturnType<typeof s>, string, 'a' | 'b']>([
    ['fewer same-owner pods first', s(0, 10, 3), 'z', s(1, 90, 0), 'a', 'a'],
    ['then more room', s(1, 60, 1), 'z', s(1, 50, 0), 'a', 'a'],
    ['then fewer PreferNoSchedule taints', s(1, 50, 0), 'z', s(1, 50, 1), 'a', 'a'],
    ['then the name', s(1, 50, 0), 'b', s(1, 50, 0), 'a', 'b'],
  ])('%s', (_name, sa, a, sb, b, want) => {
    expect(compareScores(sa, a, sb, b) < 0 ? 'a' : 'b').toBe(want);
  });
});

describe('selectHost', () => {
  it('picks the best feasible node, deterministically', () => {
    const nodes = [nodeWith({ name: 'c' }), nodeWith({ name: 'b' }), nodeWith({ name: 'a', ready: 'False' })];
    expect(selectHost(podInfo(makePod({ cpu: '1' })), nodes).node?.name).toBe('b');
  });

  it('spreads one owner before packing by load', () => {
    const nodes = [nodeWith({ name: 'a' }, [{ owner: 'rs' }]), nodeWith({ name: 'b' }, [{ cpu: '3' }])];
    expect(selectHost(podInfo(makePod({ owner: 'rs' })), nodes).node?.name).toBe('b');
    expect(selectHost(podInfo(makePod({ owner: 'other' })), nodes).node?.name).toBe('a');
  });

  it('avoids PreferNoSchedule nodes among equally loaded ones, but still uses them', () => {
    const tainted = nodeWith({ name: 'a', taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] });
    expect(selectHost(podInfo(makePod({})), [tainted, nodeWith({ name: 'b' })]).node?.name).toBe('b');
    expect(selectHost(podInfo(makePod({})), [tainted, nodeWith({ name: 'b', cpu: '1' })]).node?.name).toBe('a');
    expect(selectHost(podInfo(makePod({})), [tainted]).node?.name).toBe('a');
  });

  it('explains why nothing fits', () => {
    const nodes = [
      nodeWith({ name: 'a', taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }),
      nodeWith({ name: 'b', cpu: '1' }),
      nodeWith({ name: 'c', cpu: '2' }),
    ];
    const placement = selectHost(podInfo(makePod({ cpu: '3' })), nodes);
    expect(placement.node).toBeUndefined();
    expect(placement.message).toBe('0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu.');
  });

  it('skips placeholders for nodes it has only seen pods for', () => {
    const ghost = new NodeInfo('ghost');
    ghost.addPod(podInfo(makePod({})));
    const placement = selectHost(podInfo(makePod({})), [ghost]);
    expect(placement).toEqual({ message: 'no nodes available to schedule pods', nodes: 0 });
  });
});
