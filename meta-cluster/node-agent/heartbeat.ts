/**
 * Node heartbeats for many simulated nodes. Each node renews its Lease every interval and
 * reports its status every Nth beat (the kubelet's nodeStatusReportFrequency is far longer than
 * its lease renewal). So that 1,000 nodes do not beat in the same instant, each node's first beat
 * falls at a random point of the interval and every later one is jittered by a few percent; the
 * writes of all nodes share a small concurrency limit. A beat still in flight is never doubled.
 */
import pLimit, { type LimitFunction } from 'p-limit';

export interface HeartbeatOptions {
  intervalMs: number;
  /** Every how many lease renewals the node status is reported too. @default 5 */
  statusEvery?: number;
  /** Concurrent heartbeat writes over all nodes. @default 16 */
  concurrency?: number;
  /** Fraction of the interval each later beat moves by, at random. @default 0.04 (the kubelet's) */
  jitter?: number;
  renewLease(node: string): Promise<void>;
  reportStatus(node: string): Promise<void>;
  onError(node: string, what: 'lease' | 'status', err: unknown): void;
}

interface Beat {
  timer?: NodeJS.Timeout;
  count: number;
  paused: boolean;
  inFlight: boolean;
  /** A status report is owed at the next beat (on resume, or after a failed report). */
  statusDue: boolean;
}

export class Heartbeats {
  private readonly nodes = new Map<string, Beat>();
  private readonly limiter: LimitFunction;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  /** Lease renewals done, over all nodes (for tests and metrics). */
  renewals = 0;

  constructor(private readonly opts: HeartbeatOptions) {
    this.limiter = pLimit(opts.concurrency ?? 16);
  }

  /** Starts beating for a node whose Lease and status were just written. */
  add(node: string): void {
    if (this.stopped || this.nodes.has(node)) return;
    const beat: Beat = { count: 0, paused: false, inFlight: false, statusDue: false };
    this.nodes.set(node, beat);
    this.schedule(node, beat, Math.random() * this.opts.intervalMs);
  }

  remove(node: string): void {
    const beat = this.nodes.get(node);
    clearTimeout(beat?.timer);
    this.nodes.delete(node);
  }

  has(node: string): boolean {
    return this.nodes.has(node);
  }

  isPaused(node: string): boolean {
    return this.nodes.get(node)?.paused ?? false;
  }

  /** No more Lease renewals or status reports until resume: the node looks dead to the control plane. */
  pause(node: string): void {
    const beat = this.nodes.get(node);
    if (!beat) return;
    beat.paused = true;
    clearTimeout(beat.timer);
  }

  /** Beats at once, reporting status too (the node may have been marked NotReady meanwhile). */
  resume(node: string): Promise<void> {
    const beat = this.nodes.get(node);
    if (!beat || !beat.paused) return Promise.resolve();
    beat.paused = false;
    beat.statusDue = true;
    return this.beat(node, beat);
  }

  /** Stops every node's beats; resolves when the writes in flight are done. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const beat of this.nodes.values()) clearTimeout(beat.timer);
    this.nodes.clear();
    await Promise.all(this.inFlight);
  }

  private schedule(node: string, beat: Beat, delayMs: number): void {
    clearTimeout(beat.timer);
    beat.timer = setTimeout(() => void this.beat(node, beat), delayMs);
    beat.timer.unref();
  }

  private beat(node: string, beat: Beat): Promise<void> {
    if (beat.inFlight || beat.paused || this.stopped || this.nodes.get(node) !== beat) return Promise.resolve();
    const p = this.beatOnce(node, beat).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    return p;
  }

  private async beatOnce(node: string, beat: Beat): Promise<void> {
    beat.inFlight = true;
    clearTimeout(beat.timer);
    try {
      await this.limiter(async () => {
        if (beat.paused || this.stopped || this.nodes.get(node) !== beat) return;
        beat.count++;
        try {
          await this.opts.renewLease(node);
          this.renewals++;
        } catch (err) {
          if (!this.stopped) this.opts.onError(node, 'lease', err);
        }
        if (beat.statusDue || beat.count % (this.opts.statusEvery ?? 5) === 0) {
          try {
            await this.opts.reportStatus(node);
            beat.statusDue = false;
          } catch (err) {
            beat.statusDue = true;
            if (!this.stopped) this.opts.onError(node, 'status', err);
          }
        }
      });
    } finally {
      beat.inFlight = false;
      if (!this.stopped && !beat.paused && this.nodes.get(node) === beat) {
        const jitter = this.opts.jitter ?? 0.04;
        this.schedule(node, beat, this.opts.intervalMs * (1 - jitter + Math.random() * 2 * jitter));
      }
    }
  }
}
