import { describe, expect, it } from 'vitest';
import { InvalidPoolSpec, planPool, resolveIntOrPercent, type PlannedMachine, type PoolPolicy } from './pool-plan.js';

const now = 1_000_000_000;
const policy = (p: Partial<PoolPolicy> = {}): PoolPolicy => ({
  replicas: 3,
  maxSurge: 1,
  maxUnavailable: 0,
  maxUnhealthy: '40%',
  nodeNotReadySeconds: 300,
  zones: ['a', 'b', 'c'],
  ...p,
});
let seq = 0;
const m = (p: Partial<PlannedMachine> = {}): PlannedMachine => ({
  name: `m${seq++}`,
  current: true,
  ready: true,
  failed: false,
  deleting: false,
  createdAt: now - 1000 * seq,
  zone: 'a',
  ...p,
});
const names = (ms: PlannedMachine[]) => ms.map((x) => x.name);

describe('resolveIntOrPercent', () => {
  it.each([
    [1, 10, true, 1],
    ['25%', 10, true, 3],
    ['25%', 10, false, 2],
    ['0%', 5, true, 0],
    ['100%', 5, false, 5],
  ] as const)('%s of %d (round up %s) is %d', (v, total, up, want) => {
    expect(resolveIntOrPercent(v, total, up, 'f')).toBe(want);
  });

  it('names the field of a malformed value', () => {
    expect(() => resolveIntOrPercent('a lot', 3, true, 'spec.strategy.maxSurge')).toThrow(/spec\.strategy\.maxSurge: "a lot"/);
    expect(() => resolveIntOrPercent(-1, 3, true, 'spec.strategy.maxSurge')).toThrow(InvalidPoolSpec);
  });
});

describe('planPool: scaling', () => {
  it('creates the missing machines spread over the least used zones', () => {
    const plan = planPool(policy({ replicas: 5 }), [m({ zone: 'a' }), m({ zone: 'a' })], now);
    expect(plan.create).toEqual(['b', 'c', 'b']);
    expect(plan.delete).toEqual([]);
  });

  it('scales down not-ready machines first, then the newest', () => {
    const oldest = m({ createdAt: now - 10_000 });
    const newest = m({ createdAt: now - 10 });
    const middle = m({ createdAt: now - 5_000 });
    const notReady = m({ ready: false, createdAt: now - 20_000 });
    const plan = planPool(policy({ replicas: 2 }), [oldest, newest, middle, notReady], now);
    expect(plan.delete).toEqual([
      { name: notReady.name, reason: 'ScaleDown' },
      { name: newest.name, reason: 'ScaleDown' },
    ]);
    expect(plan.create).toEqual([]);
  });

  it('does not count machines already being deleted', () => {
    const plan = planPool(policy({ replicas: 2 }), [m(), m({ deleting: true }), m()], now);
    expect(plan).toMatchObject({ create: [], delete: [] });
  });

  it('does nothing when the pool is as it should be', () => {
    expect(planPool(policy(), [m(), m(), m()], now)).toMatchObject({ create: [], delete: [], unhealthy: 0, remediationAllowed: true });
  });
});

describe('planPool: health', () => {
  it('replaces a failed machine and one whose Node stayed not Ready past the timeout', () => {
    const failed = m({ failed: true, ready: false });
    const stale = m({ ready: false, notReadySince: now - 301_000 });
    const recent = m({ ready: false, notReadySince: now - 10_000 });
    const plan = planPool(policy({ replicas: 5, maxUnhealthy: 2 }), [failed, stale, recent, m(), m()], now);
    expect(plan.delete).toEqual([
      { name: failed.name, reason: 'Unhealthy' },
      { name: stale.name, reason: 'Unhealthy' },
    ]);
    expect(plan.create).toHaveLength(2);
    expect(plan.remediationAllowed).toBe(true);
  });

  it('stops remediation while more machines are unhealthy than maxUnhealthy allows', () => {
    const sick = [m({ failed: true }), m({ failed: true }), m({ ready: false, notReadySince: now - 600_000 })];
    const plan = planPool(policy({ replicas: 5, maxUnhealthy: '40%' }), [...sick, m(), m()], now);
    expect(plan).toMatchObject({ unhealthy: 3, remediationAllowed: false, maxUnhealthy: 2, delete: [], create: [] });
  });
});

describe('planPool: rolling replacement', () => {
  it('surges one new machine and keeps every old one while maxUnavailable is 0', () => {
    const old = [m({ current: false }), m({ current: false }), m({ current: false })];
    const plan = planPool(policy({ maxSurge: 1, maxUnavailable: 0 }), old, now);
    expect(plan.create).toHaveLength(1);
    expect(plan.delete).toEqual([]);
  });

  it('replaces an old machine once a new one is ready', () => {
    const old = [m({ current: false }), m({ current: false }), m({ current: false })];
    const plan = planPool(policy({ maxSurge: 1, maxUnavailable: 0 }), [...old, m({ current: true })], now);
    expect(plan.create).toEqual([]);
    expect(plan.delete).toHaveLength(1);
    expect(plan.delete[0]!.reason).toBe('Replaced');
  });

  it('waits while the new machine is not ready', () => {
    const old = [m({ current: false }), m({ current: false }), m({ current: false })];
    const plan = planPool(policy({ maxSurge: 1, maxUnavailable: 0 }), [...old, m({ current: true, ready: false })], now);
    expect(plan).toMatchObject({ create: [], delete: [] });
  });

  it('with maxSurge 0 and maxUnavailable 1 deletes one old machine before it creates', () => {
    const old = [m({ current: false }), m({ current: false }), m({ current: false })];
    const plan = planPool(policy({ maxSurge: 0, maxUnavailable: 1 }), old, now);
    expect(plan.create).toEqual([]);
    expect(plan.delete).toHaveLength(1);
  });

  it('deletes old machines that are not ready before ready ones, within the budget', () => {
    const brokenOld = m({ current: false, ready: false });
    const old = [m({ current: false }), m({ current: false }), brokenOld];
    const plan = planPool(policy({ maxSurge: 1, maxUnavailable: 0 }), [...old, m({ current: true })], now);
    expect(plan.delete.map((d) => d.name)).toEqual([brokenOld.name]);
  });

  it('never plans fewer ready machines than replicas - maxUnavailable, over a whole simulated rollout', () => {
    for (const [maxSurge, maxUnavailable] of [
      [1, 0],
      [0, 1],
      [2, 1],
      ['50%', '25%'],
    ] as const) {
      const p = policy({ replicas: 4, maxSurge, maxUnavailable, zones: ['a'] });
      const minReady = 4 - resolveIntOrPercent(maxUnavailable, 4, false, 'x');
      const maxTotal = 4 + Math.max(1, resolveIntOrPercent(maxSurge, 4, true, 'x'));
      let pool: PlannedMachine[] = [m({ current: false }), m({ current: false }), m({ current: false }), m({ current: false })];
      for (let step = 0; step < 50 && !(pool.length === 4 && pool.every((x) => x.current && x.ready)); step++) {
        const plan = planPool(p, pool, now);
        const gone = new Set(plan.delete.map((d) => d.name));
        pool = pool.filter((x) => !gone.has(x.name));
        expect(pool.filter((x) => x.ready).length, `${maxSurge}/${maxUnavailable} step ${step}`).toBeGreaterThanOrEqual(minReady);
        // New machines arrive not ready; the ones from the step before become ready.
        pool = pool.map((x) => (x.current ? { ...x, ready: true } : x));
        pool.push(...plan.create.map(() => m({ current: true, ready: false })));
        expect(pool.length).toBeLessThanOrEqual(maxTotal);
      }
      expect(names(pool.filter((x) => !x.current)), `${maxSurge}/${maxUnavailable}`).toEqual([]);
      expect(pool).toHaveLength(4);
    }
  });
});
