/**
 * Pending pods waiting for a decision, shaped after kube-scheduler's scheduling queue:
 * - active: to be tried now, first in first out;
 * - unschedulable: tried and fit nowhere; they wait for a cluster change (or the periodic flush);
 * - backoff: their binding failed; they come back after an exponential delay.
 * A key is in at most one of them. Keys are `namespace/name`.
 */

export interface SchedulingQueueOptions {
  /** @default 1000 ms, doubling per failed attempt */
  initialBackoffMs?: number;
  /** @default 10 s */
  maxBackoffMs?: number;
}

export class SchedulingQueue {
  private readonly active = new Set<string>();
  private readonly unschedulable = new Set<string>();
  private readonly backoff = new Map<string, NodeJS.Timeout>();
  private readonly attempts = new Map<string, number>();
  private stopped = false;

  /** `onActive` is called whenever a key becomes active (the scheduler wakes up). */
  constructor(
    private readonly onActive: () => void,
    private readonly opts: SchedulingQueueOptions = {},
  ) {}

  /** Makes the key active now (a new pod, or a change that may let it fit), unless it is backing off. */
  add(key: string): void {
    if (this.stopped || this.backoff.has(key) || this.active.has(key)) return;
    this.unschedulable.delete(key);
    this.active.add(key);
    this.onActive();
  }

  /** The oldest active key. */
  pop(): string | undefined {
    const next = this.active.values().next();
    if (next.done) return undefined;
    this.active.delete(next.value);
    return next.value;
  }

  /** Parks a key that fits nowhere until `moveAllToActive`. */
  markUnschedulable(key: string): void {
    if (this.stopped || this.active.has(key) || this.backoff.has(key)) return;
    this.unschedulable.add(key);
  }

  isUnschedulable(key: string): boolean {
    return this.unschedulable.has(key);
  }

  /** Retries the key after its backoff (a failed binding). */
  retryLater(key: string): void {
    if (this.stopped) return;
    this.active.delete(key);
    this.unschedulable.delete(key);
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, attempt);
    const delay = Math.min((this.opts.initialBackoffMs ?? 1000) * 2 ** (attempt - 1), this.opts.maxBackoffMs ?? 10_000);
    clearTimeout(this.backoff.get(key));
    const t = setTimeout(() => {
      this.backoff.delete(key);
      this.add(key);
    }, delay);
    t.unref();
    this.backoff.set(key, t);
  }

  /** The pod was bound: forget its failures. */
  succeeded(key: string): void {
    this.attempts.delete(key);
  }

  /** Every unschedulable key becomes active; returns how many moved. */
  moveAllToActive(): number {
    const n = this.unschedulable.size;
    if (n === 0) return 0;
    for (const key of this.unschedulable) this.active.add(key);
    this.unschedulable.clear();
    this.onActive();
    return n;
  }

  /** The pod is gone or no longer pending. */
  delete(key: string): void {
    this.active.delete(key);
    this.unschedulable.delete(key);
    this.attempts.delete(key);
    clearTimeout(this.backoff.get(key));
    this.backoff.delete(key);
  }

  get sizes(): { active: number; unschedulable: number; backoff: number } {
    return { active: this.active.size, unschedulable: this.unschedulable.size, backoff: this.backoff.size };
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.backoff.values()) clearTimeout(t);
    this.backoff.clear();
    this.active.clear();
    this.unschedulable.clear();
  }
}
