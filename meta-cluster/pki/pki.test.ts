import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, sign, verify, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { checkServerIdentity } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PkiError } from './errors.js';
import { httpsGet, startHttpsServer, type TestServer } from './https-test-server.js';
import {
  certificateInfo,
  createCA,
  createKeyPair,
  isSignedBy,
  issueCertificate,
  keyMatchesCertificate,
  needsRenewal,
  normalizeIpAddress,
  type CertificateAndKey,
} from './pki.js';

const DAY_MS = 24 * 60 * 60 * 1000;

let ca: CertificateAndKey;
let otherCa: CertificateAndKey;
let serving: CertificateAndKey;

beforeAll(async () => {
  ca = await createCA({ commonName: 'kok-test-ca' });
  otherCa = await createCA({ commonName: 'someone-else-ca' });
  serving = await issueCertificate(ca, {
    commonName: 'kok-apiserver',
    dnsNames: ['localhost', 'kok.example.com'],
    ipAddresses: ['127.0.0.1', '::1'],
    usages: ['server'],
  });
});

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(...args: Parameters<typeof startHttpsServer>): Promise<TestServer> {
  const server = await startHttpsServer(...args);
  servers.push(server);
  return server;
}

describe('createCA', () => {
  it('makes a self-signed ECDSA P-256 CA with critical CA constraints and key usage', () => {
    expect(ca.keyPem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    expect(ca.certPem.startsWith('-----BEGIN CERTIFICATE-----\n')).toBe(true);

    const node = new X509Certificate(ca.certPem);
    expect(node.ca).toBe(true);
    expect(node.checkIssued(node)).toBe(true);
    expect(node.verify(node.publicKey)).toBe(true);
    expect(node.publicKey.asymmetricKeyType).toBe('ec');
    expect(node.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(keyMatchesCertificate(ca.certPem, ca.keyPem)).toBe(true);

    const cert = new x509.X509Certificate(ca.certPem);
    const basic = cert.getExtension(x509.BasicConstraintsExtension);
    expect(basic?.ca).toBe(true);
    expect(basic?.critical).toBe(true);
    const usage = cert.getExtension(x509.KeyUsagesExtension);
    expect(usage?.critical).toBe(true);
    expect(usage?.usages).toBe(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
    );
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
  });

  it('is valid for 3650 days by default', () => {
    const info = certificateInfo(ca.certPem);
    expect(info.isCA).toBe(true);
    expect(info.commonName).toBe('kok-test-ca');
    expect(info.issuerCommonName).toBe('kok-test-ca');
    const days = (info.notAfter.getTime() - Date.now()) / DAY_MS;
    expect(days).toBeGreaterThan(3649);
    expect(days).toBeLessThanOrEqual(3650);
    expect(info.notBefore.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('makes an RSA-2048 CA on request, which then issues certificates Node serves and trusts', async () => {
    const rsaCa = await createCA({ commonName: 'rsa-ca', keyAlgorithm: 'RSA-2048', validityDays: 30 });
    const key = createPrivateKey(rsaCa.keyPem);
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect((certificateInfo(rsaCa.certPem).notAfter.getTime() - Date.now()) / DAY_MS).toBeLessThanOrEqual(30);

    const leaf = await issueCertificate(rsaCa, {
      commonName: 'rsa-server',
      ipAddresses: ['127.0.0.1'],
      usages: ['server'],
      keyAlgorithm: 'RSA-2048',
    });
    expect(new x509.X509Certificate(leaf.certPem).getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    );
    const server = await serve(leaf, (_req, res) => res.end('rsa ok'));
    await expect(httpsGet(server.url, { caPem: rsaCa.certPem })).resolves.toEqual({ status: 200, body: 'rsa ok' });
  });

  it('rejects bad options with an error that names the option', async () => {
    await expect(createCA({ commonName: '' })).rejects.toMatchObject({ code: 'InvalidOptions' });
    await expect(createCA({ commonName: 'x', validityDays: 0 })).rejects.toThrow(/validityDays/);
  });
});

describe('issueCertificate', () => {
  it('puts DNS names and real IP entries in the subject alternative names', () => {
    const info = certificateInfo(serving.certPem);
    expect(info.dnsNames).toEqual(['localhost', 'kok.example.com']);
    expect(info.ipAddresses).toEqual(['127.0.0.1', '::1']);
    expect(info.isCA).toBe(false);
    expect(info.usages).toEqual(['server']);

    // Node's own parser is the independent check that these are iPAddress entries, not strings.
    const node = new X509Certificate(serving.certPem);
    expect(node.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(node.checkIP('::1')).toBeDefined();
    expect(node.checkIP('10.0.0.1')).toBeUndefined();
    expect(node.checkHost('localhost')).toBe('localhost');
    expect(node.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(node.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('is signed by the CA and names it as authority', () => {
    const node = new X509Certificate(serving.certPem);
    const caNode = new X509Certificate(ca.certPem);
    expect(node.checkIssued(caNode)).toBe(true);
    expect(node.verify(caNode.publicKey)).toBe(true);
    expect(isSignedBy(serving.certPem, ca.certPem)).toBe(true);
    expect(isSignedBy(serving.certPem, otherCa.certPem)).toBe(false);

    const caSki = new x509.X509Certificate(ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    const aki = new x509.X509Certificate(serving.certPem).getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
    expect(aki).toBeDefined();
    expect(aki).toBe(caSki);
  });

  it('gives every certificate its own positive 128-bit serial and key', async () => {
    const again = await issueCertificate(ca, { commonName: 'kok-apiserver', usages: ['server'] });
    const a = new X509Certificate(serving.certPem).serialNumber;
    const b = new X509Certificate(again.certPem).serialNumber;
    expect(a).not.toBe(b);
    for (const serial of [a, b]) {
      // Up to 16 bytes of randomness plus the 0x00 a high bit needs, hex encoded.
      expect(serial.length).toBeLessThanOrEqual(34);
      expect(BigInt(`0x${serial}`) > 0n).toBe(true);
    }
    expect(again.keyPem).not.toBe(serving.keyPem);
    expect(keyMatchesCertificate(again.certPem, again.keyPem)).toBe(true);
    expect(keyMatchesCertificate(again.certPem, serving.keyPem)).toBe(false);
  });

  it('is valid for 365 days by default and never outlives its CA', async () => {
    const info = certificateInfo(serving.certPem);
    const days = (info.notAfter.getTime() - Date.now()) / DAY_MS;
    expect(days).toBeGreaterThan(364);
    expect(days).toBeLessThanOrEqual(365);

    const shortCa = await createCA({ commonName: 'short', validityDays: 5 });
    const leaf = await issueCertificate(shortCa, { commonName: 'x', usages: ['client'], validityDays: 365 });
    expect(certificateInfo(leaf.certPem).notAfter.getTime()).toBe(certificateInfo(shortCa.certPem).notAfter.getTime());
  });

  it('serves HTTPS that a client trusting the CA accepts at https://127.0.0.1', async () => {
    const server = await serve(serving, (_req, res) => res.end('hello'));
    await expect(httpsGet(server.url, { caPem: ca.certPem })).resolves.toEqual({ status: 200, body: 'hello' });
  });

  it('is refused by a client that trusts a different CA', async () => {
    const server = await serve(serving, (_req, res) => res.end('hello'));
    await expect(httpsGet(server.url, { caPem: otherCa.certPem })).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  it('is refused at https://127.0.0.1 when 127.0.0.1 is only a DNS name, not an IP entry', async () => {
    const dnsOnly = await issueCertificate(ca, { commonName: '127.0.0.1', dnsNames: ['localhost'], usages: ['server'] });
    const server = await serve(dnsOnly, (_req, res) => res.end('hello'));
    await expect(httpsGet(server.url, { caPem: ca.certPem })).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });

  it('matches localhost and ::1 but no other host in hostname checks', () => {
    const peer = new X509Certificate(serving.certPem).toLegacyObject();
    expect(checkServerIdentity('localhost', peer)).toBeUndefined();
    expect(checkServerIdentity('::1', peer)).toBeUndefined();
    expect(checkServerIdentity('kok.example.com', peer)).toBeUndefined();
    expect(checkServerIdentity('evil.example.com', peer)).toBeInstanceOf(Error);
  });

  it('authenticates a client by CN (user) and O (groups) without shutting out token clients', async () => {
    const client = await issueCertificate(ca, {
      commonName: 'jane',
      organizations: ['system:masters', 'kok:operators'],
      usages: ['client'],
    });
    expect(new X509Certificate(client.certPem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);

    const server = await serve({ ...serving, clientCaPem: ca.certPem }, (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      res.setHeader('Content-Type', 'application/json');
      res.end(
        JSON.stringify({
          authorized: socket.authorized,
          cn: peer.subject?.CN ?? null,
          o: peer.subject?.O ?? null,
        }),
      );
    });

    const withCert = await httpsGet(server.url, { caPem: ca.certPem, certPem: client.certPem, keyPem: client.keyPem });
    expect(JSON.parse(withCert.body)).toEqual({
      authorized: true,
      cn: 'jane',
      o: ['system:masters', 'kok:operators'],
    });

    const withoutCert = await httpsGet(server.url, { caPem: ca.certPem });
    expect(withoutCert.status).toBe(200);
    expect(JSON.parse(withoutCert.body)).toEqual({ authorized: false, cn: null, o: null });

    const foreign = await issueCertificate(otherCa, { commonName: 'mallory', usages: ['client'] });
    const withForeignCert = await httpsGet(server.url, {
      caPem: ca.certPem,
      certPem: foreign.certPem,
      keyPem: foreign.keyPem,
    });
    expect(JSON.parse(withForeignCert.body).authorized).toBe(false);
  });

  it('refuses a CA that is not one, a key that does not match, and malformed names', async () => {
    await expect(issueCertificate(serving, { commonName: 'x', usages: ['client'] })).rejects.toMatchObject({
      code: 'NotACertificateAuthority',
    });
    await expect(
      issueCertificate({ certPem: ca.certPem, keyPem: otherCa.keyPem }, { commonName: 'x', usages: ['client'] }),
    ).rejects.toMatchObject({ code: 'KeyMismatch' });
    await expect(
      issueCertificate(ca, { commonName: 'x', dnsNames: ['127.0.0.1'], usages: ['server'] }),
    ).rejects.toThrow(/dnsNames\[0\].*ipAddresses/);
    await expect(
      issueCertificate(ca, { commonName: 'x', ipAddresses: ['300.1.1.1'], usages: ['server'] }),
    ).rejects.toBeInstanceOf(PkiError);
    await expect(issueCertificate(ca, { commonName: 'x', usages: [] })).rejects.toMatchObject({
      code: 'InvalidOptions',
    });
    await expect(issueCertificate({ certPem: 'nope', keyPem: ca.keyPem }, { commonName: 'x', usages: ['client'] }))
      .rejects.toMatchObject({ code: 'InvalidPem' });
  });
});

describe('createKeyPair', () => {
  it('makes an RSA-2048 signing pair by default whose halves sign and verify', async () => {
    const pair = await createKeyPair();
    expect(pair.privateKeyPem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    expect(pair.publicKeyPem.startsWith('-----BEGIN PUBLIC KEY-----\n')).toBe(true);
    expect(createPrivateKey(pair.privateKeyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);

    const data = Buffer.from('service-account token payload');
    const signature = sign('sha256', data, pair.privateKeyPem);
    expect(verify('sha256', data, createPublicKey(pair.publicKeyPem), signature)).toBe(true);
    expect(verify('sha256', Buffer.from('tampered'), createPublicKey(pair.publicKeyPem), signature)).toBe(false);
  });

  it('makes an ECDSA P-256 pair on request', async () => {
    const pair = await createKeyPair({ keyAlgorithm: 'ECDSA-P256' });
    expect(createPublicKey(pair.publicKeyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });
});

describe('needsRenewal', () => {
  it('is true for a certificate expiring in 10 days', async () => {
    const soon = await issueCertificate(ca, { commonName: 'soon', usages: ['client'], validityDays: 10 });
    expect(needsRenewal(soon.certPem, new Date())).toBe(true);
    expect(needsRenewal(soon.certPem, new Date(), 5)).toBe(false);
  });

  it('is false for a fresh one-year certificate until 30 days before its end', () => {
    const { notAfter } = certificateInfo(serving.certPem);
    expect(needsRenewal(serving.certPem)).toBe(false);
    expect(needsRenewal(serving.certPem, new Date(notAfter.getTime() - 31 * DAY_MS))).toBe(false);
    expect(needsRenewal(serving.certPem, new Date(notAfter.getTime() - 29 * DAY_MS))).toBe(true);
    expect(needsRenewal(serving.certPem, new Date(notAfter.getTime() + DAY_MS))).toBe(true);
  });
});

describe('certificateInfo', () => {
  it('reads subject, groups, dates and CA flag', async () => {
    const now = new Date('2030-01-02T03:04:05Z');
    const client = await issueCertificate(ca, {
      commonName: 'admin',
      organizations: ['system:masters'],
      usages: ['client', 'server'],
      validityDays: 2,
      now,
    });
    const info = certificateInfo(client.certPem);
    expect(info.commonName).toBe('admin');
    expect(info.organizations).toEqual(['system:masters']);
    expect(info.subject).toBe('O=system:masters, CN=admin');
    expect(info.issuerCommonName).toBe('kok-test-ca');
    // Backdated five minutes for clock skew.
    expect(info.notBefore.toISOString()).toBe('2030-01-02T02:59:05.000Z');
    expect(info.notAfter.toISOString()).toBe('2030-01-04T03:04:05.000Z');
    expect(info.usages).toEqual(['server', 'client']);
    expect(info.isCA).toBe(false);
    expect(info.dnsNames).toEqual([]);
  });

  it('rejects text that is not a PEM certificate', () => {
    expect(() => certificateInfo(ca.keyPem)).toThrow(PkiError);
  });
});

describe('normalizeIpAddress', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeIpAddress(input)).toBe(expected);
  });

  it.each(['localhost', '1.2.3', 'fe80::1%eth0', ''])('rejects %j', (input) => {
    expect(() => normalizeIpAddress(input)).toThrow(PkiError);
  });
});
