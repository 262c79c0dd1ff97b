import { describe, expect, it } from 'vitest';
import { TerminalError, WorkQueue } from './workqueue.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('never runs one key twice at once, and runs it again when it was added meanwhile', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const q = new WorkQueue(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        await tick(20);
        running--;
      },
      { name: 't', concurrency: 4 },
    );
    q.add('a');
    await tick(2);
    q.add('a');
    q.add('a');
    await tick(100);
    await q.idle();
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it('deduplicates keys waiting in the queue and processes different keys concurrently', async () => {
    const seen: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const q = new WorkQueue(
      async (k) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        seen.push(k);
        await tick(10);
        running--;
      },
      { name: 't', concurrency: 2 },
    );
    // x and y occupy both workers, so the rest wait in the queue, where duplicates collapse.
    for (const k of ['x', 'y', 'a', 'b', 'c', 'a', 'b']) q.add(k);
    await tick(5);
    await q.idle();
    expect(seen).toEqual(['x', 'y', 'a', 'b', 'c']);
    expect(maxRunning).toBe(2);
  });

  it('retries failures with growing backoff, but not terminal errors', async () => {
    const attempts: Record<string, number> = { flaky: 0, bad: 0 };
    const q = new WorkQueue(
      async (k) => {
        attempts[k]++;
        if (k === 'flaky' && attempts[k] < 3) throw new Error('transient');
        if (k === 'bad') throw new TerminalError('spec is invalid');
      },
      { name: 't', baseDelayMs: 5 },
    );
    q.add('flaky');
    q.add('bad');
    await tick(200);
    expect(attempts.flaky).toBe(3);
    expect(attempts.bad).toBe(1);
  });

  it('runs keys an event added before keys a reconcile asked to see again; an event moves a waiting poll up', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue(
      async (k) => {
        order.push(k);
        if (k === 'busy') await gate;
        // The first run of each poll asks to be looked at again shortly.
        if (k.startsWith('poll') && order.filter((x) => x === k).length === 1) return { requeueAfterMs: 5 };
      },
      { name: 't', concurrency: 1 },
    );
    q.add('poll-a');
    q.add('poll-b');
    await tick(2);
    q.add('busy'); // holds the only worker while the polls come due
    await tick(30);
    expect(q.depth).toBe(2);
    q.add('event');
    q.add('poll-b'); // news for a waiting poll
    expect(q.depth).toBe(3);
    release();
    await tick(10);
    await q.idle();
    expect(order).toEqual(['poll-a', 'poll-b', 'busy', 'event', 'poll-b', 'poll-a']);
    expect(q.depth).toBe(0);
  });

  it('requeues after the time a reconcile asks for', async () => {
    let runs = 0;
    const q = new WorkQueue(async () => (++runs < 3 ? { requeueAfterMs: 20 } : undefined), { name: 't' });
    q.add('k');
    await tick(150);
    expect(runs).toBe(3);
    q.stop();
  });
});

describe('WorkQueue.addAfter', () => {
  it('lets a sooner delay replace a later one', async () => {
    let runs = 0;
    const q = new WorkQueue(async () => void runs++, { name: 't' });
    q.addAfter('k', 10_000);
    q.addAfter('k', 10);
    await tick(60);
    expect(runs).toBe(1);
    q.stop();
  });
});
