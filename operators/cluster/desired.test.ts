import { describe, expect, it } from 'vitest';
import type { Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { apiServerSans, desiredControlPlane, firstServiceIP, versionOfImage } from './desired.js';
import { controlPlaneNamespace, DESIRED_HASH_ANNOTATION } from './names.js';
import { resolveVersion } from './versions.js';

const v = resolveVersion('1.31')!;
const cluster = (replicas: 1 | 3 = 3): Cluster => ({
  apiVersion: 'fleet.kok.dev/v1alpha1',
  kind: 'Cluster',
  metadata: { namespace: 'fleet', name: 'pay', uid: 'u1' },
  spec: { version: '1.31', controlPlane: { replicas, datastore: { type: 'etcd', replicas: 3 } } },
});
const plane = (c = cluster()) =>
  desiredControlPlane({ cluster: c, namespace: 'kcp-fleet-pay', versions: { apiServer: v, controllerManager: v, scheduler: v } });
const find = (kind: string, name: string, c?: Cluster) => plane(c).find((o) => o.kind === kind && o.metadata.name === name)!;

describe('desiredControlPlane', () => {
  it('is deterministic: the same inputs give the same objects and hashes', () => {
    expect(plane()).toEqual(plane());
    expect(find('Deployment', 'kube-apiserver').metadata.annotations?.[DESIRED_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
  });

  it('runs the upstream images with the versions asked for', () => {
    const api = find('Deployment', 'kube-apiserver');
    const container = api.spec.template.spec.containers[0];
    expect(container.image).toBe('registry.k8s.io/kube-apiserver:v1.31.10');
    expect(container.args).toContain('--tls-cert-file=/etc/kubernetes/pki/apiserver/tls.crt');
    expect(container.args).toContain(
      '--etcd-servers=https://etcd-0.etcd.kcp-fleet-pay.svc:2379,https://etcd-1.etcd.kcp-fleet-pay.svc:2379,https://etcd-2.etcd.kcp-fleet-pay.svc:2379',
    );
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/readyz', scheme: 'HTTPS' });
    expect(container.livenessProbe.httpGet).toMatchObject({ path: '/livez' });
    expect(find('Deployment', 'kube-controller-manager').spec.template.spec.containers[0].args).toContain('--leader-elect=true');
    expect(find('Deployment', 'kube-scheduler').spec.template.spec.containers[0].image).toBe('registry.k8s.io/kube-scheduler:v1.31.10');
  });

  it('sizes etcd and the API server from the spec, with quorum-keeping PDBs', () => {
    expect(find('StatefulSet', 'etcd').spec.replicas).toBe(3);
    expect(find('PodDisruptionBudget', 'etcd').spec.minAvailable).toBe(2);
    expect(find('Deployment', 'kube-apiserver', cluster(1)).spec.replicas).toBe(1);
    expect(find('Service', 'kube-apiserver').spec.type).toBe('LoadBalancer');
  });

  it('admits only API traffic from outside the namespace', () => {
    const np = find('NetworkPolicy', 'control-plane');
    expect(np.spec.ingress).toEqual([{ from: [{ podSelector: {} }] }, { ports: [{ port: 6443, protocol: 'TCP' }] }]);
  });

  it('a version change alters only the workloads that run it', () => {
    const next = resolveVersion('1.32')!;
    const upgraded = desiredControlPlane({ cluster: cluster(), namespace: 'kcp-fleet-pay', versions: { apiServer: next, controllerManager: v, scheduler: v } });
    const changed = upgraded.filter((o, i) => JSON.stringify(o) !== JSON.stringify(plane()[i])).map((o) => o.metadata.name);
    expect(changed).toEqual(['kube-apiserver']);
  });
});

describe('helpers', () => {
  it('versionOfImage', () => {
    expect(versionOfImage('registry.k8s.io/kube-apiserver:v1.31.10')).toEqual({ major: 1, minor: 31, patch: 10 });
    expect(versionOfImage('nginx')).toBeUndefined();
  });
  it('firstServiceIP', () => {
    expect(firstServiceIP('10.96.0.0/12')).toBe('10.96.0.1');
    expect(firstServiceIP('172.20.255.0/24')).toBe('172.20.255.1');
  });
  it('apiServerSans covers in-cluster names, loopback and the endpoint', () => {
    const sans = apiServerSans(cluster(), 'kcp-fleet-pay', 'api.example.com');
    expect(sans.dnsNames).toEqual(expect.arrayContaining(['kubernetes.default.svc.cluster.local', 'kube-apiserver.kcp-fleet-pay.svc', 'localhost', 'api.example.com']));
    expect(sans.ipAddresses).toEqual(['127.0.0.1', '10.96.0.1']);
  });
  it('controlPlaneNamespace is a DNS label, unique for long names', () => {
    expect(controlPlaneNamespace({ namespace: 'fleet', name: 'pay' })).toBe('kcp-fleet-pay');
    const a = controlPlaneNamespace({ namespace: 'n'.repeat(40), name: 'a'.repeat(40) });
    const b = controlPlaneNamespace({ namespace: 'n'.repeat(40), name: 'a'.repeat(39) + 'b' });
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(a).not.toBe(b);
  });
});
