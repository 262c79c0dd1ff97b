import { describe, expect, it } from 'vitest';
import { makeNode, makePod, type NodeFixture, type PodFixture } from './fixtures.test-util.js';
import { NodeInfo } from './node-info.js';
import { podInfo, type Toleration } from './pod-info.js';
import { addReasons, filterNode, fitErrorMessage, toleratesTaint } from './predicates.js';

const check = (pod: PodFixture, node: NodeFixture, onNode: PodFixture[] = []) =>
  filterNode(podInfo(makePod(pod)), NodeInfo.of(makeNode(node), onNode.map((p) => podInfo(makePod(p)))));

const n = (extra: Partial<NodeFixture> = {}): NodeFixture => ({ name: 'n1', ...extra });

describe('filterNode', () => {
  it.each<[string, PodFixture, NodeFixture, PodFixture[], readonly string[] | undefined]>([
    ['a ready node with room', { cpu: '1' }, n(), [], undefined],
    ['a NotReady node', {}, n({ ready: 'False' }), [], ['node(s) were not ready']],
    ['a node without a Ready condition', {}, n({ ready: null }), [], ['node(s) were not ready']],
    ['a NotReady node, pod tolerating not-ready', { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }] }, n({ ready: 'False' }), [], undefined],
    ['an Unknown node, pod tolerating only not-ready', { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }] }, n({ ready: 'Unknown' }), [], ['node(s) were not ready']],
    ['an unreachable node the lifecycle controller tainted', {}, n({ ready: 'Unknown', taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }), [], ['node(s) had untolerated taint {node.kubernetes.io/unreachable: }']],
    ['a tainted NotReady node, pod tolerating both effects', { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }] }, n({ ready: 'False', taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }] }), [], undefined],
    ['a tainted NotReady node, pod tolerating NoExecute only (the default toleration)', { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }] }, n({ ready: 'False', taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }] }), [], ['node(s) had untolerated taint {node.kubernetes.io/not-ready: }']],
    ['a cordoned node', {}, n({ unschedulable: true }), [], ['node(s) were unschedulable']],
    ['a cordoned node, pod tolerating unschedulable', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }, n({ unschedulable: true }), [], undefined],
    ['NoSchedule taint', {}, n({ taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }), [], ['node(s) had untolerated taint {dedicated: gpu}']],
    ['NoExecute taint without value', {}, n({ taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }), [], ['node(s) had untolerated taint {node.kubernetes.io/unreachable: }']],
    ['PreferNoSchedule taint does not filter', {}, n({ taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] }), [], undefined],
    ['tolerated by Equal', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] }, n({ taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }), [], undefined],
    ['Equal with another value', { tolerations: [{ key: 'dedicated', value: 'db' }] }, n({ taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }), [], ['node(s) had untolerated taint {dedicated: gpu}']],
    ['tolerated by Exists for all keys', { tolerations: [{ operator: 'Exists' }] }, n({ taints: [{ key: 'a', effect: 'NoSchedule' }, { key: 'b', value: 'x', effect: 'NoExecute' }] }), [], undefined],
    ['toleration for the other effect', { tolerations: [{ key: 'a', operator: 'Exists', effect: 'NoExecute' }] }, n({ taints: [{ key: 'a', effect: 'NoSchedule' }] }), [], ['node(s) had untolerated taint {a: }']],
    ['the first untolerated taint is named', { tolerations: [{ key: 'a', operator: 'Exists' }] }, n({ taints: [{ key: 'a', effect: 'NoSchedule' }, { key: 'b', value: '1', effect: 'NoSchedule' }] }), [], ['node(s) had untolerated taint {b: 1}']],
    ['nodeSelector matches', { nodeSelector: { disk: 'ssd' } }, n({ labels: { disk: 'ssd' } }), [], undefined],
    ['nodeSelector misses', { nodeSelector: { disk: 'ssd' } }, n({ labels: { disk: 'hdd' } }), [], ["node(s) didn't match Pod's node affinity/selector"]],
    ['nodeSelector on an absent label', { nodeSelector: { disk: '' } }, n(), [], ["node(s) didn't match Pod's node affinity/selector"]],
    ['cpu too large', { cpu: '5' }, n(), [], ['Insufficient cpu']],
    ['cpu and memory too large', { cpu: '5', memory: '9Gi' }, n(), [], ['Insufficient cpu', 'Insufficient memory']],
    ['cpu exactly fits', { cpu: '4' }, n(), [], undefined],
    ['cpu used by pods already there', { cpu: '2' }, n(), [{ cpu: '1500m' }, { cpu: '1' }], ['Insufficient cpu']],
    ['memory fits beside others', { memory: '4Gi' }, n(), [{ memory: '4Gi' }], undefined],
    ['pod count at the limit', {}, n({ pods: '2' }), [{}, {}], ['Too many pods']],
    ['too many pods and cpu', { cpu: '1' }, n({ pods: '1', cpu: '500m' }), [{}], ['Too many pods', 'Insufficient cpu']],
    ['ephemeral storage', { extra: { 'ephemeral-storage': '20Gi' } }, n({ extra: { 'ephemeral-storage': '10Gi' } }), [], ['Insufficient ephemeral-storage']],
    ['extended resource the node lacks', { extra: { 'nvidia.com/gpu': '1' } }, n(), [], ['Insufficient nvidia.com/gpu']],
    ['extended resource the node has', { extra: { 'nvidia.com/gpu': '1' } }, n({ extra: { 'nvidia.com/gpu': '2' } }), [{ extra: { 'nvidia.com/gpu': '1' } }], undefined],
    ['zero requests fit a full node', {}, n({ cpu: '1' }), [{ cpu: '1' }], undefined],
    ['readiness is checked before resources', { cpu: '9' }, n({ ready: 'False' }), [], ['node(s) were not ready']],
    ['taints before affinity', { nodeSelector: { a: 'b' } }, n({ taints: [{ key: 't', effect: 'NoSchedule' }] }), [], ['node(s) had untolerated taint {t: }']],
  ])('%s', (_name, pod, node, onNode, want) => {
    expect(check(pod, node, onNode)).toEqual(want);
  });
});

describe('required node affinity', () => {
  const labels = { zone: 'a', tier: 'web', cores: '8' };
  const node = n({ name: 'worker-1', labels });
  const expr = (key: string, operator: string, values?: string[]) => ({ matchExpressions: [{ key, operator, ...(values ? { values } : {}) }] });
  it.each<[string, PodFixture['terms'], boolean]>([
    ['In matches', [expr('zone', 'In', ['a', 'b'])], true],
    ['In misses', [expr('zone', 'In', ['b'])], false],
    ['In on an absent label', [expr('gpu', 'In', ['x'])], false],
    ['NotIn matches', [expr('zone', 'NotIn', ['b'])], true],
    ['NotIn misses', [expr('zone', 'NotIn', ['a'])], false],
    ['NotIn on an absent label matches', [expr('gpu', 'NotIn', ['x'])], true],
    ['Exists', [expr('tier', 'Exists')], true],
    ['Exists on an absent label', [expr('gpu', 'Exists')], false],
    ['DoesNotExist', [expr('gpu', 'DoesNotExist')], true],
    ['DoesNotExist on a present label', [expr('zone', 'DoesNotExist')], false],
    ['Gt true', [expr('cores', 'Gt', ['4'])], true],
    ['Gt false', [expr('cores', 'Gt', ['8'])], false],
    ['Lt true', [expr('cores', 'Lt', ['16'])], true],
    ['Lt on a non-integer label', [expr('zone', 'Lt', ['16'])], false],
    ['Gt on an absent label', [expr('gpu', 'Gt', ['0'])], false],
    ['an unknown operator', [expr('zone', 'Near', ['a'])], false],
    ['expressions in a term are ANDed', [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'tier', operator: 'In', values: ['db'] }] }], false],
    ['terms are ORed', [expr('zone', 'In', ['b']), expr('tier', 'In', ['web'])], true],
    ['an empty term matches nothing', [{}], false],
    ['an empty term list matches nothing', [], false],
    ['matchFields metadata.name In', [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-1'] }] }], true],
    ['matchFields metadata.name NotIn', [{ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['worker-1'] }] }], false],
    ['matchFields on another field', [{ matchFields: [{ key: 'metadata.uid', operator: 'In', values: ['worker-1'] }] }], false],
    ['fields and expressions are ANDed', [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }], matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-2'] }] }], false],
  ])('%s', (_name, terms, fits) => {
    expect(check({ terms }, node)).toEqual(fits ? undefined : ["node(s) didn't match Pod's node affinity/selector"]);
  });

  it('requires nodeSelector and affinity both', () => {
    expect(check({ nodeSelector: { zone: 'a' }, terms: [expr('tier', 'In', ['db'])] }, node)).toBeDefined();
    expect(check({ nodeSelector: { zone: 'a' }, terms: [expr('tier', 'In', ['web'])] }, node)).toBeUndefined();
  });
});

describe('toleratesTaint', () => {
  const taint = { key: 'k', value: 'v', effect: 'NoSchedule' };
  it.each<[Toleration, boolean]>([
    [{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }, true],
    [{ key: 'k', value: 'v' }, true], // operator defaults to Equal, any effect
    [{ key: 'k', operator: 'Exists' }, true],
    [{ operator: 'Exists' }, true],
    [{ operator: 'Exists', effect: 'NoExecute' }, false],
    [{ key: 'k', operator: 'Equal', value: 'w' }, false],
    [{ key: 'other', operator: 'Exists' }, false],
    [{ key: 'k', operator: 'Bogus' }, false],
  ])('%j → %s', (t, want) => {
    expect(toleratesTaint(t, taint)).toBe(want);
  });
});

describe('fitErrorMessage', () => {
  it('counts reasons over nodes and sorts them as kube-scheduler does', () => {
    const h = new Map<string, number>();
    addReasons(h, ['Insufficient cpu']);
    addReasons(h, ['node(s) had untolerated taint {node.kubernetes.io/unreachable: }']);
    addReasons(h, ['Insufficient cpu']);
    expect(fitErrorMessage(3, h)).toBe('0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu.');
  });

  it('says so when there are no nodes at all', () => {
    expect(fitErrorMessage(0, new Map())).toBe('no nodes available to schedule pods');
  });
});
