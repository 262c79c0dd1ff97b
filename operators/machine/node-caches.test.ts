import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestServer, type TestServer } from '../../test/helpers.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { KubeClient } from '../runtime/client.js';
import { labels } from './names.js';
import { NodeCaches } from './node-caches.js';

let server: TestServer;
let client: KubeClient;
beforeAll(async () => {
  server = await startTestServer();
  client = new KubeClient(server.kubeConfig);
});
afterAll(async () => {
  client.close();
  await server.destroy();
});

describe('NodeCaches', () => {
  it('wakes a Machine when its Node is Ready or changes, not when it registers not Ready yet', async () => {
    const woken: string[] = [];
    const caches = new NodeCaches({ onNode: (key) => woken.push(key) });
    try {
      await eventually(() => caches.get('fleet/biz', client, 'none') !== 'syncing');
      const node = (name: string) => ({ metadata: { name, labels: { [labels.machine]: name, [labels.machineNamespace]: 'fleet' } } });
      const ready = { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready' }] } };
      await client.create(resources.nodes, undefined, node('m-1'));
      await eventually(() => caches.get('fleet/biz', client, 'm-1') !== undefined);
      expect(woken).toEqual([]);

      await client.patch(resources.nodes, undefined, 'm-1', 'merge', ready, { sub: 'status' });
      await eventually(() => woken.length === 1);
      await client.create(resources.nodes, undefined, { ...node('m-2'), ...ready });
      await client.delete(resources.nodes, undefined, 'm-1');
      await eventually(() => woken.length === 3);
      expect(woken).toEqual(['fleet/m-1', 'fleet/m-2', 'fleet/m-1']);
    } finally {
      await caches.close();
    }
  });
});
