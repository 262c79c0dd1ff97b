import { describe, expect, it } from 'vitest';
import { BEFORE_FIRST_APPLY, recordUpdate, serverSideApply, type FieldsV1, type ManagedFieldsEntry } from './apply.js';
import { ApiError } from './errors.js';
import type { KubeObject } from './types.js';

const t0 = new Date('2024-05-01T10:00:00.123Z');
const t1 = new Date('2024-05-01T11:00:00Z');

interface Container {
  name: string;
  image?: string;
  args?: string[];
  resources?: unknown;
}
type Deployment = KubeObject & {
  spec: { replicas?: number; template: { spec: { containers: Container[] } }; [k: string]: unknown };
};

/** The YAML a user keeps in git, as kubectl apply --server-side sends it. */
function config(containers: Container[] = [{ name: 'web', image: 'web:1', args: ['--port', '80'] }, { name: 'sidecar', image: 'proxy:1' }]) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers } },
    },
  };
}

/** What the server adds on create; never owned by anyone. */
function stored(obj: KubeObject): Deployment {
  const o = structuredClone(obj) as Deployment;
  Object.assign(o.metadata, { uid: 'u-1', resourceVersion: '7', generation: 1, creationTimestamp: '2024-05-01T09:00:00Z' });
  return o;
}

const apply = (live: KubeObject | undefined, applied: unknown, manager: string, extra: { force?: boolean; now?: Date } = {}) =>
  serverSideApply({ live, applied, manager, kind: 'Deployment', now: extra.now ?? t0, force: extra.force ?? false });

const entries = (o: KubeObject) => (o.metadata.managedFields ?? []) as ManagedFieldsEntry[];
const entry = (o: KubeObject, manager: string, operation = 'Apply') => entries(o).find((e) => e.manager === manager && e.operation === operation);
/** Follows FieldsV1 path elements; undefined when not there. */
const at = (f: FieldsV1 | undefined, ...els: string[]) => els.reduce<FieldsV1 | undefined>((n, el) => n?.[el], f);

function apiErrorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error('expected an ApiError, got none');
}

describe('serverSideApply: create', () => {
  it('creates the applied object and records ownership in the FieldsV1 encoding', () => {
    const { object, conflicts } = apply(undefined, config(), 'kubectl');
    expect(conflicts).toBeUndefined();
    expect((object as Deployment).spec).toEqual(config().spec);
    expect(entries(object)).toHaveLength(1);
    const e = entries(object)[0]!;
    expect(e).toMatchObject({ manager: 'kubectl', operation: 'Apply', apiVersion: 'apps/v1', time: '2024-05-01T10:00:00Z', fieldsType: 'FieldsV1' });
    expect(e.fieldsV1).toEqual({
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:selector': {}, // LabelSelector is atomic
        'f:template': {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': {
            'f:containers': {
              'k:{"name":"sidecar"}': { '.': {}, 'f:image': {}, 'f:name': {} },
              'k:{"name":"web"}': { '.': {}, 'f:args': {}, 'f:image': {}, 'f:name': {} },
            },
          },
        },
      },
    });
    // Serialised like upstream: "." first, then sorted path elements.
    const containers = at(e.fieldsV1, 'f:spec', 'f:template', 'f:spec', 'f:containers')!;
    expect(Object.keys(containers)).toEqual(['k:{"name":"sidecar"}', 'k:{"name":"web"}']);
    expect(Object.keys(containers['k:{"name":"web"}']!)).toEqual(['.', 'f:args', 'f:image', 'f:name']);
  });

  it('never owns status, name, namespace or server-set metadata; sets are v: elements', () => {
    const cfg = { ...config(), status: { replicas: 9 }, metadata: { ...config().metadata, uid: 'x', finalizers: ['example.com/f'] } };
    const f = entries(apply(undefined, cfg, 'kubectl').object)[0]!.fieldsV1;
    expect(f).not.toHaveProperty('f:status');
    expect(f).not.toHaveProperty('f:apiVersion');
    expect(Object.keys(f['f:metadata']!).sort()).toEqual(['f:finalizers', 'f:labels']);
    expect(at(f, 'f:metadata', 'f:finalizers')).toEqual({ 'v:"example.com/f"': {} });
  });

  it('treats the lists of a custom resource as atomic', () => {
    const cr = { apiVersion: 'x.io/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { containers: [{ name: 'a' }] } };
    const { object } = serverSideApply({ live: undefined, applied: cr, manager: 'm', kind: 'Widget', custom: true, now: t0 });
    expect(entries(object)[0]!.fieldsV1).toEqual({ 'f:spec': { 'f:containers': {} } });
  });

  it('rejects what upstream rejects', () => {
    const mf = apiErrorOf(() => apply(undefined, { ...config(), metadata: { name: 'web', managedFields: [] } }, 'kubectl'));
    expect([mf.code, mf.message]).toEqual([400, 'metadata.managedFields must be nil']);
    const noManager = apiErrorOf(() => apply(undefined, config(), ''));
    expect(noManager.code).toBe(422);
    expect(noManager.message).toBe('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    const noKey = apiErrorOf(() => apply(undefined, config([{ image: 'x' } as Container]), 'kubectl'));
    expect(noKey.code).toBe(400);
    expect(noKey.message).toContain('.spec.template.spec.containers: element 0: associative list with keys has an element that omits key field "name"');
  });
});

describe('serverSideApply: re-apply', () => {
  it('changing an image keeps fields and list items owned by others in place', () => {
    let live = stored(apply(undefined, config(), 'kubectl').object);
    // An autoscaler-like writer adds resources to the web container and a third container.
    const edited = structuredClone(live);
    edited.spec.template.spec.containers[0]!.resources = { requests: { cpu: '100m' } };
    edited.spec.template.spec.containers.splice(1, 0, { name: 'injected', image: 'mesh:1' });
    live = recordUpdate(live, edited, 'injector', 'Update', 'apps/v1', t0) as Deployment;

    const next = config();
    next.spec.template.spec.containers[0]!.image = 'web:2';
    const { object } = apply(live, next, 'kubectl', { now: t1 });
    const containers = (object as Deployment).spec.template.spec.containers;
    expect(containers.map((c) => c.name)).toEqual(['web', 'injected', 'sidecar']);
    expect(containers[0]).toEqual({ name: 'web', image: 'web:2', args: ['--port', '80'], resources: { requests: { cpu: '100m' } } });
    expect(entry(object, 'kubectl')!.time).toBe('2024-05-01T11:00:00Z');
    expect(at(entry(object, 'injector', 'Update')!.fieldsV1, 'f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"injected"}')).toBeDefined();
  });

  it('removes fields and items this manager dropped from its config, unless someone else owns them', () => {
    const live = stored(apply(undefined, config(), 'kubectl').object);
    // "platform" applies labels only.
    const labelsOnly = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default', labels: { app: 'web', team: 'a' } } };
    const shared = stored(apply(live, labelsOnly, 'platform').object);

    // Drop the labels map, the sidecar and web's args.
    const next = config([{ name: 'web', image: 'web:1' }]);
    const trimmed = { ...next, metadata: { name: 'web', namespace: 'default' } };
    const { object } = apply(shared, trimmed, 'kubectl', { now: t1 });
    const o = object as Deployment;
    expect(o.spec.template.spec.containers).toEqual([{ name: 'web', image: 'web:1' }]);
    // app was co-owned by "platform" (it applied the same value), team only by "platform".
    expect(o.metadata.labels).toEqual({ app: 'web', team: 'a' });
    const mine = entry(object, 'kubectl')!.fieldsV1;
    expect(mine).not.toHaveProperty('f:metadata');
    expect(Object.keys(at(mine, 'f:spec', 'f:template', 'f:spec', 'f:containers')!)).toEqual(['k:{"name":"web"}']);

    // Once the other owner drops them as well, the labels go, and the empty map with them.
    const gone = apply(stored(object), { ...trimmed, spec: { replicas: 2 } }, 'platform').object;
    expect(gone.metadata).not.toHaveProperty('labels');
    expect(entry(gone, 'platform')!.fieldsV1).toEqual({ 'f:spec': { 'f:replicas': {} } });
  });

  it('keeps the time of a re-apply that changed nothing', () => {
    const live = stored(apply(undefined, config(), 'kubectl').object);
    const again = apply(live, config(), 'kubectl', { now: t1 }).object;
    expect(entry(again, 'kubectl')!.time).toBe('2024-05-01T10:00:00Z');
    expect((again as Deployment).spec).toEqual(live.spec);
  });
});

describe('serverSideApply: conflicts', () => {
  const createdByClientSideApply = () => {
    const obj = stored({ ...config(), spec: { ...config().spec, replicas: 3 } } as KubeObject);
    return recordUpdate(undefined, obj, 'kubectl-client-side-apply', 'Update', 'apps/v1', t0) as Deployment;
  };

  it('a different value for a field another manager owns is a 409 worded like kube-apiserver', () => {
    const err = apiErrorOf(() => apply(createdByClientSideApply(), { ...config(), spec: { replicas: 5 } }, 'deployer'));
    expect(err.code).toBe(409);
    expect(err.reason).toBe('Conflict');
    expect(err.message).toBe('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
    expect(err.details?.causes).toEqual([
      { reason: 'FieldManagerConflict', message: 'conflict with "kubectl-client-side-apply" using apps/v1', field: '.spec.replicas' },
    ]);
  });

  it('the same value is no conflict: ownership is shared', () => {
    const { object } = apply(createdByClientSideApply(), { ...config(), spec: { replicas: 3 } }, 'deployer');
    expect(at(entry(object, 'deployer')!.fieldsV1, 'f:spec', 'f:replicas')).toEqual({});
    expect(at(entry(object, 'kubectl-client-side-apply', 'Update')!.fieldsV1, 'f:spec', 'f:replicas')).toEqual({});
  });

  it('force takes the field over and reports what it overrode', () => {
    const { object, conflicts } = apply(createdByClientSideApply(), { ...config(), spec: { replicas: 5 } }, 'deployer', { force: true });
    expect((object as Deployment).spec.replicas).toBe(5);
    expect(conflicts).toEqual([{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'apps/v1', field: '.spec.replicas' }]);
    const previous = entry(object, 'kubectl-client-side-apply', 'Update')!.fieldsV1;
    expect(at(previous, 'f:spec', 'f:replicas')).toBeUndefined();
    expect(at(previous, 'f:spec', 'f:selector')).toEqual({});
    // Upstream order: Apply entries before Update entries.
    expect(entries(object).map((e) => e.operation)).toEqual(['Apply', 'Update']);
  });

  it('names keyed list items and groups several conflicts by manager', () => {
    const live = stored(apply(undefined, config(), 'a').object);
    const one = apiErrorOf(() => apply(live, config([{ name: 'web', image: 'web:2' }]), 'b'));
    expect(one.message).toBe('Apply failed with 1 conflict: conflict with "a": .spec.template.spec.containers[name="web"].image');

    const two = apiErrorOf(() => apply(live, { ...config([{ name: 'web', image: 'web:2' }]), spec: { ...config().spec, replicas: 4, template: config([{ name: 'web', image: 'web:2' }]).spec.template } }, 'b'));
    expect(two.message).toBe(
      'Apply failed with 2 conflicts: conflicts with "a":\n- .spec.replicas\n- .spec.template.spec.containers[name="web"].image',
    );
  });

  it('an object without managedFields belongs to before-first-apply', () => {
    const live = stored({ ...config(), spec: { ...config().spec, replicas: 3 } } as KubeObject);
    const err = apiErrorOf(() => apply(live, { ...config(), spec: { replicas: 5 } }, 'deployer'));
    expect(err.message).toBe(`Apply failed with 1 conflict: conflict with "${BEFORE_FIRST_APPLY}" using apps/v1: .spec.replicas`);
    const { object } = apply(live, { ...config(), spec: { replicas: 5 } }, 'deployer', { force: true });
    expect(at(entry(object, BEFORE_FIRST_APPLY, 'Update')!.fieldsV1, 'f:spec', 'f:selector')).toEqual({});
  });
});

describe('recordUpdate', () => {
  it('gives changed fields to the writer and takes them from the previous owners', () => {
    const live = stored(apply(undefined, config(), 'kubectl').object);
    const after = structuredClone(live);
    after.spec.template.spec.containers[0]!.image = 'web:hotfix';
    after.metadata.annotations = { note: 'x' };
    const out = recordUpdate(live, after, 'kubectl-edit', 'Update', 'apps/v1', t1);
    expect(out).toBe(after);
    const edit = entry(out, 'kubectl-edit', 'Update')!;
    expect(edit.time).toBe('2024-05-01T11:00:00Z');
    expect(edit.fieldsV1).toEqual({
      'f:metadata': { 'f:annotations': { '.': {}, 'f:note': {} } },
      'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { 'f:image': {} } } } } },
    });
    const web = at(entry(out, 'kubectl')!.fieldsV1, 'f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"web"}');
    expect(web).toEqual({ '.': {}, 'f:args': {}, 'f:name': {} });
  });

  it('adds no entry for a write that changed nothing, and drops removed fields from every owner', () => {
    const live = stored(apply(undefined, config(), 'kubectl').object);
    const same = recordUpdate(live, structuredClone(live), 'noop', 'Update', 'apps/v1', t1);
    expect(entries(same).map((e) => e.manager)).toEqual(['kubectl']);

    const after = structuredClone(live);
    delete (after.spec as { replicas?: number }).replicas;
    const out = recordUpdate(live, after, 'scaler', 'Update', 'apps/v1', t1);
    expect(at(entry(out, 'kubectl')!.fieldsV1, 'f:spec', 'f:replicas')).toBeUndefined();
    expect(entry(out, 'scaler', 'Update')).toBeUndefined();
  });

  it('a writer changing again the fields it alone owns keeps every set and moves only its own time', () => {
    const live = stored(apply(undefined, config(), 'kubectl').object);
    const first = structuredClone(live);
    first.spec.replicas = 4;
    const once = stored(recordUpdate(live, first, 'scaler', 'Update', 'apps/v1', t0));
    const second = structuredClone(once);
    second.spec.replicas = 5;
    const out = recordUpdate(once, second, 'scaler', 'Update', 'apps/v1', t1);
    expect(entries(out).map((e) => [e.manager, e.time])).toEqual([
      ['kubectl', '2024-05-01T10:00:00Z'],
      ['scaler', '2024-05-01T11:00:00Z'],
    ]);
    expect(entry(out, 'scaler', 'Update')!.fieldsV1).toEqual({ 'f:spec': { 'f:replicas': {} } });
    expect(entry(out, 'kubectl')!.fieldsV1).toEqual(entry(once, 'kubectl')!.fieldsV1);
    // The stored entries are not touched: the next read still sees the first write's time.
    expect(entry(once, 'scaler', 'Update')!.time).toBe('2024-05-01T10:00:00Z');

    // Another writer of the same field takes it over (the full computation).
    const third = structuredClone(stored(out));
    third.spec.replicas = 6;
    const taken = recordUpdate(stored(out), third, 'hpa', 'Update', 'apps/v1', t1);
    expect(entry(taken, 'scaler', 'Update')).toBeUndefined();
    expect(entry(taken, 'hpa', 'Update')!.fieldsV1).toEqual({ 'f:spec': { 'f:replicas': {} } });
  });

  it('takes managedFields sent with the write as the new baseline', () => {
    const live = stored(apply(undefined, config(), 'kubectl').object);
    const after = structuredClone(live);
    after.metadata.managedFields = [
      { manager: 'imported', operation: 'Update', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
    ];
    const out = recordUpdate(live, after, 'kubectl-replace', 'Update', 'apps/v1', t1);
    expect(entries(out).map((e) => e.manager)).toEqual(['imported']);
  });
});
