/**
 * The controller work queue, shaped after client-go's: a key is processed by at most one worker at
 * a time; adding a key while it is processed marks it dirty so it runs once more afterwards;
 * failures are retried with per-key exponential backoff; `requeueAfterMs` waits on time or on the
 * outside world. Keys are strings (`ns/name`, or a cluster-qualified key).
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

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
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

  get depth(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds the key after a delay; of several pending delays for one key, the soonest wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const due = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.due <= due) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { timer, due });
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? 4;
    while (this.running < limit && this.queue.length) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.work(key);
    }
    if (this.running === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async work(key: string): Promise<void> {
    const started = performance.now();
    let outcome: 'success' | 'error' | 'requeue' = 'success';
    try {
      const result = await this.process(key);
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined) {
        outcome = 'requeue';
        this.addAfter(key, result.requeueAfterMs);
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
