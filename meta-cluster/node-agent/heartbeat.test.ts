import { describe, expect, it } from 'vitest';
import { Heartbeats } from './heartbeat.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Heartbeats', () => {
  function recorder(intervalMs: number, concurrency = 4) {
    const leases: Array<{ node: string; at: number }> = [];
    const statuses: string[] = [];
    let running = 0;
    let peak = 0;
    const hb = new Heartbeats({
      intervalMs,
      concurrency,
      async renewLease(node) {
        peak = Math.max(peak, ++running);
        await sleep(1);
        running--;
        leases.push({ node, at: Date.now() });
      },
      async reportStatus(node) {
        statuses.push(node);
      },
      onError: (node, what, err) => {
        throw new Error(`${node} ${what}: ${String(err)}`);
      },
    });
    return { hb, leases, statuses, peak: () => peak };
  }

  it('spreads the first beats of many nodes over the interval, with bounded concurrency', async () => {
    const { hb, leases, peak } = recorder(400, 4);
    const start = Date.now();
    for (let i = 0; i < 100; i++) hb.add(`n${i}`);
    await sleep(450);
    await hb.stop();
    const firsts = new Map<string, number>();
    for (const l of leases) if (!firsts.has(l.node)) firsts.set(l.node, l.at - start);
    expect(firsts.size).toBeGreaterThanOrEqual(95);
    const times = [...firsts.values()].sort((a, b) => a - b);
    // Uniform over [0, 400): a burst would put them all in the first few milliseconds.
    expect(times[times.length - 1]! - times[0]!).toBeGreaterThan(200);
    expect(times.filter((t) => t < 200).length).toBeLessThan(90);
    expect(peak()).toBeLessThanOrEqual(4);
  });

  it('reports status every 5th beat, stops while paused, and reports at once on resume', async () => {
    const { hb, leases, statuses } = recorder(20);
    hb.add('a');
    await sleep(400);
    const beats = leases.length;
    expect(beats).toBeGreaterThanOrEqual(8);
    expect(statuses.length).toBe(Math.floor(beats / 5));
    hb.pause('a');
    await sleep(30);
    const paused = leases.length;
    await sleep(150);
    expect(leases.length).toBe(paused);
    const reports = statuses.length;
    await hb.resume('a');
    expect(leases.length).toBe(paused + 1);
    expect(statuses.length).toBe(reports + 1);
    await hb.stop();
  });
});
