import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  mergeKeyFor,
  patchTypeOf,
} from './patch.js';

/** Runs `fn`, expecting an ApiError, and returns it for assertions. */
function apiErrorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error('expected an ApiError, got none');
}

const deployment = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', finalizers: ['a', 'b', 'c'], labels: { app: 'web' } },
  spec: {
    replicas: 2,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        nodeSelector: { disk: 'hdd', zone: 'a' },
        securityContext: { runAsNonRoot: true },
        tolerations: [{ key: 'a', operator: 'Exists' }],
        containers: [
          {
            name: 'web',
            image: 'web:1',
            args: ['--port', '80'],
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
              { name: 'C', value: '3' },
            ],
            ports: [{ containerPort: 80, name: 'http' }],
          },
          { name: 'sidecar', image: 'proxy:1', env: [{ name: 'MODE', value: 'tcp' }] },
        ],
      },
    },
  },
});
type Deployment = ReturnType<typeof deployment>;
const smp = (patch: unknown, target: unknown = deployment()) => applyStrategicMergePatch(target, patch, 'Deployment') as Deployment;
const containersOf = (d: Deployment) => d.spec.template.spec.containers;

describe('patchTypeOf', () => {
  it.each([
    ['application/json-patch+json', 'application/json-patch+json'],
    ['application/merge-patch+json; charset=utf-8', 'application/merge-patch+json'],
    ['application/strategic-merge-patch+json', 'application/strategic-merge-patch+json'],
    ['application/apply-patch+yaml', 'application/apply-patch+yaml'],
  ])('%s → %s', (header, type) => {
    expect(patchTypeOf(header)).toBe(type);
  });

  it('answers 415 for unknown types, apply-patch+cbor included, listing what is accepted', () => {
    for (const header of ['application/json', 'application/apply-patch+cbor', undefined]) {
      const err = apiErrorOf(() => patchTypeOf(header));
      expect(err.code).toBe(415);
      expect(err.reason).toBe('UnsupportedMediaType');
      expect(err.message).toBe(
        'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
      );
    }
  });

  it('does not offer strategic merge for custom resources', () => {
    const err = apiErrorOf(() => patchTypeOf('application/strategic-merge-patch+json', { custom: true }));
    expect(err.code).toBe(415);
    expect(err.message).not.toContain('strategic');
    expect(patchTypeOf('application/merge-patch+json', { custom: true })).toBe('application/merge-patch+json');
  });
});

describe('applyJsonPatch', () => {
  it('applies operations in order without touching the input', () => {
    const input = deployment();
    const out = applyJsonPatch(input, [
      { op: 'test', path: '/spec/replicas', value: 2 },
      { op: 'replace', path: '/spec/replicas', value: 5 },
      { op: 'add', path: '/metadata/labels/tier', value: 'front' },
      { op: 'remove', path: '/spec/template/spec/containers/1' },
    ]) as Deployment;
    expect(out.spec.replicas).toBe(5);
    expect(out.metadata.labels).toEqual({ app: 'web', tier: 'front' });
    expect(containersOf(out).map((c) => c.name)).toEqual(['web']);
    expect(input).toEqual(deployment());
  });

  it('answers a failed test op with 422 and the generic message, detail in causes', () => {
    const err = apiErrorOf(() => applyJsonPatch(deployment(), [{ op: 'test', path: '/spec/replicas', value: 3 }]));
    expect(err.code).toBe(422);
    expect(err.reason).toBe('Invalid');
    expect(err.message).toBe('the server rejected our request due to an error in our request');
    expect(err.details?.causes?.[0]?.message).toBe('testing value /spec/replicas failed: test failed');
  });

  it('answers a path that does not exist with 422', () => {
    const err = apiErrorOf(() => applyJsonPatch(deployment(), [{ op: 'remove', path: '/spec/paused' }]));
    expect(err.code).toBe(422);
    expect(err.details?.causes?.[0]?.message).toContain('/spec/paused');
  });

  it('answers a body that is not a list of operations with 400', () => {
    expect(apiErrorOf(() => applyJsonPatch(deployment(), { op: 'add' })).code).toBe(400);
    expect(apiErrorOf(() => applyJsonPatch(deployment(), ['add'])).code).toBe(400);
  });

  it('answers an unknown op with 422', () => {
    const err = apiErrorOf(() => applyJsonPatch(deployment(), [{ op: 'frobnicate', path: '/spec' }]));
    expect(err.code).toBe(422);
    expect(err.details?.causes?.[0]?.message).toBe('Unexpected kind: frobnicate');
  });
});

describe('applyMergePatch', () => {
  it('deletes on null, merges maps, replaces lists, keeps the input', () => {
    const input = deployment();
    const out = applyMergePatch(input, {
      metadata: { labels: { app: null, tier: 'front' } },
      spec: { strategy: { rollingUpdate: null }, template: { spec: { containers: [{ name: 'only', image: 'x' }] } } },
    }) as Deployment;
    expect(out.metadata.labels).toEqual({ tier: 'front' });
    expect(out.spec.strategy).toEqual({ type: 'RollingUpdate' });
    expect(containersOf(out)).toEqual([{ name: 'only', image: 'x' }]);
    expect(out.spec.replicas).toBe(2);
    expect(input).toEqual(deployment());
  });

  it('answers a patch that is not an object with 400', () => {
    const err = apiErrorOf(() => applyMergePatch(deployment(), [1, 2]));
    expect(err.code).toBe(400);
    expect(err.message).toBe('Invalid JSON Patch');
  });
});

describe('mergeKeyFor', () => {
  it.each([
    [['spec', 'template', 'spec', 'containers'], 'Deployment', { by: 'key', key: 'name' }],
    [['spec', 'containers', 'env'], 'Pod', { by: 'key', key: 'name' }],
    [['spec', 'containers', 'volumeMounts'], 'Pod', { by: 'key', key: 'mountPath' }],
    [['spec', 'template', 'spec', 'initContainers', 'ports'], 'StatefulSet', { by: 'key', key: 'containerPort' }],
    [['spec', 'ports'], 'Service', { by: 'key', key: 'port' }],
    [['spec', 'volumes'], 'Pod', { by: 'key', key: 'name' }],
    [['status', 'conditions'], 'Deployment', { by: 'key', key: 'type' }],
    [['metadata', 'ownerReferences'], 'ReplicaSet', { by: 'key', key: 'uid' }],
    [['metadata', 'finalizers'], 'ConfigMap', { by: 'set' }],
    [['spec', 'containers', 'args'], 'Pod', undefined],
    [['spec', 'tolerations'], 'Pod', undefined],
    [['spec', 'containers', 'envFrom'], 'Pod', undefined],
    [['spec', 'finalizers'], 'Namespace', undefined],
    [['spec', 'ports'], 'Pod', undefined],
    [['spec', 'constructor'], 'Pod', undefined],
  ] as const)('%j of %s → %j', (path, kind, want) => {
    expect(mergeKeyFor(path, kind)).toEqual(want);
  });
});

describe('applyStrategicMergePatch', () => {
  it('kubectl re-apply with a changed image keeps the other container, env and order', () => {
    // What `kubectl apply` sends after only the image of "web" changed in the file.
    const out = smp({
      spec: {
        template: {
          spec: {
            '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }],
            containers: [{ name: 'web', image: 'web:2' }],
          },
        },
      },
    });
    const [web, sidecar] = containersOf(out);
    expect(containersOf(out)).toHaveLength(2);
    expect(web).toMatchObject({ name: 'web', image: 'web:2', args: ['--port', '80'] });
    expect(web!.env!.map((e) => e.name)).toEqual(['A', 'B', 'C']);
    expect(sidecar).toEqual(deployment().spec.template.spec.containers[1]);
  });

  it('merges env by name, changing one and adding one; $setElementOrder decides where it goes', () => {
    const env = [{ name: 'B', value: 'two' }, { name: 'D', value: '4' }];
    const raw = smp({ spec: { template: { spec: { containers: [{ name: 'web', env }] } } } });
    // Upstream slots live-only items by live order and ranks the unknown D before C.
    expect(containersOf(raw)[0]!.env).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: 'two' },
      { name: 'D', value: '4' },
      { name: 'C', value: '3' },
    ]);
    const order = [{ name: 'A' }, { name: 'B' }, { name: 'C' }, { name: 'D' }];
    const kubectl = smp({ spec: { template: { spec: { containers: [{ name: 'web', '$setElementOrder/env': order, env }] } } } });
    expect(containersOf(kubectl)[0]!.env!.map((e) => `${e.name}=${e.value}`)).toEqual(['A=1', 'B=two', 'C=3', 'D=4']);
  });

  it('$setElementOrder reorders a merged list', () => {
    const out = smp({
      spec: { template: { spec: { containers: [{ name: 'web', '$setElementOrder/env': [{ name: 'C' }, { name: 'A' }, { name: 'B' }] }] } } },
    });
    expect(containersOf(out)[0]!.env!.map((e) => e.name)).toEqual(['C', 'A', 'B']);
  });

  it('$setElementOrder must agree with the order of the patch list', () => {
    const err = apiErrorOf(() =>
      smp({
        spec: {
          template: {
            spec: {
              '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }],
              containers: [{ name: 'sidecar', image: 'p:2' }, { name: 'web', image: 'w:2' }],
            },
          },
        },
      }),
    );
    expect(err.message).toContain("doesn't match $setElementOrder list");
  });

  it('$patch: delete removes the list element with that key', () => {
    const out = smp({ spec: { template: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } } } });
    expect(containersOf(out).map((c) => c.name)).toEqual(['web']);
  });

  it('$patch: replace in a list element replaces the whole list', () => {
    const out = smp({ spec: { template: { spec: { containers: [{ name: 'solo', image: 's:1' }, { $patch: 'replace' }] } } } });
    expect(containersOf(out)).toEqual([{ name: 'solo', image: 's:1' }]);
  });

  it('$patch: replace on a map replaces the map; $patch: delete removes it', () => {
    const out = smp({
      spec: { template: { spec: { nodeSelector: { $patch: 'replace', disk: 'ssd' }, securityContext: { $patch: 'delete' } } } },
    });
    expect(out.spec.template.spec.nodeSelector).toEqual({ disk: 'ssd' });
    expect(out.spec.template.spec).not.toHaveProperty('securityContext');
  });

  it('$retainKeys keeps only the listed keys (Recreate drops rollingUpdate)', () => {
    const out = smp({ spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } });
    expect(out.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('$retainKeys must name every key the patch sets', () => {
    const err = apiErrorOf(() => smp({ spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: {} } } }));
    expect(err.code).toBe(422);
    expect(err.details?.causes?.[0]?.message).toBe("patch content doesn't match retainKeys list");
  });

  it('$deleteFromPrimitiveList removes values; finalizers otherwise merge as a set', () => {
    const out = smp({ metadata: { '$deleteFromPrimitiveList/finalizers': ['b'] } });
    expect(out.metadata.finalizers).toEqual(['a', 'c']);
    const merged = smp({ metadata: { finalizers: ['c', 'd'] } });
    expect(merged.metadata.finalizers).toEqual(['a', 'b', 'c', 'd']);
  });

  it('null deletes a key; atomic lists (tolerations, args) are replaced', () => {
    const out = smp({
      spec: {
        replicas: null,
        template: { spec: { tolerations: [{ key: 'b', operator: 'Exists' }], containers: [{ name: 'web', args: ['--v=2'] }] } },
      },
    });
    expect(out.spec).not.toHaveProperty('replicas');
    expect(out.spec.template.spec.tolerations).toEqual([{ key: 'b', operator: 'Exists' }]);
    expect(containersOf(out)[0]!.args).toEqual(['--v=2']);
  });

  it('merges Service ports by port and container ports by containerPort', () => {
    const svc = { kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 443 }] } };
    const out = applyStrategicMergePatch(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }, 'Service') as typeof svc;
    expect(out.spec.ports).toEqual([{ port: 80, targetPort: 9090 }, { port: 443 }]);

    // Without $setElementOrder, upstream's mergeSortedSlice puts a new item before the live-only ones.
    const dep = smp({ spec: { template: { spec: { containers: [{ name: 'web', ports: [{ containerPort: 81, name: 'alt' }] }] } } } });
    expect(containersOf(dep)[0]!.ports).toEqual([{ containerPort: 81, name: 'alt' }, { containerPort: 80, name: 'http' }]);
  });

  it('answers a list element without its merge key as upstream does (500, names the key)', () => {
    const err = apiErrorOf(() => smp({ spec: { template: { spec: { containers: [{ image: 'nginx' }] } } } }));
    expect(err.code).toBe(500);
    expect(err.message).toBe('map: map[image:nginx] does not contain declared merge key: name');
  });

  it('does not mutate its inputs and strips directives from new subtrees', () => {
    const input = deployment();
    const patch = { spec: { template: { spec: { initContainers: [{ name: 'init', image: 'i:1' }, { name: 'gone', $patch: 'delete' }] } } } };
    const snapshot = structuredClone(patch);
    const out = smp(patch, input) as Deployment & { spec: { template: { spec: { initContainers: unknown } } } };
    expect(out.spec.template.spec.initContainers).toEqual([{ name: 'init', image: 'i:1' }]);
    expect(input).toEqual(deployment());
    expect(patch).toEqual(snapshot);
  });
});
