import { createPrivateKey, createPublicKey } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { httpsGet, startHttpsServer } from './https-test-server.js';
import { certificateInfo, isSignedBy, keyMatchesCertificate } from './pki.js';
import { loadOrCreateServerCredentials, serverCredentialPaths } from './server-credentials.js';

const DAY_MS = 24 * 60 * 60 * 1000;

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'kok-credentials-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe('loadOrCreateServerCredentials', () => {
  it('creates the CA, serving certificate and admin token on first start', async () => {
    const creds = await loadOrCreateServerCredentials(dataDir);
    const paths = serverCredentialPaths(dataDir);

    expect(await readFile(paths.caCert, 'utf8')).toBe(creds.caPem);
    expect(await readFile(paths.caKey, 'utf8')).toBe(creds.caKeyPem);
    expect(await readFile(paths.servingCert, 'utf8')).toBe(creds.certPem);
    expect(await readFile(paths.servingKey, 'utf8')).toBe(creds.keyPem);
    expect((await readFile(paths.adminToken, 'utf8')).trim()).toBe(creds.adminToken);
    expect(creds.adminToken).toMatch(/^[A-Za-z0-9_-]{43}$/);

    expect(certificateInfo(creds.caPem).isCA).toBe(true);
    expect(keyMatchesCertificate(creds.caPem, creds.caKeyPem)).toBe(true);
    expect(keyMatchesCertificate(creds.certPem, creds.keyPem)).toBe(true);
    expect(isSignedBy(creds.certPem, creds.caPem)).toBe(true);
    const serving = certificateInfo(creds.certPem);
    expect(serving.ipAddresses).toEqual(['127.0.0.1', '::1']);
    expect(serving.dnsNames).toEqual(['localhost']);
    expect(serving.usages).toEqual(['server']);
  });

  it('returns identical material on the next start and keeps files 0600 and directories 0700', async () => {
    const first = await loadOrCreateServerCredentials(dataDir, { hosts: ['kok.internal', '10.0.0.5'] });
    const second = await loadOrCreateServerCredentials(dataDir, { hosts: ['kok.internal', '10.0.0.5'] });
    expect(second).toEqual(first);

    const paths = serverCredentialPaths(dataDir);
    for (const file of [paths.caCert, paths.caKey, paths.servingCert, paths.servingKey, paths.adminToken, paths.serviceAccountKey, paths.serviceAccountPublicKey]) {
      expect({ file, mode: (await modeOf(file)).toString(8) }).toEqual({ file, mode: '600' });
    }
    for (const dir of [paths.pkiDir, paths.tokensDir]) {
      expect({ dir, mode: (await modeOf(dir)).toString(8) }).toEqual({ dir, mode: '700' });
    }
  });

  it('tightens a pre-existing, too open pki directory', async () => {
    const paths = serverCredentialPaths(dataDir);
    await loadOrCreateServerCredentials(dataDir);
    await chmod(paths.pkiDir, 0o755);
    await loadOrCreateServerCredentials(dataDir);
    expect((await modeOf(paths.pkiDir)).toString(8)).toBe('700');
  });

  it('adds the given hosts to the serving certificate', async () => {
    const creds = await loadOrCreateServerCredentials(dataDir, { hosts: ['Kok.Example.com', '192.168.1.10', 'fd00::1'] });
    const info = certificateInfo(creds.certPem);
    expect(info.ipAddresses).toEqual(['127.0.0.1', '::1', '192.168.1.10', 'fd00::1']);
    expect(info.dnsNames).toEqual(['localhost', 'kok.example.com']);
  });

  it('serves HTTPS that a client trusting the stored CA accepts', async () => {
    const creds = await loadOrCreateServerCredentials(dataDir);
    const server = await startHttpsServer(creds, (_req, res) => res.end('ok'));
    try {
      await expect(httpsGet(server.url, { caPem: creds.caPem })).resolves.toEqual({ status: 200, body: 'ok' });
    } finally {
      await server.close();
    }
  });

  it('renews a serving certificate near expiry from the same CA, keeping the token', async () => {
    // Started 340 days ago: the one-year serving certificate has 25 days left.
    const old = await loadOrCreateServerCredentials(dataDir, { now: new Date(Date.now() - 340 * DAY_MS) });
    const renewed = await loadOrCreateServerCredentials(dataDir);

    expect(renewed.caPem).toBe(old.caPem);
    expect(renewed.caKeyPem).toBe(old.caKeyPem);
    expect(renewed.adminToken).toBe(old.adminToken);
    expect(renewed.certPem).not.toBe(old.certPem);
    expect(renewed.keyPem).not.toBe(old.keyPem);
    expect(isSignedBy(renewed.certPem, old.caPem)).toBe(true);
    expect((certificateInfo(renewed.certPem).notAfter.getTime() - Date.now()) / DAY_MS).toBeGreaterThan(364);
    expect(await readFile(serverCredentialPaths(dataDir).servingCert, 'utf8')).toBe(renewed.certPem);

    const again = await loadOrCreateServerCredentials(dataDir);
    expect(again).toEqual(renewed);
  });

  it('reissues the serving certificate for a new host and keeps hosts it had', async () => {
    const first = await loadOrCreateServerCredentials(dataDir, { hosts: ['a.example.com'] });
    const second = await loadOrCreateServerCredentials(dataDir, { hosts: ['b.example.com'] });
    expect(second.caPem).toBe(first.caPem);
    expect(second.certPem).not.toBe(first.certPem);
    expect(certificateInfo(second.certPem).dnsNames).toEqual(['localhost', 'b.example.com', 'a.example.com']);

    // Asking for fewer hosts than the certificate has changes nothing.
    expect(await loadOrCreateServerCredentials(dataDir)).toEqual(second);
  });

  it('reissues a serving certificate whose key was lost, from the same CA', async () => {
    const first = await loadOrCreateServerCredentials(dataDir);
    await unlink(serverCredentialPaths(dataDir).servingKey);
    const second = await loadOrCreateServerCredentials(dataDir);
    expect(second.caPem).toBe(first.caPem);
    expect(second.certPem).not.toBe(first.certPem);
    expect(keyMatchesCertificate(second.certPem, second.keyPem)).toBe(true);
  });

  it('regenerates a lost admin token and leaves the PKI alone', async () => {
    const first = await loadOrCreateServerCredentials(dataDir);
    await unlink(serverCredentialPaths(dataDir).adminToken);
    const second = await loadOrCreateServerCredentials(dataDir);
    expect(second.adminToken).not.toBe(first.adminToken);
    expect({ ...second, adminToken: '' }).toEqual({ ...first, adminToken: '' });
  });

  it('refuses to replace a CA whose key is missing or does not match', async () => {
    await loadOrCreateServerCredentials(dataDir);
    const paths = serverCredentialPaths(dataDir);
    const caKey = await readFile(paths.caKey, 'utf8');

    await unlink(paths.caKey);
    await expect(loadOrCreateServerCredentials(dataDir)).rejects.toMatchObject({
      code: 'CorruptDataDir',
      message: expect.stringContaining('ca.key is missing'),
    });

    const servingKey = await readFile(paths.servingKey, 'utf8');
    await writeFile(paths.caKey, servingKey, { mode: 0o600 });
    await expect(loadOrCreateServerCredentials(dataDir)).rejects.toMatchObject({ code: 'CorruptDataDir' });

    await writeFile(paths.caKey, caKey, { mode: 0o600 });
    await expect(loadOrCreateServerCredentials(dataDir)).resolves.toMatchObject({ caKeyPem: caKey });
  });

  it('keeps a service-account key pair (ECDSA P-256) in pki/sa.key and sa.pub, restoring a lost sa.pub from it', async () => {
    const first = await loadOrCreateServerCredentials(dataDir);
    const paths = serverCredentialPaths(dataDir);
    expect(await readFile(paths.serviceAccountKey, 'utf8')).toBe(first.serviceAccountKeyPem);
    expect(await readFile(paths.serviceAccountPublicKey, 'utf8')).toBe(first.serviceAccountPublicKeyPem);
    const key = createPrivateKey(first.serviceAccountKeyPem);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(first.serviceAccountPublicKeyPem);

    await unlink(paths.serviceAccountPublicKey);
    const second = await loadOrCreateServerCredentials(dataDir);
    expect(second).toEqual(first);
    expect(await readFile(paths.serviceAccountPublicKey, 'utf8')).toBe(first.serviceAccountPublicKeyPem);

    await writeFile(paths.serviceAccountKey, 'not a key', { mode: 0o600 });
    await expect(loadOrCreateServerCredentials(dataDir)).rejects.toMatchObject({ code: 'CorruptDataDir', message: expect.stringContaining('sa.key') });
  });

  it('rejects a host that is neither an IP address nor a DNS name', async () => {
    await expect(loadOrCreateServerCredentials(dataDir, { hosts: ['bad host'] })).rejects.toThrow(/hosts\[0\]/);
  });
});
