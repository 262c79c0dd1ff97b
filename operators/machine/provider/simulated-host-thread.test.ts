import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/helpers.js';
import { SimulatedCloudHostThread } from './simulated-host-thread.js';

// The thread booting instances into a real cluster is covered end to end by test/machine-operator.test.ts.
describe('SimulatedCloudHostThread', () => {
  const dirs: Array<{ path: string; remove(): void }> = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

  it('starts a host in a worker thread, answers for it, and stops it', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const thread = new SimulatedCloudHostThread({ path: join(dir.path, 'cloud.db'), pollIntervalMs: 100 });
    await expect(thread.stats()).rejects.toThrow(/stats while not running/);
    await thread.start();
    expect(await thread.stats()).toMatchObject({ agents: 0, nodes: 0, pending: 0, skipped: 0 });
    expect(await thread.hangKubelet('i-unknown')).toBe(false);
    await thread.stop();
    await expect(thread.stats()).rejects.toThrow(/stats while not running/);
  });

  it('fails its start with the reason when the inventory cannot be opened', async () => {
    const thread = new SimulatedCloudHostThread({ path: '/nonexistent-dir/cloud.db' });
    await expect(thread.start()).rejects.toThrow(/simulated cloud host thread: .*(directory|open)/i);
  });
});
