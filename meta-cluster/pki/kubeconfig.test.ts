import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startHttpsServer, type TestServer } from './https-test-server.js';
import { buildKubeconfig, generateToken, kubeconfigYaml, tokensEqual } from './kubeconfig.js';
import { createCA, issueCertificate, type CertificateAndKey } from './pki.js';

const run = promisify(execFile);

let ca: CertificateAndKey;
let serving: CertificateAndKey;
let admin: CertificateAndKey;
let workDir: string;

beforeAll(async () => {
  ca = await createCA({ commonName: 'kubeconfig-test-ca' });
  serving = await issueCertificate(ca, {
    commonName: 'kok-apiserver',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    usages: ['server'],
  });
  admin = await issueCertificate(ca, { commonName: 'kok-admin', organizations: ['system:masters'], usages: ['client'] });
  workDir = await mkdtemp(join(tmpdir(), 'kok-kubeconfig-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('buildKubeconfig', () => {
  it('holds one cluster, user and context, the context current and named after the cluster', () => {
    const config = buildKubeconfig({
      clusterName: 'kok',
      server: 'https://127.0.0.1:6443',
      caPem: ca.certPem,
      user: { name: 'admin', token: 'secret-token' },
      namespace: 'fleet',
    });
    expect(config).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'kok',
          cluster: {
            server: 'https://127.0.0.1:6443',
            'certificate-authority-data': Buffer.from(ca.certPem).toString('base64'),
          },
        },
      ],
      users: [{ name: 'admin', user: { token: 'secret-token' } }],
      contexts: [{ name: 'kok', context: { cluster: 'kok', user: 'admin', namespace: 'fleet' } }],
      'current-context': 'kok',
      preferences: {},
    });
  });

  it('round-trips through YAML with sorted keys and the same bytes every time', () => {
    const options = {
      clusterName: 'kok',
      server: 'https://127.0.0.1:6443',
      caPem: ca.certPem,
      user: { name: 'admin', token: 'secret-token' },
    };
    const text = kubeconfigYaml(buildKubeconfig(options));
    expect(parse(text)).toEqual(buildKubeconfig(options));
    expect(kubeconfigYaml(buildKubeconfig(options))).toBe(text);

    const topLevelKeys = text.split('\n').filter((line) => /^[A-Za-z-]+:/.test(line)).map((line) => line.split(':')[0]);
    expect(topLevelKeys).toEqual(['apiVersion', 'clusters', 'contexts', 'current-context', 'kind', 'preferences', 'users']);
    // The base64 CA stays on one line.
    expect(text).toContain(`certificate-authority-data: ${Buffer.from(ca.certPem).toString('base64')}\n`);
  });

  it('is read by client-node with the server, token, CA and namespace intact', () => {
    const kc = new KubeConfig();
    kc.loadFromString(
      kubeconfigYaml(
        buildKubeconfig({
          clusterName: 'meta',
          server: 'https://127.0.0.1:6443',
          caPem: ca.certPem,
          user: { name: 'admin', token: 'secret-token' },
          namespace: 'fleet',
        }),
      ),
    );
    expect(kc.getCurrentContext()).toBe('meta');
    expect(kc.getContextObject('meta')?.namespace).toBe('fleet');
    const cluster = kc.getCurrentCluster();
    expect(cluster?.server).toBe('https://127.0.0.1:6443');
    expect(cluster?.skipTLSVerify).toBe(false);
    expect(Buffer.from(cluster?.caData ?? '', 'base64').toString()).toBe(ca.certPem);
    const user = kc.getCurrentUser();
    expect(user?.name).toBe('admin');
    expect(user?.token).toBe('secret-token');
  });

  it('carries a client certificate user as base64 data', () => {
    const config = buildKubeconfig({
      clusterName: 'meta',
      server: 'https://localhost:6443',
      caPem: ca.certPem,
      user: { name: 'kok-admin', certPem: admin.certPem, keyPem: admin.keyPem },
    });
    expect(config.users[0]?.user.token).toBeUndefined();
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml(config));
    const user = kc.getCurrentUser();
    expect(Buffer.from(user?.certData ?? '', 'base64').toString()).toBe(admin.certPem);
    expect(Buffer.from(user?.keyData ?? '', 'base64').toString()).toBe(admin.keyPem);
  });

  it('refuses plain http, empty names and non-PEM CAs', () => {
    const good = { clusterName: 'kok', server: 'https://127.0.0.1:6443', caPem: ca.certPem, user: { name: 'a', token: 't' } };
    expect(() => buildKubeconfig({ ...good, server: 'http://127.0.0.1:6443' })).toThrow(/must use https/);
    expect(() => buildKubeconfig({ ...good, server: 'not a url' })).toThrow(/not a URL/);
    expect(() => buildKubeconfig({ ...good, clusterName: '' })).toThrow(/clusterName/);
    expect(() => buildKubeconfig({ ...good, user: { name: 'a', token: '' } })).toThrow(/user\.token/);
    expect(() => buildKubeconfig({ ...good, caPem: 'abc' })).toThrow(/caPem must be PEM/);
  });
});

describe('the kubeconfig against a live HTTPS server', () => {
  const token = generateToken();

  /** Answers like a Kubernetes API server would for /version and /healthz, with token or cert auth. */
  function apiHandler(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('Content-Type', 'application/json');
    const socket = req.socket as TLSSocket;
    const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const certUser = socket.authorized ? socket.getPeerCertificate().subject?.CN : undefined;
    if (!(presented !== undefined && tokensEqual(presented, token)) && certUser === undefined) {
      res.statusCode = 401;
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 }));
      return;
    }
    if (req.url === '/version') {
      res.end(JSON.stringify({ major: '1', minor: '31', gitVersion: 'v1.31.0-kok', platform: 'linux/amd64' }));
      return;
    }
    res.end(JSON.stringify({ path: req.url, user: certUser ?? 'token' }));
  }

  async function writeKubeconfig(name: string, user: Parameters<typeof buildKubeconfig>[0]['user'], server: TestServer) {
    const path = join(workDir, name);
    await writeFile(
      path,
      kubeconfigYaml(buildKubeconfig({ clusterName: 'kok', server: server.url, caPem: ca.certPem, user })),
      { mode: 0o600 },
    );
    return path;
  }

  async function kubectl(kubeconfig: string, ...args: string[]) {
    return run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(workDir, 'cache'), ...args], {
      env: { ...process.env, HOME: workDir },
      timeout: 30_000,
    });
  }

  it('lets client-node call the API with the token, verifying the server against the CA', async () => {
    const server = await startHttpsServer({ ...serving, clientCaPem: ca.certPem }, apiHandler);
    servers.push(server);
    const kc = new KubeConfig();
    kc.loadFromString(
      kubeconfigYaml(
        buildKubeconfig({ clusterName: 'kok', server: server.url, caPem: ca.certPem, user: { name: 'admin', token } }),
      ),
    );
    const version = await kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe('v1.31.0-kok');

    const wrong = new KubeConfig();
    wrong.loadFromString(
      kubeconfigYaml(
        buildKubeconfig({ clusterName: 'kok', server: server.url, caPem: ca.certPem, user: { name: 'admin', token: generateToken() } }),
      ),
    );
    await expect(wrong.makeApiClient(VersionApi).getCode()).rejects.toMatchObject({ code: 401 });
  });

  it('lets kubectl (a Go client) connect with the token over https://127.0.0.1', async () => {
    const server = await startHttpsServer({ ...serving, clientCaPem: ca.certPem }, apiHandler);
    servers.push(server);
    const path = await writeKubeconfig('token.yaml', { name: 'admin', token }, server);
    const { stdout } = await kubectl(path, 'get', '--raw', '/healthz');
    expect(JSON.parse(stdout)).toEqual({ path: '/healthz', user: 'token' });
  });

  it('lets kubectl authenticate with a client certificate', async () => {
    const server = await startHttpsServer({ ...serving, clientCaPem: ca.certPem }, apiHandler);
    servers.push(server);
    const path = await writeKubeconfig('cert.yaml', { name: 'kok-admin', certPem: admin.certPem, keyPem: admin.keyPem }, server);
    const { stdout } = await kubectl(path, 'get', '--raw', '/healthz');
    expect(JSON.parse(stdout)).toEqual({ path: '/healthz', user: 'kok-admin' });
  });

  it('makes kubectl refuse a server whose certificate another CA signed', async () => {
    const otherCa = await createCA({ commonName: 'other' });
    const impostor = await issueCertificate(otherCa, { commonName: 'x', ipAddresses: ['127.0.0.1'], usages: ['server'] });
    const server = await startHttpsServer(impostor, apiHandler);
    servers.push(server);
    const path = await writeKubeconfig('impostor.yaml', { name: 'admin', token }, server);
    await expect(kubectl(path, 'get', '--raw', '/healthz')).rejects.toMatchObject({
      stderr: expect.stringMatching(/certificate signed by unknown authority/),
    });
  });
});

describe('generateToken', () => {
  it('is 32 random bytes in base64url', () => {
    const a = generateToken();
    const b = generateToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
  });
});

describe('tokensEqual', () => {
  it.each([
    ['abc', 'abc', true],
    ['abc', 'abd', false],
    ['abc', 'abcd', false],
    ['', 'a', false],
    ['é', 'e', false],
  ])('%j vs %j → %s', (a, b, expected) => {
    expect(tokensEqual(a, b)).toBe(expected);
  });
});
