import { describe, expect, it } from 'vitest';
import { equalIgnoreHash, findNewReplicaSet, newReplicaSetAnnotations, newReplicaSetFor, podTemplateHash } from './deployment-revision.js';
import type { Deployment, PodTemplate, ReplicaSet } from './workload.js';

const template = (image = 'nginx', extra: Record<string, unknown> = {}): PodTemplate => ({
  metadata: { labels: { app: 'web' } },
  spec: { containers: [{ name: 'nginx', image, resources: {} }], restartPolicy: 'Always', ...extra },
});

function deployment(t = template(), annotations: Record<string, string> = {}, replicas = 3): Deployment {
  return {
    metadata: { name: 'web', namespace: 'ns', uid: 'uid-d', annotations },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: t, minReadySeconds: 5 },
  };
}

const rs = (name: string, t: PodTemplate, annotations: Record<string, string> = {}, created = '2024-01-01T00:00:00Z'): ReplicaSet => ({
  metadata: { name, uid: name, annotations, creationTimestamp: created },
  spec: { replicas: 1, selector: {}, template: t },
});

describe('podTemplateHash', () => {
  it('is deterministic and in the safe alphabet', () => {
    const h = podTemplateHash(template());
    expect(h).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    expect(podTemplateHash(template())).toBe(h);
    // Pinned: a change of the encoding would rename every ReplicaSet of every Deployment.
    expect(h).toBe('5b95784799');
  });

  it('ignores key order, nulls and empty fields, as semantic equality does', () => {
    const a = template();
    const b: PodTemplate = {
      spec: { restartPolicy: 'Always', containers: [{ resources: {}, image: 'nginx', name: 'nginx', env: [] }] },
      metadata: { creationTimestamp: null, labels: { app: 'web' } },
    };
    expect(podTemplateHash(b)).toBe(podTemplateHash(a));
  });

  it.each([
    ['image', template('nginx:2')],
    ['annotation', { ...template(), metadata: { labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-01-01T00:00:00Z' } } }],
    ['spec field', template('nginx', { dnsPolicy: 'None' })],
  ])('changes with the %s', (_what, changed) => {
    expect(podTemplateHash(changed)).not.toBe(podTemplateHash(template()));
  });

  it('changes with a collision count', () => {
    expect(podTemplateHash(template(), 1)).not.toBe(podTemplateHash(template()));
  });
});

describe('matching templates to ReplicaSets', () => {
  it('ignores the pod-template-hash label', () => {
    const withHash = { ...template(), metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' } } };
    expect(equalIgnoreHash(withHash, template())).toBe(true);
    expect(equalIgnoreHash(withHash, template('nginx:2'))).toBe(false);
  });

  it('finds the oldest ReplicaSet with the template', () => {
    const d = deployment();
    const found = findNewReplicaSet(d, [
      rs('other', template('x')),
      rs('newer', template(), {}, '2024-01-02T00:00:00Z'),
      rs('older', template(), {}, '2024-01-01T00:00:00Z'),
    ]);
    expect(found?.metadata.name).toBe('older');
    expect(findNewReplicaSet(deployment(template('y')), [rs('a', template())])).toBeUndefined();
  });
});

describe('newReplicaSetAnnotations', () => {
  it('on creation: copies the Deployment annotations (not its own) and records revision and sizes', () => {
    const d = deployment(template(), {
      'kubernetes.io/change-cause': 'set image',
      'deployment.kubernetes.io/revision': '7',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
    });
    const { annotations, changed } = newReplicaSetAnnotations(d, rs('n', template()), 3, false, 1);
    expect(changed).toBe(true);
    expect(annotations).toEqual({
      'kubernetes.io/change-cause': 'set image',
      'deployment.kubernetes.io/revision': '3',
      'deployment.kubernetes.io/desired-replicas': '3',
      'deployment.kubernetes.io/max-replicas': '4',
    });
  });

  it('on reuse (rollback): raises the revision and remembers the old one', () => {
    const old = rs('r1', template(), { 'deployment.kubernetes.io/revision': '1', 'deployment.kubernetes.io/desired-replicas': '3' });
    const { annotations, changed } = newReplicaSetAnnotations(deployment(), old, 3, true, 1);
    expect(changed).toBe(true);
    expect(annotations['deployment.kubernetes.io/revision']).toBe('3');
    expect(annotations['deployment.kubernetes.io/revision-history']).toBe('1');
    expect(annotations['deployment.kubernetes.io/desired-replicas']).toBe('3');
    const again = newReplicaSetAnnotations(deployment(), { ...old, metadata: { ...old.metadata, annotations } }, 5, true, 1);
    expect(again.annotations['deployment.kubernetes.io/revision-history']).toBe('1,3');
  });

  it('changes nothing when the revision is current', () => {
    const current = rs('r', template(), { 'deployment.kubernetes.io/revision': '4' });
    expect(newReplicaSetAnnotations(deployment(), current, 4, true, 1).changed).toBe(false);
  });
});

describe('newReplicaSetFor', () => {
  it('names, labels, selects and owns by the hash', () => {
    const d = deployment();
    const r = newReplicaSetFor(d, 'abc12', 2);
    expect(r.metadata.name).toBe('web-abc12');
    expect(r.metadata.labels).toEqual({ app: 'web', 'pod-template-hash': 'abc12' });
    expect(r.spec.selector).toEqual({ matchLabels: { app: 'web', 'pod-template-hash': 'abc12' } });
    expect(r.spec.template.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': 'abc12' });
    expect(r.spec.template.spec).toEqual(d.spec.template.spec);
    expect(r.spec.replicas).toBe(2);
    expect(r.spec.minReadySeconds).toBe(5);
    expect(r.metadata.ownerReferences).toEqual([{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-d', controller: true, blockOwnerDeletion: true }]);
    // The Deployment's template is not modified.
    expect(d.spec.template.metadata?.labels).toEqual({ app: 'web' });
  });
});
