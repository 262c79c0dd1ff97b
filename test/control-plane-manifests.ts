/**
 * A business cluster's control-plane manifests as the Cluster operator writes them (Secrets with
 * the cluster's PKI and kubeconfigs, kube-apiserver / kube-controller-manager / kube-scheduler
 * Deployments, the LoadBalancer Service, a simulated etcd StatefulSet), built by hand for tests
 * until the operator generates them.
 */
import { buildKubeconfig, kubeconfigYaml } from '../meta-cluster/pki/kubeconfig.js';
import { createCA, issueCertificate, type CertificateAndKey } from '../meta-cluster/pki/pki.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const tlsSecret = (name: string, c: CertificateAndKey) => ({
  apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(c.certPem), 'tls.key': b64(c.keyPem) },
});

export interface ControlPlaneFixture {
  ca: CertificateAndKey;
  /** Every object to create in the control-plane namespace. */
  objects: Array<Record<string, any>>;
  /** A client certificate with O=system:masters, signed by the cluster CA. */
  admin: CertificateAndKey;
}

export async function controlPlaneManifests(namespace: string): Promise<ControlPlaneFixture> {
  const ca = await createCA({ commonName: 'kubernetes' });
  const serving = await issueCertificate(ca, {
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kube-apiserver', `kube-apiserver.${namespace}`, `kube-apiserver.${namespace}.svc`, `kube-apiserver.${namespace}.svc.cluster.local`],
    ipAddresses: ['127.0.0.1'],
    usages: ['server'],
  });
  const client = (commonName: string, organizations: string[] = []) => issueCertificate(ca, { commonName, organizations, usages: ['client'] });
  const [kcm, scheduler, admin] = await Promise.all([client('system:kube-controller-manager'), client('system:kube-scheduler'), client('kubernetes-admin', ['system:masters'])]);
  const kubeconfig = (user: string, cert: CertificateAndKey) => kubeconfigYaml(buildKubeconfig({
    clusterName: namespace, server: `https://kube-apiserver.${namespace}.svc:6443`, caPem: ca.certPem, user: { name: user, ...cert },
  }));
  const kubeconfigSecret = (name: string, value: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', data: { value: b64(value) } });

  const deployment = (name: string, image: string, args: string[], volumes: Array<{ name: string; secret: Record<string, unknown>; mountPath: string }>, ports?: unknown[]) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { component: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { component: name } },
      template: {
        metadata: { labels: { component: name } },
        spec: {
          containers: [{
            name, image, command: [name], args, ports,
            volumeMounts: volumes.map((v) => ({ name: v.name, mountPath: v.mountPath, readOnly: true })),
          }],
          volumes: volumes.map((v) => ({ name: v.name, secret: v.secret })),
        },
      },
    },
  });
  const kubeconfigVolume = (secretName: string) => [{ name: 'kubeconfig', secret: { secretName }, mountPath: '/etc/kubernetes/kubeconfig' }];

  const objects = [
    tlsSecret('ca', ca),
    tlsSecret('apiserver-certs', serving),
    kubeconfigSecret('controller-manager-kubeconfig', kubeconfig('system:kube-controller-manager', kcm)),
    kubeconfigSecret('scheduler-kubeconfig', kubeconfig('system:kube-scheduler', scheduler)),
    deployment('kube-apiserver', 'registry.k8s.io/kube-apiserver:v1.31.4', [
      '--secure-port=6443',
      '--etcd-servers=https://etcd:2379',
      '--tls-cert-file=/etc/kubernetes/pki/apiserver/tls.crt',
      '--tls-private-key-file=/etc/kubernetes/pki/apiserver/tls.key',
      '--client-ca-file=/etc/kubernetes/pki/ca/tls.crt',
      '--authorization-mode=Node,RBAC',
    ], [
      { name: 'apiserver-certs', secret: { secretName: 'apiserver-certs' }, mountPath: '/etc/kubernetes/pki/apiserver' },
      { name: 'ca', secret: { secretName: 'ca', items: [{ key: 'tls.crt', path: 'tls.crt' }] }, mountPath: '/etc/kubernetes/pki/ca' },
    ], [{ name: 'https', containerPort: 6443 }]),
    deployment('kube-controller-manager', 'registry.k8s.io/kube-controller-manager:v1.31.4',
      ['--kubeconfig=/etc/kubernetes/kubeconfig/value', '--leader-elect=true'], kubeconfigVolume('controller-manager-kubeconfig')),
    deployment('kube-scheduler', 'registry.k8s.io/kube-scheduler:v1.31.4',
      ['--kubeconfig=/etc/kubernetes/kubeconfig/value', '--leader-elect=true'], kubeconfigVolume('scheduler-kubeconfig')),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-apiserver' },
      spec: { type: 'LoadBalancer', selector: { component: 'kube-apiserver' }, ports: [{ name: 'https', port: 6443, targetPort: 6443 }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'etcd' },
      spec: {
        replicas: 1,
        serviceName: 'etcd',
        selector: { matchLabels: { component: 'etcd' } },
        template: { metadata: { labels: { component: 'etcd' } }, spec: { containers: [{ name: 'etcd', image: 'registry.k8s.io/etcd:3.5.15-0' }] } },
      },
    },
  ].map((o) => ({ ...o, metadata: { ...o.metadata, namespace } }));
  return { ca, objects, admin };
}
