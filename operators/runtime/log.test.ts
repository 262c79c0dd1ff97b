import { afterEach, describe, expect, it } from 'vitest';
import { censorSecrets, createLogger, REDACTED } from './log.js';

/** A pino destination that keeps each written line, parsed. */
function capture() {
  const lines: Array<Record<string, any>> = [];
  return { lines, destination: { write: (line: string) => void lines.push(JSON.parse(line)) } };
}

const savedLevel = process.env.KOK_LOG_LEVEL;
afterEach(() => {
  if (savedLevel === undefined) delete process.env.KOK_LOG_LEVEL;
  else process.env.KOK_LOG_LEVEL = savedLevel;
});

describe('createLogger', () => {
  it('writes one JSON object per line with name, level name, time and child bindings', () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: 'cluster-operator', level: 'info', destination });
    log.child({ controller: 'cluster', key: 'fleet/pay' }).info({ phase: 'Provisioning' }, 'reconciled');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ name: 'cluster-operator', level: 'info', controller: 'cluster', key: 'fleet/pay', phase: 'Provisioning', msg: 'reconciled' });
    expect(new Date(lines[0]!.time).toISOString()).toBe(lines[0]!.time);
  });

  it('censors secret fields at any depth, in arrays, in child bindings, and leaves the input untouched', () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: 't', level: 'info', destination });
    const shared = { password: 'p2' };
    const input = {
      token: 't1',
      request: { headers: { Authorization: 'Bearer t2', accept: 'json' } },
      secret: { metadata: { name: 's' }, data: { value: 'a3ViZWNvbmZpZw==' }, stringData: { x: 'y' } },
      kubeconfig: { users: [{ name: 'admin', user: { token: 't3' } }] },
      certs: { keyPem: '-----BEGIN PRIVATE KEY-----', privateKey: 'k', certPem: 'public' },
      twice: [shared, shared],
    };
    log.child({ token: 'in-binding', cluster: 'fleet/pay' }).info(input, 'loaded');
    const line = lines[0]!;
    expect(line.token).toBe(REDACTED);
    expect(line.request.headers).toEqual({ Authorization: REDACTED, accept: 'json' });
    expect(line.secret).toEqual({ metadata: { name: 's' }, data: REDACTED, stringData: REDACTED });
    expect(line.kubeconfig.users[0]).toEqual({ name: 'admin', user: { token: REDACTED } });
    expect(line.certs).toEqual({ keyPem: REDACTED, privateKey: REDACTED, certPem: 'public' });
    expect(line.twice).toEqual([{ password: REDACTED }, { password: REDACTED }]);
    expect(line.cluster).toBe('fleet/pay');
    const text = JSON.stringify(lines);
    for (const secret of ['t1', 't2', 't3', 'a3ViZWNvbmZpZw==', 'in-binding', 'p2', 'BEGIN PRIVATE KEY']) expect(text).not.toContain(secret);
    // The caller's objects are not modified.
    expect(input.token).toBe('t1');
    expect(input.kubeconfig.users[0]!.user.token).toBe('t3');
  });

  it('survives cycles without writing what the cycle leads back to', () => {
    const node: Record<string, unknown> = { token: 'secret', name: 'n' };
    node.self = node;
    const censored = censorSecrets(node) as Record<string, unknown>;
    expect(censored).toEqual({ token: REDACTED, name: 'n', self: '[Circular]' });
  });

  it('takes its level from KOK_LOG_LEVEL, defaulting to info, and rejects unknown levels', () => {
    const { lines, destination } = capture();
    delete process.env.KOK_LOG_LEVEL;
    const byDefault = createLogger({ name: 't', destination });
    byDefault.debug('hidden');
    byDefault.info('shown');
    process.env.KOK_LOG_LEVEL = 'debug';
    createLogger({ name: 't', destination }).debug('debug shown');
    process.env.KOK_LOG_LEVEL = 'silent';
    createLogger({ name: 't', destination }).error('silenced');
    expect(lines.map((l) => l.msg)).toEqual(['shown', 'debug shown']);
    process.env.KOK_LOG_LEVEL = 'verbose';
    expect(() => createLogger({ name: 't', destination })).toThrow(/KOK_LOG_LEVEL "verbose" is not a log level/);
  });
});
