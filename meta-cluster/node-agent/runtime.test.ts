import { describe, expect, it } from 'vitest';
import { imageName, RuntimeRegistry, simulatedRuntime, type PodRuntime } from './runtime.js';

const podWith = (...images: string[]) => ({ metadata: { name: 'p' }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } });
const fake = (name: string): PodRuntime => ({ name, start: async () => ({ ready: () => true, stop: async () => {} }) });

describe('imageName', () => {
  it.each([
    ['registry.k8s.io/kube-apiserver:v1.31.0', 'registry.k8s.io/kube-apiserver'],
    ['registry.k8s.io/kube-apiserver@sha256:abc', 'registry.k8s.io/kube-apiserver'],
    ['registry.k8s.io/kube-apiserver:v1.31.0@sha256:abc', 'registry.k8s.io/kube-apiserver'],
    ['localhost:5000/etcd', 'localhost:5000/etcd'],
    ['localhost:5000/etcd:3.5', 'localhost:5000/etcd'],
    ['nginx', 'nginx'],
  ])('%s → %s', (image, name) => expect(imageName(image)).toBe(name));
});

describe('RuntimeRegistry', () => {
  const apiserver = fake('apiserver');
  const etcd = fake('etcd');
  const registry = new RuntimeRegistry()
    .register('registry.k8s.io/kube-apiserver', apiserver)
    .register(/etcd/, etcd);

  it.each([
    ['a matching image name, any tag', podWith('registry.k8s.io/kube-apiserver:v1.31.0'), apiserver],
    ['a matching RegExp', podWith('quay.io/coreos/etcd:v3.5'), etcd],
    ['any container of the pod', podWith('busybox', 'registry.k8s.io/etcd:3.5'), etcd],
    ['the first registration that matches', podWith('quay.io/etcd', 'registry.k8s.io/kube-apiserver:v1'), apiserver],
    ['a prefix of the name only: no', podWith('registry.k8s.io/kube-apiserver-proxy:v1'), simulatedRuntime],
    ['anything else: simulated', podWith('nginx:1.27'), simulatedRuntime],
  ])('%s', (_name, pod, runtime) => expect(registry.resolve(pod)).toBe(runtime));

  it('the simulated runtime says nothing runs and is always ready', async () => {
    expect(simulatedRuntime.simulated).toBe(true);
    const running = await simulatedRuntime.start(podWith('x'), { nodeName: 'n', podIP: '10.64.0.2', hostIP: '10.0.0.1', signal: new AbortController().signal });
    expect(running.ready()).toBe(true);
    await expect(running.stop()).resolves.toBeUndefined();
  });
});
