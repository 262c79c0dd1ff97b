/**
 * The simulated cloud host (simulated-host.ts) in a worker thread of its own. At fleet scale the
 * kubelets of the machines it boots are a large part of what the meta-cluster process does
 * besides serving APIs — 10,000 nodes registering and renewing their Leases are HTTPS clients
 * with their JSON, TLS and timers — and on the API server's event loop they delay every answer it
 * gives. In the thread they use another core. The behaviour is the host's own (the thread runs
 * one); it only learns of instance changes by polling the inventory file, as it does for other
 * processes.
 *
 * Messages: the parent sends `{ id, op: 'stats' | 'hangKubelet' | 'stop', instanceId? }` and gets
 * `{ id, result }` or `{ id, error }`; the thread says `{ op: 'started' }` or
 * `{ op: 'failed', error }` first.
 */
import { Worker } from 'node:worker_threads';
import type { NodeAgentOptions } from '../../../meta-cluster/node-agent/node-agent.js';
import type { SimulatedCloudHostStats } from './simulated-host.js';

/** What the thread is started with: plain data only (it crosses to another V8 isolate). */
export interface SimulatedCloudHostThreadOptions {
  /** The inventory file (SimulatedCloud's path). */
  readonly path: string;
  /** @default 250 (SimulatedCloudHost's) */
  readonly pollIntervalMs?: number;
  /** Node agent settings; runtimes and log functions cannot cross threads (the machines' pods are simulated). */
  readonly nodeAgent?: Omit<NodeAgentOptions, 'nodes' | 'log' | 'runtimes'>;
}

type Reply = { id: number; result?: unknown; error?: string };

export class SimulatedCloudHostThread {
  private worker?: Worker;
  private started = false;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited?: Promise<void>;

  constructor(private readonly opts: SimulatedCloudHostThreadOptions) {}

  /** Starts the thread; resolves once its host serves (before the nodes are registered), like SimulatedCloudHost.start(). */
  async start(): Promise<void> {
    if (this.started) throw new Error('simulated cloud host thread: start() twice; create a new one');
    this.started = true;
    // Built, the thread runs the .js beside this file. From TypeScript sources (tsx, vitest) it
    // registers tsx first: on Node 20 a worker does not inherit the parent's module hooks.
    const worker = import.meta.url.endsWith('.ts')
      ? new Worker(
          `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(new URL('./simulated-host-worker.ts', import.meta.url).href)}); })`,
          { eval: true, workerData: this.opts },
        )
      : new Worker(new URL('./simulated-host-worker.js', import.meta.url), { workerData: this.opts });
    this.worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { op?: string; error?: string }) => {
        if (m.op === 'started') resolve();
        else if (m.op === 'failed') reject(new Error(`simulated cloud host thread: ${m.error}`));
        else return;
        worker.off('message', onMessage);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`simulated cloud host thread exited (code ${code}) before it started`)));
    });
    worker.on('message', (m: Reply) => this.settle(m));
    worker.on('error', (err) => console.error('simulated cloud host thread failed', err));
    worker.once('exit', () => {
      this.worker = undefined;
      for (const w of this.waiting.values()) w.reject(new Error('simulated cloud host thread exited'));
      this.waiting.clear();
    });
  }

  /** What the host serves now. */
  stats(): Promise<SimulatedCloudHostStats> {
    return this.call('stats') as Promise<SimulatedCloudHostStats>;
  }

  /** Chaos, as SimulatedCloudHost.hangKubelet: the instance's Node stops heartbeating. */
  hangKubelet(instanceId: string): Promise<boolean> {
    return this.call('hangKubelet', instanceId) as Promise<boolean>;
  }

  /** Stops the host (heartbeats end; Nodes and Leases stay) and the thread. */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    try {
      await this.call('stop');
    } catch {
      // The thread is gone already: nothing left to stop.
    }
    await worker.terminate();
    await this.exited;
  }

  private call(op: string, instanceId?: string): Promise<unknown> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new Error(`simulated cloud host thread: ${op} while not running (before start() or after its thread exited)`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, op, instanceId });
    });
  }

  private settle({ id, result, error }: Reply): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    if (error !== undefined) w.reject(new Error(`simulated cloud host thread: ${error}`));
    else w.resolve(result);
  }
}
