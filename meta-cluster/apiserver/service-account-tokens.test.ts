import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { decodeJwt, decodeProtectedHeader, importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startTestServer, tempDir, type TestServer } from '../../test/helpers.js';
import { createKeyPair } from '../pki/pki.js';
import { serverCredentialPaths } from '../pki/server-credentials.js';
import { openApiBackend, type ApiBackend } from './backend.js';
import { ServiceAccountTokens } from './service-account-tokens.js';

const saGroups = (ns: string) => ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'];

describe('ServiceAccountTokens', () => {
  const dir = tempDir();
  let backend: ApiBackend;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  let tokens: ServiceAccountTokens;
  const resource = (plural: string) => backend.api.registry.lookup('', 'v1', plural)!;
  const authenticate = async (token: string) => tokens.authenticate(token);
  const issue = async (name: string, spec: Record<string, unknown> = {}, ns = 'default') =>
    (await tokens.request(ns, name, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec })) as any;

  beforeAll(async () => {
    backend = openApiBackend({ dataDir: dir.path });
    const kp = await createKeyPair({ keyAlgorithm: 'ECDSA-P256' });
    tokens = await ServiceAccountTokens.create(backend.api, { privateKeyPem: kp.privateKeyPem, publicKeyPem: kp.publicKeyPem, now: () => clock });
    backend.api.create(resource('serviceaccounts'), 'default', { metadata: { name: 'bot' } });
  });
  afterAll(() => {
    backend?.close();
    dir.remove();
  });

  it("issues kube-apiserver's claims", async () => {
    const sa = backend.api.get(resource('serviceaccounts'), 'default', 'bot');
    const tr = await issue('bot', { expirationSeconds: 1200 });
    expect(tr).toMatchObject({
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name: 'bot', namespace: 'default' },
      spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 1200, boundObjectRef: null },
      status: { expirationTimestamp: '2026-01-01T00:20:00Z' },
    });
    const iat = clock / 1000;
    expect(decodeJwt(tr.status.token)).toEqual({
      iss: 'https://kubernetes.default.svc',
      sub: 'system:serviceaccount:default:bot',
      aud: ['https://kubernetes.default.svc'],
      iat,
      nbf: iat,
      exp: iat + 1200,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      'kubernetes.io': { namespace: 'default', serviceaccount: { name: 'bot', uid: sa.metadata.uid } },
    });
    expect(decodeProtectedHeader(tr.status.token)).toEqual({ alg: 'ES256', kid: expect.stringMatching(/^[\w-]{43}$/) });
    expect((await issue('bot')).spec.expirationSeconds).toBe(3600);
  });

  it('authenticates a token until it expires, allowing a minute of clock skew', async () => {
    const tr = await issue('bot', { expirationSeconds: 600 });
    const user = await authenticate(tr.status.token);
    expect(user).toEqual({
      user: 'system:serviceaccount:default:bot',
      uid: backend.api.get(resource('serviceaccounts'), 'default', 'bot').metadata.uid,
      groups: saGroups('default'),
      extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${decodeJwt(tr.status.token).jti}`] },
    });
    const issuedAt = clock;
    try {
      clock = issuedAt + 630_000;
      expect((await authenticate(tr.status.token))?.user).toBe('system:serviceaccount:default:bot');
      clock = issuedAt + 661_000;
      expect(await authenticate(tr.status.token)).toBeUndefined();
    } finally {
      clock = issuedAt;
    }
  });

  it('refuses tokens for other audiences, from other issuers or keys, and tampered ones', async () => {
    const vault = await issue('bot', { audiences: ['vault'] });
    expect(vault.spec.audiences).toEqual(['vault']);
    expect(await authenticate(vault.status.token)).toBeUndefined();

    const good: string = (await issue('bot')).status.token;
    const [header, payload, signature] = good.split('.');
    const claims = decodeJwt(good);
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'system:serviceaccount:kube-system:admin' })).toString('base64url');
    expect(await authenticate(`${header}.${forged}.${signature}`)).toBeUndefined();
    expect(await authenticate(`${header}.${payload}.${signature.slice(0, -4)}AAAA`)).toBeUndefined();

    const other = await createKeyPair({ keyAlgorithm: 'ECDSA-P256' });
    const foreign = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(await importPKCS8(other.privateKeyPem, 'ES256'));
    expect(await authenticate(foreign)).toBeUndefined();
    expect(await authenticate('not-a-jwt')).toBeUndefined();
    expect(await authenticate(good)).toBeDefined();
  });

  it('binds a token to a Pod: valid while that pod exists', async () => {
    const pods = resource('pods');
    const spec = { serviceAccountName: 'bot', containers: [{ name: 'c', image: 'busybox' }] };
    const pod = backend.api.create(pods, 'default', { metadata: { name: 'p1' }, spec }).object;
    const tr = await issue('bot', { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p1' } });
    expect(tr.spec.boundObjectRef).toEqual({ kind: 'Pod', apiVersion: 'v1', name: 'p1', uid: pod.metadata.uid });
    expect(decodeJwt(tr.status.token)['kubernetes.io']).toMatchObject({ pod: { name: 'p1', uid: pod.metadata.uid } });
    expect((await authenticate(tr.status.token))?.extra).toMatchObject({
      'authentication.kubernetes.io/pod-name': ['p1'],
      'authentication.kubernetes.io/pod-uid': [pod.metadata.uid],
    });
    backend.api.delete(pods, 'default', 'p1', { gracePeriodSeconds: 0 });
    expect(await authenticate(tr.status.token)).toBeUndefined();

    backend.api.create(pods, 'default', { metadata: { name: 'p2' }, spec: { ...spec, serviceAccountName: 'other' } });
    await expect(issue('bot', { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p2' } })).rejects.toMatchObject({ code: 400 });
    await expect(issue('bot', { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'gone' } })).rejects.toMatchObject({ code: 404 });
    await expect(issue('bot', { boundObjectRef: { kind: 'ConfigMap', apiVersion: 'v1', name: 'x' } })).rejects.toMatchObject({ code: 400 });
  });

  it.each([
    [599, 'may not specify a duration less than 10 minutes'],
    [2 ** 32 + 1, 'may not specify a duration larger than 2^32 seconds'],
  ])('refuses expirationSeconds %s with a 422 naming spec.expirationSeconds', async (seconds, why) => {
    await expect(issue('bot', { expirationSeconds: seconds })).rejects.toMatchObject({
      code: 422,
      reason: 'Invalid',
      message: `TokenRequest.authentication.k8s.io "bot" is invalid: spec.expirationSeconds: Invalid value: ${seconds}: ${why}`,
      details: { causes: [{ reason: 'FieldValueInvalid', field: 'spec.expirationSeconds' }] },
    });
  });
});

describe('service-account tokens on the meta-cluster API server', () => {
  let server: TestServer;
  const ok = async (args: string[], version?: string) => {
    const r = await kubectl(server.kubeconfigPath, args, { version });
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const asToken = (token: string, args: string[], version?: string) => kubectl(server.kubeconfigPath, [`--token=${token}`, ...args], { version });
  const refused = async (token: string) => {
    const r = await asToken(token, ['get', 'ns']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Unauthorized|must be logged in/);
  };
  /** A raw request with only this bearer token, trusting the server's CA. */
  function request(method: string, path: string, token: string, body?: unknown): Promise<{ code: number; body: any }> {
    const cluster = server.kubeConfig.getCurrentCluster()!;
    const url = new URL(cluster.server);
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: url.hostname, port: url.port, path, method, ca: server.caPem, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } },
        (res) => {
          let data = '';
          res.on('data', (d) => (data += d));
          res.on('end', () => resolve({ code: res.statusCode!, body: JSON.parse(data) }));
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  beforeAll(async () => {
    server = await startTestServer();
    await ok(['create', 'namespace', 'robots']);
    await ok(['create', 'serviceaccount', 'bot', '-n', 'robots']);
  });
  afterAll(() => server?.destroy());

  it('kubectl create token issues a token that kubectl --token and a kubeconfig can use', async () => {
    const token = (await ok(['create', 'token', 'bot', '-n', 'robots'])).trim();
    const claims = decodeJwt(token);
    expect(claims.sub).toBe('system:serviceaccount:robots:bot');
    expect(claims.exp! - claims.iat!).toBe(3600);

    expect(await ok(['--token', token, 'get', 'ns'])).toMatch(/^robots\s+Active/m);
    const whoami = await ok(['--token', token, 'auth', 'whoami']);
    expect(whoami).toMatch(/^Username\s+system:serviceaccount:robots:bot$/m);
    expect(whoami).toMatch(/^Groups\s+\[system:serviceaccounts system:serviceaccounts:robots system:authenticated\]$/m);
    // The admin is who the kubeconfig says, not the token user.
    expect(await ok(['auth', 'whoami'])).toMatch(/^Username\s+kok-admin$/m);

    // A kubeconfig of its own, as handed to an operator, read by client-node.
    const kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    const user = kc.getCurrentUser()!;
    kc.users = [{ ...user, token }];
    const path = join(server.dataDir, 'bot.kubeconfig');
    writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
    const botKc = new KubeConfig();
    botKc.loadFromFile(path);
    const list = await botKc.makeApiClient(CoreV1Api).listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toContain('robots');
    const viaKubectl = await kubectl(path, ['get', 'serviceaccount', 'bot', '-n', 'robots', '-o', 'name']);
    expect(viaKubectl.stdout.trim(), viaKubectl.stderr).toBe('serviceaccount/bot');
  });

  it('honours --duration, also from kubectl versions that send protobuf', async () => {
    for (const version of [undefined, '1.27', '1.33']) {
      const token = (await ok(['create', 'token', 'bot', '-n', 'robots', '--duration', '20m'], version)).trim();
      const claims = decodeJwt(token);
      expect(claims.exp! - claims.iat!, `kubectl ${version ?? 'default'}`).toBe(1200);
      expect((await asToken(token, ['auth', 'whoami'], version)).stdout).toMatch(/system:serviceaccount:robots:bot/);
    }
  });

  it('refuses a duration under 10 minutes with an error naming spec.expirationSeconds', async () => {
    const r = await kubectl(server.kubeconfigPath, ['create', 'token', 'bot', '-n', 'robots', '--duration', '5m']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes');
    const raw = await request('POST', '/api/v1/namespaces/robots/serviceaccounts/bot/token', server.adminToken, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 60 },
    });
    expect(raw.code).toBe(422);
    expect(raw.body).toMatchObject({ kind: 'Status', reason: 'Invalid', details: { kind: 'TokenRequest', causes: [{ field: 'spec.expirationSeconds' }] } });
  });

  it('answers 404 for a ServiceAccount that does not exist', async () => {
    const r = await kubectl(server.kubeconfigPath, ['create', 'token', 'nobody', '-n', 'robots']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('serviceaccounts "nobody" not found');
    const raw = await request('POST', '/api/v1/namespaces/robots/serviceaccounts/nobody/token', server.adminToken, { spec: {} });
    expect(raw).toMatchObject({ code: 404, body: { reason: 'NotFound' } });
  });

  it('refuses (401) a token once its ServiceAccount is deleted, also when it is recreated', async () => {
    await ok(['create', 'serviceaccount', 'temp', '-n', 'robots']);
    const token = (await ok(['create', 'token', 'temp', '-n', 'robots'])).trim();
    // Used once, so its verification is cached: deletion must still revoke it at once.
    expect((await asToken(token, ['get', 'ns'])).code).toBe(0);
    await ok(['delete', 'serviceaccount', 'temp', '-n', 'robots']);
    await refused(token);
    expect((await request('GET', '/api/v1/namespaces', token)).code).toBe(401);

    await ok(['create', 'serviceaccount', 'temp', '-n', 'robots']);
    await refused(token);
    const fresh = (await ok(['create', 'token', 'temp', '-n', 'robots'])).trim();
    expect((await asToken(fresh, ['get', 'ns'])).code).toBe(0);
  });

  it('refuses (401) an expired token and a tampered one', async () => {
    const token = (await ok(['create', 'token', 'bot', '-n', 'robots'])).trim();
    const claims = decodeJwt(token);
    // Signed with the server's own key, as a token issued long ago.
    const key = await importPKCS8(readFileSync(serverCredentialPaths(server.dataDir).serviceAccountKey, 'utf8'), 'ES256');
    const sign = (c: Record<string, unknown>) => new SignJWT(c).setProtectedHeader(decodeProtectedHeader(token) as { alg: string }).sign(key);
    const now = Math.floor(Date.now() / 1000);
    const expired = await sign({ ...claims, iat: now - 7200, nbf: now - 7200, exp: now - 3600 });
    await refused(expired);
    // The same claims signed now pass: what refused the other was its expiry.
    expect((await asToken(await sign({ ...claims, iat: now, nbf: now, exp: now + 600 }), ['get', 'ns'])).code).toBe(0);

    const [header, , signature] = token.split('.');
    const other = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp! + 86_400 })).toString('base64url');
    await refused(`${header}.${other}.${signature}`);
    expect((await request('GET', '/api/v1/namespaces', `${header}.${other}.${signature}`)).body).toMatchObject({ reason: 'Unauthorized', code: 401 });
  });

  it('keeps tokens valid across a restart: the signing key stays in the data dir', async () => {
    const token = (await ok(['create', 'token', 'bot', '-n', 'robots'])).trim();
    const { dataDir } = server;
    await server.stop();
    server = await startTestServer({ dataDir });
    expect((await asToken(token, ['get', 'ns'])).code).toBe(0);
  });

  it('advertises serviceaccounts/token and selfsubjectreviews in discovery', async () => {
    const core = JSON.parse(await ok(['get', '--raw', '/api/v1']));
    expect(core.resources).toContainEqual({
      name: 'serviceaccounts/token',
      singularName: '',
      namespaced: true,
      group: 'authentication.k8s.io',
      version: 'v1',
      kind: 'TokenRequest',
      verbs: ['create'],
    });
    const groups = JSON.parse(await ok(['get', '--raw', '/apis']));
    expect(groups.groups.find((g: any) => g.name === 'authentication.k8s.io')).toMatchObject({ preferredVersion: { version: 'v1' } });
    const authn = JSON.parse(await ok(['get', '--raw', '/apis/authentication.k8s.io/v1']));
    expect(authn.resources).toEqual([expect.objectContaining({ name: 'selfsubjectreviews', kind: 'SelfSubjectReview', namespaced: false, verbs: ['create'] })]);
    expect(await ok(['api-resources', '--api-group=authentication.k8s.io', '--no-headers'])).toMatch(/^selfsubjectreviews\s+authentication\.k8s\.io\/v1\s+false\s+SelfSubjectReview$/m);
  });
});
