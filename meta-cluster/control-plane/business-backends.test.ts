import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../operators/runtime/client.js';
import { eventually, startTestServer, tempDir, type TestServer } from '../../test/helpers.js';
import { resources } from '../controllers/resources.js';
import { BusinessBackends } from './business-backends.js';

let server: TestServer;
let client: KubeClient;
const dir = tempDir('kok-business-');

beforeAll(async () => {
  server = await startTestServer();
  client = new KubeClient(server.kubeConfig);
});

afterAll(async () => {
  client?.close();
  await server?.destroy();
  dir.remove();
});

describe('BusinessBackends', () => {
  it('shares one backend per namespace, keeps its data, and removes it with the namespace', async () => {
    // Left behind by a namespace deleted while kok was down.
    mkdirSync(join(dir.path, 'business', 'gone'), { recursive: true });
    writeFileSync(join(dir.path, 'business', 'gone', 'state.db'), '');
    await client.create(resources.namespaces, undefined, { metadata: { name: 'cp-a' } });
    const backends = new BusinessBackends({ dataDir: dir.path, client });
    await backends.start();
    await backends.idle();
    expect(existsSync(join(dir.path, 'business', 'gone'))).toBe(false);

    const first = backends.acquire('cp-a');
    const second = backends.acquire('cp-a');
    expect(second.backend).toBe(first.backend);
    const configmaps = first.backend.registry.lookup('', 'v1', 'configmaps')!;
    first.backend.api.create(configmaps, 'default', { metadata: { name: 'kept' } });
    first.release();
    first.release(); // idempotent: the second pod still holds it
    expect(backends.isOpen('cp-a')).toBe(true);
    second.release();
    expect(backends.isOpen('cp-a')).toBe(false);

    const reopened = backends.acquire('cp-a');
    expect(reopened.backend.api.tryGet(configmaps, 'default', 'kept')).toBeTruthy();
    await client.delete(resources.namespaces, undefined, 'cp-a');
    await eventually(async () => (await client.list(resources.namespaces)).items.every((n) => n.metadata.name !== 'cp-a'), 10_000);
    // Deleted while a pod still holds the backend: the data goes once the last pod lets go.
    await backends.idle();
    expect(existsSync(join(dir.path, 'business', 'cp-a', 'state.db'))).toBe(true);
    reopened.release();
    await eventually(() => !existsSync(join(dir.path, 'business', 'cp-a')), 5_000);
    await backends.stop();
  });

  it('refuses a namespace name that is not a DNS label', () => {
    const backends = new BusinessBackends({ dataDir: dir.path, client });
    expect(() => backends.acquire('../etc')).toThrow('"../etc" is not a namespace name (a DNS label)');
  });
});
