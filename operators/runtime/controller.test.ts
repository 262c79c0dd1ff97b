import { afterEach, describe, expect, it } from 'vitest';
import { eventually, startTestServer } from '../../test/helpers.js';
import { KubeClient } from './client.js';
import { beyondStatus, Controller } from './controller.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { Informer } from './informer.js';

const configmaps = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('Controller.watch', () => {
  it('with coalesceMs, a burst of changes to many objects costs one reconcile of their root', async () => {
    const s = await startTestServer();
    cleanup.push(() => s.destroy());
    const client = new KubeClient(s.kubeConfig);
    cleanup.push(() => client.close());
    const informer = new Informer({ client, resource: configmaps, namespace: 'default' });
    const reconciled: string[] = [];
    const controller = new Controller({
      name: 'sum',
      reconcile: async (key) => {
        reconciled.push(key);
      },
    });
    // Every ConfigMap maps to the root "sum"; events wait 1 s and share one pending enqueue.
    controller.watch(informer, () => ['sum'], { coalesceMs: 1_000 });
    await controller.start();
    cleanup.push(() => controller.stop());

    await Promise.all(Array.from({ length: 20 }, (_, i) => client.create(configmaps, 'default', { metadata: { name: `cm-${i}` }, data: { v: '1' } })));
    await eventually(() => informer.list().length === 20);
    await eventually(() => reconciled.length >= 1);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(reconciled).toEqual(['sum']);

    // Without coalescing every event enqueues at once: the same burst reconciles more than once.
    const eager: string[] = [];
    const informer2 = new Informer({ client, resource: configmaps, namespace: 'default' });
    const plain = new Controller({
      name: 'eager',
      reconcile: async (key) => {
        eager.push(key);
        await new Promise((r) => setTimeout(r, 20));
      },
    });
    plain.watch(informer2, () => ['sum']);
    await plain.start();
    cleanup.push(() => plain.stop());
    await eventually(() => eager.length >= 1);
    await Promise.all(Array.from({ length: 20 }, (_, i) => client.patch(configmaps, 'default', `cm-${i}`, 'merge', { data: { v: '2' } })));
    await eventually(() => eager.length >= 2);
    expect(eager.length).toBeGreaterThan(1);
  });

  it('with update: beyondStatus, an object\'s own status write does not reconcile it again; spec and metadata changes do', async () => {
    const s = await startTestServer();
    cleanup.push(() => s.destroy());
    const client = new KubeClient(s.kubeConfig);
    cleanup.push(() => client.close());
    const informer = new Informer({ client, resource: resources.deployments, namespace: 'default' });
    const reconciled: string[] = [];
    const controller = new Controller({ name: 'status-writer', reconcile: async (key) => void reconciled.push(key) });
    controller.watch(informer, undefined, { update: beyondStatus });
    await controller.start();
    cleanup.push(() => controller.stop());

    const labels = { app: 'web' };
    const template = { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx' }] } };
    await client.create(resources.deployments, 'default', { metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: labels }, template } });
    await eventually(() => reconciled.length === 1);

    await client.patch(resources.deployments, 'default', 'web', 'merge', { status: { observedGeneration: 1, replicas: 0 } }, { sub: 'status' });
    await eventually(() => informer.get('default', 'web')?.status?.observedGeneration === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(reconciled).toHaveLength(1);

    await client.patch(resources.deployments, 'default', 'web', 'merge', { metadata: { annotations: { note: 'x' } } });
    await eventually(() => reconciled.length === 2);
    await client.patch(resources.deployments, 'default', 'web', 'merge', { spec: { replicas: 2 } });
    await eventually(() => reconciled.length === 3);
    expect(reconciled).toEqual(['default/web', 'default/web', 'default/web']);
  });
});
