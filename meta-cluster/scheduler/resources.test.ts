import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../operators/runtime/client.js';
import { makeNode } from './fixtures.test-util.js';
import { nodeAllocatable, podNonZeroRequests, podRequests } from './resources.js';

type C = { requests?: Record<string, string>; limits?: Record<string, string>; restartPolicy?: string };
const pod = (containers: C[], init: C[] = [], extra: Record<string, unknown> = {}): KubeObject => ({
  metadata: { name: 'p' },
  spec: {
    containers: containers.map((c, i) => ({ name: `c${i}`, image: 'x', resources: { requests: c.requests, limits: c.limits } })),
    initContainers: init.map((c, i) => ({ name: `i${i}`, image: 'x', restartPolicy: c.restartPolicy, resources: { requests: c.requests } })),
    ...extra,
  },
});

describe('podRequests', () => {
  it.each<[string, KubeObject, { milliCPU: number; memory: number }]>([
    ['sums containers', pod([{ requests: { cpu: '100m', memory: '128Mi' } }, { requests: { cpu: '1', memory: '1Gi' } }]), { milliCPU: 1100, memory: 128 * 2 ** 20 + 2 ** 30 }],
    ['nothing requested', pod([{}]), { milliCPU: 0, memory: 0 }],
    ['an unset request defaults to the limit', pod([{ limits: { cpu: '2', memory: '1Gi' } }]), { milliCPU: 2000, memory: 2 ** 30 }],
    ['the request wins over the limit', pod([{ requests: { cpu: '1' }, limits: { cpu: '2' } }]), { milliCPU: 1000, memory: 0 }],
    ['a large init container raises the total', pod([{ requests: { cpu: '1' } }], [{ requests: { cpu: '3', memory: '1Gi' } }]), { milliCPU: 3000, memory: 2 ** 30 }],
    ['a small init container does not', pod([{ requests: { cpu: '2' } }], [{ requests: { cpu: '1' } }]), { milliCPU: 2000, memory: 0 }],
    ['init containers run one at a time (max, not sum)', pod([{ requests: { cpu: '1' } }], [{ requests: { cpu: '2' } }, { requests: { cpu: '2' } }]), { milliCPU: 2000, memory: 0 }],
    ['sidecars add to the sum and to later init containers', pod([{ requests: { cpu: '1' } }], [{ requests: { cpu: '500m' }, restartPolicy: 'Always' }, { requests: { cpu: '2' } }]), { milliCPU: 2500, memory: 0 }],
    ['pod overhead is added', pod([{ requests: { cpu: '1' } }], [], { overhead: { cpu: '250m' } }), { milliCPU: 1250, memory: 0 }],
  ])('%s', (_name, p, want) => {
    const r = podRequests(p);
    expect({ milliCPU: r.milliCPU, memory: r.memory }).toEqual(want);
  });

  it('keeps extended resources apart', () => {
    expect(podRequests(pod([{ requests: { 'nvidia.com/gpu': '1' } }, { requests: { 'nvidia.com/gpu': '2' } }])).scalar).toEqual({ 'nvidia.com/gpu': 3 });
  });
});

describe('podNonZeroRequests', () => {
  it('counts unset cpu and memory as 100m and 200Mi per container', () => {
    expect(podNonZeroRequests(pod([{}, { requests: { cpu: '1' } }]))).toEqual({ milliCPU: 1100, memory: 400 * 2 ** 20 });
  });
  it('keeps an explicit zero', () => {
    expect(podNonZeroRequests(pod([{ requests: { cpu: '0', memory: '0' } }]))).toEqual({ milliCPU: 0, memory: 0 });
  });
});

describe('nodeAllocatable', () => {
  it('reads cpu, memory and pods', () => {
    expect(nodeAllocatable(makeNode({ name: 'n', cpu: '3500m', memory: '8Gi', pods: '110' }))).toEqual({
      milliCPU: 3500,
      memory: 8 * 2 ** 30,
      ephemeralStorage: 0,
      pods: 110,
    });
  });
  it('falls back to capacity', () => {
    expect(nodeAllocatable({ metadata: { name: 'n' }, status: { capacity: { cpu: '2', pods: '10' } } }).milliCPU).toBe(2000);
  });
});
