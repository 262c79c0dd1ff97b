/**
 * The controller work queue, shaped after client-go's: a key is processed by at most one worker at
 * a time; adding a key while it is processed marks it dirty so it runs once more afterwards;
 * failures are retried with per-key exponential backoff; `requeueAfterMs` waits on time or on the
 * outside world. Keys are strings (`ns/name`, or a cluster-qualified key).
 *
 * Two lanes, after controller-runtime's priority queue: a key a reconcile asked to see again later
 * (`requeueAfterMs`: a poll of something no event announces) waits behind every key an event or a
 * retry added, so under load a thousand polls do not delay the one Machine whose Node just
 * joined. An event for a key waiting in the low lane moves it up.
 */

export interface ReconcileResult {
  /** Run again after this long even if nothing changes (waiting on time or an outside system). */
  requeueAfterMs?: number;
}

/** A failure retrying cannot fix (a bad spec): logged, not retried, until the key is added again. */
export class TerminalError extends Error {
  readonly terminal = true;
}

export interface WorkQueueOptions {
  name: string;
  /** @default 4 */
  concurrency?: number;
  /** @default 5 ms, doubling per failure */
  baseDelayMs?: number;
  /** @default 5 minutes */
  maxDelayMs?: number;
  onError?: (key: string, err: unknown, attempt: number) => void;
  onProcessed?: (key: string, seconds: number, outcome: 'success' | 'error' | 'requeue') => void;
}

type Lane = 'normal' | 'low';

export class WorkQueue {
  private readonly queue: string[] = [];
  /** Polls; a key moved up to `queue` stays here until popped, and is then skipped. */
  private readonly low: string[] = [];
  private readonly queued = new Map<string, Lane>();
  private lowCount = 0;
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private running = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly process: (key: string) => Promise<ReconcileResult | void>,
    private readonly opts: WorkQueueOptions,
  ) {}

  /** Keys waiting, in both lanes. */
  get depth(): number {
    return this.queue.length + this.lowCount;
  }

  add(key: string): void {
    this.enqueue(key, 'normal');
  }

  /** Adds the key after a delay; of several pending delays for one key, the soonest wins. */
  addAfter(key: string, ms: number, lane: Lane = 'normal'): void {
    if (this.stopped) return;
    if (ms <= 0) return this.enqueue(key, lane);
    const due = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.due <= due) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.enqueue(key, lane);
    }, ms);
    timer.unref();
    this.timers.set(key, { timer, due });
  }

  private enqueue(key: string, lane: Lane): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      // A poll due while the key runs is answered by that run; an event is news it may have missed.
      if (lane === 'normal') this.dirty.add(key);
      return;
    }
    const waiting = this.queued.get(key);
    if (waiting === 'normal' || waiting === lane) return;
    if (waiting === 'low') this.lowCount--; // moves up; its stale entry in `low` is skipped
    this.queued.set(key, lane);
    if (lane === 'low') {
      this.low.push(key);
      this.lowCount++;
    } else {
      this.queue.push(key);
    }
    this.pump();
  }

  /** The next key to run: the normal lane first. */
  private next(): string | undefined {
    if (this.queue.length) return this.queue.shift();
    while (this.low.length) {
      const key = this.low.shift()!;
      if (this.queued.get(key) === 'low') {
        this.lowCount--;
        return key;
      }
    }
    return undefined;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.queue.length = 0;
    this.low.length = 0;
    this.lowCount = 0;
    this.queued.clear();
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.running === 0 && this.depth === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? 4;
    while (this.running < limit && this.depth > 0) {
      const key = this.next()!;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.work(key);
    }
    if (this.running === 0 && this.depth === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async work(key: string): Promise<void> {
    const started = performance.now();
    let outcome: 'success' | 'error' | 'requeue' = 'success';
    try {
      const result = await this.process(key);
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined) {
        outcome = 'requeue';
        this.addAfter(key, result.requeueAfterMs, 'low');
      }
    } catch (err) {
      outcome = 'error';
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.opts.onError?.(key, err, attempt);
      if (!(err instanceof TerminalError)) {
        this.failures.set(key, attempt);
        const delay = Math.min((this.opts.baseDelayMs ?? 5) * 2 ** (attempt - 1), this.opts.maxDelayMs ?? 300_000);
        this.addAfter(key, delay);
      } else {
        this.failures.delete(key);
      }
    } finally {
      this.opts.onProcessed?.(key, (performance.now() - started) / 1000, outcome);
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
