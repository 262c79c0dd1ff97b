import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.js';
import type { ResourceAttributes } from './authorizer.js';
import { openApiBackend, type ApiBackend } from './backend.js';
import { RbacAuthorizer } from './rbac.js';
import { RbacCache } from './rbac-cache.js';

describe('RbacCache', () => {
  const dir = tempDir();
  let backend: ApiBackend;
  const rbac = (plural: string) => backend.registry.lookup('rbac.authorization.k8s.io', 'v1', plural)!;
  const alice = { user: 'alice', groups: ['system:authenticated'] };
  const getPod: ResourceAttributes = { verb: 'get', apiGroup: '', resource: 'pods', subresource: '', namespace: 'default', name: 'p' };

  beforeAll(() => {
    backend = openApiBackend({ dataDir: dir.path });
  });
  afterAll(() => {
    backend?.close();
    dir.remove();
  });

  it('starts from what is stored and follows every later change', () => {
    backend.api.create(rbac('clusterroles'), '', { metadata: { name: 'reader' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }] });
    const cache = new RbacCache(backend.store);
    const authorizer = new RbacAuthorizer(cache);
    try {
      expect(authorizer.authorize(alice, getPod).allowed).toBe(false);

      backend.api.create(rbac('rolebindings'), 'default', {
        metadata: { name: 'readers' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reader' },
        subjects: [{ kind: 'Group', name: 'devs' }],
      });
      expect(authorizer.authorize(alice, getPod).allowed).toBe(false);

      // A binding's subjects changing re-indexes it.
      backend.api.mutate(rbac('rolebindings'), 'default', 'readers', (o) => {
        o.subjects = [{ kind: 'User', name: 'alice' }];
      });
      expect(authorizer.authorize(alice, getPod)).toEqual({ allowed: true, reason: 'RBAC: allowed by RoleBinding "readers/default" of ClusterRole "reader" to User "alice"' });

      // A role's rules changing takes effect at once.
      backend.api.mutate(rbac('clusterroles'), '', 'reader', (o) => {
        o.rules = [{ verbs: ['list'], apiGroups: [''], resources: ['pods'] }];
      });
      expect(authorizer.authorize(alice, getPod).allowed).toBe(false);
      expect(authorizer.authorize(alice, { ...getPod, verb: 'list', name: '' }).allowed).toBe(true);

      backend.api.delete(rbac('clusterroles'), '', 'reader');
      expect(authorizer.authorize(alice, { ...getPod, verb: 'list', name: '' })).toEqual({
        allowed: false,
        reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "reader" not found',
      });
      backend.api.delete(rbac('rolebindings'), 'default', 'readers');
      expect(authorizer.authorize(alice, getPod)).toEqual({ allowed: false, reason: '' });
    } finally {
      cache.close();
    }
  });
});
