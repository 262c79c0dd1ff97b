import { describe, expect, it } from 'vitest';
import {
  adoptionPatch, desiredLease, desiredNode, desiredNodeStatus, indexOfPodCIDR, microTime, nodeInternalIP, nodePodCIDR,
} from './node-status.js';

const now = new Date('2026-01-01T00:00:00Z');

describe('microTime', () => {
  it.each([
    ['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000000Z'],
    ['2026-03-04T05:06:07.891Z', '2026-03-04T05:06:07.891000Z'],
  ])('%s → %s', (iso, micro) => expect(microTime(new Date(iso))).toBe(micro));
});

describe('addresses', () => {
  it.each([
    [0, '10.0.0.1', '10.64.0.0/24'],
    [1, '10.0.0.2', '10.64.1.0/24'],
    [255, '10.0.1.0', '10.64.255.0/24'],
    [999, '10.0.3.232', '10.67.231.0/24'],
  ])('node %i: InternalIP %s, pod CIDR %s', (i, ip, cidr) => {
    expect(nodeInternalIP(i)).toBe(ip);
    expect(nodePodCIDR(i)).toBe(cidr);
    expect(indexOfPodCIDR(cidr)).toBe(i);
  });

  it('knows only its own CIDRs and refuses indexes past its range', () => {
    expect(indexOfPodCIDR('10.244.0.0/24')).toBe(180 * 256);
    expect(indexOfPodCIDR('10.1.0.0/24')).toBeUndefined();
    expect(indexOfPodCIDR('192.168.0.0/16')).toBeUndefined();
    expect(indexOfPodCIDR(undefined)).toBeUndefined();
    expect(() => nodePodCIDR(49_152)).toThrow(/outside the simulated pod network/);
  });
});

describe('desiredNode', () => {
  it('carries the well-known labels, the simulated annotation, the pod CIDR and taints', () => {
    const n = desiredNode({ name: 'w1', zone: 'z1', labels: { 'kubernetes.io/arch': 'arm64', pool: 'a' }, taints: [{ key: 'k', effect: 'NoSchedule' }] }, 3);
    expect(n.metadata.labels).toEqual({
      'kubernetes.io/hostname': 'w1',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'arm64',
      'topology.kubernetes.io/zone': 'z1',
      'node.kubernetes.io/instance-type': 'simulated.standard',
      pool: 'a',
    });
    expect(n.metadata.annotations).toEqual({ 'kok.dev/simulated': 'true' });
    expect(n.spec).toMatchObject({ podCIDR: '10.64.3.0/24', podCIDRs: ['10.64.3.0/24'], taints: [{ key: 'k', effect: 'NoSchedule' }] });
  });

  it('adopting an existing node patches only what is missing', () => {
    const spec = { name: 'w1' };
    expect(adoptionPatch(spec, desiredNode(spec, 0), 0)).toBeUndefined();
    expect(adoptionPatch(spec, { metadata: { name: 'w1', labels: { 'kubernetes.io/hostname': 'w1' } }, spec: {} }, 2)).toEqual({
      metadata: {
        labels: {
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'topology.kubernetes.io/zone': 'simulated-zone-a',
          'node.kubernetes.io/instance-type': 'simulated.standard',
        },
        annotations: { 'kok.dev/simulated': 'true' },
      },
      spec: { podCIDR: '10.64.2.0/24', podCIDRs: ['10.64.2.0/24'] },
    });
  });
});

describe('providerID', () => {
  const cloud = 'simulated://sim-eu/eu-1a/i-0000000001';
  const withCidr = (providerID?: string) => ({
    metadata: { name: 'w1', labels: desiredNode({ name: 'w1' }, 0).metadata.labels, annotations: { 'kok.dev/simulated': 'true' } },
    spec: { podCIDR: '10.64.0.0/24', ...(providerID ? { providerID } : {}) },
  });

  it.each([
    ['the spec gives it', { name: 'w1', providerID: cloud }, cloud],
    ['kok://simulated/<name> otherwise', { name: 'w1' }, 'kok://simulated/w1'],
  ])('registers with %s', (_what, spec, want) => {
    expect(desiredNode(spec, 0).spec.providerID).toBe(want);
  });

  it.each([
    ['adds it to a Node that has none', undefined, { spec: { providerID: cloud } }],
    ['leaves a Node that has one alone, even another', 'kok://simulated/w1', undefined],
    ['leaves a Node that has the same alone', cloud, undefined],
  ])('adoption %s', (_what, existing, patch) => {
    expect(adoptionPatch({ name: 'w1', providerID: cloud }, withCidr(existing), 0)).toEqual(patch);
  });

  it('adoption without one in the spec never touches it', () => {
    expect(adoptionPatch({ name: 'w1' }, withCidr(), 0)).toBeUndefined();
  });
});

describe('desiredNodeStatus', () => {
  const spec = { name: 'w1', capacity: { cpu: '2', memory: '4Gi', pods: '20' } };
  const conditionsOf = (s: Record<string, any>) => Object.fromEntries(s.conditions.map((c: any) => [c.type, c]));

  it('reports Ready and no pressure, capacity as allocatable, and the simulated runtime', () => {
    const s = desiredNodeStatus(spec, 0, undefined, now, 'boot-1');
    const c = conditionsOf(s);
    expect(Object.keys(c)).toEqual(['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready']);
    expect(c.Ready).toMatchObject({ status: 'True', reason: 'KubeletReady', lastHeartbeatTime: '2026-01-01T00:00:00Z', lastTransitionTime: '2026-01-01T00:00:00Z' });
    expect(c.Ready.message).toMatch(/simulated by kok/);
    expect(s.allocatable).toEqual(spec.capacity);
    expect(s.nodeInfo).toMatchObject({ containerRuntimeVersion: 'kok-sim://1.0', osImage: 'kok simulated node', bootID: 'boot-1', kubeletVersion: 'v1.31.0' });
    expect(s.addresses).toEqual([{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'w1' }]);
  });

  it('reports the address the spec gives as InternalIP', () => {
    const s = desiredNodeStatus({ ...spec, address: '172.16.0.9' }, 0, undefined, now, 'boot-1');
    expect(s.addresses).toEqual([{ type: 'InternalIP', address: '172.16.0.9' }, { type: 'Hostname', address: 'w1' }]);
  });

  it('keeps transition times while a condition holds, renews them when it flips, and keeps foreign conditions', () => {
    const first = desiredNodeStatus(spec, 0, undefined, now, 'b');
    const later = new Date(now.getTime() + 60_000);
    const held = conditionsOf(desiredNodeStatus(spec, 0, { metadata: {}, status: first }, later, 'b'));
    expect(held.Ready).toMatchObject({ lastTransitionTime: '2026-01-01T00:00:00Z', lastHeartbeatTime: '2026-01-01T00:01:00Z' });

    const lost = { ...first, conditions: [...(first.conditions as object[]).slice(0, 3), { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }, { type: 'KernelDeadlock', status: 'False' }] };
    const back = conditionsOf(desiredNodeStatus(spec, 0, { metadata: {}, status: lost }, later, 'b'));
    expect(back.Ready).toMatchObject({ status: 'True', lastTransitionTime: '2026-01-01T00:01:00Z' });
    expect(back.MemoryPressure.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(back.KernelDeadlock).toEqual({ type: 'KernelDeadlock', status: 'False' });
  });
});

describe('desiredLease', () => {
  it('is held by the node, owned by the Node, renewed in MicroTime', () => {
    expect(desiredLease('w1', 'uid-1', 40, now)).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'w1', namespace: 'kube-node-lease', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'w1', uid: 'uid-1' }] },
      spec: { holderIdentity: 'w1', leaseDurationSeconds: 40, renewTime: '2026-01-01T00:00:00.000000Z' },
    });
  });
});
