import { describe, expect, it } from 'vitest';
import type { Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { findCondition } from '../../meta-cluster/api/v1alpha1/conditions.js';
import { computeStatus, type Observation } from './status.js';

const now = new Date('2026-11-21T10:00:00Z');
const cluster: Cluster = {
  apiVersion: 'fleet.kok.dev/v1alpha1',
  kind: 'Cluster',
  metadata: { namespace: 'fleet', name: 'pay', generation: 4 },
  spec: { version: '1.31', controlPlane: { replicas: 3, datastore: { type: 'etcd', replicas: 3 } } },
};
const ready = (n: number, replicas = n) => ({ metadata: {}, spec: { replicas }, status: { readyReplicas: n } });
const healthy: Observation = {
  pkiProblems: [],
  etcd: ready(3),
  apiServer: ready(3),
  controllerManager: ready(2),
  scheduler: ready(2),
  endpoint: 'https://127.0.0.1:4000',
  kubeconfigSecret: 'pay-kubeconfig',
  probe: { ok: true, message: 'ok' },
  runningVersion: '1.31.10',
  targetVersion: '1.31.10',
  previousVersion: '1.31.10',
  rolloutComplete: true,
};
const cond = (o: Observation, type: string) => findCondition(computeStatus(cluster, o, now, true).conditions, type);

describe('computeStatus', () => {
  it('all good → Ready, with version, endpoint, kubeconfig and observedGeneration', () => {
    const s = computeStatus(cluster, healthy, now, true);
    expect(s.phase).toBe('Ready');
    expect(s.observedGeneration).toBe(4);
    expect(s.version).toBe('1.31.10');
    expect(s.endpoint).toBe('https://127.0.0.1:4000');
    expect(s.kubeconfigSecretRef).toEqual({ name: 'pay-kubeconfig' });
    expect(s.readyControlPlaneReplicas).toBe(3);
    for (const t of ['PKIReady', 'DatastoreReady', 'ControlPlaneReady', 'Ready']) expect(findCondition(s.conditions, t)?.status).toBe('True');
  });

  it.each<[string, Partial<Observation>, string, string, RegExp]>([
    ['PKI problems', { pkiProblems: ['ca: missing'] }, 'PKIReady', 'WaitingForPKI', /ca: missing/],
    ['etcd below quorum', { etcd: ready(1) }, 'DatastoreReady', 'WaitingForDatastore', /1\/3 etcd members ready; a quorum needs 2/],
    ['no API server ready', { apiServer: ready(0, 3) }, 'ControlPlaneReady', 'WaitingForControlPlane', /0\/3 API server replicas/],
    ['some API servers ready', { apiServer: ready(2, 3) }, 'ControlPlaneReady', 'ScalingControlPlane', /2\/3/],
    ['no scheduler', { scheduler: ready(0, 2) }, 'ControlPlaneReady', 'WaitingForControlPlane', /kube-scheduler: 0\/2/],
    ['no endpoint', { endpoint: undefined }, 'ControlPlaneReady', 'WaitingForControlPlane', /address/],
    ['probe fails', { probe: { ok: false, message: 'connect ECONNREFUSED' } }, 'ControlPlaneReady', 'WaitingForControlPlane', /readyz: connect ECONNREFUSED/],
  ])('%s → not Ready', (_name, change, type, reason, message) => {
    const o = { ...healthy, ...change };
    expect(cond(o, type)).toMatchObject({ status: 'False', reason });
    expect(cond(o, type)?.message).toMatch(message);
    const ready = cond(o, 'Ready')!;
    expect(ready.status).toBe('False');
    expect(ready.message).toMatch(message);
    expect(computeStatus(cluster, o, now, true).phase).toBe('Provisioning');
  });

  it('an upgrade in progress → phase Upgrading', () => {
    const s = computeStatus(cluster, { ...healthy, targetVersion: '1.32.6', rolloutComplete: false }, now, true);
    expect(s.phase).toBe('Upgrading');
    expect(findCondition(s.conditions, 'Upgrading')).toMatchObject({ status: 'True', reason: 'UpgradeInProgress' });
    expect(findCondition(s.conditions, 'Upgrading')?.message).toMatch(/rolling to 1.32.6: API server rolling/);
    // The API servers are done, the others still roll: the version moves only when all are done.
    const later = computeStatus(cluster, { ...healthy, targetVersion: '1.32.6', apiServerRolledOut: true, rolloutComplete: false }, now, true);
    expect(later.version).toBe('1.31.10');
    expect(findCondition(later.conditions, 'Upgrading')?.message).toMatch(/API server done; controller-manager and scheduler rolling/);
  });

  it('a first rollout is not Ready until every component runs the version, and is not an upgrade', () => {
    const s = computeStatus(cluster, { ...healthy, runningVersion: undefined, previousVersion: undefined, rolloutComplete: false }, now, true);
    expect(s.phase).toBe('Provisioning');
    expect(findCondition(s.conditions, 'ControlPlaneReady')?.message).toMatch(/first rollout of 1.31.10/);
    expect(findCondition(s.conditions, 'Upgrading')).toMatchObject({ status: 'False', reason: 'Provisioning' });
  });

  it('a refused upgrade says why and keeps the cluster Ready', () => {
    const s = computeStatus(cluster, { ...healthy, refusedUpgrade: 'downgrade …' }, now, true);
    expect(findCondition(s.conditions, 'Upgrading')).toMatchObject({ status: 'False', reason: 'UpgradeRefused', message: 'downgrade …' });
    expect(s.phase).toBe('Ready');
  });

  it('an invalid spec → Failed with the reason', () => {
    const s = computeStatus(cluster, { pkiProblems: [], invalidSpec: 'spec.version "1.20" is not supported' }, now, true);
    expect(s.phase).toBe('Failed');
    expect(findCondition(s.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
  });

  it('a failed reconcile keeps the old observedGeneration', () => {
    const withOld = { ...cluster, status: { observedGeneration: 3 } };
    expect(computeStatus(withOld, healthy, now, false).observedGeneration).toBe(3);
  });

  it('is stable: a second computation changes nothing', () => {
    const first = computeStatus(cluster, healthy, now, true);
    const second = computeStatus({ ...cluster, status: first }, healthy, new Date(now.getTime() + 60_000), true);
    expect(second).toEqual(first);
  });
});
