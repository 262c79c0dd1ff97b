/**
 * The desired control plane of a Cluster, as pure functions of the Cluster and the versions its
 * components should run. The manifests use the upstream images and flags, so they run unchanged
 * on a real meta-cluster; on the embedded one the node agent gives the kube-apiserver,
 * kube-controller-manager and kube-scheduler images a real runtime and simulates etcd.
 *
 * Nothing here may depend on time or randomness: a reconcile that computes a different template
 * would roll the control plane.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../runtime/client.js';
import type { Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { imageTag, type KubeVersion } from './versions.js';
import {
  apiServerServiceNames,
  clusterLabels,
  components,
  DESIRED_HASH_ANNOTATION,
  secretNames,
  type ClusterRef,
} from './names.js';

export const ETCD_IMAGE = 'registry.k8s.io/etcd:3.5.16-0';
export const API_SERVER_PORT = 6443;
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;
const PKI = '/etc/kubernetes/pki';

export interface ComponentVersions {
  readonly apiServer: KubeVersion;
  readonly controllerManager: KubeVersion;
  readonly scheduler: KubeVersion;
}

export interface ControlPlaneInputs {
  readonly cluster: Cluster;
  /** The namespace of the control plane (see controlPlaneNamespace). */
  readonly namespace: string;
  readonly versions: ComponentVersions;
}

const refOf = (c: Cluster): ClusterRef => ({ namespace: c.metadata.namespace!, name: c.metadata.name! });

export const quorum = (members: number): number => Math.floor(members / 2) + 1;

export const image = (component: string, v: KubeVersion): string => `registry.k8s.io/${component}:${imageTag(v)}`;

/** The version an upstream control-plane image runs, from its tag (`…:v1.31.10` → 1.31.10). */
export function versionOfImage(img: string | undefined): KubeVersion | undefined {
  const m = /:v(\d+)\.(\d+)\.(\d+)$/.exec(img ?? '');
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined;
}

/** The first usable IP of the service CIDR: the business cluster's `kubernetes` Service. */
export function firstServiceIP(cidr: string): string {
  const [ip] = cidr.split('/');
  const n = ip!.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) + 1;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function etcdMemberNames(namespace: string, members: number): string[] {
  return Array.from({ length: members }, (_, i) => `etcd-${i}.etcd.${namespace}.svc`);
}

/** Names the API server's serving certificate must carry. */
export function apiServerSans(cluster: Cluster, namespace: string, endpointHost?: string): { dnsNames: string[]; ipAddresses: string[] } {
  const domain = cluster.spec.network?.dnsDomain ?? 'cluster.local';
  const dnsNames = [
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    `kubernetes.default.svc.${domain}`,
    ...apiServerServiceNames(namespace, domain),
  ];
  const ipAddresses = ['127.0.0.1', firstServiceIP(cluster.spec.network?.serviceCIDR ?? '10.96.0.0/12')];
  if (endpointHost) (/^[\d.]+$|:/.test(endpointHost) ? ipAddresses : dnsNames).push(endpointHost);
  return { dnsNames: [...new Set(dnsNames)], ipAddresses: [...new Set(ipAddresses)] };
}

/** Stamps the hash of the object's desired state, so the operator writes it only when it changes. */
export function withDesiredHash<T extends KubeObject>(obj: T): T {
  const hash = createHash('sha256').update(JSON.stringify(obj)).digest('hex').slice(0, 16);
  obj.metadata.annotations = { ...obj.metadata.annotations, [DESIRED_HASH_ANNOTATION]: hash };
  return obj;
}

function meta(c: Cluster, namespace: string, name: string, component?: string) {
  return { name, namespace, labels: clusterLabels(refOf(c), component) };
}

/** A secret volume; `keys` projects only those keys (a CA's certificate without its key). */
function secretVolume(name: string, secretName: string, keys?: string[]) {
  return { name, secret: { secretName, defaultMode: 0o400, ...(keys ? { items: keys.map((k) => ({ key: k, path: k })) } : {}) } };
}

const mount = (name: string, mountPath: string) => ({ name, mountPath, readOnly: true });

function httpsProbe(path: string, port: number, periodSeconds: number, failureThreshold: number) {
  return { httpGet: { path, port, scheme: 'HTTPS' }, periodSeconds, timeoutSeconds: 15, failureThreshold };
}

/** Spread replicas over nodes where the scheduler can; never required, so one node still works. */
function spread(selector: Record<string, string>) {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } } },
      ],
    },
  };
}

export function desiredNamespace(c: Cluster, namespace: string): KubeObject {
  return withDesiredHash({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: clusterLabels(refOf(c)) } });
}

export function desiredEtcd(c: Cluster, namespace: string): KubeObject[] {
  const members = c.spec.controlPlane?.datastore?.replicas ?? 3;
  const selector = { ...clusterLabels(refOf(c), components.etcd) };
  const peers = etcdMemberNames(namespace, members)
    .map((host, i) => `etcd-${i}=https://${host}:${ETCD_PEER_PORT}`)
    .join(',');
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(c, namespace, 'etcd', components.etcd),
    spec: {
      clusterIP: 'None',
      // Members must find each other before any is ready: quorum needs the peers first.
      publishNotReadyAddresses: true,
      selector,
      ports: [
        { name: 'client', port: ETCD_CLIENT_PORT, targetPort: ETCD_CLIENT_PORT, protocol: 'TCP' },
        { name: 'peer', port: ETCD_PEER_PORT, targetPort: ETCD_PEER_PORT, protocol: 'TCP' },
      ],
    },
  };
  const statefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(c, namespace, 'etcd', components.etcd),
    spec: {
      replicas: members,
      serviceName: 'etcd',
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: selector },
        spec: {
          affinity: spread(selector),
          containers: [
            {
              name: 'etcd',
              image: ETCD_IMAGE,
              command: ['etcd'],
              args: [
                '--name=$(POD_NAME)',
                `--initial-advertise-peer-urls=https://$(POD_NAME).etcd.${namespace}.svc:${ETCD_PEER_PORT}`,
                `--advertise-client-urls=https://$(POD_NAME).etcd.${namespace}.svc:${ETCD_CLIENT_PORT}`,
                `--listen-client-urls=https://0.0.0.0:${ETCD_CLIENT_PORT}`,
                `--listen-peer-urls=https://0.0.0.0:${ETCD_PEER_PORT}`,
                '--listen-metrics-urls=http://0.0.0.0:2381',
                `--initial-cluster=${peers}`,
                '--initial-cluster-state=new',
                `--initial-cluster-token=${namespace}`,
                '--data-dir=/var/lib/etcd',
                '--client-cert-auth=true',
                '--peer-client-cert-auth=true',
                `--trusted-ca-file=${PKI}/etcd-ca/tls.crt`,
                `--peer-trusted-ca-file=${PKI}/etcd-ca/tls.crt`,
                `--cert-file=${PKI}/etcd/tls.crt`,
                `--key-file=${PKI}/etcd/tls.key`,
                `--peer-cert-file=${PKI}/etcd/tls.crt`,
                `--peer-key-file=${PKI}/etcd/tls.key`,
                '--snapshot-count=10000',
              ],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              ports: [
                { name: 'client', containerPort: ETCD_CLIENT_PORT, protocol: 'TCP' },
                { name: 'peer', containerPort: ETCD_PEER_PORT, protocol: 'TCP' },
                { name: 'metrics', containerPort: 2381, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/readyz', port: 2381 }, periodSeconds: 5, failureThreshold: 3 },
              livenessProbe: { httpGet: { path: '/livez', port: 2381 }, periodSeconds: 10, failureThreshold: 8 },
              resources: { requests: { cpu: '100m', memory: '256Mi' } },
              volumeMounts: [mount('data', '/var/lib/etcd'), mount('etcd-certs', `${PKI}/etcd`), mount('etcd-ca', `${PKI}/etcd-ca`)],
            },
          ],
          volumes: [secretVolume('etcd-certs', secretNames.etcdServer), secretVolume('etcd-ca', secretNames.etcdCa, ['tls.crt'])],
        },
      },
      // Served by real meta-clusters; the embedded one does not provision volumes (etcd is simulated there).
      volumeClaimTemplates: [
        {
          metadata: { name: 'data' },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } } },
        },
      ],
    },
  };
  const pdb = {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(c, namespace, 'etcd', components.etcd),
    spec: { minAvailable: quorum(members), selector: { matchLabels: selector } },
  };
  return [service, statefulSet, pdb].map(withDesiredHash);
}

export function desiredApiServer(c: Cluster, namespace: string, v: KubeVersion): KubeObject[] {
  const replicas = c.spec.controlPlane?.replicas ?? 3;
  const members = c.spec.controlPlane?.datastore?.replicas ?? 3;
  const domain = c.spec.network?.dnsDomain ?? 'cluster.local';
  const selector = clusterLabels(refOf(c), components.apiServer);
  const etcdServers = etcdMemberNames(namespace, members)
    .map((h) => `https://${h}:${ETCD_CLIENT_PORT}`)
    .join(',');
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(c, namespace, components.apiServer, components.apiServer),
    spec: {
      replicas,
      selector: { matchLabels: selector },
      // Surge first: an upgrade never takes an API server away before its successor serves.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: selector },
        spec: {
          affinity: spread(selector),
          containers: [
            {
              name: components.apiServer,
              image: image(components.apiServer, v),
              command: ['kube-apiserver'],
              args: [
                '--advertise-address=$(POD_IP)',
                `--secure-port=${API_SERVER_PORT}`,
                '--allow-privileged=true',
                '--authorization-mode=Node,RBAC',
                '--enable-bootstrap-token-auth=true',
                '--enable-admission-plugins=NodeRestriction',
                `--client-ca-file=${PKI}/ca/tls.crt`,
                `--tls-cert-file=${PKI}/apiserver/tls.crt`,
                `--tls-private-key-file=${PKI}/apiserver/tls.key`,
                `--etcd-servers=${etcdServers}`,
                `--etcd-cafile=${PKI}/etcd-ca/tls.crt`,
                `--etcd-certfile=${PKI}/etcd-client/tls.crt`,
                `--etcd-keyfile=${PKI}/etcd-client/tls.key`,
                `--proxy-client-cert-file=${PKI}/front-proxy-client/tls.crt`,
                `--proxy-client-key-file=${PKI}/front-proxy-client/tls.key`,
                `--requestheader-client-ca-file=${PKI}/front-proxy-ca/tls.crt`,
                '--requestheader-allowed-names=front-proxy-client',
                '--requestheader-extra-headers-prefix=X-Remote-Extra-',
                '--requestheader-group-headers=X-Remote-Group',
                '--requestheader-username-headers=X-Remote-User',
                `--service-account-issuer=https://kubernetes.default.svc.${domain}`,
                `--service-account-key-file=${PKI}/sa/sa.pub`,
                `--service-account-signing-key-file=${PKI}/sa/sa.key`,
                `--service-cluster-ip-range=${c.spec.network?.serviceCIDR ?? '10.96.0.0/12'}`,
              ],
              env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
              ports: [{ name: 'https', containerPort: API_SERVER_PORT, protocol: 'TCP' }],
              startupProbe: httpsProbe('/livez', API_SERVER_PORT, 10, 24),
              livenessProbe: httpsProbe('/livez', API_SERVER_PORT, 10, 8),
              readinessProbe: httpsProbe('/readyz', API_SERVER_PORT, 1, 3),
              resources: { requests: { cpu: '250m', memory: '256Mi' } },
              volumeMounts: [
                mount('ca', `${PKI}/ca`),
                mount('apiserver', `${PKI}/apiserver`),
                mount('etcd-ca', `${PKI}/etcd-ca`),
                mount('etcd-client', `${PKI}/etcd-client`),
                mount('front-proxy-ca', `${PKI}/front-proxy-ca`),
                mount('front-proxy-client', `${PKI}/front-proxy-client`),
                mount('sa', `${PKI}/sa`),
              ],
            },
          ],
          volumes: [
            secretVolume('ca', secretNames.ca, ['tls.crt']),
            secretVolume('apiserver', secretNames.apiServer),
            secretVolume('etcd-ca', secretNames.etcdCa, ['tls.crt']),
            secretVolume('etcd-client', secretNames.apiServerEtcdClient),
            secretVolume('front-proxy-ca', secretNames.frontProxyCa, ['tls.crt']),
            secretVolume('front-proxy-client', secretNames.frontProxyClient),
            secretVolume('sa', secretNames.serviceAccount),
          ],
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(c, namespace, components.apiServer, components.apiServer),
    spec: {
      // The business cluster's users reach it from outside the meta-cluster.
      type: 'LoadBalancer',
      selector,
      ports: [{ name: 'https', port: API_SERVER_PORT, targetPort: 'https', protocol: 'TCP' }],
    },
  };
  const pdb = {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(c, namespace, components.apiServer, components.apiServer),
    spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
  };
  return [deployment, service, pdb].map(withDesiredHash);
}

/** kube-controller-manager or kube-scheduler: a leader-elected client of the API server. */
export function desiredApiClient(
  c: Cluster,
  namespace: string,
  component: typeof components.controllerManager | typeof components.scheduler,
  v: KubeVersion,
): KubeObject {
  const selector = clusterLabels(refOf(c), component);
  const isCm = component === components.controllerManager;
  const kubeconfigSecret = isCm ? secretNames.controllerManagerKubeconfig : secretNames.schedulerKubeconfig;
  const port = isCm ? 10257 : 10259;
  const args = ['--kubeconfig=/etc/kubernetes/kubeconfig/value', '--leader-elect=true', '--bind-address=0.0.0.0'];
  const volumeMounts = [mount('kubeconfig', '/etc/kubernetes/kubeconfig')];
  const volumes: object[] = [secretVolume('kubeconfig', kubeconfigSecret)];
  if (isCm) {
    args.push(
      `--cluster-cidr=${c.spec.network?.podCIDR ?? '10.244.0.0/16'}`,
      `--service-cluster-ip-range=${c.spec.network?.serviceCIDR ?? '10.96.0.0/12'}`,
      `--cluster-signing-cert-file=${PKI}/ca/tls.crt`,
      `--cluster-signing-key-file=${PKI}/ca/tls.key`,
      `--root-ca-file=${PKI}/ca/tls.crt`,
      `--service-account-private-key-file=${PKI}/sa/sa.key`,
      '--use-service-account-credentials=true',
      '--controllers=*,bootstrapsigner,tokencleaner',
    );
    volumeMounts.push(mount('ca', `${PKI}/ca`), mount('sa', `${PKI}/sa`));
    volumes.push(secretVolume('ca', secretNames.ca), secretVolume('sa', secretNames.serviceAccount, ['sa.key']));
  }
  return withDesiredHash({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(c, namespace, component, component),
    spec: {
      replicas: 2,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: selector },
        spec: {
          affinity: spread(selector),
          containers: [
            {
              name: component,
              image: image(component, v),
              command: [component],
              args,
              ports: [{ name: 'https', containerPort: port, protocol: 'TCP' }],
              livenessProbe: httpsProbe('/healthz', port, 10, 8),
              resources: { requests: { cpu: isCm ? '100m' : '50m', memory: isCm ? '128Mi' : '64Mi' } },
              volumeMounts,
            },
          ],
          volumes,
        },
      },
    },
  });
}

/** Only API traffic enters the namespace from outside; its own pods talk freely (etcd peers, clients). */
export function desiredNetworkPolicy(c: Cluster, namespace: string): KubeObject {
  return withDesiredHash({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(c, namespace, 'control-plane'),
    spec: {
      podSelector: {},
      policyTypes: ['Ingress'],
      ingress: [
        { from: [{ podSelector: {} }] },
        // No `from`: the API port is open to every source.
        { ports: [{ port: API_SERVER_PORT, protocol: 'TCP' }] },
      ],
    },
  });
}

/** Everything but the Secrets, in the order they should appear. */
export function desiredControlPlane(inputs: ControlPlaneInputs): KubeObject[] {
  const { cluster: c, namespace, versions } = inputs;
  return [
    desiredNetworkPolicy(c, namespace),
    ...desiredEtcd(c, namespace),
    ...desiredApiServer(c, namespace, versions.apiServer),
    desiredApiClient(c, namespace, components.controllerManager, versions.controllerManager),
    desiredApiClient(c, namespace, components.scheduler, versions.scheduler),
  ];
}
