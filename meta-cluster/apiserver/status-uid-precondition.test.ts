/**
 * The node agent pins each pods/status write to the pod it read with `metadata.uid` in the patch
 * (as the kubelet does), so a status meant for a deleted pod never lands on a new namesake. This
 * checks the API server honours that precondition on the status subresource too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../operators/runtime/client.js';
import { startTestServer, type TestServer } from '../../test/helpers.js';
import { resources } from '../controllers/resources.js';

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

describe('uid precondition on pods/status', () => {
  it('rejects a status patch whose metadata.uid names another pod, and accepts the right one', async () => {
    const pod = await client.create(resources.pods, 'default', { metadata: { name: 'uid-pinned' }, spec: { containers: [{ name: 'a', image: 'x:1' }] } });
    const wrong = client.patch(resources.pods, 'default', 'uid-pinned', 'merge', { metadata: { uid: 'not-this-pod' }, status: { phase: 'Running' } }, { sub: 'status' });
    await expect(wrong).rejects.toMatchObject({ code: 409, message: expect.stringMatching(/Precondition failed: UID in precondition: not-this-pod/) });
    expect((await client.get(resources.pods, 'default', 'uid-pinned')).status.phase).toBe('Pending');
    const right = await client.patch(resources.pods, 'default', 'uid-pinned', 'merge', { metadata: { uid: pod.metadata.uid }, status: { phase: 'Running' } }, { sub: 'status' });
    expect(right.status.phase).toBe('Running');
  });

  it('rejects a status update (PUT) whose metadata.uid names another pod', async () => {
    const pod = await client.create(resources.pods, 'default', { metadata: { name: 'uid-pinned-put' }, spec: { containers: [{ name: 'a', image: 'x:1' }] } });
    const put = client.update(resources.pods, { ...pod, metadata: { ...pod.metadata, uid: 'not-this-pod' }, status: { phase: 'Running' } }, 'status');
    await expect(put).rejects.toMatchObject({ code: 409 });
  });
});
