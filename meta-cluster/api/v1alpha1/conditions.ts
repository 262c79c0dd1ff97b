/**
 * Status conditions shared by every fleet.kok.dev kind: the Condition shape (as metav1.Condition),
 * the condition and reason names of each kind, and the one way to set a condition.
 */
import { s, type Infer } from './schema-dsl.js';
import { rfc3339 } from '../../../operators/runtime/time.js';

export const conditionStatuses = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof conditionStatuses)[number];

export const conditionSchema = s.object(
  {
    type: s.string({ description: 'Type of condition in CamelCase, e.g. Ready.', maxLength: 316 }),
    status: s.enum(conditionStatuses, { description: 'Status of the condition: True, False or Unknown.' }),
    reason: s.string({
      description: "A programmatic identifier in CamelCase for the condition's last transition.",
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: s.string({ description: 'A human readable message with details about the transition.', maxLength: 32768 }),
    lastTransitionTime: s.string({ description: 'When the condition last changed from one status to another.', format: 'date-time' }),
    observedGeneration: s.integer({ description: 'The .metadata.generation the condition was set from.', minimum: 0 }),
  },
  { required: ['type', 'status', 'reason', 'lastTransitionTime'] },
);

export type Condition = Infer<typeof conditionSchema>;

/** `status.conditions`: one entry per type. */
export const conditionsSchema = s.array(conditionSchema, {
  description: 'The latest observations of the object, one per condition type; Ready summarises the others.',
  listType: 'map',
  listMapKeys: ['type'],
});

/** Condition types of a Cluster. */
export const ClusterConditions = {
  /** Summary: the cluster's API answers and every other condition is True. */
  Ready: 'Ready',
  /** The cluster's CA and component certificates exist and are valid. */
  PKIReady: 'PKIReady',
  /** The datastore (etcd or kine) has a quorum of ready members. */
  DatastoreReady: 'DatastoreReady',
  /** The desired number of API server replicas is ready. */
  ControlPlaneReady: 'ControlPlaneReady',
  /** True while a version change is rolling out. */
  Upgrading: 'Upgrading',
} as const;
export type ClusterConditionType = (typeof ClusterConditions)[keyof typeof ClusterConditions];

/** Reasons of Cluster conditions. */
export const ClusterReasons = {
  AsExpected: 'AsExpected',
  Provisioning: 'Provisioning',
  WaitingForPKI: 'WaitingForPKI',
  WaitingForDatastore: 'WaitingForDatastore',
  WaitingForControlPlane: 'WaitingForControlPlane',
  ScalingControlPlane: 'ScalingControlPlane',
  UpgradeInProgress: 'UpgradeInProgress',
  /** The requested version skips a minor or goes back one: kept at the current version. */
  UpgradeRefused: 'UpgradeRefused',
  InvalidSpec: 'InvalidSpec',
  Paused: 'Paused',
  Deleting: 'Deleting',
} as const;
export type ClusterReason = (typeof ClusterReasons)[keyof typeof ClusterReasons];

/** Condition types of a CloudTarget. */
export const CloudTargetConditions = {
  /** Summary: the provider answers and the target has room for at least one more machine. */
  Ready: 'Ready',
} as const;
export type CloudTargetConditionType = (typeof CloudTargetConditions)[keyof typeof CloudTargetConditions];

/** Reasons of CloudTarget conditions. */
export const CloudTargetReasons = {
  AsExpected: 'AsExpected',
  /** Every machine spec.capacity allows is in use (phase Full). */
  QuotaExceeded: 'QuotaExceeded',
  /** The provider's endpoint did not answer or refused the credentials. */
  ProviderUnreachable: 'ProviderUnreachable',
  /** spec.provider names no provider kok implements. */
  ProviderNotSupported: 'ProviderNotSupported',
  /** spec.credentialsSecretRef names a Secret that does not exist or lacks a key. */
  CredentialsNotFound: 'CredentialsNotFound',
} as const;
export type CloudTargetReason = (typeof CloudTargetReasons)[keyof typeof CloudTargetReasons];

/** Condition types of a MachinePool. */
export const MachinePoolConditions = {
  /** Summary: spec.replicas machines are ready and up to date. */
  Ready: 'Ready',
  /** Every machine of the pool has a Ready Node. */
  MachinesReady: 'MachinesReady',
  /** Every machine is of the current template: no rollout is in progress. */
  MachinesUpToDate: 'MachinesUpToDate',
  /** Unhealthy machines may be replaced: no more than healthCheck.maxUnhealthy are unhealthy. */
  RemediationAllowed: 'RemediationAllowed',
} as const;
export type MachinePoolConditionType = (typeof MachinePoolConditions)[keyof typeof MachinePoolConditions];

/** Reasons of MachinePool conditions. */
export const MachinePoolReasons = {
  AsExpected: 'AsExpected',
  ScalingUp: 'ScalingUp',
  ScalingDown: 'ScalingDown',
  RollingOut: 'RollingOut',
  WaitingForMachines: 'WaitingForMachines',
  /** More machines are unhealthy than healthCheck.maxUnhealthy allows: replacement stopped. */
  TooManyUnhealthy: 'TooManyUnhealthy',
  /** The pool's version is newer than the cluster's or more than 3 minors older: kept as it is. */
  VersionSkew: 'VersionSkew',
  /** spec.clusterName names no Cluster in the namespace. */
  ClusterNotFound: 'ClusterNotFound',
  /** The template's targetRef names no CloudTarget. */
  TargetNotFound: 'TargetNotFound',
  /** The template's machineType or zones are not offered by the target. */
  InvalidTemplate: 'InvalidTemplate',
  /** The target is full: some machines wait for room. */
  QuotaExceeded: 'QuotaExceeded',
  Paused: 'Paused',
  Deleting: 'Deleting',
} as const;
export type MachinePoolReason = (typeof MachinePoolReasons)[keyof typeof MachinePoolReasons];

/** Condition types of a Machine. */
export const MachineConditions = {
  /** Summary: the instance runs and its Node is Ready. */
  Ready: 'Ready',
  /** The provider created the instance (spec.providerID is set). */
  InstanceProvisioned: 'InstanceProvisioned',
  /** The instance's kubelet registered a Node (status.nodeRef is set). */
  NodeJoined: 'NodeJoined',
  /** The Node is Ready. */
  NodeHealthy: 'NodeHealthy',
} as const;
export type MachineConditionType = (typeof MachineConditions)[keyof typeof MachineConditions];

/** Reasons of Machine conditions. */
export const MachineReasons = {
  AsExpected: 'AsExpected',
  /** The target is full: the instance is not asked for yet. */
  QuotaExceeded: 'QuotaExceeded',
  /** The provider refused or failed to create the instance. */
  InstanceCreateFailed: 'InstanceCreateFailed',
  WaitingForInstance: 'WaitingForInstance',
  /** The instance runs; its kubelet has not registered the Node yet. */
  WaitingForBootstrap: 'WaitingForBootstrap',
  NodeNotReady: 'NodeNotReady',
  /** The Node is cordoned and its pods are being evicted before deletion. */
  Draining: 'Draining',
  /** drainTimeoutSeconds passed with pods left: the machine is deleted anyway. */
  DrainTimeout: 'DrainTimeout',
  /** The provider reports the instance gone or stopped. */
  InstanceDied: 'InstanceDied',
  Deleting: 'Deleting',
} as const;
export type MachineReason = (typeof MachineReasons)[keyof typeof MachineReasons];

/** What a caller says about a condition; the transition time is `setCondition`'s business. */
export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
  observedGeneration?: number;
}

/** RFC 3339 at second precision, as metav1.Time serialises. */

/**
 * The conditions with `next` set, as a new array (order kept, a new type appended). The transition
 * time moves only when the status flips, so "since when" stays true across reconciles; reason,
 * message and observedGeneration always take the new values.
 */
export function setCondition(conditions: readonly Condition[] | undefined, next: ConditionUpdate, now: Date): Condition[] {
  if (!next.reason) throw new Error(`condition ${next.type}: a reason is required (CamelCase, e.g. "AsExpected")`);
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const previous = i >= 0 ? list[i] : undefined;
  const condition: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    lastTransitionTime: previous && previous.status === next.status ? previous.lastTransitionTime : rfc3339(now),
  };
  if (next.message) condition.message = next.message;
  if (next.observedGeneration !== undefined) condition.observedGeneration = next.observedGeneration;
  if (i >= 0) list[i] = condition;
  else list.push(condition);
  return list;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
