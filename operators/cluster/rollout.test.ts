import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../runtime/client.js';
import type { Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { InvalidClusterSpec, planRollout, rolledOut } from './rollout.js';

const cluster = (version: string, running?: string): Cluster => ({
  apiVersion: 'fleet.kok.dev/v1alpha1',
  kind: 'Cluster',
  metadata: { namespace: 'fleet', name: 'pay', generation: 2 },
  spec: { version },
  ...(running ? { status: { version: running } } : {}),
});

/** A Deployment whose every replica runs `tag`, unless `rolling` says the rollout is still going. */
const deploy = (component: string, tag: string, rolling = false): KubeObject => ({
  metadata: { name: component, generation: 3 },
  spec: { replicas: 2, template: { spec: { containers: [{ image: `registry.k8s.io/${component}:${tag}` }] } } },
  status: { observedGeneration: 3, replicas: rolling ? 3 : 2, updatedReplicas: rolling ? 1 : 2, readyReplicas: 2 },
});

describe('rolledOut', () => {
  it('needs the image on every ready replica and no old ones', () => {
    expect(rolledOut(deploy('kube-apiserver', 'v1.31.10'), 'registry.k8s.io/kube-apiserver:v1.31.10')).toBe(true);
    expect(rolledOut(deploy('kube-apiserver', 'v1.31.10', true), 'registry.k8s.io/kube-apiserver:v1.31.10')).toBe(false);
    expect(rolledOut(deploy('kube-apiserver', 'v1.31.10'), 'registry.k8s.io/kube-apiserver:v1.32.6')).toBe(false);
    expect(rolledOut(undefined, 'x')).toBe(false);
  });
});

describe('planRollout', () => {
  it('a new cluster gets the desired version everywhere', () => {
    const plan = planRollout(cluster('1.31'), {});
    expect(plan.versions.apiServer).toEqual({ major: 1, minor: 31, patch: 10 });
    expect(plan.versions.controllerManager).toEqual(plan.versions.apiServer);
    expect(plan.running).toBeUndefined();
    expect(plan.target).toBe('1.31.10');
  });

  it('an upgrade moves the API server first and holds the others until it has rolled out', () => {
    const observed = {
      apiServer: deploy('kube-apiserver', 'v1.31.10', true),
      controllerManager: deploy('kube-controller-manager', 'v1.31.10'),
      scheduler: deploy('kube-scheduler', 'v1.31.10'),
    };
    const during = planRollout(cluster('1.32', '1.31.10'), observed);
    expect(during.versions.apiServer.minor).toBe(32);
    expect(during.versions.controllerManager.minor).toBe(31);
    expect(during.versions.scheduler.minor).toBe(31);
    expect(during.running).toBe('1.31.10');
    expect(during.complete).toBe(false);

    const after = planRollout(cluster('1.32', '1.31.10'), { ...observed, apiServer: deploy('kube-apiserver', 'v1.32.6') });
    expect(after.versions.controllerManager.minor).toBe(32);
    expect(after.running).toBe('1.31.10');
    expect(after.complete).toBe(false);

    const done = planRollout(cluster('1.32', '1.31.10'), {
      apiServer: deploy('kube-apiserver', 'v1.32.6'),
      controllerManager: deploy('kube-controller-manager', 'v1.32.6'),
      scheduler: deploy('kube-scheduler', 'v1.32.6'),
    });
    expect(done.running).toBe('1.32.6');
    expect(done.complete).toBe(true);
  });

  it('a downgrade is refused and the plan stays on what runs', () => {
    const plan = planRollout(cluster('1.30', '1.31.10'), {});
    expect(plan.refused).toMatch(/^Cluster fleet\/pay: spec.version 1.30 refused: downgrade/);
    expect(plan.versions.apiServer).toEqual({ major: 1, minor: 31, patch: 10 });
  });

  it('an unsupported version is an invalid spec naming the field', () => {
    expect(() => planRollout(cluster('1.20'), {})).toThrow(InvalidClusterSpec);
    expect(() => planRollout(cluster('1.20'), {})).toThrow(/Cluster fleet\/pay: spec.version "1.20" is not supported/);
  });
});
