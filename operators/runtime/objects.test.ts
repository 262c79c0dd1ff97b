import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers.js';
import { isConflict, isNotFound, KubeClient, type KubeObject } from './client.js';
import { addFinalizer, controllerOf, controllerRef, hasFinalizer, isControlledBy, removeFinalizer, withFinalizer, withoutFinalizer } from './objects.js';
import { resources } from '../../meta-cluster/controllers/resources.js';

const F = 'fleet.kok.dev/cluster';
const obj = (finalizers?: string[], extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion: 'fleet.kok.dev/v1alpha1',
  kind: 'Cluster',
  metadata: { name: 'pay', namespace: 'fleet', uid: 'u-1', ...(finalizers ? { finalizers } : {}), ...extra },
});

describe('finalizer lists', () => {
  it.each([
    { name: 'no list', finalizers: undefined, has: false, added: [F], removed: [] },
    { name: 'empty list', finalizers: [], has: false, added: [F], removed: [] },
    { name: 'others only', finalizers: ['a/x'], has: false, added: ['a/x', F], removed: ['a/x'] },
    { name: 'present among others', finalizers: ['a/x', F, 'b/y'], has: true, added: ['a/x', F, 'b/y'], removed: ['a/x', 'b/y'] },
  ])('$name', ({ finalizers, has, added, removed }) => {
    const o = obj(finalizers);
    expect(hasFinalizer(o, F)).toBe(has);
    expect(withFinalizer(o, F)).toEqual(added);
    expect(withoutFinalizer(o, F)).toEqual(removed);
    // The object itself is never changed.
    expect(o.metadata.finalizers).toEqual(finalizers);
    if (finalizers) expect(withFinalizer(o, F)).not.toBe(finalizers);
  });
});

describe('owner references', () => {
  it('builds a controller reference that blocks owner deletion', () => {
    expect(controllerRef(obj())).toEqual({ apiVersion: 'fleet.kok.dev/v1alpha1', kind: 'Cluster', name: 'pay', uid: 'u-1', controller: true, blockOwnerDeletion: true });
    const fromList: KubeObject = { metadata: { name: 'web', namespace: 'd', uid: 'u-9' } };
    expect(controllerRef(fromList, { apiVersion: 'apps/v1', kind: 'Deployment' })).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', uid: 'u-9' });
  });

  it.each([
    { name: 'no uid', owner: obj(undefined, { uid: undefined }), error: /owner Cluster fleet\/pay has no metadata.uid/ },
    { name: 'no kind', owner: { apiVersion: 'v1', metadata: { name: 'x', uid: 'u' } } as KubeObject, error: /has no kind/ },
  ])('refuses an owner with $name', ({ owner, error }) => {
    expect(() => controllerRef(owner)).toThrow(error);
  });

  const owner = obj();
  const ref = controllerRef(owner);
  it.each([
    { name: 'controlled by the owner', refs: [ref], controlled: true },
    { name: 'owned but not controlled', refs: [{ ...ref, controller: false }], controlled: false },
    { name: 'controlled by a re-created owner of the same name', refs: [{ ...ref, uid: 'u-2' }], controlled: false },
    { name: 'controlled among other owners', refs: [{ ...ref, uid: 'u-0', controller: false }, ref], controlled: true },
    { name: 'no owners', refs: undefined, controlled: false },
  ])('isControlledBy: $name', ({ refs, controlled }) => {
    const child: KubeObject = { metadata: { name: 'pay-etcd', ...(refs ? { ownerReferences: refs } : {}) } };
    expect(isControlledBy(child, owner)).toBe(controlled);
    expect(controllerOf(child)?.uid === 'u-1').toBe(controlled);
  });
});

describe('addFinalizer / removeFinalizer against the API server', () => {
  const { configmaps } = resources;
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
  const stored = (name: string) => client.get(configmaps, 'default', name);
  const create = (name: string, finalizers?: string[]) => client.create(configmaps, 'default', { metadata: { name, ...(finalizers ? { finalizers } : {}) } });

  it('adds to an object without finalizers and to one with others, once', async () => {
    const bare = await create('bare');
    const added = await addFinalizer(client, configmaps, bare, F);
    expect((await stored('bare')).metadata.finalizers).toEqual([F]);
    // Adding again writes nothing.
    expect(await addFinalizer(client, configmaps, added, F)).toBe(added);
    expect((await stored('bare')).metadata.resourceVersion).toBe(added.metadata.resourceVersion);

    const shared = await create('shared', ['other.io/keep']);
    await addFinalizer(client, configmaps, shared, F);
    expect((await stored('shared')).metadata.finalizers).toEqual(['other.io/keep', F]);
  });

  it('gets 409 from a stale object and leaves the finalizer another writer added', async () => {
    const stale = await create('stale-add');
    await client.patch(configmaps, 'default', 'stale-add', 'merge', { metadata: { finalizers: ['other.io/keep'] } });
    // The stale copy has no finalizer list: an unpinned patch would replace the whole list.
    const err = await addFinalizer(client, configmaps, stale, F).catch((e: unknown) => e);
    expect(isConflict(err)).toBe(true);
    expect((await stored('stale-add')).metadata.finalizers).toEqual(['other.io/keep']);
  });

  it('removes only its own finalizer, and gets 409 when the list moved under a stale copy', async () => {
    const obj = await create('remove', ['a.io/x', F, 'b.io/y']);
    await removeFinalizer(client, configmaps, obj, F);
    expect((await stored('remove')).metadata.finalizers).toEqual(['a.io/x', 'b.io/y']);

    const stale = await create('stale-remove', ['a.io/x', F]);
    await client.patch(configmaps, 'default', 'stale-remove', 'json', [{ op: 'remove', path: '/metadata/finalizers/0' }]);
    // The stale copy still lists a.io/x: writing its list unpinned would bring back a finalizer its owner removed.
    const err = await removeFinalizer(client, configmaps, stale, F).catch((e: unknown) => e);
    expect(isConflict(err)).toBe(true);
    expect((await stored('stale-remove')).metadata.finalizers).toEqual([F]);
  });

  it('lets a deleting object go once its last finalizer is removed', async () => {
    await create('deleting', [F]);
    await client.delete(configmaps, 'default', 'deleting');
    const deleting = await stored('deleting');
    expect(deleting.metadata.deletionTimestamp).toBeTruthy();
    await removeFinalizer(client, configmaps, deleting, F);
    const err = await stored('deleting').catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
  });
});
