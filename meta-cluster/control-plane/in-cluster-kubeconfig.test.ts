import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { KubeClient } from '../../operators/runtime/client.js';
import { startTestServer } from '../../test/helpers.js';
import { resources } from '../controllers/resources.js';
import { readPodKubeconfig, resolveInClusterServer, serviceOfHost } from './in-cluster-kubeconfig.js';

const kubeconfig = (server: string) => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'acme', server, caData: 'Q0E=' }],
    users: [{ name: 'kcm', certData: 'Y2VydA==', keyData: 'a2V5' }],
    contexts: [{ name: 'acme', cluster: 'acme', user: 'kcm' }],
    currentContext: 'acme',
  });
  return kc;
};

describe('serviceOfHost', () => {
  it.each([
    ['kube-apiserver.cp-acme.svc', { service: 'kube-apiserver', namespace: 'cp-acme' }],
    ['kube-apiserver.cp-acme.svc.cluster.local', { service: 'kube-apiserver', namespace: 'cp-acme' }],
    ['kube-apiserver.cp-acme.svc.cluster.local.', { service: 'kube-apiserver', namespace: 'cp-acme' }],
    ['kube-apiserver.cp-acme', undefined],
    ['kube-apiserver', undefined],
    ['127.0.0.1', undefined],
    ['api.example.com', undefined],
  ])('%s → %j', (host, expected) => expect(serviceOfHost(host)).toEqual(expected));
});

describe('resolveInClusterServer', () => {
  const lb = (ns: string, svc: string, port: number) => (ns === 'cp-acme' && svc === 'kube-apiserver' && port === 6443 ? { host: '127.0.0.1', port: 41000 } : undefined);

  it('points a Service name at its address in this process and keeps the name for TLS verification', () => {
    const kc = resolveInClusterServer(kubeconfig('https://kube-apiserver.cp-acme.svc:6443'), lb);
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'https://127.0.0.1:41000', tlsServerName: 'kube-apiserver.cp-acme.svc', caData: 'Q0E=' });
    expect(kc.getCurrentUser()).toMatchObject({ name: 'kcm', certData: 'Y2VydA==' });
  });

  it('leaves other servers alone', () => {
    const kc = kubeconfig('https://10.0.0.1:6443');
    expect(resolveInClusterServer(kc, lb)).toBe(kc);
  });

  it('says which Service is not served yet', () => {
    expect(() => resolveInClusterServer(kubeconfig('https://kube-apiserver.other.svc.cluster.local'), lb)).toThrow(
      'service other/kube-apiserver port 443 (server https://kube-apiserver.other.svc.cluster.local) is not served in this process yet',
    );
  });
});

describe('readPodKubeconfig', () => {
  it('reads the mounted kubeconfig, and never quotes a broken one in its error', async () => {
    const server = await startTestServer();
    const client = new KubeClient(server.kubeConfig);
    try {
      const good = 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://kube-apiserver.cp.svc:6443"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n';
      const broken = 'users:\n- name: u\n  user: {client-key-data: "SECRETKEYDATA\n';
      for (const [name, value] of [['good', good], ['broken', broken]]) {
        await client.create(resources.secrets, 'default', { metadata: { name }, data: { value: Buffer.from(value).toString('base64') } });
      }
      const pod = (secretName: string) => ({
        metadata: { namespace: 'default', name: 'kcm' },
        spec: { volumes: [{ name: 'kc', secret: { secretName } }] },
      });
      const container = { name: 'kcm', volumeMounts: [{ name: 'kc', mountPath: '/etc/kubernetes/kubeconfig' }] };
      const kc = await readPodKubeconfig(client, pod('good'), container, '/etc/kubernetes/kubeconfig/value');
      expect(kc.getCurrentCluster()?.server).toBe('https://kube-apiserver.cp.svc:6443');
      const err = await readPodKubeconfig(client, pod('broken'), container, '/etc/kubernetes/kubeconfig/value').catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/^pod default\/kcm: kubeconfig \/etc\/kubernetes\/kubeconfig\/value is not YAML \(line \d+\)$/);
      expect((err as Error).message).not.toContain('SECRETKEYDATA');
    } finally {
      client.close();
      await server.destroy();
    }
  });
});
