/**
 * The TLS material and admin token the embedded API server keeps in its data directory:
 *
 *   <dataDir>/pki/ca.crt, ca.key               the CA every kubeconfig trusts
 *   <dataDir>/pki/apiserver.crt, apiserver.key the serving certificate, signed by that CA
 *   <dataDir>/pki/sa.key, sa.pub               the key pair signing service-account tokens
 *   <dataDir>/tokens/admin                     the admin bearer token
 *
 * Files are 0600 and their directories 0700. The first start creates them; later starts read
 * them back unchanged, so kubeconfigs handed out earlier keep working. The serving certificate is
 * derived material: it is reissued from the same CA whenever it is missing, broken, near expiry
 * or lacks a requested host. The CA is the trust root: kok never replaces an existing one. The
 * service-account key is made once, like kubeadm's `sa.key` (ECDSA P-256, as kok's business
 * clusters get): replacing it would invalidate every token handed out.
 */

import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { PkiError } from './errors.js';
import { generateToken } from './kubeconfig.js';
import {
  certificateInfo,
  createCA,
  createKeyPair,
  isSignedBy,
  issueCertificate,
  keyMatchesCertificate,
  needsRenewal,
  normalizeDnsName,
  normalizeIpAddress,
  type CertificateAndKey,
} from './pki.js';

export interface ServerCredentials {
  /** PEM of the CA; goes into kubeconfigs as `certificate-authority-data`. */
  readonly caPem: string;
  /** PKCS#8 PEM of the CA key, for issuing client certificates. */
  readonly caKeyPem: string;
  /** Serving certificate PEM for `https.createServer({ cert })`. */
  readonly certPem: string;
  /** Serving key PEM for `https.createServer({ key })`. */
  readonly keyPem: string;
  readonly adminToken: string;
  /** PKCS#8 PEM of the key that signs service-account tokens. */
  readonly serviceAccountKeyPem: string;
  /** SPKI PEM of its public key, which verifies them. */
  readonly serviceAccountPublicKeyPem: string;
}

export interface ServerCredentialsOptions {
  /**
   * Host names and IP addresses clients use to reach the server, added to the serving
   * certificate beside the ones it always has (`127.0.0.1`, `::1`, `localhost`).
   * @default - none
   */
  readonly hosts?: readonly string[];
  /** @default - the current time */
  readonly now?: Date;
  /** Reissue the serving certificate when it expires within this many days. @default 30 */
  readonly renewBeforeDays?: number;
}

export interface ServerCredentialPaths {
  readonly pkiDir: string;
  readonly tokensDir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly servingCert: string;
  readonly servingKey: string;
  readonly adminToken: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPublicKey: string;
}

/** Always in the serving certificate: what local clients dial (Go clients ignore the CN). */
export const DEFAULT_SERVING_IPS: readonly string[] = ['127.0.0.1', '::1'];
export const DEFAULT_SERVING_DNS_NAMES: readonly string[] = ['localhost'];

const CA_COMMON_NAME = 'kok-meta-cluster-ca';
const SERVING_COMMON_NAME = 'kok-apiserver';

export function serverCredentialPaths(dataDir: string): ServerCredentialPaths {
  const pkiDir = join(dataDir, 'pki');
  const tokensDir = join(dataDir, 'tokens');
  return {
    pkiDir,
    tokensDir,
    caCert: join(pkiDir, 'ca.crt'),
    caKey: join(pkiDir, 'ca.key'),
    servingCert: join(pkiDir, 'apiserver.crt'),
    servingKey: join(pkiDir, 'apiserver.key'),
    adminToken: join(tokensDir, 'admin'),
    serviceAccountKey: join(pkiDir, 'sa.key'),
    serviceAccountPublicKey: join(pkiDir, 'sa.pub'),
  };
}

export async function loadOrCreateServerCredentials(
  dataDir: string,
  options: ServerCredentialsOptions = {},
): Promise<ServerCredentials> {
  const now = options.now ?? new Date();
  const renewBeforeDays = options.renewBeforeDays ?? 30;
  const wanted = servingNames(options.hosts ?? []);
  const paths = serverCredentialPaths(dataDir);

  await privateDir(paths.pkiDir);
  await privateDir(paths.tokensDir);

  const ca = await loadOrCreateCA(paths, now);
  const serving = await loadOrIssueServingCert(paths, ca, wanted, now, renewBeforeDays);
  const adminToken = await loadOrCreateToken(paths.adminToken);
  const sa = await loadOrCreateServiceAccountKey(paths);
  return {
    caPem: ca.certPem,
    caKeyPem: ca.keyPem,
    certPem: serving.certPem,
    keyPem: serving.keyPem,
    adminToken,
    serviceAccountKeyPem: sa.privateKeyPem,
    serviceAccountPublicKeyPem: sa.publicKeyPem,
  };
}

interface ServingNames {
  ipAddresses: string[];
  dnsNames: string[];
}

function servingNames(hosts: readonly string[]): ServingNames {
  const ipAddresses = DEFAULT_SERVING_IPS.map((ip) => normalizeIpAddress(ip));
  const dnsNames = [...DEFAULT_SERVING_DNS_NAMES];
  hosts.forEach((host, i) => {
    const what = `loadOrCreateServerCredentials: hosts[${i}]`;
    if (isIP(host) !== 0) ipAddresses.push(normalizeIpAddress(host, what));
    else dnsNames.push(normalizeDnsName(host, what));
  });
  return { ipAddresses: [...new Set(ipAddresses)], dnsNames: [...new Set(dnsNames)] };
}

async function loadOrCreateCA(paths: ServerCredentialPaths, now: Date): Promise<CertificateAndKey> {
  const certPem = await readIfExists(paths.caCert);
  const keyPem = await readIfExists(paths.caKey);

  // ca.crt is written last, so without it no client can trust this CA yet and a new one is safe.
  if (certPem === undefined) {
    const ca = await createCA({ commonName: CA_COMMON_NAME, now });
    await writePrivateFile(paths.caKey, ca.keyPem);
    await writePrivateFile(paths.caCert, ca.certPem);
    return ca;
  }
  if (keyPem === undefined) {
    throw new PkiError(
      'CorruptDataDir',
      `${paths.caKey} is missing but ${paths.caCert} exists: restore the key, or delete ${paths.caCert} to create a new CA (existing kubeconfigs then stop working)`,
    );
  }
  let matches: boolean;
  try {
    matches = certificateInfo(certPem).isCA && keyMatchesCertificate(certPem, keyPem);
  } catch (cause) {
    throw new PkiError(
      'CorruptDataDir',
      `${paths.caCert} or ${paths.caKey} cannot be read as a PEM certificate and key: restore them, or delete both to create a new CA`,
      { cause },
    );
  }
  if (!matches) {
    throw new PkiError(
      'CorruptDataDir',
      `${paths.caCert} is not a CA certificate for the key in ${paths.caKey}: restore the pair, or delete both to create a new CA`,
    );
  }
  return { certPem, keyPem };
}

async function loadOrIssueServingCert(
  paths: ServerCredentialPaths,
  ca: CertificateAndKey,
  wanted: ServingNames,
  now: Date,
  renewBeforeDays: number,
): Promise<CertificateAndKey> {
  const certPem = await readIfExists(paths.servingCert);
  const keyPem = await readIfExists(paths.servingKey);
  if (certPem !== undefined && keyPem !== undefined && servingCertUsable(certPem, keyPem, ca, wanted, now, renewBeforeDays)) {
    return { certPem, keyPem };
  }

  // Keep names an earlier start was asked for, so restarting without --host does not drop them.
  const previous = certPem !== undefined ? previousNames(certPem) : { ipAddresses: [], dnsNames: [] };
  const serving = await issueCertificate(ca, {
    commonName: SERVING_COMMON_NAME,
    ipAddresses: [...new Set([...wanted.ipAddresses, ...previous.ipAddresses])],
    dnsNames: [...new Set([...wanted.dnsNames, ...previous.dnsNames])],
    usages: ['server'],
    now,
  });
  await writePrivateFile(paths.servingKey, serving.keyPem);
  await writePrivateFile(paths.servingCert, serving.certPem);
  return serving;
}

function servingCertUsable(
  certPem: string,
  keyPem: string,
  ca: CertificateAndKey,
  wanted: ServingNames,
  now: Date,
  renewBeforeDays: number,
): boolean {
  try {
    const info = certificateInfo(certPem);
    return (
      keyMatchesCertificate(certPem, keyPem) &&
      isSignedBy(certPem, ca.certPem) &&
      !needsRenewal(certPem, now, renewBeforeDays) &&
      wanted.ipAddresses.every((ip) => info.ipAddresses.includes(ip)) &&
      wanted.dnsNames.every((name) => info.dnsNames.includes(name))
    );
  } catch {
    // A serving certificate that cannot be read is reissued: it is derived from the CA.
    return false;
  }
}

function previousNames(certPem: string): ServingNames {
  try {
    const { ipAddresses, dnsNames } = certificateInfo(certPem);
    return { ipAddresses, dnsNames };
  } catch {
    return { ipAddresses: [], dnsNames: [] };
  }
}

async function loadOrCreateToken(path: string): Promise<string> {
  const existing = (await readIfExists(path))?.trim();
  if (existing) return existing;
  const token = generateToken();
  await writePrivateFile(path, `${token}\n`);
  return token;
}

async function loadOrCreateServiceAccountKey(paths: ServerCredentialPaths): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  let privateKeyPem = await readIfExists(paths.serviceAccountKey);
  if (privateKeyPem === undefined) {
    // sa.pub is derived from sa.key below, and rewritten whenever it is missing or stale.
    privateKeyPem = (await createKeyPair({ keyAlgorithm: 'ECDSA-P256' })).privateKeyPem;
    await writePrivateFile(paths.serviceAccountKey, privateKeyPem);
  }
  let publicKeyPem: string;
  try {
    publicKeyPem = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'pem' }) as string;
  } catch (cause) {
    throw new PkiError(
      'CorruptDataDir',
      `${paths.serviceAccountKey} cannot be read as a PEM private key: restore it, or delete it to create a new one (tokens issued with it then stop working)`,
      { cause },
    );
  }
  if ((await readIfExists(paths.serviceAccountPublicKey)) !== publicKeyPem) await writePrivateFile(paths.serviceAccountPublicKey, publicKeyPem);
  return { privateKeyPem, publicKeyPem };
}

// --- files --------------------------------------------------------------------------------------

async function privateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  // mkdir leaves an existing directory's mode alone; these hold keys, so tighten it.
  await chmod(path, 0o700);
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write to a temporary file and rename, so a crash never leaves half a key behind. */
async function writePrivateFile(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
