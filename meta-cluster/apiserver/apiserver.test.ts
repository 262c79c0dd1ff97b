/**
 * The embedded API server driven through @kubernetes/client-node only, as kok's operators drive it:
 * typed CRUD, generation and resourceVersion rules, conflicts, custom resources, finalizers,
 * garbage collection, namespace termination and authentication.
 * Watch, informers, restarts and durability are in apiserver.watch.test.ts.
 */
import https from 'node:https';
import {
  ApiException,
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
  type V1Deployment,
  type V1OwnerReference,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestServer, type TestServer } from '../../test/helpers.js';

let server: TestServer;
let core: CoreV1Api;
let apps: AppsV1Api;
let custom: CustomObjectsApi;
let ext: ApiextensionsV1Api;
let objects: KubernetesObjectApi;

beforeAll(async () => {
  server = await startTestServer();
  core = server.kubeConfig.makeApiClient(CoreV1Api);
  apps = server.kubeConfig.makeApiClient(AppsV1Api);
  custom = server.kubeConfig.makeApiClient(CustomObjectsApi);
  ext = server.kubeConfig.makeApiClient(ApiextensionsV1Api);
  objects = KubernetesObjectApi.makeApiClient(server.kubeConfig);
});
afterAll(async () => {
  await server?.destroy();
});

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** The Status a failing call answered with. */
async function failure(call: Promise<unknown>): Promise<{ code: number; status: any }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body = err.body as unknown;
    return { code: err.code, status: typeof body === 'string' && body ? JSON.parse(body) : body };
  }
  throw new Error('expected the call to fail, it succeeded');
}

async function namespace(name: string): Promise<string> {
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

const rv = (o: { metadata?: { resourceVersion?: string } }) => Number(o.metadata?.resourceVersion);
const gone = async (read: () => Promise<unknown>) => (await failure(read())).code === 404;

function deployment(name: string, containers: Array<{ name: string; image: string }>): V1Deployment {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers } },
    },
  };
}

describe('typed CRUD', () => {
  it('creates, reads, replaces, patches, lists and deletes a configmap', async () => {
    const ns = await namespace('crud');
    const created = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'one', labels: { tier: 'a' } }, data: { a: '1' } },
    });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'two', labels: { tier: 'b' } } } });

    const got = await core.readNamespacedConfigMap({ name: 'one', namespace: ns });
    expect(got.data).toEqual({ a: '1' });
    expect(got.metadata?.uid).toBe(created.metadata?.uid);

    // uid and creationTimestamp cannot be changed by a write: a changed timestamp is ignored.
    const replaced = await core.replaceNamespacedConfigMap({
      name: 'one',
      namespace: ns,
      body: { ...got, data: { a: '2' }, metadata: { ...got.metadata, creationTimestamp: new Date('2001-01-01T00:00:00Z') } },
    });
    expect(replaced.data).toEqual({ a: '2' });
    expect(rv(replaced)).toBeGreaterThan(rv(got));
    expect(replaced.metadata?.uid).toBe(created.metadata?.uid);
    expect(replaced.metadata?.creationTimestamp?.getTime()).toBe(created.metadata?.creationTimestamp?.getTime());
    const otherUid = await failure(
      core.replaceNamespacedConfigMap({ name: 'one', namespace: ns, body: { ...replaced, metadata: { ...replaced.metadata, uid: '00000000-0000-0000-0000-000000000000' } } }),
    );
    expect(otherUid.code).toBe(409);
    expect(otherUid.status.message).toContain('Precondition failed: UID in precondition');

    const patched = await core.patchNamespacedConfigMap(
      { name: 'one', namespace: ns, body: { data: { b: '3' }, metadata: { labels: { extra: 'yes' } } } },
      merge,
    );
    expect(patched.data).toEqual({ a: '2', b: '3' });
    expect(patched.metadata?.labels).toEqual({ tier: 'a', extra: 'yes' });
    expect(rv(patched)).toBeGreaterThan(rv(replaced));

    const listed = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'tier=a' });
    expect(listed.items.map((c) => c.metadata?.name)).toEqual(['one']);
    expect(rv(listed)).toBeGreaterThanOrEqual(rv(patched));
    const notA = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'tier!=a' });
    expect(notA.items.map((c) => c.metadata?.name)).toEqual(['two']);

    const status = await core.deleteNamespacedConfigMap({ name: 'one', namespace: ns });
    expect(status.status).toBe('Success');
    expect((await failure(core.readNamespacedConfigMap({ name: 'one', namespace: ns }))).code).toBe(404);
    const again = await failure(core.deleteNamespacedConfigMap({ name: 'one', namespace: ns }));
    expect(again.code).toBe(404);
    expect(again.status).toMatchObject({ kind: 'Status', reason: 'NotFound', message: 'configmaps "one" not found' });
  });

  it('merges a deployment strategically by container name, and replaces lists with a merge patch', async () => {
    const ns = await namespace('deploy-patch');
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: deployment('web', [
        { name: 'app', image: 'app:1' },
        { name: 'sidecar', image: 'sidecar:1' },
      ]),
    });
    const images = (d: V1Deployment) => d.spec?.template.spec?.containers.map((c) => `${c.name}=${c.image}`);

    const smp = await apps.patchNamespacedDeployment(
      { name: 'web', namespace: ns, body: { spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'sidecar:2' }] } } } } },
      strategic,
    );
    expect(images(smp)).toEqual(['app=app:1', 'sidecar=sidecar:2']);

    const mp = await apps.patchNamespacedDeployment(
      { name: 'web', namespace: ns, body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'app:2' }] } } } } },
      merge,
    );
    expect(images(mp)).toEqual(['app=app:2']);

    const generic = await objects.patch(
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns }, spec: { replicas: 3 } },
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    expect((generic as V1Deployment).spec?.replicas).toBe(3);
    const read = await objects.read<V1Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns } });
    expect(images(read)).toEqual(['app=app:2']);
    expect(read.spec?.replicas).toBe(3);
  });

  it('bumps generation for spec changes only, never for status or metadata writes', async () => {
    const ns = await namespace('generation');
    const d0 = await apps.createNamespacedDeployment({ namespace: ns, body: deployment('gen', [{ name: 'app', image: 'app:1' }]) });
    expect(d0.metadata?.generation).toBe(1);

    const s = await apps.patchNamespacedDeploymentStatus({ name: 'gen', namespace: ns, body: { status: { observedGeneration: 1, replicas: 1 } } }, merge);
    expect(s.metadata?.generation).toBe(1);
    expect(s.status?.replicas).toBe(1);
    expect(rv(s)).toBeGreaterThan(rv(d0));

    // The main endpoint ignores status.
    const ignored = await apps.replaceNamespacedDeployment({ name: 'gen', namespace: ns, body: { ...s, status: { replicas: 99 } } });
    expect(ignored.status?.replicas).toBe(1);
    expect(ignored.metadata?.generation).toBe(1);

    const labelled = await apps.patchNamespacedDeployment({ name: 'gen', namespace: ns, body: { metadata: { labels: { touched: 'yes' } } } }, merge);
    expect(labelled.metadata?.generation).toBe(1);
    expect(rv(labelled)).toBeGreaterThan(rv(s));

    const scaled = await apps.patchNamespacedDeployment({ name: 'gen', namespace: ns, body: { spec: { replicas: 2 } } }, merge);
    expect(scaled.metadata?.generation).toBe(2);
    expect(rv(scaled)).toBeGreaterThan(rv(labelled));
    expect(scaled.metadata?.uid).toBe(d0.metadata?.uid);

    // A write that changes nothing stores nothing.
    const same = await apps.patchNamespacedDeployment({ name: 'gen', namespace: ns, body: { spec: { replicas: 2 } } }, merge);
    expect(rv(same)).toBe(rv(scaled));
  });

  it('answers 409 Conflict to a replace carrying a stale resourceVersion', async () => {
    const ns = await namespace('conflict');
    const v1 = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'c' }, data: { n: '1' } } });
    await core.replaceNamespacedConfigMap({ name: 'c', namespace: ns, body: { ...v1, data: { n: '2' } } });
    const stale = await failure(core.replaceNamespacedConfigMap({ name: 'c', namespace: ns, body: { ...v1, data: { n: '3' } } }));
    expect(stale.code).toBe(409);
    expect(stale.status).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Conflict',
      code: 409,
      message: 'Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your changes to the latest version and try again',
      details: { name: 'c', kind: 'configmaps' },
    });
    expect((await core.readNamespacedConfigMap({ name: 'c', namespace: ns })).data).toEqual({ n: '2' });
  });
});

describe('custom resources', () => {
  const group = 'example.com';
  const version = 'v1';
  const plural = 'widgets';

  beforeAll(async () => {
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `${plural}.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
          versions: [
            {
              name: version,
              served: true,
              storage: true,
              subresources: { status: {} },
              additionalPrinterColumns: [
                { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
                { name: 'Size', type: 'string', jsonPath: '.spec.size' },
              ],
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: {
                      type: 'object',
                      required: ['image'],
                      properties: {
                        image: { type: 'string' },
                        replicas: { type: 'integer', minimum: 1, maximum: 10, _default: 1 },
                        size: { type: 'string', _enum: ['small', 'large'], _default: 'small' },
                      },
                    },
                    status: { type: 'object', properties: { ready: { type: 'boolean' } } },
                  },
                },
              },
            },
          ],
        },
      },
    });
    await eventually(async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `${plural}.${group}` });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
    await namespace('widgets');
  });

  const widget = (name: string, spec: Record<string, unknown>, labels?: Record<string, string>) => ({
    apiVersion: `${group}/${version}`,
    kind: 'Widget',
    metadata: { name, labels },
    spec,
  });
  const create = (body: unknown, fieldValidation?: string) =>
    custom.createNamespacedCustomObject({ group, version, namespace: 'widgets', plural, body, fieldValidation });
  const get = (name: string) => custom.getNamespacedCustomObject({ group, version, namespace: 'widgets', plural, name });

  it('creates, reads, patches, lists and deletes custom objects, with defaults applied', async () => {
    const w = await create(widget('w1', { image: 'nginx' }, { team: 'x' }));
    expect(w.spec).toEqual({ image: 'nginx', replicas: 1, size: 'small' });
    expect(w.metadata.generation).toBe(1);
    await create(widget('w2', { image: 'redis', size: 'large' }, { team: 'y' }));

    const patched = await custom.patchNamespacedCustomObject(
      { group, version, namespace: 'widgets', plural, name: 'w1', body: { spec: { replicas: 3 } } },
      merge,
    );
    expect(patched.spec.replicas).toBe(3);
    expect(patched.metadata.generation).toBe(2);

    const status = await custom.patchNamespacedCustomObjectStatus(
      { group, version, namespace: 'widgets', plural, name: 'w1', body: { status: { ready: true } } },
      merge,
    );
    expect(status.status).toEqual({ ready: true });
    expect(status.metadata.generation).toBe(2);
    // The main endpoint ignores status.
    const ignored = await custom.patchNamespacedCustomObject(
      { group, version, namespace: 'widgets', plural, name: 'w1', body: { status: { ready: false } } },
      merge,
    );
    expect(ignored.status).toEqual({ ready: true });

    const listed = await custom.listNamespacedCustomObject({ group, version, namespace: 'widgets', plural, labelSelector: 'team=x' });
    expect(listed.items.map((i: any) => i.metadata.name)).toEqual(['w1']);
    expect(Number(listed.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(status.metadata.resourceVersion));

    const table = await custom.getNamespacedCustomObject(
      { group, version, namespace: 'widgets', plural, name: 'w1' },
      setHeaderOptions('Accept', 'application/json;as=Table;v=v1;g=meta.k8s.io'),
    );
    expect(table.kind).toBe('Table');
    expect(table.columnDefinitions.map((c: any) => c.name)).toEqual(['Name', 'Replicas', 'Size', 'Age']);
    expect(table.rows[0].cells.slice(0, 3)).toEqual(['w1', 3, 'small']);

    await custom.deleteNamespacedCustomObject({ group, version, namespace: 'widgets', plural, name: 'w1' });
    expect(await gone(() => get('w1'))).toBe(true);
    expect((await get('w2')).spec.size).toBe('large');
  });

  it('rejects a schema violation with 422 naming the field', async () => {
    const res = await failure(create(widget('bad', { image: 'x', replicas: 20 })));
    expect(res.code).toBe(422);
    expect(res.status.reason).toBe('Invalid');
    expect(res.status.message).toContain('spec.replicas');
    expect(res.status.details.causes).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: 'spec.replicas', reason: 'FieldValueInvalid' })]),
    );
    const missing = await failure(create(widget('bad', { replicas: 2 })));
    expect(missing.code).toBe(422);
    expect(missing.status.details.causes).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: 'spec.image', reason: 'FieldValueRequired' })]),
    );
    expect(await gone(() => get('bad'))).toBe(true);
  });

  it('rejects unknown fields under Strict validation and prunes them under Ignore', async () => {
    const strict = await failure(create(widget('strict', { image: 'x', foo: 1 }), 'Strict'));
    expect(strict.code).toBe(400);
    expect(strict.status.reason).toBe('BadRequest');
    expect(strict.status.message).toBe('strict decoding error: unknown field "spec.foo"');
    expect(await gone(() => get('strict'))).toBe(true);

    const ignored = await create(widget('lenient', { image: 'x', foo: 1 }), 'Ignore');
    expect(ignored.spec).toEqual({ image: 'x', replicas: 1, size: 'small' });
    expect((await get('lenient')).spec).not.toHaveProperty('foo');
  });
});

describe('deletion', () => {
  const hold = 'example.com/hold';

  it('holds an object with finalizers until the last one is removed', async () => {
    const ns = await namespace('finalizers');
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'held', finalizers: [hold] } } });
    await core.deleteNamespacedConfigMap({ name: 'held', namespace: ns });

    const deleting = await core.readNamespacedConfigMap({ name: 'held', namespace: ns });
    expect(deleting.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(deleting.metadata?.finalizers).toEqual([hold]);

    const added = await failure(
      core.patchNamespacedConfigMap({ name: 'held', namespace: ns, body: { metadata: { finalizers: [hold, 'example.com/more'] } } }, merge),
    );
    expect(added.code).toBe(422);
    expect(added.status.message).toContain('no new finalizers can be added if the object is being deleted');

    await core.patchNamespacedConfigMap({ name: 'held', namespace: ns, body: { metadata: { finalizers: null } } }, merge);
    expect(await gone(() => core.readNamespacedConfigMap({ name: 'held', namespace: ns }))).toBe(true);
  });

  /** An owner and dependents that name it in ownerReferences. */
  async function family(ns: string, dependentFinalizers: string[] = []) {
    const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' } } });
    const ref: V1OwnerReference = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! };
    const deps: V1ConfigMap[] = [];
    for (const name of ['dep-a', 'dep-b']) {
      deps.push(
        await core.createNamespacedConfigMap({
          namespace: ns,
          body: { metadata: { name, ownerReferences: [ref], finalizers: name === 'dep-a' ? dependentFinalizers : [] } },
        }),
      );
    }
    return { owner, deps };
  }
  const read = (ns: string, name: string) => core.readNamespacedConfigMap({ name, namespace: ns });

  it('Background: removes the owner now and its dependents soon after', async () => {
    const ns = await namespace('gc-background');
    await family(ns);
    // A deployment owning a configmap is collected the same way.
    const d = await apps.createNamespacedDeployment({ namespace: ns, body: deployment('boss', [{ name: 'app', image: 'app:1' }]) });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'boss-config', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'boss', uid: d.metadata!.uid! }] } },
    });

    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns, propagationPolicy: 'Background' });
    await apps.deleteNamespacedDeployment({ name: 'boss', namespace: ns, propagationPolicy: 'Background' });
    expect(await gone(() => read(ns, 'owner'))).toBe(true);
    expect(await gone(() => apps.readNamespacedDeployment({ name: 'boss', namespace: ns }))).toBe(true);
    await eventually(async () => (await core.listNamespacedConfigMap({ namespace: ns })).items.length === 0);
  });

  it('Foreground: keeps the owner with foregroundDeletion until its dependents are gone', async () => {
    const ns = await namespace('gc-foreground');
    await family(ns, [hold]);
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns, propagationPolicy: 'Foreground' });

    const owner = await read(ns, 'owner');
    expect(owner.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(owner.metadata?.finalizers).toContain('foregroundDeletion');
    // dep-b goes; dep-a is held by its own finalizer, and so holds the owner.
    await eventually(() => gone(() => read(ns, 'dep-b')));
    const depA = await read(ns, 'dep-a');
    expect(depA.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect((await read(ns, 'owner')).metadata?.finalizers).toContain('foregroundDeletion');

    await core.patchNamespacedConfigMap({ name: 'dep-a', namespace: ns, body: { metadata: { finalizers: null } } }, merge);
    await eventually(() => gone(() => read(ns, 'owner')));
    expect(await gone(() => read(ns, 'dep-a'))).toBe(true);
  });

  it('Orphan: deletes the owner and leaves dependents without the owner reference', async () => {
    const ns = await namespace('gc-orphan');
    const { deps } = await family(ns);
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns, propagationPolicy: 'Orphan' });
    await eventually(() => gone(() => read(ns, 'owner')));
    for (const d of deps) {
      const left = await read(ns, d.metadata!.name!);
      expect(left.metadata?.uid).toBe(d.metadata?.uid);
      expect(left.metadata?.ownerReferences ?? []).toEqual([]);
      expect(left.metadata?.deletionTimestamp).toBeUndefined();
    }
  });

  it('terminates a namespace: Terminating, contents deleted, then gone', async () => {
    const ns = await namespace('doomed');
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'plain' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'held', finalizers: [hold] } } });
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', [{ name: 'app', image: 'app:1' }]) });

    await core.deleteNamespace({ name: ns });
    const terminating = await core.readNamespace({ name: ns });
    expect(terminating.status?.phase).toBe('Terminating');
    expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);

    await eventually(async () => (await apps.listNamespacedDeployment({ namespace: ns })).items.length === 0);
    await eventually(() => gone(() => read(ns, 'plain')));
    const forbidden = await failure(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'late' } } }));
    expect(forbidden.code).toBe(403);
    expect(forbidden.status.reason).toBe('Forbidden');
    expect(forbidden.status.message).toContain('because it is being terminated');
    expect((await core.readNamespace({ name: ns })).status?.phase).toBe('Terminating');

    // The last object's finalizer goes: the namespace follows.
    await core.patchNamespacedConfigMap({ name: 'held', namespace: ns, body: { metadata: { finalizers: null } } }, merge);
    await eventually(() => gone(() => core.readNamespace({ name: ns })));

    const missing = await failure(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'late' } } }));
    expect(missing.code).toBe(404);
    expect(missing.status.reason).toBe('NotFound');
  });

  it('refuses to delete the default namespace', async () => {
    const res = await failure(core.deleteNamespace({ name: 'default' }));
    expect(res.code).toBe(403);
    expect(res.status.reason).toBe('Forbidden');
    expect((await core.readNamespace({ name: 'default' })).metadata?.deletionTimestamp).toBeUndefined();
  });
});

describe('authentication', () => {
  /** A raw request trusting only the CA from the kubeconfig. */
  function get(path: string, token?: string): Promise<{ code: number; type?: string; body: any }> {
    const cluster = server.kubeConfig.getCurrentCluster()!;
    const ca = Buffer.from(cluster.caData!, 'base64');
    const url = new URL(cluster.server);
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: url.hostname, port: url.port, path, ca, headers: token ? { Authorization: `Bearer ${token}` } : {} },
        (res) => {
          let data = '';
          res.on('data', (d) => (data += d));
          res.on('end', () => resolve({ code: res.statusCode!, type: res.headers['content-type'], body: JSON.parse(data) }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('answers 401 Unauthorized without a token or with a wrong one', async () => {
    for (const token of [undefined, 'not-the-token']) {
      const res = await get('/api/v1/namespaces', token);
      expect(res.code).toBe(401);
      expect(res.type).toBe('application/json');
      expect(res.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    }
    const ok = await get('/api/v1/namespaces', server.kubeConfig.getCurrentUser()!.token);
    expect(ok.code).toBe(200);
    expect(ok.body.kind).toBe('NamespaceList');
  });
});
