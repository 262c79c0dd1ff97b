import { describe, expect, it } from 'vitest';
import { ContainerFlags, containerWithImage } from './container-flags.js';

const pod = (container: Record<string, unknown>) => ({
  metadata: { namespace: 'cp', name: 'kas-0' },
  spec: { containers: [{ name: 'sidecar', image: 'busybox' }, { name: 'kube-apiserver', image: 'registry.k8s.io/kube-apiserver:v1.31.4', ...container }] },
});

const flagsOf = (container: Record<string, unknown>) => {
  const p = pod(container);
  return new ContainerFlags(p, containerWithImage(p, 'registry.k8s.io/kube-apiserver'));
};

describe('containerWithImage', () => {
  it('finds the container by image name at any tag, and names the pod when none matches', () => {
    expect(containerWithImage(pod({}), 'registry.k8s.io/kube-apiserver').name).toBe('kube-apiserver');
    expect(() => containerWithImage(pod({}), 'registry.k8s.io/kube-scheduler')).toThrow('pod cp/kas-0: no container runs image registry.k8s.io/kube-scheduler');
  });
});

describe('ContainerFlags', () => {
  const f = flagsOf({
    command: ['kube-apiserver', '--secure-port=6443'],
    args: ['--tls-cert-file=/pki/tls.crt', '--leader-elect', '--v=2', '--secure-port=7443', 'positional', '--enable-admission-plugins=A,B=c', '--lease=1m30s'],
  });

  it('reads --flag=value from command and args, the last one winning', () => {
    expect(f.get('tls-cert-file')).toBe('/pki/tls.crt');
    expect(f.port('secure-port', 6443)).toBe(7443);
    expect(f.get('enable-admission-plugins')).toBe('A,B=c');
    expect(f.get('positional')).toBeUndefined();
  });

  it('reads a bare flag as true and falls back to defaults', () => {
    expect(f.bool('leader-elect', false)).toBe(true);
    expect(f.bool('profiling', true)).toBe(true);
    expect(f.port('missing-port', 6443)).toBe(6443);
    expect(f.seconds('lease', 15)).toBe(90);
    expect(f.seconds('renew', 10)).toBe(10);
  });

  it.each([
    [{ args: [] }, (x: ContainerFlags) => x.require('client-ca-file', 'certificates only'), "pod cp/kas-0 container kube-apiserver: --client-ca-file is required (certificates only)"],
    [{ args: ['--secure-port=http'] }, (x: ContainerFlags) => x.port('secure-port', 6443), '--secure-port=http is not a port 1..65535'],
    [{ args: ['--leader-elect=maybe'] }, (x: ContainerFlags) => x.bool('leader-elect', true), '--leader-elect=maybe is not a boolean'],
    [{ args: ['--leader-elect-lease-duration=15'] }, (x: ContainerFlags) => x.seconds('leader-elect-lease-duration', 15), 'is not a positive duration like 15s'],
  ])('rejects %j clearly', (container, read, message) => {
    expect(() => read(flagsOf(container))).toThrow(message);
  });
});
