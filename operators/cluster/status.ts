/**
 * The status of a Cluster, computed from what the reconcile observed — never fetched, never
 * remembered. Pure, table-tested.
 */
import type { KubeObject } from '../runtime/client.js';
import type { Cluster, ClusterPhase, ClusterStatus } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { ClusterConditions as C, ClusterReasons as R, setCondition, type Condition, type ConditionUpdate } from '../../meta-cluster/api/v1alpha1/conditions.js';
import { quorum } from './desired.js';

/** What the reconcile saw of the control plane this time. */
export interface Observation {
  /** Credentials that are not (yet) good, with why; empty when all are. */
  readonly pkiProblems: readonly string[];
  readonly etcd?: KubeObject;
  readonly apiServer?: KubeObject;
  readonly controllerManager?: KubeObject;
  readonly scheduler?: KubeObject;
  readonly endpoint?: string;
  readonly kubeconfigSecret?: string;
  /** The business API's /readyz: ok, or why not; `simulated` when its pods only simulate a server. */
  readonly probe?: { ok: boolean; message: string; simulated?: boolean };
  /** The version every component runs now (undefined while they differ or before the first rollout). */
  readonly runningVersion?: string;
  /** The version being rolled out. */
  readonly targetVersion?: string;
  /** Every component runs the target version. */
  readonly rolloutComplete?: boolean;
  /** Every API server replica runs the target version. */
  readonly apiServerRolledOut?: boolean;
  /** The version before this rollout began (status.version as it was). */
  readonly previousVersion?: string;
  /** Why spec.version is not being rolled out (downgrade, skipped minor). */
  readonly refusedUpgrade?: string;
  /** A spec error no retry can fix. */
  readonly invalidSpec?: string;
}

const readyOf = (o: KubeObject | undefined): number => Number(o?.status?.readyReplicas ?? 0);
const desiredOf = (o: KubeObject | undefined, fallback: number): number => Number(o?.spec?.replicas ?? fallback);

function datastore(c: Cluster, o: Observation): ConditionUpdate {
  const members = c.spec.controlPlane?.datastore?.replicas ?? 3;
  const ready = readyOf(o.etcd);
  const need = quorum(members);
  if (ready >= need) return { type: C.DatastoreReady, status: 'True', reason: R.AsExpected, message: `${ready}/${members} etcd members ready` };
  return {
    type: C.DatastoreReady,
    status: 'False',
    reason: R.WaitingForDatastore,
    message: `${ready}/${members} etcd members ready; a quorum needs ${need}`,
  };
}

function controlPlane(c: Cluster, o: Observation): ConditionUpdate {
  const want = c.spec.controlPlane?.replicas ?? 3;
  const ready = readyOf(o.apiServer);
  const type = C.ControlPlaneReady;
  if (ready < want) {
    return { type, status: 'False', reason: ready === 0 ? R.WaitingForControlPlane : R.ScalingControlPlane, message: `${ready}/${want} API server replicas ready` };
  }
  for (const [name, d] of [['kube-controller-manager', o.controllerManager], ['kube-scheduler', o.scheduler]] as const) {
    if (readyOf(d) < 1) return { type, status: 'False', reason: R.WaitingForControlPlane, message: `${name}: 0/${desiredOf(d, 2)} replicas ready` };
  }
  if (!o.runningVersion) {
    return { type, status: 'False', reason: R.WaitingForControlPlane, message: `first rollout of ${o.targetVersion}: waiting for every component to run it` };
  }
  if (!o.endpoint) return { type, status: 'False', reason: R.WaitingForControlPlane, message: 'waiting for the API server Service to get an address' };
  if (!o.probe) return { type, status: 'Unknown', reason: R.WaitingForControlPlane, message: `${o.endpoint}/readyz not probed yet` };
  if (!o.probe.ok) return { type, status: 'False', reason: R.WaitingForControlPlane, message: `${o.endpoint}/readyz: ${o.probe.message}` };
  return { type, status: 'True', reason: R.AsExpected, message: `${ready}/${want} API server replicas ready; ${o.probe.message}` };
}

function upgrading(o: Observation): ConditionUpdate {
  const type = C.Upgrading;
  if (o.refusedUpgrade) return { type, status: 'False', reason: R.UpgradeRefused, message: o.refusedUpgrade };
  if (!o.previousVersion) {
    if (!o.rolloutComplete && o.targetVersion) return { type, status: 'False', reason: R.Provisioning, message: `first rollout of ${o.targetVersion}` };
  } else if (!o.rolloutComplete && o.targetVersion) {
    const stage = o.apiServerRolledOut ? 'API server done; controller-manager and scheduler rolling' : 'API server rolling, then controller-manager and scheduler';
    return { type, status: 'True', reason: R.UpgradeInProgress, message: `rolling to ${o.targetVersion}: ${stage}` };
  }
  return { type, status: 'False', reason: R.AsExpected, message: o.runningVersion ? `running ${o.runningVersion}` : '' };
}

/** The status after this reconcile; `generation` is stamped only when the reconcile succeeded. */
export function computeStatus(c: Cluster, o: Observation, now: Date, reconciled: boolean): ClusterStatus {
  const prev = c.status ?? {};
  const generation = c.metadata.generation ?? 0;
  let conditions: Condition[] = [...(prev.conditions ?? [])];
  const set = (u: ConditionUpdate) => (conditions = setCondition(conditions, { ...u, observedGeneration: generation }, now));

  if (o.invalidSpec) {
    set({ type: C.Ready, status: 'False', reason: R.InvalidSpec, message: o.invalidSpec });
    return { ...prev, observedGeneration: generation, phase: 'Failed', conditions };
  }
  const pki: ConditionUpdate = o.pkiProblems.length
    ? { type: C.PKIReady, status: 'False', reason: R.WaitingForPKI, message: o.pkiProblems.join('; ') }
    : { type: C.PKIReady, status: 'True', reason: R.AsExpected, message: 'certificates and keys are valid' };
  const parts = [pki, datastore(c, o), controlPlane(c, o)];
  parts.forEach(set);
  const upgrade = upgrading(o);
  set(upgrade);
  const waiting = parts.filter((p) => p.status !== 'True');
  set(
    waiting.length
      ? { type: C.Ready, status: 'False', reason: waiting[0]!.reason, message: waiting.map((w) => `${w.type}: ${w.message}`).join('; ') }
      : { type: C.Ready, status: 'True', reason: R.AsExpected, message: `the API server at ${o.endpoint} is ready` },
  );
  let phase: ClusterPhase = waiting.length ? 'Provisioning' : 'Ready';
  if (upgrade.status === 'True') phase = 'Upgrading';
  if (c.metadata.deletionTimestamp) phase = 'Deleting';

  const status: ClusterStatus = { ...prev, phase, conditions, readyControlPlaneReplicas: readyOf(o.apiServer) };
  if (reconciled) status.observedGeneration = generation;
  if (o.runningVersion) status.version = o.runningVersion;
  if (o.endpoint) status.endpoint = o.endpoint;
  if (o.kubeconfigSecret) status.kubeconfigSecretRef = { name: o.kubeconfigSecret };
  return status;
}
