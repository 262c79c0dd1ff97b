import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, startTestServer, type TestServer } from '../../test/helpers.js';
import { KubeClient, type KubeObject } from './client.js';
import { EventRecorder } from './events.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { createLogger } from './log.js';

const { configmaps, namespaces, events: eventsRef } = resources;
const logger = createLogger({ name: 'events-test', level: 'silent' });

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

async function configMap(name: string): Promise<KubeObject> {
  return client.create(configmaps, 'default', { metadata: { name } });
}

async function eventsAbout(obj: KubeObject, namespace = obj.metadata.namespace ?? 'default'): Promise<KubeObject[]> {
  const list = await client.list(eventsRef, namespace, { fieldSelector: `involvedObject.uid=${obj.metadata.uid}` });
  return list.items;
}

describe('EventRecorder', () => {
  it('aggregates two identical events into one with count 2, which kubectl describe shows', async () => {
    const recorder = new EventRecorder(client, { component: 'kok-test-operator', host: 'node-a', logger });
    const cm = await configMap('web');
    // Fired together, as a reconcile that does not await them would.
    await Promise.all([
      recorder.event(cm, 'Warning', 'ProvisionFailed', 'no capacity on target public-1'),
      recorder.event(cm, 'Warning', 'ProvisionFailed', 'no capacity on target public-1'),
    ]);

    const [event, ...others] = await eventsAbout(cm);
    expect(others).toHaveLength(0);
    expect(event).toMatchObject({
      metadata: { namespace: 'default' },
      involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'web', uid: cm.metadata.uid, resourceVersion: cm.metadata.resourceVersion },
      type: 'Warning',
      reason: 'ProvisionFailed',
      message: 'no capacity on target public-1',
      count: 2,
      source: { component: 'kok-test-operator', host: 'node-a' },
      reportingComponent: 'kok-test-operator',
    });
    expect(event!.metadata.name).toMatch(/^web\.[0-9a-f]{16}$/);
    expect(Date.parse(event!.lastTimestamp)).toBeGreaterThanOrEqual(Date.parse(event!.firstTimestamp));

    const described = await kubectl(server.kubeconfigPath, ['describe', 'configmap', 'web', '-n', 'default']);
    expect(described.code).toBe(0);
    const events = described.stdout.slice(described.stdout.indexOf('Events:'));
    expect(events).toMatch(/Warning\s+ProvisionFailed\s+.*\(x2 over .*\)\s+kok-test-operator\s+no capacity on target public-1/);
  });

  it('keeps different reasons and messages apart, and puts events of cluster-scoped objects in default', async () => {
    const recorder = new EventRecorder(client, { component: 'kok-test-operator', logger });
    const cm = await configMap('split');
    await recorder.event(cm, 'Normal', 'Scaled', 'to 3');
    await recorder.event(cm, 'Normal', 'Scaled', 'to 4');
    await recorder.event(cm, 'Warning', 'Scaled', 'to 4');
    const counts = (await eventsAbout(cm)).map((e) => `${e.type} ${e.message} x${e.count}`).sort();
    expect(counts).toEqual(['Normal to 3 x1', 'Normal to 4 x1', 'Warning to 4 x1']);

    const ns = await client.create(namespaces, undefined, { metadata: { name: 'fleet-events' } });
    await recorder.event(ns, 'Normal', 'Adopted', 'namespace adopted');
    const [event] = await eventsAbout(ns, 'default');
    expect(event).toMatchObject({ involvedObject: { kind: 'Namespace', name: 'fleet-events' }, count: 1 });
    expect(event!.involvedObject.namespace).toBeUndefined();
  });

  it('continues a series found on the server after a restart, and starts it over once the window passed', async () => {
    const cm = await configMap('restarted');
    await new EventRecorder(client, { component: 'c', logger }).event(cm, 'Normal', 'Synced', 'ok');
    // A new recorder remembers nothing; the deterministic name leads it to the same Event.
    await new EventRecorder(client, { component: 'c', logger }).event(cm, 'Normal', 'Synced', 'ok');
    expect((await eventsAbout(cm)).map((e) => e.count)).toEqual([2]);
    await new EventRecorder(client, { component: 'c', logger, seriesWindowMs: 0 }).event(cm, 'Normal', 'Synced', 'ok');
    expect((await eventsAbout(cm)).map((e) => e.count)).toEqual([1]);
  });

  it('drops and counts events beyond maxPending writes in flight', async () => {
    const recorder = new EventRecorder(client, { component: 'c', logger, maxPending: 2 });
    const cm = await configMap('flood');
    await Promise.all([1, 2, 3, 4, 5].map((i) => recorder.event(cm, 'Normal', 'Step', `step ${i}`)));
    expect(recorder.dropped).toBe(3);
    expect((await eventsAbout(cm)).map((e) => e.message).sort()).toEqual(['step 1', 'step 2']);
    // Once the writes are done, new events go through again.
    await recorder.event(cm, 'Normal', 'Step', 'step 6');
    expect(await eventsAbout(cm)).toHaveLength(3);
  });

  it('never rejects when the API server cannot be reached; it counts the failure', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    const unreachable = new KubeClient(kc);
    const recorder = new EventRecorder(unreachable, { component: 'c', logger });
    const cm = await configMap('lost');
    await expect(recorder.event(cm, 'Warning', 'Failed', 'x')).resolves.toBeUndefined();
    expect(recorder.failed).toBe(1);
    unreachable.close();
  });
});
