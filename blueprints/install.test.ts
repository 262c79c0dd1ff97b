import { describe, expect, it } from 'vitest';
import { crdName, fleetKinds } from '../meta-cluster/api/crds.js';
import { operatorCatalog } from '../operators/catalog.js';
import { BlueprintError } from './errors.js';
import { KokInstall, METRICS_PORT } from './install.js';
import { find, newApp, synthApp, type Manifest } from './testing.js';

function install(props: ConstructorParameters<typeof KokInstall>[2] = {}): Manifest[] {
  const app = newApp();
  new KokInstall(app, 'kok', props);
  return synthApp(app);
}

describe('KokInstall', () => {
  const objects = install({ image: 'registry.example/kok:1.2.3' });

  it('synthesises the same chart every time', () => {
    expect(objects).toMatchSnapshot();
    expect(install({ image: 'registry.example/kok:1.2.3' })).toEqual(objects);
  });

  it('creates the namespace and every CRD before anything else', () => {
    const foundation = objects.slice(0, 1 + fleetKinds.length).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(foundation).toEqual(['Namespace/kok-system', ...fleetKinds.map((k) => `CustomResourceDefinition/${crdName(k)}`)].sort());
    for (const o of objects) if (o.kind === 'CustomResourceDefinition' || o.kind.startsWith('Cluster')) expect(o.metadata.namespace).toBeUndefined();
  });

  it('runs each operator as two replicas of `kok operator run <name>`, non-root on a read-only root filesystem, with probes and resources', () => {
    for (const name of Object.keys(operatorCatalog)) {
      const d = find(objects, 'Deployment', `kok-${name}-operator`);
      expect(d.metadata.namespace).toBe('kok-system');
      expect(d.spec.replicas).toBe(2);
      const pod = d.spec.template.spec;
      expect(pod.serviceAccountName).toBe(`kok-${name}-operator`);
      expect(pod.automountServiceAccountToken).toBe(true);
      const [c] = pod.containers;
      expect(c.image).toBe('registry.example/kok:1.2.3');
      expect(c.args.slice(0, 3)).toEqual(['operator', 'run', name]);
      expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: METRICS_PORT, scheme: 'HTTPS' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: METRICS_PORT, scheme: 'HTTPS' });
      expect(c.resources.requests).toEqual({ cpu: '100m', memory: '256Mi' });
    }
    const svc = find(objects, 'Service', 'kok-operator-metrics');
    expect(svc.spec.ports).toEqual([expect.objectContaining({ port: METRICS_PORT })]);
    expect(svc.spec.selector).toEqual({ 'app.kubernetes.io/part-of': 'kok', 'app.kubernetes.io/component': 'operator' });
  });

  it('grants each operator exactly its declared permissions: cluster-wide, and its Lease only in kok-system', () => {
    for (const [name, { permissions }] of Object.entries(operatorCatalog)) {
      const rules = (o: Manifest) => o.rules.map((r: { apiGroups: string[]; resources: string[]; verbs: string[] }) => `${r.apiGroups.join()}|${r.resources.join()}|${r.verbs.join()}`);
      const expected = (own: boolean) => permissions.filter((p) => !!p.ownNamespaceOnly === own).map((p) => `${p.apiGroup}|${p.resource}|${p.verbs.join()}`);
      expect(rules(find(objects, 'ClusterRole', `kok-${name}-operator`))).toEqual(expected(false));
      expect(rules(find(objects, 'Role', `kok-${name}-operator`))).toEqual(expected(true));
      expect(find(objects, 'Role', `kok-${name}-operator`).rules).toContainEqual(expect.objectContaining({ resources: ['leases'] }));
      for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
        expect(find(objects, kind, `kok-${name}-operator`).subjects).toEqual([{ kind: 'ServiceAccount', name: `kok-${name}-operator`, namespace: 'kok-system', apiGroup: '' }]);
      }
    }
  });

  it('creates each Deployment after its ServiceAccount, roles and bindings', () => {
    const at = (kind: string, name: string) => objects.indexOf(find(objects, kind, name));
    for (const name of Object.keys(operatorCatalog)) {
      const op = `kok-${name}-operator`;
      for (const kind of ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']) expect(at(kind, op), `${kind} ${op}`).toBeLessThan(at('Deployment', op));
    }
  });

  it('installs one operator and no CRDs when told so', () => {
    const some = install({ operators: ['machine'], crds: false, replicas: 1 });
    expect(some.filter((o) => o.kind === 'Deployment').map((d) => [d.metadata.name, d.spec.replicas])).toEqual([['kok-machine-operator', 1]]);
    expect(some.some((o) => o.kind === 'CustomResourceDefinition')).toBe(false);
  });

  it.each<[string, ConstructorParameters<typeof KokInstall>[2], RegExp]>([
    ['no replicas', { replicas: 0 }, /KokInstall "kok": props.replicas must be a whole number from 1 to 10, not 0/],
    ['an unknown operator', { operators: ['release' as never] }, /props.operators\[0\] must be one of "cluster", "machine", not "release"/],
    ['no operators', { operators: [] }, /props.operators must name at least one/],
    ['an image with spaces', { image: 'kok latest' }, /props.image "kok latest" is not an image reference/],
  ])('refuses %s, naming the prop', (_, props, message) => {
    expect(() => install(props)).toThrow(BlueprintError);
    expect(() => install(props)).toThrow(message);
  });
});
