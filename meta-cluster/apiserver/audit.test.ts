import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { CoreV1Api, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, kubectl, startTestServer, tempDir, type TestServer } from '../../test/helpers.js';
import { loadOrCreateServerCredentials } from '../pki/server-credentials.js';
import { microTimestamp, requestInfo, type AuditEvent } from './audit.js';
import { openApiBackend } from './backend.js';
import { ApiHttpServer } from './server.js';

describe('requestInfo', () => {
  const q = (s = '') => new URLSearchParams(s);
  it.each([
    ['GET', '/api/v1/namespaces/a/pods/p', '', { verb: 'get', objectRef: { resource: 'pods', namespace: 'a', name: 'p', apiVersion: 'v1' } }],
    ['GET', '/api/v1/namespaces/a/pods', 'limit=500', { verb: 'list', objectRef: { resource: 'pods', namespace: 'a', apiVersion: 'v1' } }],
    ['GET', '/api/v1/pods', 'watch=true', { verb: 'watch', objectRef: { resource: 'pods', apiVersion: 'v1' } }],
    ['GET', '/api/v1/pods', 'watch=false', { verb: 'list', objectRef: { resource: 'pods', apiVersion: 'v1' } }],
    [
      'GET',
      '/apis/apps/v1/namespaces/a/deployments',
      'fieldSelector=metadata.name%3Dweb&watch=1',
      { verb: 'watch', objectRef: { resource: 'deployments', namespace: 'a', name: 'web', apiGroup: 'apps', apiVersion: 'v1' } },
    ],
    ['POST', '/api/v1/namespaces/a/configmaps', '', { verb: 'create', objectRef: { resource: 'configmaps', namespace: 'a', apiVersion: 'v1' } }],
    ['PUT', '/apis/apps/v1/namespaces/a/deployments/web/status', '', { verb: 'update', objectRef: { resource: 'deployments', namespace: 'a', name: 'web', apiGroup: 'apps', apiVersion: 'v1', subresource: 'status' } }],
    ['PATCH', '/apis/apps/v1/namespaces/a/deployments/web/scale', '', { verb: 'patch', objectRef: { resource: 'deployments', namespace: 'a', name: 'web', apiGroup: 'apps', apiVersion: 'v1', subresource: 'scale' } }],
    ['DELETE', '/api/v1/namespaces/a/configmaps/c', '', { verb: 'delete', objectRef: { resource: 'configmaps', namespace: 'a', name: 'c', apiVersion: 'v1' } }],
    ['DELETE', '/api/v1/namespaces/a/configmaps', 'labelSelector=x', { verb: 'deletecollection', objectRef: { resource: 'configmaps', namespace: 'a', apiVersion: 'v1' } }],
    // A namespace is the object and its own namespace, as kube-apiserver's RequestInfo has it.
    ['GET', '/api/v1/namespaces/a', '', { verb: 'get', objectRef: { resource: 'namespaces', namespace: 'a', name: 'a', apiVersion: 'v1' } }],
    ['PUT', '/api/v1/namespaces/a/finalize', '', { verb: 'update', objectRef: { resource: 'namespaces', namespace: 'a', name: 'a', apiVersion: 'v1', subresource: 'finalize' } }],
    ['GET', '/api/v1/namespaces', '', { verb: 'list', objectRef: { resource: 'namespaces', apiVersion: 'v1' } }],
    ['POST', '/api/v1/namespaces/a/serviceaccounts/bot/token', '', { verb: 'create', objectRef: { resource: 'serviceaccounts', namespace: 'a', name: 'bot', apiVersion: 'v1', subresource: 'token' } }],
    ['POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', '', { verb: 'create', objectRef: { resource: 'selfsubjectreviews', apiGroup: 'authentication.k8s.io', apiVersion: 'v1' } }],
    // Non-resource requests: the method, no object.
    ['GET', '/api', '', { verb: 'get' }],
    ['GET', '/api/v1', '', { verb: 'get' }],
    ['GET', '/apis/apps/v1', '', { verb: 'get' }],
    ['GET', '/openapi/v2', '', { verb: 'get' }],
    ['GET', '/version', '', { verb: 'get' }],
    ['POST', '/healthz', '', { verb: 'post' }],
  ])('%s %s?%s', (method, path, query, expected) => {
    expect(requestInfo(method, path, q(query))).toEqual(expected);
  });
});

describe('microTimestamp', () => {
  it('has exactly six fractional digits, in UTC', () => {
    expect(microTimestamp(Date.UTC(2026, 0, 2, 3, 4, 5, 6) + 0.789)).toBe('2026-01-02T03:04:05.006789Z');
    expect(microTimestamp(Date.UTC(2026, 0, 1))).toBe('2026-01-01T00:00:00.000000Z');
  });
});

/** Every line of the audit log, parsed. */
function readEvents(path: string): AuditEvent[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent);
}

const micro = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

describe('the audit log of a server started with auditLogPath', () => {
  let server: TestServer;
  let logPath: string;
  const secretValue = 'hunter2-do-not-log-me';
  const adminUser = { username: 'kok-admin', groups: ['system:masters', 'system:authenticated'] };
  const ok = async (args: string[], input?: string) => {
    const r = await kubectl(server.kubeconfigPath, args, { input });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    const dir = tempDir();
    logPath = join(dir.path, 'logs', 'audit.log');
    server = await startTestServer({ dataDir: join(dir.path, 'data'), auditLogPath: logPath });
    const destroy = server.destroy;
    server.destroy = async () => {
      await destroy();
      dir.remove();
    };
  });
  afterAll(() => server?.destroy());

  /** Runs kubectl and returns the one event on configmaps in `audited` with `verb` that it caused. */
  async function eventOf(args: string[], verb: string): Promise<AuditEvent> {
    const before = readEvents(logPath).length;
    await ok(args);
    return eventually(() => {
      const found = readEvents(logPath)
        .slice(before)
        .filter((e) => e.verb === verb && e.objectRef?.resource === 'configmaps' && e.objectRef.namespace === 'audited');
      expect(found, `${verb} by kubectl ${args.join(' ')}`).toHaveLength(1);
      return found[0];
    });
  }

  it('records kubectl get, list, create, patch and delete with their verbs, objects and user', async () => {
    await ok(['create', 'namespace', 'audited']);
    const created = await eventOf(['create', 'configmap', 'cm1', '-n', 'audited', '--from-literal=k=v'], 'create');
    expect(created).toMatchObject({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      stage: 'ResponseComplete',
      requestURI: expect.stringMatching(/^\/api\/v1\/namespaces\/audited\/configmaps(\?|$)/),
      user: adminUser,
      sourceIPs: ['127.0.0.1'],
      userAgent: expect.stringMatching(/^kubectl\//),
      objectRef: { resource: 'configmaps', namespace: 'audited', name: 'cm1', apiVersion: 'v1' },
      responseStatus: { metadata: {}, code: 201 },
    });
    expect(created.auditID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(created.requestReceivedTimestamp).toMatch(micro);
    expect(created.stageTimestamp).toMatch(micro);
    expect(Date.parse(created.stageTimestamp)).toBeGreaterThanOrEqual(Date.parse(created.requestReceivedTimestamp));

    const got = await eventOf(['get', 'configmap', 'cm1', '-n', 'audited'], 'get');
    expect(got).toMatchObject({ objectRef: { name: 'cm1' }, responseStatus: { code: 200 }, user: adminUser });
    const listed = await eventOf(['get', 'configmaps', '-n', 'audited'], 'list');
    expect(listed.objectRef).toEqual({ resource: 'configmaps', namespace: 'audited', apiVersion: 'v1' });
    const patched = await eventOf(['patch', 'configmap', 'cm1', '-n', 'audited', '--type=merge', '-p', '{"data":{"k":"w"}}'], 'patch');
    expect(patched).toMatchObject({ objectRef: { name: 'cm1' }, responseStatus: { code: 200 } });
    const deleted = await eventOf(['delete', 'configmap', 'cm1', '-n', 'audited', '--wait=false'], 'delete');
    expect(deleted).toMatchObject({ objectRef: { name: 'cm1' }, responseStatus: { code: 200 } });
    const missing = await eventOf(['get', 'configmap', 'nope', '-n', 'audited', '--ignore-not-found'], 'get');
    expect(missing.responseStatus).toMatchObject({ code: 404, status: 'Failure', reason: 'NotFound', message: 'configmaps "nope" not found' });

    const events = readEvents(logPath);
    expect(events.find((e) => e.verb === 'create' && e.objectRef?.resource === 'namespaces')?.objectRef).toEqual({
      resource: 'namespaces',
      name: 'audited',
      apiVersion: 'v1',
    });
    // kubectl's discovery: non-resource requests carry the method as verb and no object.
    const discovery = events.find((e) => e.requestURI.startsWith('/api?') || e.requestURI === '/api');
    expect(discovery).toMatchObject({ verb: 'get', user: adminUser, responseStatus: { code: 200 } });
    expect(discovery).not.toHaveProperty('objectRef');
    expect(new Set(events.map((e) => e.auditID)).size).toBe(events.length);
  });

  it('records a watch once, as it starts, with stage ResponseStarted', async () => {
    const watch = new Watch(server.kubeConfig);
    const started = await watch.watch('/api/v1/namespaces/audited/configmaps', { labelSelector: 'app=w' }, () => {}, () => {});
    const event = await eventually(() => {
      const found = readEvents(logPath).find((e) => e.verb === 'watch' && e.requestURI.includes('labelSelector=app%3Dw'));
      if (!found) throw new Error('not logged yet');
      return found;
    });
    started.abort();
    expect(event).toMatchObject({
      stage: 'ResponseStarted',
      user: adminUser,
      objectRef: { resource: 'configmaps', namespace: 'audited', apiVersion: 'v1' },
      responseStatus: { code: 200 },
    });
    expect(readEvents(logPath).filter((e) => e.auditID === event.auditID)).toHaveLength(1);
  });

  it('never writes a token or Secret data, whoever made the request', async () => {
    await ok(['create', 'secret', 'generic', 'pw', '-n', 'audited', `--from-literal=password=${secretValue}`]);
    await ok(['get', 'secret', 'pw', '-n', 'audited', '-o', 'yaml']);
    await ok(['create', 'serviceaccount', 'auditor', '-n', 'audited']);
    const token = (await ok(['create', 'token', 'auditor', '-n', 'audited'])).trim();
    const asBot = await kubectl(server.kubeconfigPath, [`--token=${token}`, 'get', 'secret', 'pw', '-n', 'audited', '-o', 'yaml']);
    expect(asBot.code, asBot.stderr).toBe(0);
    expect(asBot.stdout).toContain(Buffer.from(secretValue).toString('base64'));
    const refused = await kubectl(server.kubeconfigPath, ['--token=wrong-token-value', 'get', 'ns']);
    expect(refused.code).not.toBe(0);

    const events = await eventually(() => {
      const all = readEvents(logPath);
      if (!all.some((e) => e.user.username === 'system:serviceaccount:audited:auditor' && e.objectRef?.resource === 'secrets')) throw new Error('not logged yet');
      return all;
    });
    const byBot = events.find((e) => e.user.username === 'system:serviceaccount:audited:auditor' && e.verb === 'get' && e.objectRef?.name === 'pw');
    expect(byBot?.user.groups).toEqual(['system:serviceaccounts', 'system:serviceaccounts:audited', 'system:authenticated']);
    expect(events.find((e) => e.objectRef?.subresource === 'token')).toMatchObject({
      verb: 'create',
      objectRef: { resource: 'serviceaccounts', namespace: 'audited', name: 'auditor', apiVersion: 'v1', subresource: 'token' },
      responseStatus: { code: 201 },
    });
    // A request whose credentials were refused: answered 401, by nobody.
    expect(events.find((e) => e.responseStatus.code === 401)).toMatchObject({ user: {}, responseStatus: { reason: 'Unauthorized' } });

    const text = readFileSync(logPath, 'utf8');
    expect(text).toContain('system:serviceaccount:audited:auditor');
    for (const secret of [secretValue, Buffer.from(secretValue).toString('base64'), token, server.adminToken, 'wrong-token-value']) {
      expect(text.includes(secret), `audit log contains ${secret.slice(0, 12)}…`).toBe(false);
    }
  });

  it('is flushed on stop and appended to by the next server', async () => {
    const core = server.kubeConfig.makeApiClient(CoreV1Api);
    await core.readNamespace({ name: 'audited' });
    const dataDir = server.dataDir;
    await server.stop();
    const before = readEvents(logPath);
    // The last request is on disk once stop() has returned.
    expect(before.at(-1)).toMatchObject({ verb: 'get', objectRef: { resource: 'namespaces', name: 'audited' } });

    const again = await startTestServer({ dataDir, auditLogPath: logPath });
    try {
      await again.kubeConfig.makeApiClient(CoreV1Api).readNamespace({ name: 'kube-system' });
    } finally {
      await again.stop();
    }
    const after = readEvents(logPath);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.at(-1)).toMatchObject({ verb: 'get', objectRef: { resource: 'namespaces', name: 'kube-system' } });
  });
});

describe('the audit hook of the HTTP server', () => {
  const dir = tempDir();
  let http: ApiHttpServer;
  let backend: ReturnType<typeof openApiBackend>;
  let port: number;
  let tls: { certPem: string; keyPem: string; caPem: string };
  const events: AuditEvent[] = [];
  const token = 'audit-test-token-0123456789';

  beforeAll(async () => {
    backend = openApiBackend({ dataDir: dir.path });
    const creds = await loadOrCreateServerCredentials(dir.path);
    tls = { certPem: creds.certPem, keyPem: creds.keyPem, caPem: creds.caPem };
    http = new ApiHttpServer(backend.api, {
      tls,
      tokens: new Map([[token, { user: 'tester', groups: ['system:authenticated'] }]]),
      audit: (e) => events.push(e),
    });
    port = await http.listen(0);
  });
  afterAll(async () => {
    await http?.close();
    backend?.close();
    dir.remove();
  });

  function request(method: string, path: string, opts: { token?: string; body?: unknown; port?: number } = {}): Promise<{ code: number; auditId?: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
      const req = https.request({ host: '127.0.0.1', port: opts.port ?? port, path, method, ca: tls.caPem, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve({ code: res.statusCode!, auditId: res.headers['audit-id'] as string | undefined }));
      });
      req.on('error', reject);
      req.end(opts.body === undefined ? undefined : JSON.stringify(opts.body));
    });
  }

  it('is called once per request, with the Audit-Id the client was sent', async () => {
    events.length = 0;
    const answers = [
      await request('GET', '/healthz'),
      await request('GET', '/version', { token }),
      await request('GET', '/api/v1/namespaces', { token }),
      await request('POST', '/api/v1/namespaces', { token, body: { metadata: { name: 'hooked' } } }),
      await request('DELETE', '/api/v1/namespaces/default/configmaps', { token }),
      await request('GET', '/api/v1/namespaces'),
    ];
    await eventually(() => events.length >= answers.length);
    expect(events.map((e) => e.auditID)).toEqual(answers.map((a) => a.auditId));
    expect(events.map((e) => [e.verb, e.responseStatus.code, e.user.username])).toEqual([
      ['get', 200, 'system:anonymous'],
      ['get', 200, 'tester'],
      ['list', 200, 'tester'],
      ['create', 201, 'tester'],
      ['deletecollection', 200, 'tester'],
      ['list', 401, undefined],
    ]);
    expect(events[0].user.groups).toEqual(['system:unauthenticated']);
    expect(events[3].objectRef).toEqual({ resource: 'namespaces', name: 'hooked', apiVersion: 'v1' });
    // A second later nothing more came: no request is reported twice.
    await new Promise((r) => setTimeout(r, 200));
    expect(events).toHaveLength(answers.length);
  });

  it('keeps serving when the hook throws', async () => {
    let calls = 0;
    const throwing = new ApiHttpServer(backend.api, {
      tls,
      tokens: new Map([[token, { user: 'tester', groups: [] }]]),
      audit: () => {
        calls++;
        throw new Error('hook broke (expected by this test)');
      },
    });
    const p = await throwing.listen(0);
    try {
      expect((await request('GET', '/api/v1/namespaces', { token, port: p })).code).toBe(200);
      expect((await request('GET', '/api/v1/namespaces/default', { token, port: p })).code).toBe(200);
      expect(calls).toBe(2);
    } finally {
      await throwing.close();
    }
  });
});
