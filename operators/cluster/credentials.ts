/**
 * The PKI of a business cluster, as Secrets: which credentials must exist (a pure plan), whether a
 * stored one is still good, and how to make a new one. Certificates are real X.509 (@peculiar/x509
 * through meta-cluster/pki); a stored credential is replaced when it is missing, close to expiry,
 * no longer signed by its current CA, or lacks a name it must carry.
 */
import { parse } from 'yaml';
import { X509Certificate } from 'node:crypto';
import {
  createCA,
  createKeyPair,
  isSignedBy,
  issueCertificate,
  keyMatchesCertificate,
  needsRenewal,
  subjectAltNames,
  type CertificateAndKey,
  type CertificateUsage,
} from '../../meta-cluster/pki/pki.js';
import { buildKubeconfig, kubeconfigYaml } from '../../meta-cluster/pki/kubeconfig.js';
import type { Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { apiServerSans, etcdMemberNames } from './desired.js';
import { components, secretNames } from './names.js';

/** Renew this long before expiry, like kubeadm's certificate renewal window. */
export const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

export type CaName = typeof secretNames.ca | typeof secretNames.frontProxyCa | typeof secretNames.etcdCa;

interface Base {
  /** The Secret's name; its namespace is the control plane's, or the Cluster's for the admin kubeconfig. */
  readonly secret: string;
  readonly namespace: string;
}
export interface CaCredential extends Base {
  readonly kind: 'ca';
  readonly commonName: string;
}
export interface CertCredential extends Base {
  readonly kind: 'cert';
  readonly ca: CaName;
  readonly commonName: string;
  readonly organizations?: readonly string[];
  readonly usages: readonly CertificateUsage[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}
export interface KeyPairCredential extends Base {
  readonly kind: 'keypair';
}
export interface KubeconfigCredential extends Base {
  readonly kind: 'kubeconfig';
  readonly commonName: string;
  readonly organizations?: readonly string[];
  readonly server: string;
  readonly clusterName: string;
}
export type Credential = CaCredential | CertCredential | KeyPairCredential | KubeconfigCredential;

/** Decoded Secret data. */
export type SecretData = Record<string, string>;

export interface CredentialPlanInputs {
  readonly cluster: Cluster;
  /** The control-plane namespace. */
  readonly namespace: string;
  /** Where users reach the API server (from its Service); the admin kubeconfig waits for it. */
  readonly endpoint?: { host: string; url: string };
  /** The admin kubeconfig Secret's name (in the Cluster's namespace). */
  readonly adminSecret: string;
}

/** Every credential of a cluster, CAs before what they sign. */
export function credentialPlan(inputs: CredentialPlanInputs): Credential[] {
  const { cluster, namespace: ns, endpoint } = inputs;
  const members = cluster.spec.controlPlane?.datastore?.replicas ?? 3;
  const domain = cluster.spec.network?.dnsDomain ?? 'cluster.local';
  const inCluster = `https://${components.apiServer}.${ns}.svc:6443`;
  const plan: Credential[] = [
    { kind: 'ca', secret: secretNames.ca, namespace: ns, commonName: 'kubernetes' },
    { kind: 'ca', secret: secretNames.frontProxyCa, namespace: ns, commonName: 'front-proxy-ca' },
    { kind: 'ca', secret: secretNames.etcdCa, namespace: ns, commonName: 'etcd-ca' },
    {
      kind: 'cert',
      secret: secretNames.apiServer,
      namespace: ns,
      ca: secretNames.ca,
      commonName: 'kube-apiserver',
      usages: ['server'],
      ...apiServerSans(cluster, ns, endpoint?.host),
    },
    { kind: 'cert', secret: secretNames.frontProxyClient, namespace: ns, ca: secretNames.frontProxyCa, commonName: 'front-proxy-client', usages: ['client'] },
    {
      kind: 'cert',
      secret: secretNames.etcdServer,
      namespace: ns,
      ca: secretNames.etcdCa,
      commonName: 'etcd',
      // One certificate for serving clients and for peer connections, which authenticate both ways.
      usages: ['server', 'client'],
      dnsNames: ['localhost', `etcd.${ns}.svc`, ...etcdMemberNames(ns, members), ...etcdMemberNames(ns, members).map((n) => `${n}.${domain}`)],
      ipAddresses: ['127.0.0.1'],
    },
    {
      kind: 'cert',
      secret: secretNames.apiServerEtcdClient,
      namespace: ns,
      ca: secretNames.etcdCa,
      commonName: 'kube-apiserver-etcd-client',
      usages: ['client'],
    },
    { kind: 'keypair', secret: secretNames.serviceAccount, namespace: ns },
    {
      kind: 'kubeconfig',
      secret: secretNames.controllerManagerKubeconfig,
      namespace: ns,
      commonName: 'system:kube-controller-manager',
      server: inCluster,
      clusterName: cluster.metadata.name!,
    },
    {
      kind: 'kubeconfig',
      secret: secretNames.schedulerKubeconfig,
      namespace: ns,
      commonName: 'system:kube-scheduler',
      server: inCluster,
      clusterName: cluster.metadata.name!,
    },
  ];
  if (endpoint) {
    plan.push({
      kind: 'kubeconfig',
      secret: inputs.adminSecret,
      namespace: cluster.metadata.namespace!,
      commonName: 'kubernetes-admin',
      organizations: ['system:masters'],
      server: endpoint.url,
      clusterName: cluster.metadata.name!,
    });
  }
  return plan;
}

/** A credential's certificate and key as stored: `tls.crt`/`tls.key`, or inside a kubeconfig. */
function storedCert(c: Credential, data: SecretData): CertificateAndKey | undefined {
  if (c.kind === 'kubeconfig') {
    try {
      const cfg = parse(data['value'] ?? '') as { users?: Array<{ user?: Record<string, string> }> };
      const user = cfg?.users?.[0]?.user ?? {};
      const certPem = Buffer.from(user['client-certificate-data'] ?? '', 'base64').toString();
      const keyPem = Buffer.from(user['client-key-data'] ?? '', 'base64').toString();
      return certPem && keyPem ? { certPem, keyPem } : undefined;
    } catch {
      return undefined;
    }
  }
  const certPem = data['tls.crt'];
  const keyPem = data['tls.key'];
  return certPem && keyPem ? { certPem, keyPem } : undefined;
}

function kubeconfigField(data: SecretData, field: 'server' | 'certificate-authority-data'): string | undefined {
  try {
    const cfg = parse(data['value'] ?? '') as { clusters?: Array<{ cluster?: Record<string, string> }> };
    return cfg?.clusters?.[0]?.cluster?.[field];
  } catch {
    return undefined;
  }
}

/**
 * Why a stored credential must be replaced, or undefined when it is good. `cas` holds the current
 * CAs (certificate PEMs) by Secret name.
 */
export function credentialProblem(c: Credential, data: SecretData | undefined, cas: ReadonlyMap<string, CertificateAndKey>, now: Date): string | undefined {
  if (!data) return 'missing';
  if (c.kind === 'keypair') return data['sa.key'] && data['sa.pub'] ? undefined : 'sa.key or sa.pub is missing';
  const stored = storedCert(c, data);
  if (!stored) return 'certificate or key is missing';
  try {
    if (!keyMatchesCertificate(stored.certPem, stored.keyPem)) return 'the key does not match the certificate';
  } catch (err) {
    return `unreadable certificate: ${(err as Error).message}`;
  }
  if (needsRenewal(stored.certPem, now, RENEW_BEFORE_DAYS)) return `expires ${new Date(new X509Certificate(stored.certPem).validTo).toISOString()}`;
  if (c.kind === 'ca') return undefined;
  const ca = cas.get(c.kind === 'cert' ? c.ca : secretNames.ca);
  if (!ca || !isSignedBy(stored.certPem, ca.certPem)) return 'not signed by the current CA';
  if (c.kind === 'kubeconfig') {
    if (kubeconfigField(data, 'server') !== c.server) return `server is not ${c.server}`;
    if (kubeconfigField(data, 'certificate-authority-data') !== Buffer.from(ca.certPem).toString('base64')) return 'CA data is stale';
    return undefined;
  }
  const sans = subjectAltNames(stored.certPem);
  const missing = [...(c.dnsNames ?? []).filter((n) => !sans.dnsNames.includes(n)), ...(c.ipAddresses ?? []).filter((n) => !sans.ipAddresses.includes(n))];
  return missing.length ? `lacks names ${missing.join(', ')}` : undefined;
}

/** When the stored certificate of a good credential enters its renewal window (for requeueing). */
export function renewalDue(c: Credential, data: SecretData): Date | undefined {
  const stored = c.kind === 'keypair' ? undefined : storedCert(c, data);
  if (!stored) return undefined;
  return new Date(new Date(new X509Certificate(stored.certPem).validTo).getTime() - RENEW_BEFORE_DAYS * DAY_MS);
}

/** The current CA of a stored CA Secret. */
export function caOf(data: SecretData): CertificateAndKey {
  return { certPem: data['tls.crt']!, keyPem: data['tls.key']! };
}

export interface GeneratedSecret {
  readonly type: string;
  readonly data: SecretData;
}

/** Makes a new credential. CAs live 10 years, leaves one; keys are ECDSA P-256 (fast, accepted by every component). */
export async function generateCredential(c: Credential, cas: ReadonlyMap<string, CertificateAndKey>, now: Date): Promise<GeneratedSecret> {
  switch (c.kind) {
    case 'ca': {
      const ca = await createCA({ commonName: c.commonName, now });
      return { type: 'kubernetes.io/tls', data: { 'tls.crt': ca.certPem, 'tls.key': ca.keyPem } };
    }
    case 'keypair': {
      // kube-apiserver verifies ES256 service-account tokens as well as RS256; P-256 keys take
      // a millisecond where RSA-2048 takes ~200 ms, which matters at a thousand clusters.
      const kp = await createKeyPair({ keyAlgorithm: 'ECDSA-P256' });
      return { type: 'Opaque', data: { 'sa.key': kp.privateKeyPem, 'sa.pub': kp.publicKeyPem } };
    }
    case 'cert': {
      const ca = requireCa(cas, c.ca);
      const cert = await issueCertificate(ca, {
        commonName: c.commonName,
        organizations: c.organizations,
        usages: c.usages,
        dnsNames: c.dnsNames,
        ipAddresses: c.ipAddresses,
        now,
      });
      return { type: 'kubernetes.io/tls', data: { 'tls.crt': cert.certPem, 'tls.key': cert.keyPem, 'ca.crt': ca.certPem } };
    }
    case 'kubeconfig': {
      const ca = requireCa(cas, secretNames.ca);
      const cert = await issueCertificate(ca, { commonName: c.commonName, organizations: c.organizations, usages: ['client'], now });
      const config = buildKubeconfig({
        clusterName: c.clusterName,
        server: c.server,
        caPem: ca.certPem,
        user: { name: c.commonName.replace(/^system:/, ''), certPem: cert.certPem, keyPem: cert.keyPem },
      });
      return { type: 'Opaque', data: { value: kubeconfigYaml(config) } };
    }
  }
}

function requireCa(cas: ReadonlyMap<string, CertificateAndKey>, name: string): CertificateAndKey {
  const ca = cas.get(name);
  if (!ca) throw new Error(`CA ${name} must be reconciled before the certificates it signs`);
  return ca;
}
