import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startTestServer, tempDir, type TestServer } from '../../test/helpers.js';
import { openApiBackend, type ApiBackend } from './backend.js';
import { bootstrapTokenAuthenticator } from './bootstrap-tokens.js';

const tokenSecret = (id: string, secret: string, extra: Record<string, string> = {}, type = 'bootstrap.kubernetes.io/token') => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' },
  type,
  stringData: { 'token-id': id, 'token-secret': secret, 'usage-bootstrap-authentication': 'true', ...extra },
});

describe('bootstrapTokenAuthenticator', () => {
  const dir = tempDir();
  let backend: ApiBackend;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  beforeAll(() => {
    backend = openApiBackend({ dataDir: dir.path });
    const secrets = backend.api.registry.lookup('', 'v1', 'secrets')!;
    backend.api.create(secrets, 'kube-system', tokenSecret('aaaaaa', 'aaaaaaaaaaaaaaaa', { 'auth-extra-groups': 'system:bootstrappers:kok:machines, evil' }));
    backend.api.create(secrets, 'kube-system', tokenSecret('bbbbbb', 'bbbbbbbbbbbbbbbb', { expiration: '2026-01-01T01:00:00Z' }));
    backend.api.create(secrets, 'kube-system', tokenSecret('cccccc', 'cccccccccccccccc', { 'usage-bootstrap-authentication': 'false' }));
    backend.api.create(secrets, 'kube-system', tokenSecret('dddddd', 'dddddddddddddddd', {}, 'Opaque'));
  });
  afterAll(() => {
    backend?.close();
    dir.remove();
  });
  const auth = () => bootstrapTokenAuthenticator(backend.api, { now: () => clock, cacheMs: 0 });

  it('names the user system:bootstrap:<id> with only system:bootstrappers:* extra groups', () => {
    expect(auth()('aaaaaa.aaaaaaaaaaaaaaaa')).toEqual({
      user: 'system:bootstrap:aaaaaa',
      groups: ['system:bootstrappers', 'system:bootstrappers:kok:machines', 'system:authenticated'],
    });
  });

  it.each([
    ['a wrong secret', 'aaaaaa.aaaaaaaaaaaaaaab'],
    ['a malformed token', 'aaaaaa-aaaaaaaaaaaaaaaa'],
    ['no Secret', 'zzzzzz.zzzzzzzzzzzzzzzz'],
    ['usage-bootstrap-authentication other than "true"', 'cccccc.cccccccccccccccc'],
    ['a Secret of another type', 'dddddd.dddddddddddddddd'],
  ])('refuses %s', (_what, token) => {
    expect(auth()(token)).toBeUndefined();
  });

  it('refuses a token once its expiration has passed', () => {
    expect(auth()('bbbbbb.bbbbbbbbbbbbbbbb')?.user).toBe('system:bootstrap:bbbbbb');
    clock = Date.parse('2026-01-01T01:00:01Z');
    expect(auth()('bbbbbb.bbbbbbbbbbbbbbbb')).toBeUndefined();
  });
});

describe('bootstrap tokens on the meta-cluster API server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.destroy());

  /** kubectl with the server and its CA but only this bearer token: how a joining machine talks. */
  const asToken = (token: string, args: string[]) => kubectl(server.kubeconfigPath, [`--token=${token}`, ...args]);

  it('refuses a token without its Secret and admits it as soon as the Secret exists', async () => {
    const token = 'k0k123.0123456789abcdef';
    const before = await asToken(token, ['get', 'nodes']);
    expect(before.code).not.toBe(0);
    expect(before.stderr).toMatch(/Unauthorized|must be logged in/);
    const created = await kubectl(server.kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(tokenSecret('k0k123', '0123456789abcdef')) });
    expect(created.code, created.stderr).toBe(0);
    const after = await asToken(token, ['get', 'nodes']);
    expect(after.code, after.stderr).toBe(0);
  });
});
