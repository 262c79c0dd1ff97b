import { CoordinationV1Api, type V1Lease, type V1MicroTime } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { apiRequests, eventually, kubectl, startTestServer, type TestServer } from '../../test/helpers.js';
import { LeaderElector, microTime, type LeaderElectorOptions } from './leader-election.js';

const sixDigits = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('microTime', () => {
  it.each([
    ['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000000Z'],
    ['2026-03-04T05:06:07.891Z', '2026-03-04T05:06:07.891000Z'],
    ['1999-12-31T23:59:59.009Z', '1999-12-31T23:59:59.009000Z'],
  ])('writes %s as %s', (iso, wire) => {
    const date = new Date(iso);
    expect(microTime(date)).toBe(wire);
    expect(microTime(date)).toMatch(sixDigits);
    expect(new Date(microTime(date)).getTime()).toBe(date.getTime());
  });
});

describe('LeaderElector options', () => {
  const base = { namespace: 'default', name: 'x', identity: 'a', onStartedLeading() {}, onStoppedLeading() {} };
  it.each([
    [{ leaseDurationSeconds: 10, renewDeadlineSeconds: 10 }, /leaseDurationSeconds \(10\) must be greater than renewDeadlineSeconds \(10\)/],
    [{ renewDeadlineSeconds: 2, retryPeriodSeconds: 2 }, /renewDeadlineSeconds \(2\) must be greater than 1.2 × retryPeriodSeconds \(2\)/],
    [{ identity: '' }, /identity must not be empty/],
  ])('rejects %o', (opts, message) => {
    expect(() => new LeaderElector({ kubeConfig: undefined as never, ...base, ...opts })).toThrow(message);
  });
});

describe('LeaderElector against the embedded API server', () => {
  let server: TestServer;
  let leases: CoordinationV1Api;
  const electors: LeaderElector[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    leases = server.kubeConfig.makeApiClient(CoordinationV1Api);
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  /** A fast elector whose handler calls are recorded. */
  function elector(name: string, identity: string, extra: Partial<LeaderElectorOptions> = {}) {
    const calls: string[] = [];
    const signals: AbortSignal[] = [];
    const e = new LeaderElector({
      kubeConfig: server.kubeConfig,
      namespace: 'default',
      name,
      identity,
      leaseDurationSeconds: 3,
      renewDeadlineSeconds: 2,
      retryPeriodSeconds: 0.25,
      onStartedLeading: (signal) => {
        calls.push('started');
        signals.push(signal);
      },
      onStoppedLeading: () => void calls.push('stopped'),
      onNewLeader: (id) => void calls.push(`leader:${id}`),
      ...extra,
    });
    electors.push(e);
    return { e, calls, signals, running: e.run() };
  }

  const holder = async (name: string) => (await leases.readNamespacedLease({ name, namespace: 'default' })).spec?.holderIdentity;

  /** Writes a lease as another process would, times as MicroTime strings. */
  async function writeLease(name: string, holderIdentity: string, renewedAgoMs: number, leaseDurationSeconds = 30) {
    const t = microTime(new Date(Date.now() - renewedAgoMs)) as unknown as V1MicroTime;
    const spec = { holderIdentity, leaseDurationSeconds, acquireTime: t, renewTime: t, leaseTransitions: 0 };
    let current: V1Lease | undefined;
    try {
      current = await leases.readNamespacedLease({ name, namespace: 'default' });
    } catch {
      current = undefined;
    }
    if (!current) {
      return leases.createNamespacedLease({ namespace: 'default', body: { metadata: { name }, spec } });
    }
    return leases.replaceNamespacedLease({
      name,
      namespace: 'default',
      body: { metadata: { name, resourceVersion: current.metadata!.resourceVersion }, spec: { ...spec, leaseTransitions: current.spec?.leaseTransitions ?? 0 } },
    });
  }

  it('elects exactly one of two candidates and hands over when the leader stops', async () => {
    const a = elector('two', 'a');
    const b = elector('two', 'b');
    await eventually(() => a.e.isLeader() !== b.e.isLeader());
    // Over several renew periods, exactly one leads and the lease names it.
    for (let i = 0; i < 8; i++) {
      expect(Number(a.e.isLeader()) + Number(b.e.isLeader())).toBe(1);
      await sleep(150);
    }
    const [leader, follower] = a.e.isLeader() ? [a, b] : [b, a];
    const leaderId = leader === a ? 'a' : 'b';
    const followerId = leader === a ? 'b' : 'a';
    expect(await holder('two')).toBe(leaderId);
    expect(leader.calls.filter((c) => c === 'started')).toHaveLength(1);
    expect(follower.calls).not.toContain('started');
    expect(follower.calls).toContain(`leader:${leaderId}`);

    const stoppedAt = Date.now();
    await leader.e.stop();
    await leader.running;
    expect(leader.e.isLeader()).toBe(false);
    expect(leader.calls.at(-1)).toBe('stopped');
    expect(leader.signals[0].aborted).toBe(true);
    // The lease was released (holder cleared), so the follower need not wait for it to expire.
    await eventually(() => follower.e.isLeader(), 3_000);
    expect(Date.now() - stoppedAt).toBeLessThan(3_000);
    expect(await holder('two')).toBe(followerId);
    expect(follower.calls).toContain('started');
    expect(follower.calls).toContain(`leader:${followerId}`);
    const lease = await leases.readNamespacedLease({ name: 'two', namespace: 'default' });
    expect(lease.spec?.leaseTransitions).toBe(1);
  });

  it('renews as the leader with one write per period and no read, as client-go does', async () => {
    const count = (verb: string) => apiRequests(server, verb, 'coordination.k8s.io/leases', 200);
    const a = elector('fast', 'a');
    await eventually(() => a.e.isLeader());
    const [gets, updates] = [await count('get'), await count('update')];
    await sleep(1_500); // six retry periods of 0.25 s
    expect(await count('get')).toBe(gets);
    expect(await count('update')).toBeGreaterThanOrEqual(updates + 4);
    expect(await holder('fast')).toBe('a');
    expect(a.e.isLeader()).toBe(true);
  });

  it('sends acquireTime and renewTime as MicroTime with six fractional digits', async () => {
    const a = elector('wire', 'a');
    await eventually(() => a.e.isLeader());
    const before = (await leases.readNamespacedLease({ name: 'wire', namespace: 'default' })).metadata!.resourceVersion;
    // Wait for a renewal so both the create and the update paths were on the wire.
    await eventually(async () => (await leases.readNamespacedLease({ name: 'wire', namespace: 'default' })).metadata!.resourceVersion !== before);
    const got = await kubectl(server.kubeconfigPath, ['get', 'lease', 'wire', '-n', 'default', '-o', 'json']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toMatch(/"renewTime": "\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z"/);
    expect(got.stdout).toMatch(/"acquireTime": "\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z"/);
    const spec = JSON.parse(got.stdout).spec;
    expect(spec.holderIdentity).toBe('a');
    expect(spec.leaseDurationSeconds).toBe(3);
    expect(spec.renewTime).toMatch(sixDigits);
  });

  it('waits while another holder keeps its lease, and takes it over once expired', async () => {
    await writeLease('ghost', 'ghost', 0, 30);
    const a = elector('ghost', 'a');
    await eventually(() => a.calls.includes('leader:ghost'));
    await sleep(1_000);
    expect(a.e.isLeader()).toBe(false);
    expect(await holder('ghost')).toBe('ghost');

    // The ghost stopped renewing a minute ago: its lease has run out.
    await writeLease('ghost', 'ghost', 60_000, 30);
    await eventually(() => a.e.isLeader(), 3_000);
    const lease = await leases.readNamespacedLease({ name: 'ghost', namespace: 'default' });
    expect(lease.spec?.holderIdentity).toBe('a');
    expect(lease.spec?.leaseTransitions).toBe(1);
  });

  it('steps down when another identity takes the lease', async () => {
    const a = elector('stolen', 'a');
    await eventually(() => a.e.isLeader());
    await eventually(async () => {
      // Races with a's renewals: retry on conflict until the intruder's write lands.
      await writeLease('stolen', 'intruder', 0, 30);
      return true;
    });
    await eventually(() => !a.e.isLeader(), 3_000);
    expect(a.calls).toContain('stopped');
    expect(a.signals[0].aborted).toBe(true);
    expect(a.calls).toContain('leader:intruder');
    await sleep(500);
    expect(a.e.isLeader()).toBe(false);
    expect(await holder('stolen')).toBe('intruder');
  });

  it('steps down within the renew deadline when the API server is gone', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const lonely = await startTestServer();
    try {
      const a = new LeaderElector({
        kubeConfig: lonely.kubeConfig,
        namespace: 'default',
        name: 'unreachable',
        identity: 'a',
        leaseDurationSeconds: 3,
        renewDeadlineSeconds: 1,
        retryPeriodSeconds: 0.25,
        onStartedLeading: () => {},
        onStoppedLeading: () => {},
      });
      electors.push(a);
      void a.run();
      await eventually(() => a.isLeader());
      await lonely.stop();
      const stoppedAt = Date.now();
      await eventually(() => !a.isLeader(), 3_000);
      expect(Date.now() - stoppedAt).toBeLessThan(2_500);
      expect(errors.mock.calls.some((c) => String(c[0]).includes('acquiring or renewing the lease failed'))).toBe(true);
    } finally {
      await lonely.destroy();
    }
  });

  it('survives handlers that throw or reject', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const a = elector('faulty', 'a', {
      onStartedLeading: async () => {
        throw new Error('start failed');
      },
      onStoppedLeading: () => {
        throw new Error('stop failed');
      },
      onNewLeader: () => Promise.reject(new Error('new leader failed')),
    });
    await eventually(() => a.e.isLeader());
    await eventually(() => errors.mock.calls.length >= 2);
    await a.e.stop();
    await expect(a.running).resolves.toBeUndefined();
    const reported = errors.mock.calls.map((c) => String(c[0]));
    expect(reported.some((m) => m.includes('onStartedLeading handler failed'))).toBe(true);
    expect(reported.some((m) => m.includes('onNewLeader handler failed'))).toBe(true);
    expect(reported.some((m) => m.includes('onStoppedLeading handler failed'))).toBe(true);
    expect(await holder('faulty')).toBe('');
  });
});
