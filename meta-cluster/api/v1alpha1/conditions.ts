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
