/**
 * RBAC on the API server, driven as users meet it: kubectl with a ServiceAccount token, bindings
 * made with `kubectl create rolebinding`, `kubectl auth can-i`, `--as`, and the audit log.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, kubectl, startTestServer, type TestServer } from '../../test/helpers.js';
import { installCrds } from '../api/crds.js';
import type { AuditEvent } from './audit.js';
import { bootstrapPolicy } from './bootstrap-policy.js';

describe('RBAC on the API server, through kubectl', () => {
  let server: TestServer;
  let auditLog: string;
  let token: string;
  const ok = async (args: string[], version?: string) => {
    const r = await kubectl(server.kubeconfigPath, args, { version });
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const asBot = (args: string[], version?: string) => kubectl(server.kubeconfigPath, [`--token=${token}`, ...args], { version });
  /** `kubectl auth can-i` as the bot: its answer and exit code (0 yes, 1 no). */
  const botCan = async (args: string[], version?: string) => {
    const r = await asBot(['auth', 'can-i', ...args], version);
    return `${r.stdout.trim()} ${r.code}`;
  };
  const forbiddenTo = async (args: string[], message: string) => {
    const r = await asBot(args);
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr.trim()).toBe(`Error from server (Forbidden): ${message}`);
  };
  const bot = 'system:serviceaccount:robots:bot';

  beforeAll(async () => {
    server = await startTestServer({ authorization: 'RBAC' });
    auditLog = join(server.dataDir, 'audit.jsonl');
    // Again with an audit log, and over a policy that exists already.
    const { dataDir } = server;
    await server.stop();
    server = await startTestServer({ dataDir, authorization: 'RBAC', auditLogPath: auditLog });
    installCrds(server.api);
    await ok(['create', 'namespace', 'robots']);
    await ok(['create', 'serviceaccount', 'bot', '-n', 'robots']);
    token = (await ok(['create', 'token', 'bot', '-n', 'robots'])).trim();
    await ok(['create', 'clusterrole', 'view', '--verb=get,list,watch', '--resource=pods,configmaps,clusters.fleet.kok.dev']);
  });
  afterAll(() => server?.destroy());

  it('refuses a ServiceAccount without bindings with the message kube-apiserver gives, and lets it discover and ask', async () => {
    await forbiddenTo(['get', 'pods', '-n', 'robots'], `pods is forbidden: User "${bot}" cannot list resource "pods" in API group "" in the namespace "robots"`);
    await forbiddenTo(['get', 'nodes'], `nodes is forbidden: User "${bot}" cannot list resource "nodes" in API group "" at the cluster scope`);
    await forbiddenTo(['get', 'configmap', 'settings', '-n', 'robots'], `configmaps "settings" is forbidden: User "${bot}" cannot get resource "configmaps" in API group "" in the namespace "robots"`);
    await forbiddenTo(['get', '--raw', '/metrics'], `forbidden: User "${bot}" cannot get path "/metrics"`);
    // system:discovery, system:basic-user and system:public-info-viewer are everyone's.
    expect((await asBot(['api-resources', '--api-group=fleet.kok.dev', '-o', 'name'])).stdout).toContain('clusters.fleet.kok.dev');
    expect((await asBot(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).stdout).toBe(bot);
    expect((await asBot(['get', '--raw', '/healthz'])).stdout).toBe('ok');
    expect(await botCan(['create', 'clusters.fleet.kok.dev', '-n', 'robots'])).toBe('no 1');
    expect(await botCan(['list', 'pods', '-n', 'robots'])).toBe('no 1');
  });

  it('grants what a RoleBinding binds, only in its namespace, and at once', async () => {
    await ok(['create', 'rolebinding', 'bot-view', '--clusterrole=view', '--serviceaccount=robots:bot', '-n', 'robots']);
    expect((await asBot(['get', 'pods', '-n', 'robots'])).stderr).toBe('No resources found in robots namespace.\n');
    await forbiddenTo(['get', 'pods', '-n', 'default'], `pods is forbidden: User "${bot}" cannot list resource "pods" in API group "" in the namespace "default"`);
    await forbiddenTo(['get', 'pods', '-A'], `pods is forbidden: User "${bot}" cannot list resource "pods" in API group "" at the cluster scope`);
    await forbiddenTo(['delete', 'configmap', 'x', '-n', 'robots'], `configmaps "x" is forbidden: User "${bot}" cannot delete resource "configmaps" in API group "" in the namespace "robots"`);
    expect(await botCan(['list', 'pods', '-n', 'robots'])).toBe('yes 0');
    expect(await botCan(['list', 'pods', '-n', 'default'])).toBe('no 1');
    expect(await botCan(['list', 'clusters.fleet.kok.dev', '-n', 'robots'])).toBe('yes 0');
    expect(await botCan(['create', 'clusters.fleet.kok.dev', '-n', 'robots'])).toBe('no 1');

    // A ClusterRoleBinding grants everywhere; deleting it takes the grant back with it.
    await ok(['create', 'clusterrolebinding', 'bot-create-clusters', '--clusterrole=cluster-creator', '--serviceaccount=robots:bot']);
    // Bound before the role exists: nothing, and the reason says why.
    await forbiddenTo(
      ['get', 'pods', '-n', 'default'],
      `pods is forbidden: User "${bot}" cannot list resource "pods" in API group "" in the namespace "default": RBAC: clusterrole.rbac.authorization.k8s.io "cluster-creator" not found`,
    );
    await ok(['create', 'clusterrole', 'cluster-creator', '--verb=create', '--resource=clusters.fleet.kok.dev']);
    // Every kubectl version asks the same way (1.27 in JSON, later ones in protobuf).
    for (const version of [undefined, '1.27', '1.33']) expect(await botCan(['create', 'clusters.fleet.kok.dev', '-n', 'default'], version), `kubectl ${version}`).toBe('yes 0');
    expect(await botCan(['delete', 'clusters.fleet.kok.dev', '-n', 'default'])).toBe('no 1');
    await ok(['delete', 'clusterrolebinding', 'bot-create-clusters']);
    expect(await botCan(['create', 'clusters.fleet.kok.dev', '-n', 'default'])).toBe('no 1');
  });

  it('restricts by resourceNames to requests naming the object', async () => {
    await ok(['create', 'configmap', 'settings', '-n', 'robots', '--from-literal=a=1']);
    await ok(['create', 'configmap', 'other', '-n', 'robots']);
    await ok(['create', 'role', 'settings-editor', '-n', 'robots', '--verb=get,update,patch', '--resource=configmaps', '--resource-name=settings']);
    await ok(['create', 'rolebinding', 'bot-settings', '-n', 'robots', '--role=settings-editor', '--serviceaccount=robots:bot']);
    expect((await asBot(['label', 'configmap', 'settings', '-n', 'robots', 'edited=yes'])).code).toBe(0);
    await forbiddenTo(['label', 'configmap', 'other', '-n', 'robots', 'edited=yes'], `configmaps "other" is forbidden: User "${bot}" cannot patch resource "configmaps" in API group "" in the namespace "robots"`);
    expect(await botCan(['patch', 'configmap/settings', '-n', 'robots'])).toBe('yes 0');
    expect(await botCan(['patch', 'configmap/other', '-n', 'robots'])).toBe('no 1');
    expect(await botCan(['patch', 'configmaps', '-n', 'robots'])).toBe('no 1');
    const rules = await asBot(['auth', 'can-i', '--list', '-n', 'robots']);
    expect(rules.stdout).toMatch(/^configmaps\s+\[\]\s+\[settings\]\s+\[get update patch\]$/m);
    expect(rules.stdout).toMatch(/^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    expect(rules.stdout).toMatch(/^\s+\[\/api\/\*\]\s+\[\]\s+\[get\]$/m);
  });

  it('keeps the admin (system:masters) allowed everything, and lets it act as others with --as', async () => {
    expect(await ok(['auth', 'can-i', '*', '*', '--all-namespaces'])).toBe('yes\n');
    expect(await ok(['get', '--raw', '/metrics'])).toContain('apiserver_request_total');
    expect(await ok(['auth', 'can-i', 'list', 'pods', '-n', 'robots', `--as=${bot}`])).toBe('yes\n');
    const r = await kubectl(server.kubeconfigPath, ['get', 'pods', '-n', 'default', `--as=${bot}`]);
    expect(r.stderr.trim()).toBe(`Error from server (Forbidden): pods is forbidden: User "${bot}" cannot list resource "pods" in API group "" in the namespace "default"`);
    // Impersonating takes a grant of its own.
    await forbiddenTo(['get', 'pods', '-n', 'robots', '--as=alice'], `users "alice" is forbidden: User "${bot}" cannot impersonate resource "users" in API group "" at the cluster scope`);
  });

  it('records refusals and grants in the audit log with the decision and its reason', async () => {
    await forbiddenTo(['get', 'secrets', '-n', 'robots'], `secrets is forbidden: User "${bot}" cannot list resource "secrets" in API group "" in the namespace "robots"`);
    expect((await asBot(['get', 'configmap', 'settings', '-n', 'robots'])).code).toBe(0);
    const events = await eventually(() => {
      const all = readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEvent);
      const byBot = all.filter((e) => e.user.username === bot && e.objectRef?.namespace === 'robots');
      if (!byBot.some((e) => e.objectRef?.resource === 'secrets') || !byBot.some((e) => e.objectRef?.name === 'settings' && e.verb === 'get')) throw new Error('not audited yet');
      return byBot;
    });
    const refused = events.filter((e) => e.objectRef?.resource === 'secrets').at(-1)!;
    expect(refused.responseStatus).toMatchObject({ code: 403, reason: 'Forbidden', status: 'Failure' });
    expect(refused.annotations).toEqual({ 'authorization.k8s.io/decision': 'forbid', 'authorization.k8s.io/reason': '' });
    const read = events.filter((e) => e.objectRef?.name === 'settings' && e.verb === 'get').at(-1)!;
    expect(read.responseStatus.code).toBe(200);
    expect(read.annotations).toEqual({
      'authorization.k8s.io/decision': 'allow',
      'authorization.k8s.io/reason': 'RBAC: allowed by RoleBinding "bot-settings/robots" of Role "settings-editor" to ServiceAccount "bot/robots"',
    });
    const impersonated = readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEvent).find((e) => e.impersonatedUser);
    expect(impersonated).toMatchObject({ user: { username: 'kok-admin' }, impersonatedUser: { username: bot, groups: ['system:serviceaccounts', 'system:serviceaccounts:robots', 'system:authenticated'] } });
  });

  it('answers a malformed SelfSubjectAccessReview with 422 and a rules review without a namespace with 400', async () => {
    const post = (path: string, body: unknown) =>
      new Promise<{ code: number; body: any }>((resolve, reject) => {
        const url = new URL(server.url);
        const req = https.request(
          { host: url.hostname, port: url.port, path, method: 'POST', ca: server.caPem, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } },
          (res) => {
            let data = '';
            res.on('data', (d) => (data += d));
            res.on('end', () => resolve({ code: res.statusCode!, body: JSON.parse(data) }));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    const none = await post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { spec: {} });
    expect(none.code).toBe(422);
    expect(none.body.message).toBe(
      'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified',
    );
    const path = await post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { spec: { nonResourceAttributes: { path: '/api', verb: 'get' } } });
    expect(path).toMatchObject({ code: 201, body: { kind: 'SelfSubjectAccessReview', status: { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"' } } });
    const rules = await post('/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { spec: {} });
    expect(rules).toMatchObject({ code: 400, body: { reason: 'BadRequest', message: 'no namespace on request' } });
  });

  it('creates the default policy when missing and leaves an existing one as it is', async () => {
    const names = bootstrapPolicy().map((o) => `${o.kind}/${o.metadata.name}`);
    expect(names).toEqual(expect.arrayContaining(['ClusterRole/cluster-admin', 'ClusterRoleBinding/system:discovery', 'ClusterRole/kok:bootstrapped-node']));
    await ok(['delete', 'clusterrolebinding', 'system:basic-user']);
    await ok(['label', 'clusterrole', 'system:discovery', 'edited=yes']);
    // Without system:basic-user, nobody but the admin may even ask.
    const asking = await asBot(['auth', 'can-i', 'list', 'pods', '-n', 'robots']);
    expect(asking.stderr).toContain(
      `selfsubjectaccessreviews.authorization.k8s.io is forbidden: User "${bot}" cannot create resource "selfsubjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope`,
    );
    const { dataDir } = server;
    await server.stop();
    server = await startTestServer({ dataDir, authorization: 'RBAC', auditLogPath: auditLog });
    expect(await ok(['get', 'clusterrolebinding', 'system:basic-user', '-o', 'jsonpath={.subjects[0].name}'])).toBe('system:authenticated');
    expect(await ok(['get', 'clusterrole', 'system:discovery', '-o', 'jsonpath={.metadata.labels.edited}'])).toBe('yes');
    expect(await botCan(['list', 'pods', '-n', 'robots'])).toBe('yes 0');
  });
});
