/**
 * The embedded API server's pods/binding and pods/eviction as the scheduler and drain use them,
 * over HTTP with a JSON body (regression: the handlers once received the unparsed body).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient } from '../../operators/runtime/client.js';
import { startTestServer } from '../../test/helpers.js';
import { resources } from '../controllers/resources.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup() {
  const server = await startTestServer();
  cleanup.push(() => server.destroy());
  const client = new KubeClient(server.kubeConfig);
  cleanup.push(() => client.close());
  const pod = await client.create(resources.pods, 'default', {
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  });
  return { client, pod };
}

const binding = (node: string) => ({
  apiVersion: 'v1',
  kind: 'Binding',
  metadata: { name: 'p' },
  target: { apiVersion: 'v1', kind: 'Node', name: node },
});

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as KubeApiError);

describe('pods/binding over HTTP', () => {
  it('sets spec.nodeName and PodScheduled=True, once', async () => {
    const { client } = await setup();
    const status = await client.createSub(resources.pods, 'default', 'p', 'binding', binding('n1'));
    expect(status).toMatchObject({ kind: 'Status', status: 'Success' });
    const pod = await client.get(resources.pods, 'default', 'p');
    expect(pod.spec.nodeName).toBe('n1');
    expect(pod.status.conditions).toContainEqual(expect.objectContaining({ type: 'PodScheduled', status: 'True' }));
    const again = await failure(client.createSub(resources.pods, 'default', 'p', 'binding', binding('n2')));
    expect(again).toMatchObject({ code: 409, reason: 'Conflict' });
    expect((await client.get(resources.pods, 'default', 'p')).spec.nodeName).toBe('n1');
  });

  it('rejects a binding without a target', async () => {
    const { client } = await setup();
    const err = await failure(client.createSub(resources.pods, 'default', 'p', 'binding', { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' } }));
    expect(err).toMatchObject({ code: 400 });
  });
});

describe('pods/eviction over HTTP', () => {
  it('honours deleteOptions preconditions', async () => {
    const { client } = await setup();
    const eviction = (uid: string) => ({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'p', namespace: 'default' },
      deleteOptions: { preconditions: { uid } },
    });
    const err = await failure(client.createSub(resources.pods, 'default', 'p', 'eviction', eviction('not-the-uid')));
    expect(err).toMatchObject({ code: 409 });
    expect((await client.get(resources.pods, 'default', 'p')).metadata.name).toBe('p');
  });
});
