/**
 * X.509 certificate authorities, certificates and signing keys for the meta-cluster's API server
 * and, later, for business clusters (cluster CA, front-proxy CA, etcd CA, admin client certs).
 *
 * Everything goes in and out as PEM strings that Node's `tls`/`https` and Go clients (kubectl,
 * kube-apiserver) accept as they are: certificates as `CERTIFICATE`, private keys as PKCS#8
 * `PRIVATE KEY`, public keys as SPKI `PUBLIC KEY`.
 */

// @peculiar/x509's dependency injection (tsyringe) needs the Reflect metadata API at import time.
import 'reflect-metadata';
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  webcrypto,
  X509Certificate as NodeX509Certificate,
  KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { PkiError } from './errors.js';

x509.cryptoProvider.set(webcrypto);

const { subtle } = webcrypto;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates start a little in the past so a peer whose clock lags ours still accepts them. */
const BACKDATE_MS = 5 * 60 * 1000;

/** Key algorithms kok generates. ECDSA P-256 is small and fast; RSA-2048 is for peers that need RSA. */
export type KeyAlgorithm = 'ECDSA-P256' | 'RSA-2048';

/** What an issued certificate may be used for; becomes the extended key usage. */
export type CertificateUsage = 'server' | 'client';

/** A certificate with its private key, both PEM. */
export interface CertificateAndKey {
  readonly certPem: string;
  /** PKCS#8 `-----BEGIN PRIVATE KEY-----`. */
  readonly keyPem: string;
}

export interface CreateCAOptions {
  readonly commonName: string;
  /** @default 3650 */
  readonly validityDays?: number;
  /** @default 'ECDSA-P256' */
  readonly keyAlgorithm?: KeyAlgorithm;
  /** Start of validity (before backdating). @default - the current time */
  readonly now?: Date;
}

export interface IssueCertificateOptions {
  /** The user name when the certificate authenticates a client to a Kubernetes API server. */
  readonly commonName: string;
  /** The groups when the certificate authenticates a client (`system:masters`, ...). @default - none */
  readonly organizations?: readonly string[];
  /** DNS subject alternative names. @default - none */
  readonly dnsNames?: readonly string[];
  /** IP subject alternative names (IPv4 or IPv6). @default - none */
  readonly ipAddresses?: readonly string[];
  readonly usages: readonly CertificateUsage[];
  /** Never extends past the CA's own expiry. @default 365 */
  readonly validityDays?: number;
  /** @default 'ECDSA-P256' */
  readonly keyAlgorithm?: KeyAlgorithm;
  /** Start of validity (before backdating). @default - the current time */
  readonly now?: Date;
}

export interface CreateKeyPairOptions {
  /**
   * @default 'RSA-2048' - like kubeadm's `sa.key`: RS256 is the one JWT algorithm every
   * service-account token verifier accepts.
   */
  readonly keyAlgorithm?: KeyAlgorithm;
}

export interface KeyPair {
  /** SPKI `-----BEGIN PUBLIC KEY-----`. */
  readonly publicKeyPem: string;
  /** PKCS#8 `-----BEGIN PRIVATE KEY-----`. */
  readonly privateKeyPem: string;
}

export interface CertificateInfo {
  /** The subject's CN. */
  readonly commonName: string;
  /** The subject's O values. */
  readonly organizations: string[];
  /** The whole subject DN, RFC 4514 style (`CN=admin, O=system:masters`). */
  readonly subject: string;
  readonly issuerCommonName: string;
  /** Hexadecimal, lower case. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly dnsNames: string[];
  /** Canonical text form (`127.0.0.1`, `::1`). */
  readonly ipAddresses: string[];
  readonly isCA: boolean;
  /** From the extended key usage; empty when the certificate has none. */
  readonly usages: CertificateUsage[];
}

/** Creates a self-signed certificate authority. */
export async function createCA(options: CreateCAOptions): Promise<CertificateAndKey> {
  const commonName = requireName(options.commonName, 'createCA: commonName');
  const validityDays = options.validityDays ?? 3650;
  requirePositive(validityDays, 'createCA: validityDays');
  const keyAlgorithm = requireKeyAlgorithm(options.keyAlgorithm ?? 'ECDSA-P256', 'createCA');
  const now = options.now ?? new Date();

  const keys = await generateKeys(keyAlgorithm);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityDays * DAY_MS),
    keys: keys.cryptoKeys,
    signingAlgorithm: signingAlgorithmFor(keyAlgorithm),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.cryptoKeys.publicKey, false, webcrypto),
    ],
  });
  const created = { certPem: toPem('CERTIFICATE', cert.rawData), keyPem: keys.privateKeyPem };
  // Its first leaves usually follow at once: they need not parse and import what was just made.
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
  rememberIssuer(created, {
    caCert: cert,
    signer: { keyObject: KeyObject.from(keys.cryptoKeys.privateKey), cryptoKey: keys.cryptoKeys.privateKey, signingAlgorithm: signingAlgorithmFor(keyAlgorithm) },
    authorityKeyId: ski,
  });
  return created;
}

/** Issues a certificate with a fresh key pair, signed by `ca`. */
export async function issueCertificate(
  ca: CertificateAndKey,
  options: IssueCertificateOptions,
): Promise<CertificateAndKey> {
  const commonName = requireName(options.commonName, 'issueCertificate: commonName');
  const organizations = (options.organizations ?? []).map((o, i) =>
    requireName(o, `issueCertificate: organizations[${i}]`),
  );
  const dnsNames = unique((options.dnsNames ?? []).map((d, i) => normalizeDnsName(d, `issueCertificate: dnsNames[${i}]`)));
  const ipAddresses = unique(
    (options.ipAddresses ?? []).map((ip, i) => normalizeIpAddress(ip, `issueCertificate: ipAddresses[${i}]`)),
  );
  const usages = requireUsages(options.usages);
  const validityDays = options.validityDays ?? 365;
  requirePositive(validityDays, 'issueCertificate: validityDays');
  const keyAlgorithm = requireKeyAlgorithm(options.keyAlgorithm ?? 'ECDSA-P256', 'issueCertificate');
  const now = options.now ?? new Date();

  const { caCert, signer, authorityKeyId } = await preparedIssuer(ca);

  // A leaf that outlives its CA would be rejected after the CA expires anyway; clamping keeps
  // needsRenewal honest about when the certificate stops working.
  const requestedNotAfter = now.getTime() + validityDays * DAY_MS;
  const notAfter = new Date(Math.min(requestedNotAfter, caCert.notAfter.getTime()));

  const keys = await generateKeys(keyAlgorithm);
  let keyUsage = x509.KeyUsageFlags.digitalSignature;
  // RSA key exchange (TLS 1.2 without ECDHE) encrypts with the leaf key; ECDSA keys never do.
  if (keyAlgorithm === 'RSA-2048') keyUsage |= x509.KeyUsageFlags.keyEncipherment;

  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(keyUsage, true),
    new x509.ExtendedKeyUsageExtension(
      usages.map((u) => (u === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth)),
      false,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.cryptoKeys.publicKey, false, webcrypto),
    new x509.AuthorityKeyIdentifierExtension(authorityKeyId, false),
  ];
  const altNames: x509.JsonGeneralNames = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames, false));

  const subject: x509.JsonName = [...organizations.map((o) => ({ O: [o] })), { CN: [commonName] }];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    // The issuer must be the CA's subject byte for byte, or chain building fails.
    issuer: caCert.subjectName,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    publicKey: keys.cryptoKeys.publicKey,
    signingKey: signer.cryptoKey,
    signingAlgorithm: signer.signingAlgorithm,
    extensions,
  });
  return { certPem: toPem('CERTIFICATE', cert.rawData), keyPem: keys.privateKeyPem };
}

interface PreparedIssuer {
  readonly caCert: x509.X509Certificate;
  readonly signer: SigningKey;
  readonly authorityKeyId: string;
}

/**
 * Parsed and checked CAs, by certificate and key PEM. Issuing a cluster's certificates signs
 * several leaves with each CA in a row; parsing and importing the CA every time was most of
 * the cost of a leaf. Small and first-in-first-out: only the CAs of the clusters in flight matter.
 */
const preparedIssuers = new Map<string, Promise<PreparedIssuer>>();
/** An operator reconciling 16 Clusters at once, three CAs each, with room to spare. */
const PREPARED_ISSUERS_MAX = 256;

function rememberIssuer(ca: CertificateAndKey, prepared: PreparedIssuer | Promise<PreparedIssuer>): Promise<PreparedIssuer> {
  const key = ca.certPem + ca.keyPem;
  const p = Promise.resolve(prepared);
  preparedIssuers.set(key, p);
  // A failure is not remembered: the caller sees it, the next call checks again.
  p.catch(() => preparedIssuers.delete(key));
  if (preparedIssuers.size > PREPARED_ISSUERS_MAX) preparedIssuers.delete(preparedIssuers.keys().next().value!);
  return p;
}

function preparedIssuer(ca: CertificateAndKey): Promise<PreparedIssuer> {
  return preparedIssuers.get(ca.certPem + ca.keyPem) ?? rememberIssuer(ca, prepareIssuer(ca));
}

async function prepareIssuer(ca: CertificateAndKey): Promise<PreparedIssuer> {
  const caCert = parseCertificate(ca.certPem, 'CA certificate');
  const caBasic = caCert.getExtension(x509.BasicConstraintsExtension);
  if (!caBasic?.ca) {
    throw new PkiError(
      'NotACertificateAuthority',
      `issueCertificate: the CA certificate "${caCert.subject}" is not a certificate authority (basicConstraints CA:true is missing); pass a certificate made by createCA`,
    );
  }
  const signer = await importSigningKey(ca.keyPem, 'CA private key');
  assertKeyMatches(caCert, signer.keyObject, `issueCertificate: the CA private key does not belong to the CA certificate "${caCert.subject}"`);
  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  // CAs from elsewhere may lack a subject key identifier; RFC 5280's SHA-1 method is what
  // they would have used.
  const authorityKeyId = caSki?.keyId ?? Buffer.from(await caCert.publicKey.getKeyIdentifier(webcrypto)).toString('hex');
  return { caCert, signer, authorityKeyId };
}

/** Creates a key pair for signing, e.g. service-account tokens. */
export async function createKeyPair(options: CreateKeyPairOptions = {}): Promise<KeyPair> {
  const keyAlgorithm = requireKeyAlgorithm(options.keyAlgorithm ?? 'RSA-2048', 'createKeyPair');
  const keys = await generateKeys(keyAlgorithm);
  return { publicKeyPem: keys.publicKeyPem, privateKeyPem: keys.privateKeyPem };
}

/** Reads the fields of a PEM certificate that kok decides on. */
export function certificateInfo(certPem: string): CertificateInfo {
  const cert = parseCertificate(certPem, 'certificate');
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [];
  const usages: CertificateUsage[] = [];
  if (eku.includes(x509.ExtendedKeyUsage.serverAuth)) usages.push('server');
  if (eku.includes(x509.ExtendedKeyUsage.clientAuth)) usages.push('client');
  return {
    commonName: cert.subjectName.getField('CN')[0] ?? '',
    organizations: cert.subjectName.getField('O'),
    subject: cert.subject,
    issuerCommonName: cert.issuerName.getField('CN')[0] ?? '',
    serialNumber: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === 'ip').map((n) => n.value),
    isCA: cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false,
    usages,
  };
}

/** True when the certificate expires within `renewBeforeDays` of `now` (or already has). */
export function needsRenewal(certPem: string, now: Date = new Date(), renewBeforeDays = 30): boolean {
  // Node's native parser: operators check every certificate of every cluster they reconcile.
  const notAfter = new Date(nodeCertificate(certPem, 'certificate').validTo);
  return notAfter.getTime() - now.getTime() <= renewBeforeDays * DAY_MS;
}

/** True when `keyPem` is the private key of the certificate's public key. */
export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  return nodeCertificate(certPem, 'certificate').checkPrivateKey(privateKeyObject(keyPem, 'private key'));
}

/** The DNS and IP subject alternative names (IPs in canonical form), read by Node's native parser. */
export function subjectAltNames(certPem: string): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const entry of (nodeCertificate(certPem, 'certificate').subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) dnsNames.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) ipAddresses.push(normalizeIpAddress(entry.slice(11)));
  }
  return { dnsNames, ipAddresses };
}

/** True when `certPem` carries a valid signature of the CA in `caCertPem`. Does not look at dates. */
export function isSignedBy(certPem: string, caCertPem: string): boolean {
  const cert = nodeCertificate(certPem, 'certificate');
  const ca = nodeCertificate(caCertPem, 'CA certificate');
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/**
 * The canonical text of an IP address as certificates report it (`::1`, `127.0.0.1`).
 * Throws {@link PkiError} `InvalidOptions` when `ip` is not an IP address.
 */
export function normalizeIpAddress(ip: string, what = 'IP address'): string {
  if (typeof ip !== 'string' || isIP(ip) === 0 || ip.includes('%')) {
    throw new PkiError(
      'InvalidOptions',
      `${what}: "${String(ip)}" is not an IPv4 or IPv6 address (zones like %eth0 are not allowed); put host names in dnsNames`,
    );
  }
  const written = new x509.GeneralName('ip', expandEmbeddedIpv4(ip));
  return new x509.GeneralName(written.rawData).value;
}

/**
 * The canonical (lower-case) form of a DNS name for a certificate. Throws {@link PkiError}
 * `InvalidOptions` when `name` is an IP address or not a DNS name.
 */
export function normalizeDnsName(name: string, what = 'DNS name'): string {
  requireName(name, what);
  if (isIP(name) !== 0) {
    throw new PkiError('InvalidOptions', `${what}: "${name}" is an IP address; put it in ipAddresses so clients can verify it`);
  }
  if (!/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?)*\.?$/.test(name)) {
    throw new PkiError('InvalidOptions', `${what}: "${name}" is not a DNS name (letters, digits, "-", "." and an optional leading "*.")`);
  }
  return name.toLowerCase();
}

// --- keys ---------------------------------------------------------------------------------------

interface GeneratedKeys {
  cryptoKeys: webcrypto.CryptoKeyPair;
  privateKeyPem: string;
  publicKeyPem: string;
}

async function generateKeys(keyAlgorithm: KeyAlgorithm): Promise<GeneratedKeys> {
  const params: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams =
    keyAlgorithm === 'ECDSA-P256'
      ? { name: 'ECDSA', namedCurve: 'P-256' }
      : { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const cryptoKeys = (await subtle.generateKey(params, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const [pkcs8, spki] = await Promise.all([
    subtle.exportKey('pkcs8', cryptoKeys.privateKey),
    subtle.exportKey('spki', cryptoKeys.publicKey),
  ]);
  return { cryptoKeys, privateKeyPem: toPem('PRIVATE KEY', pkcs8), publicKeyPem: toPem('PUBLIC KEY', spki) };
}

function signingAlgorithmFor(keyAlgorithm: KeyAlgorithm): webcrypto.EcdsaParams | webcrypto.Algorithm {
  return keyAlgorithm === 'ECDSA-P256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
}

interface SigningKey {
  keyObject: KeyObject;
  cryptoKey: webcrypto.CryptoKey;
  signingAlgorithm: webcrypto.EcdsaParams | webcrypto.Algorithm;
}

/**
 * Imports a CA key for signing. Accepts any PEM private key Node can read (PKCS#8, or the
 * SEC1/PKCS#1 files openssl and older kubeadm write), so an existing CA can be brought in.
 */
async function importSigningKey(keyPem: string, what: string): Promise<SigningKey> {
  const keyObject = privateKeyObject(keyPem, what);
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    const ecParams: Record<string, { namedCurve: string; hash: string }> = {
      prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
      secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
    };
    const p = curve ? ecParams[curve] : undefined;
    if (!p) throw new PkiError('UnsupportedKey', `${what}: EC curve "${curve}" is not supported; use P-256 or P-384`);
    const cryptoKey = await subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: p.namedCurve }, false, ['sign']);
    return { keyObject, cryptoKey, signingAlgorithm: { name: 'ECDSA', hash: p.hash } };
  }
  if (keyObject.asymmetricKeyType === 'rsa') {
    const cryptoKey = await subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    return { keyObject, cryptoKey, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' } };
  }
  throw new PkiError(
    'UnsupportedKey',
    `${what}: key type "${keyObject.asymmetricKeyType}" is not supported; use an ECDSA (P-256, P-384) or RSA key`,
  );
}

function privateKeyObject(keyPem: string, what: string): KeyObject {
  try {
    return createPrivateKey(keyPem);
  } catch (cause) {
    throw new PkiError('InvalidPem', `${what}: not a readable unencrypted PEM private key`, { cause });
  }
}

function sameKey(cert: x509.X509Certificate, key: KeyObject): boolean {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return spki.equals(Buffer.from(cert.publicKey.rawData));
}

function assertKeyMatches(cert: x509.X509Certificate, key: KeyObject, message: string): void {
  if (!sameKey(cert, key)) throw new PkiError('KeyMismatch', message);
}

// --- certificates -------------------------------------------------------------------------------

function parseCertificate(certPem: string, what: string): x509.X509Certificate {
  if (typeof certPem !== 'string' || !certPem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new PkiError('InvalidPem', `${what}: expected a PEM "-----BEGIN CERTIFICATE-----" block`);
  }
  try {
    return new x509.X509Certificate(certPem);
  } catch (cause) {
    throw new PkiError('InvalidPem', `${what}: the PEM certificate cannot be parsed`, { cause });
  }
}

function nodeCertificate(certPem: string, what: string): NodeX509Certificate {
  try {
    return new NodeX509Certificate(certPem);
  } catch (cause) {
    throw new PkiError('InvalidPem', `${what}: the PEM certificate cannot be parsed`, { cause });
  }
}

/** 128 random bits, as the CA/Browser Forum and kubeadm do; the library keeps it positive. */
function randomSerial(): string {
  return randomBytes(16).toString('hex');
}

function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const base64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** `::ffff:10.0.0.1` → `::ffff:a00:1`: the certificate library reads hex groups only. */
function expandEmbeddedIpv4(ip: string): string {
  if (isIP(ip) !== 6 || !ip.includes('.')) return ip;
  const at = ip.lastIndexOf(':');
  const octets = ip.slice(at + 1).split('.').map(Number);
  const [a = 0, b = 0, c = 0, d = 0] = octets;
  return `${ip.slice(0, at + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

// --- validation ---------------------------------------------------------------------------------

function requireName(value: string, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new PkiError('InvalidOptions', `${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function requirePositive(value: number, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new PkiError('InvalidOptions', `${what} must be a positive number of days, got ${String(value)}`);
  }
}

function requireKeyAlgorithm(value: string, what: string): KeyAlgorithm {
  if (value !== 'ECDSA-P256' && value !== 'RSA-2048') {
    throw new PkiError('InvalidOptions', `${what}: keyAlgorithm "${value}" is not supported; use "ECDSA-P256" or "RSA-2048"`);
  }
  return value;
}

function requireUsages(usages: readonly CertificateUsage[]): CertificateUsage[] {
  if (!Array.isArray(usages) || usages.length === 0) {
    throw new PkiError('InvalidOptions', 'issueCertificate: usages must list "server", "client" or both');
  }
  for (const u of usages) {
    if (u !== 'server' && u !== 'client') {
      throw new PkiError('InvalidOptions', `issueCertificate: usage "${String(u)}" is not supported; use "server" or "client"`);
    }
  }
  return unique(usages);
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
