/** The entry point of SimulatedCloudHostThread's worker (simulated-host-thread.ts says why and what it is told). */
import { parentPort, workerData } from 'node:worker_threads';
import { SimulatedCloud } from './simulated.js';
import { SimulatedCloudHost } from './simulated-host.js';
import type { SimulatedCloudHostThreadOptions } from './simulated-host-thread.js';

const port = parentPort!;
const opts = workerData as SimulatedCloudHostThreadOptions;
const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

let cloud: SimulatedCloud | undefined;
let host: SimulatedCloudHost | undefined;
try {
  cloud = new SimulatedCloud(opts.path);
  host = new SimulatedCloudHost({ cloud, pollIntervalMs: opts.pollIntervalMs, nodeAgent: opts.nodeAgent });
  await host.start();
  port.postMessage({ op: 'started' });
} catch (err) {
  cloud?.close();
  port.postMessage({ op: 'failed', error: message(err) });
  process.exit(1);
}

port.on('message', async ({ id, op, instanceId }: { id: number; op: string; instanceId?: string }) => {
  try {
    let result: unknown;
    if (op === 'stats') result = host!.stats();
    else if (op === 'hangKubelet') result = host!.hangKubelet(String(instanceId));
    else if (op === 'stop') {
      await host!.stop();
      cloud!.close();
    } else throw new Error(`unknown request ${op}`);
    port.postMessage({ id, result });
  } catch (err) {
    port.postMessage({ id, error: message(err) });
  }
});
