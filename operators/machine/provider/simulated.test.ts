import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../runtime/log.js';
import {
  InstanceCreateError,
  InvalidRequestError,
  InvalidTargetError,
  ProviderUnavailableError,
  QuotaExceededError,
  UnknownMachineTypeError,
  isProviderError,
} from './errors.js';
import { TAG_CLOUD_TARGET, TAG_MACHINE, TAG_MACHINE_UID, type CreateInstanceRequest, type Instance } from './provider.js';
import {
  KILLED_REASON,
  SimulatedCloud,
  parseSimulatedProviderID,
  type InstanceChange,
  type SimulatedCloudOptions,
  type SimulatedTargetSettings,
} from './simulated.js';

/** A small seeded PRNG (mulberry32): the draws of a test are the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const T0 = Date.parse('2026-03-01T00:00:00Z');
const SECRET = 'kubeconfig-with-bootstrap-token-abcdef.0123456789abcdef';

const settings = (over: Partial<SimulatedTargetSettings> = {}): SimulatedTargetSettings => ({
  zones: ['eu-1a', 'eu-1b'],
  capacity: { machines: 10 },
  machineTypes: [
    { name: 'small', cpu: 2, memoryGiB: 8, pricePerHour: 0.1 },
    { name: 'large', cpu: 8, memoryGiB: 32, pricePerHour: 0.5 },
  ],
  ...over,
});

const request = (name: string, over: Partial<CreateInstanceRequest> = {}): CreateInstanceRequest => ({
  machineUid: `uid-${name}`,
  machineNamespace: 'fleet',
  machineName: name,
  cluster: 'pay-core',
  machineType: 'small',
  zone: 'eu-1a',
  tags: { 'fleet.kok.dev/unit': 'u1' },
  userData: SECRET,
  ...over,
});

let dir: string;
let clouds: SimulatedCloud[];
/** The injected wall clock of the clouds a test opens (unless it passes its own). */
let clock: { t: number };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kok-simulated-'));
  clouds = [];
  clock = { t: T0 };
});

afterEach(() => {
  vi.useRealTimers();
  for (const c of clouds) c.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(options: SimulatedCloudOptions = {}, file = 'cloud.db'): SimulatedCloud {
  const cloud = new SimulatedCloud(join(dir, file), {
    now: () => clock.t,
    random: mulberry32(42),
    logger: createLogger({ name: 'test', level: 'silent' }),
    ...options,
  });
  clouds.push(cloud);
  return cloud;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('create is idempotent by machine uid', () => {
  it('returns the same instance when a create is repeated', async () => {
    const p = open().provider('public-eu', settings());
    const first = await p.create(request('a'));
    const again = await p.create(request('a'));
    expect(again.id).toBe(first.id);
    expect((await p.list()).map((i) => i.id)).toEqual([first.id]);
    expect((await p.quota()).inUse).toBe(1);
  });

  it('makes one instance for concurrent creates of one uid', async () => {
    const p = open().provider('public-eu', settings());
    const results = await Promise.all(Array.from({ length: 10 }, () => p.create(request('a'))));
    expect(new Set(results.map((i) => i.id)).size).toBe(1);
    expect(await p.list()).toHaveLength(1);
  });

  it('makes one instance when two clouds share the file (two processes)', async () => {
    const a = open().provider('public-eu', settings());
    const b = open({ random: mulberry32(7) }).provider('public-eu', settings());
    const [x, y] = await Promise.all([a.create(request('a')), b.create(request('a'))]);
    expect(y.id).toBe(x.id);
    expect(await a.list()).toHaveLength(1);
  });

  it('refuses a retried create that asks for another type or zone', async () => {
    const p = open().provider('public-eu', settings());
    await p.create(request('a'));
    const err = await rejection(p.create(request('a', { machineType: 'large' })));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as InvalidRequestError).retry).toBe('never');
    expect((err as Error).message).toMatch(/^CloudTarget public-eu: creating instance for Machine fleet\/a: .*type "small"/);
    expect(await p.list()).toHaveLength(1);
  });

  it('uses the same uid independently in two targets', async () => {
    const cloud = open();
    const eu = cloud.provider('public-eu', settings());
    const us = cloud.provider('public-us', settings());
    const a = await eu.create(request('a'));
    const b = await us.create(request('a'));
    expect(b.id).not.toBe(a.id);
    expect(await eu.describe(b.id)).toBeUndefined();
    expect(b.providerID).toBe(`simulated://public-us/eu-1a/${b.id}`);
    expect(parseSimulatedProviderID(b.providerID)).toEqual({ target: 'public-us', zone: 'eu-1a', instanceId: b.id });
  });
});

describe('quota', () => {
  it('refuses creates beyond capacity, and proceeds once a delete frees a machine', async () => {
    const p = open().provider('public-eu', settings({ capacity: { machines: 2 } }));
    const a = await p.create(request('pay-core-a'));
    await p.create(request('pay-core-b'));

    const err = await rejection(p.create(request('pay-core-c')));
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(isProviderError(err, 'QuotaExceeded')).toBe(true);
    expect((err as QuotaExceededError).retry).toBe('wait');
    expect((err as Error).message).toBe(
      'CloudTarget public-eu: quota exceeded creating instance for Machine fleet/pay-core-c (2 of 2 machines in use)',
    );
    expect(await p.quota()).toEqual({ capacity: 2, inUse: 2 });

    await p.delete(a.id);
    expect(await p.quota()).toEqual({ capacity: 2, inUse: 1 });
    const c = await p.create(request('pay-core-c'));
    expect(c.state).not.toBe('terminated');
  });

  it('counts failed instances until they are deleted', async () => {
    const p = open().provider('public-eu', settings({ capacity: { machines: 1 } }));
    const a = await p.create(request('a'));
    p.kill(a.id);
    expect(await rejection(p.create(request('b')))).toBeInstanceOf(QuotaExceededError);
    await p.delete(a.id);
    await expect(p.create(request('b'))).resolves.toMatchObject({ machineName: 'b' });
  });

  it('has no limit without a capacity', async () => {
    const p = open().provider('public-eu', settings({ capacity: undefined }));
    for (let i = 0; i < 25; i++) await p.create(request(`m${i}`));
    expect(await p.quota()).toEqual({ capacity: undefined, inUse: 25 });
  });
});

describe('latency', () => {
  it('provisions, boots and runs at exactly the configured times without jitter', async () => {
    const p = open().provider('public-eu', settings({ simulation: { provisionSeconds: 100, bootSeconds: 50 } }));
    const i = await p.create(request('a'));
    const at = async (ms: number) => {
      clock.t = T0 + ms;
      return (await p.describe(i.id))!.state;
    };
    expect(i.state).toBe('provisioning');
    expect(await at(99_999)).toBe('provisioning');
    expect(await at(100_000)).toBe('booting');
    expect(await at(149_999)).toBe('booting');
    expect(await at(150_000)).toBe('running');
    expect((await p.describe(i.id))!.runningSince).toBe(new Date(T0 + 150_000).toISOString());
  });

  it('spreads each latency within [1-jitter, 1+jitter]', async () => {
    const p = open().provider(
      'public-eu',
      settings({ capacity: undefined, simulation: { provisionSeconds: 100, bootSeconds: 100, jitter: 0.5 } }),
    );
    const ids = [];
    for (let n = 0; n < 200; n++) ids.push((await p.create(request(`m${n}`))).id);
    const states = async (ms: number) => {
      clock.t = T0 + ms;
      const counts: Record<string, number> = {};
      for (const i of await p.list()) counts[i.state] = (counts[i.state] ?? 0) + 1;
      return counts;
    };
    // Provisioning ends between 50 s and 150 s; running starts between 100 s and 300 s.
    expect(await states(49_999)).toEqual({ provisioning: 200 });
    expect((await states(100_000)).provisioning).toBeGreaterThan(50); // the spread is real
    expect((await states(100_000)).booting).toBeGreaterThan(50);
    expect((await states(99_999)).running).toBeUndefined();
    expect((await states(150_001)).provisioning).toBeUndefined();
    expect(await states(300_000)).toEqual({ running: 200 });

    const totals = (await p.list()).map((i) => Date.parse(i.runningSince!) - T0);
    expect(Math.min(...totals)).toBeGreaterThanOrEqual(100_000);
    expect(Math.max(...totals)).toBeLessThanOrEqual(300_000);
    expect(Math.max(...totals) - Math.min(...totals)).toBeGreaterThan(100_000);
  });
});

describe('failures', () => {
  it('fails creates at createFailureRate, and stores nothing for a failed create', async () => {
    const p = open({ random: mulberry32(2026) }).provider(
      'public-eu',
      settings({ capacity: undefined, simulation: { createFailureRate: 0.3 } }),
    );
    let failed = 0;
    for (let n = 0; n < 1000; n++) {
      try {
        await p.create(request(`m${n}`));
      } catch (err) {
        expect(err).toBeInstanceOf(InstanceCreateError);
        expect((err as InstanceCreateError).retry).toBe('backoff');
        expect((err as Error).message).toContain(`CloudTarget public-eu: creating instance for Machine fleet/m${n} failed`);
        failed++;
      }
    }
    expect(failed).toBeGreaterThan(255);
    expect(failed).toBeLessThan(345);
    expect(await p.list()).toHaveLength(1000 - failed);
    expect((await p.quota()).inUse).toBe(1000 - failed);
  });

  it('lets a retried create of a failed uid succeed', async () => {
    const draws = [0, 0.99, 0.5, 0.5, 0.5]; // fail, then succeed (failure draw, two jitter draws, death draw)
    const p = open({ random: () => draws.shift() ?? 0.5 }).provider('public-eu', settings({ simulation: { createFailureRate: 0.5 } }));
    expect(await rejection(p.create(request('a')))).toBeInstanceOf(InstanceCreateError);
    expect(await p.findByMachine('uid-a')).toBeUndefined();
    await expect(p.create(request('a'))).resolves.toMatchObject({ machineUid: 'uid-a' });
  });

  it('kills running instances at failureRatePerHour', async () => {
    const p = open({ random: mulberry32(99) }).provider(
      'public-eu',
      settings({ capacity: undefined, simulation: { failureRatePerHour: 1 } }),
    );
    for (let n = 0; n < 1000; n++) await p.create(request(`m${n}`));
    expect((await p.list()).filter((i) => i.state === 'failed')).toHaveLength(0);

    clock.t = T0 + 3_600_000;
    const failed = (await p.list()).filter((i) => i.state === 'failed');
    // P(dead within an hour) = 1 - e^-1 = 0.632
    expect(failed.length).toBeGreaterThan(590);
    expect(failed.length).toBeLessThan(675);
    for (const i of failed) {
      expect(i.failureReason).toMatch(/failureRatePerHour/);
      expect(Date.parse(i.failedAt!)).toBeLessThanOrEqual(clock.t);
    }
    // Dead instances stay dead.
    clock.t += 1;
    const later = new Set((await p.list()).filter((i) => i.state === 'failed').map((i) => i.id));
    for (const i of failed) expect(later.has(i.id)).toBe(true);
  });

  it('applies a changed failure rate to the instances alive now, from now on', async () => {
    const cloud = open();
    const p = cloud.provider('public-eu', settings({ simulation: { failureRatePerHour: 0 } }));
    for (let n = 0; n < 5; n++) await p.create(request(`m${n}`));
    clock.t = T0 + 100 * 3_600_000;
    expect((await p.list()).every((i) => i.state === 'running')).toBe(true);

    cloud.provider('public-eu', settings({ simulation: { failureRatePerHour: 10_000 } }));
    expect((await p.list()).every((i) => i.state === 'running')).toBe(true); // no death in the past
    clock.t += 60_000;
    expect((await p.list()).every((i) => i.state === 'failed')).toBe(true);
  });

  it('kill fails an instance at once with a reason, and leaves a failed one as it is', async () => {
    const p = open().provider('public-eu', settings({ simulation: { provisionSeconds: 10 } }));
    const i = await p.create(request('a'));
    expect(p.kill(i.id)).toMatchObject({ state: 'failed', failureReason: KILLED_REASON, failedAt: new Date(T0).toISOString() });
    clock.t += 20_000;
    expect(p.kill(i.id, 'again')).toMatchObject({ state: 'failed', failureReason: KILLED_REASON });
    expect((await p.describe(i.id))!.runningSince).toBeUndefined(); // it never ran
    expect(p.kill('i-00000000ff')).toBeUndefined();
  });
});

describe('restart', () => {
  it('sees the same instances after a restart, and their states keep advancing by the clock', async () => {
    const first = open({}, 'durable.db');
    const p1 = first.provider('public-eu', settings({ simulation: { provisionSeconds: 60, bootSeconds: 60 } }));
    const created = [await p1.create(request('a')), await p1.create(request('b'))];
    await p1.delete(created[1].id);
    first.close();
    await expect(p1.list()).rejects.toBeInstanceOf(ProviderUnavailableError);

    clock.t = T0 + 90_000;
    const second = open({}, 'durable.db');
    const p2 = second.provider('public-eu', settings());
    expect((await p2.list()).map((i) => [i.id, i.state])).toEqual([[created[0].id, 'booting']]);
    expect(await p2.describe(created[0].id)).toMatchObject({ address: created[0].address, providerID: created[0].providerID });
    expect(p2.userDataOf(created[0].id)).toBe(SECRET);
    clock.t = T0 + 120_000;
    expect((await p2.describe(created[0].id))!.state).toBe('running');
    expect((await p2.describe(created[1].id))!.state).toBe('terminated');

    // The uid still maps to its instance; new instances get new ids and addresses.
    expect((await p2.create(request('a'))).id).toBe(created[0].id);
    const c = await p2.create(request('c'));
    expect(created.map((i) => i.id)).not.toContain(c.id);
    expect(created.map((i) => i.address)).not.toContain(c.address);
  });

  it('keeps the drawn deaths across a restart, and redraws them if the rate changed meanwhile', async () => {
    const rate = (failureRatePerHour: number) => settings({ simulation: { failureRatePerHour } });
    const first = open({}, 'deaths.db');
    const p1 = first.provider('public-eu', rate(0.2));
    for (let n = 0; n < 5; n++) await p1.create(request(`m${n}`));
    clock.t = T0 + 6 * 3_600_000;
    const before = (await p1.list()).map((i) => [i.id, i.state, i.failedAt]);
    first.close();

    const same = open({ random: mulberry32(1) }, 'deaths.db');
    expect((await same.provider('public-eu', rate(0.2)).list()).map((i) => [i.id, i.state, i.failedAt])).toEqual(before);
    same.close();

    // Some died by 6 h and some are alive; at 10,000 deaths an hour none is a minute later.
    expect(before.filter(([, state]) => state === 'failed').length).toBeGreaterThan(0);
    expect(before.filter(([, state]) => state === 'running').length).toBeGreaterThan(0);
    const changed = open({}, 'deaths.db').provider('public-eu', rate(10_000));
    clock.t += 60_000;
    expect((await changed.list()).map((i) => i.state)).toEqual(Array(5).fill('failed'));
  });
});

describe('inventory', () => {
  it('lists an instance the caller forgot (a leak), found by its machine uid tag', async () => {
    const p = open().provider('public-eu', settings());
    await p.create(request('forgotten'));
    const [leak] = await p.list();
    expect(leak.tags).toMatchObject({
      [TAG_MACHINE_UID]: 'uid-forgotten',
      [TAG_MACHINE]: 'fleet/forgotten',
      [TAG_CLOUD_TARGET]: 'public-eu',
      'fleet.kok.dev/unit': 'u1',
    });
    expect(await p.findByMachine('uid-forgotten')).toEqual(leak);
    await p.delete(leak.id);
    expect(await p.list()).toEqual([]);
    expect(await p.list({ includeTerminated: true })).toMatchObject([{ id: leak.id, state: 'terminated' }]);
  });

  it('deletes idempotently, and unknown ids are success', async () => {
    const p = open().provider('public-eu', settings());
    const i = await p.create(request('a'));
    await p.delete(i.id);
    await p.delete(i.id);
    await p.delete('i-00000000ff');
    await p.delete('not-an-id');
    expect(await p.describe(i.id)).toMatchObject({ state: 'terminated', terminatedAt: new Date(T0).toISOString() });
    expect(await p.describe('not-an-id')).toBeUndefined();
  });

  it('returns a terminated instance to a retried create until it is forgotten', async () => {
    const p = open({ terminatedRetentionSeconds: 60 }).provider('public-eu', settings());
    const i = await p.create(request('a'));
    await p.delete(i.id);
    expect(await p.create(request('a'))).toMatchObject({ id: i.id, state: 'terminated' });
    clock.t += 61_000;
    const again = await p.create(request('a'));
    expect(again.id).not.toBe(i.id);
    expect(await p.describe(i.id)).toBeUndefined();
  });

  it('places instances without a zone in the least used zone', async () => {
    const p = open().provider('public-eu', settings({ zones: ['a', 'b', 'c'] }));
    for (let n = 0; n < 6; n++) await p.create(request(`m${n}`, { zone: undefined }));
    const zones = (await p.list()).map((i) => i.zone).sort();
    expect(zones).toEqual(['a', 'a', 'b', 'b', 'c', 'c']);
    const err = await rejection(p.create(request('x', { zone: 'z' })));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as Error).message).toContain('zone "z" is not one of the target\'s zones (a, b, c)');
  });

  it('refuses machine types the target does not offer', async () => {
    const p = open().provider('public-eu', settings());
    const err = await rejection(p.create(request('a', { machineType: 'huge' })));
    expect(err).toBeInstanceOf(UnknownMachineTypeError);
    expect((err as UnknownMachineTypeError).retry).toBe('never');
    expect((err as Error).message).toBe(
      'CloudTarget public-eu: creating instance for Machine fleet/a: machine type "huge" is not offered; use one of "small", "large"',
    );
    await expect(p.price('huge')).rejects.toBeInstanceOf(UnknownMachineTypeError);
    expect(await p.list()).toEqual([]);
  });

  it('refuses bad settings with an error naming the field', () => {
    const cloud = open();
    expect(() => cloud.provider('public-eu', settings({ zones: [] }))).toThrow(InvalidTargetError);
    expect(() => cloud.provider('Public EU', settings())).toThrow(/name "Public EU" is not valid/);
    const p = cloud.provider('public-eu', settings());
    expect(() => p.update(settings({ simulation: { jitter: 2 } }))).toThrow('CloudTarget public-eu: simulation.jitter 2 is not valid: use a number from 0 to 1');
    expect(p.settings.jitter).toBe(0); // the old settings stay
  });

  it('answers ProviderUnavailableError once the cloud is closed', async () => {
    const cloud = open();
    const p = cloud.provider('public-eu', settings());
    cloud.close();
    const err = await rejection(p.create(request('a')));
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    expect((err as ProviderUnavailableError).retry).toBe('backoff');
    expect((err as Error).message).toBe('CloudTarget public-eu: the simulated cloud is closed');
  });
});

describe('prices', () => {
  it('costs the sum of the live instances per hour', async () => {
    const cloud = open();
    const p = cloud.provider('public-eu', settings());
    expect(await p.price('large')).toBe(0.5);
    expect((await p.machineTypes()).map((t) => t.name)).toEqual(['small', 'large']);
    expect(await p.costPerHour()).toBe(0);
    const [a] = [await p.create(request('a')), await p.create(request('b'))];
    const big = await p.create(request('c', { machineType: 'large' }));
    expect(await p.costPerHour()).toBeCloseTo(0.7, 9);

    p.kill(a.id); // a dead VM is billed until it is deleted
    expect(await p.costPerHour()).toBeCloseTo(0.7, 9);
    await p.delete(big.id);
    expect(await p.costPerHour()).toBeCloseTo(0.2, 9);

    // Today's price applies; a type no longer offered keeps the price it was created at.
    cloud.provider('public-eu', settings({ machineTypes: [{ name: 'large', cpu: 8, memoryGiB: 32, pricePerHour: 1 }] }));
    expect(await p.costPerHour()).toBeCloseTo(0.2, 9);
    cloud.provider('public-eu', settings({ machineTypes: [{ name: 'small', cpu: 2, memoryGiB: 8, pricePerHour: 0.25 }] }));
    expect(await p.costPerHour()).toBeCloseTo(0.5, 9);
  });
});

describe('user data', () => {
  it('never appears in instances, lists or errors, only through userDataOf', async () => {
    const p = open().provider('public-eu', settings({ capacity: { machines: 1 } }));
    const created = await p.create(request('a'));
    const shown: unknown[] = [
      created,
      await p.create(request('a')),
      await p.describe(created.id),
      await p.findByMachine('uid-a'),
      await p.list(),
      p.kill(created.id),
    ];
    for (const err of [
      await rejection(p.create(request('b'))),
      await rejection(p.create(request('a', { machineType: 'large' }))),
      await rejection(p.create(request('c', { machineType: 'nope' }))),
    ]) {
      expect(err).toBeInstanceOf(Error);
      shown.push((err as Error).message, inspect(err));
    }
    for (const s of shown) {
      expect(JSON.stringify(s)).not.toContain(SECRET);
      expect(inspect(s, { depth: 10 })).not.toContain(SECRET);
      expect(String(s)).not.toContain(SECRET);
    }
    expect(p.userDataOf(created.id)).toBe(SECRET);

    await p.delete(created.id);
    expect(p.userDataOf(created.id)).toBeUndefined(); // the disk went with the instance
    expect(JSON.stringify(await p.list({ includeTerminated: true }))).not.toContain(SECRET);
  });
});

describe('watch', () => {
  it('tells listeners when an instance runs (with its user data), fails and is terminated', async () => {
    vi.useFakeTimers({ now: T0 });
    const cloud = open({ now: Date.now });
    const p = cloud.provider('public-eu', settings({ simulation: { provisionSeconds: 10, bootSeconds: 20 } }));
    const changes: InstanceChange[] = [];
    cloud.watch((c) => changes.push(c));
    const i = await p.create(request('a'));

    vi.advanceTimersByTime(29_999);
    expect(changes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(changes.map((c) => c.instance.state)).toEqual(['running']);
    expect(changes[0]).toMatchObject({ target: 'public-eu', instance: { id: i.id } });
    expect(changes[0].userData).toBe(SECRET);
    expect(JSON.stringify(changes[0])).not.toContain(SECRET);
    expect(inspect(changes[0])).not.toContain(SECRET);

    p.kill(i.id);
    await p.delete(i.id);
    expect(changes.map((c) => c.instance.state)).toEqual(['running', 'failed', 'terminated']);
    expect(changes[1].userData).toBeUndefined();
    vi.advanceTimersByTime(3_600_000);
    expect(changes).toHaveLength(3);
  });

  it('tells of natural deaths by their deadline, once', async () => {
    vi.useFakeTimers({ now: T0 });
    const cloud = open({ now: Date.now });
    const p = cloud.provider('public-eu', settings({ simulation: { failureRatePerHour: 60 } })); // one a minute
    const states: string[] = [];
    cloud.watch((c) => states.push(`${c.instance.machineName}:${c.instance.state}`));
    await p.create(request('a'));
    await p.create(request('b'));
    vi.advanceTimersByTime(0);
    expect(states.sort()).toEqual(['a:running', 'b:running']);
    vi.advanceTimersByTime(60 * 60_000); // an hour at one death a minute: both are dead by now
    await p.list(); // reading does not tell again
    expect(states.filter((s) => s.endsWith(':failed')).sort()).toEqual(['a:failed', 'b:failed']);
    expect(states).toHaveLength(4);
  });

  it('replays running instances to a new listener, also after a restart, and survives a failing listener', async () => {
    vi.useFakeTimers({ now: T0 });
    const first = open({ now: Date.now }, 'replay.db');
    const p = first.provider('public-eu', settings({ simulation: { provisionSeconds: 5 } }));
    await p.create(request('a'));
    await p.create(request('b', { userData: 'other' }));
    vi.advanceTimersByTime(5_000);
    first.close();

    const second = open({ now: Date.now }, 'replay.db');
    const p2 = second.provider('public-eu', settings({ simulation: { provisionSeconds: 5 } }));
    const late = await p2.create(request('c', { userData: 'third' }));
    second.watch(() => {
      throw new Error('a broken listener');
    });
    const heard: Array<[string, string, string | undefined]> = [];
    const stop = second.watch((c) => heard.push([c.instance.machineName, c.instance.state, c.userData]));
    expect(heard).toEqual([
      ['a', 'running', SECRET],
      ['b', 'running', 'other'],
    ]);
    vi.advanceTimersByTime(5_000);
    expect(heard[2]).toEqual(['c', 'running', 'third']);
    stop();
    await p2.delete(late.id);
    expect(heard).toHaveLength(3);
  });
});

describe('instances', () => {
  it('are plain frozen data with the documented shape', async () => {
    const p = open().provider('public-eu', settings());
    const i: Instance = await p.create(request('a'));
    expect(Object.isFrozen(i)).toBe(true);
    expect(i).toEqual({
      id: 'i-0000000001',
      providerID: 'simulated://public-eu/eu-1a/i-0000000001',
      target: 'public-eu',
      machineUid: 'uid-a',
      machineNamespace: 'fleet',
      machineName: 'a',
      cluster: 'pay-core',
      machineType: 'small',
      zone: 'eu-1a',
      state: 'running',
      address: '172.16.0.1',
      createdAt: '2026-03-01T00:00:00.000Z',
      runningSince: '2026-03-01T00:00:00.000Z',
      tags: {
        'fleet.kok.dev/unit': 'u1',
        'fleet.kok.dev/machine-uid': 'uid-a',
        'fleet.kok.dev/machine': 'fleet/a',
        'fleet.kok.dev/cluster': 'pay-core',
        'fleet.kok.dev/cloud-target': 'public-eu',
      },
    });
  });
});
