import { afterEach, describe, expect, it, vi } from 'vitest';
import { SchedulingQueue } from './queue.js';

afterEach(() => {
  vi.useRealTimers();
});

function queue() {
  const woken: number[] = [];
  const q = new SchedulingQueue(() => woken.push(1), { initialBackoffMs: 100, maxBackoffMs: 250 });
  return { q, woken };
}

const drain = (q: SchedulingQueue) => {
  const out: string[] = [];
  for (let k = q.pop(); k !== undefined; k = q.pop()) out.push(k);
  return out;
};

describe('SchedulingQueue', () => {
  it('hands out keys first in, first out, once each', () => {
    const { q, woken } = queue();
    for (const k of ['a', 'b', 'a', 'c']) q.add(k);
    expect(drain(q)).toEqual(['a', 'b', 'c']);
    expect(woken.length).toBe(3);
  });

  it('parks unschedulable keys until everything is moved back', () => {
    const { q } = queue();
    q.markUnschedulable('a');
    q.markUnschedulable('b');
    expect(q.pop()).toBeUndefined();
    expect(q.sizes).toEqual({ active: 0, unschedulable: 2, backoff: 0 });
    expect(q.moveAllToActive()).toBe(2);
    expect(drain(q)).toEqual(['a', 'b']);
  });

  it('an add (the pod changed) takes a key out of unschedulable', () => {
    const { q } = queue();
    q.markUnschedulable('a');
    q.add('a');
    expect(q.isUnschedulable('a')).toBe(false);
    expect(drain(q)).toEqual(['a']);
  });

  it('backs off failed keys exponentially, capped, and ignores adds meanwhile', () => {
    vi.useFakeTimers();
    const { q } = queue();
    q.retryLater('a');
    q.add('a');
    expect(q.pop()).toBeUndefined();
    vi.advanceTimersByTime(100);
    expect(q.pop()).toBe('a');
    q.retryLater('a');
    vi.advanceTimersByTime(199);
    expect(q.pop()).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(q.pop()).toBe('a');
    q.retryLater('a');
    vi.advanceTimersByTime(250);
    expect(q.pop()).toBe('a');
    q.succeeded('a');
    q.retryLater('a');
    vi.advanceTimersByTime(100);
    expect(q.pop()).toBe('a');
  });

  it('forgets deleted keys everywhere', () => {
    vi.useFakeTimers();
    const { q } = queue();
    q.add('a');
    q.markUnschedulable('b');
    q.retryLater('c');
    for (const k of ['a', 'b', 'c']) q.delete(k);
    vi.advanceTimersByTime(1000);
    expect(q.moveAllToActive()).toBe(0);
    expect(q.pop()).toBeUndefined();
    expect(q.sizes).toEqual({ active: 0, unschedulable: 0, backoff: 0 });
  });
});
