/** Machine (fleet.kok.dev/v1alpha1): one machine, created by a MachinePool (its controller owner). */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { labelValuePattern } from './patterns.js';
import { group, version } from './cluster.js';
import { conditionsSchema } from './conditions.js';
import {
  clusterNameSchema,
  kubeletVersionSchema,
  machineTypeNameSchema,
  nodeLabelsSchema,
  targetRefSchema,
  unitSchema,
} from './machine-pool.js';
import { defineKind, s, type Infer } from './schema-dsl.js';

export const machineSpecSchema = s.object(
  {
    clusterName: clusterNameSchema,
    targetRef: targetRefSchema,
    machineType: machineTypeNameSchema,
    zone: s.string({ description: 'Zone of the target the machine is placed in. Absent: the provider picks one.', pattern: labelValuePattern, maxLength: 63 }),
    version: kubeletVersionSchema,
    unit: unitSchema,
    labels: nodeLabelsSchema,
    providerID: s.string({
      description:
        'The provider\'s ID of the instance, "<provider>://<id>" (e.g. "simulated://public-a/i-0001"); its Node carries the same spec.providerID. Set by the machine operator once the instance exists; never changes after that (not enforced by the API server).',
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?://.+$',
    }),
  },
  { required: ['clusterName', 'targetRef', 'machineType'], description: 'The desired machine.' },
);

/**
 * Pending: not asked for yet (e.g. the target is full); Provisioning: the instance is being
 * created; Provisioned: the instance runs, its kubelet has not registered; Joining: the Node
 * exists but was never Ready; Running: the Node has been Ready; Deleting: being drained and
 * deleted; Failed: for good (see failureReason), the pool replaces it.
 */
export const machinePhases = ['Pending', 'Provisioning', 'Provisioned', 'Joining', 'Running', 'Deleting', 'Failed'] as const;
export type MachinePhase = (typeof machinePhases)[number];

export const nodeAddressTypes = ['Hostname', 'InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS'] as const;

export const machineStatusSchema = s.object(
  {
    observedGeneration: s.integer({ description: 'The .metadata.generation this status was computed from.', minimum: 0 }),
    phase: s.enum(machinePhases, { description: 'A one-word summary for `kubectl get`; conditions hold the detail.' }),
    instanceID: s.string({ description: 'The provider\'s own ID of the instance.' }),
    nodeRef: s.object(
      {
        name: s.string({ description: 'Name of the Node.' }),
        uid: s.string({ description: 'UID of the Node, so a Node re-registered under the same name is told apart.' }),
      },
      { required: ['name'], description: 'The Node of the machine in its cluster, once it registered.' },
    ),
    addresses: s.array(
      s.object(
        {
          type: s.enum(nodeAddressTypes, { description: 'Kind of address, as in a Node\'s status.addresses.' }),
          address: s.string({ description: 'The address.' }),
        },
        { required: ['type', 'address'] },
      ),
      { description: 'Addresses the provider gave the instance.' },
    ),
    failureReason: s.string({
      description: 'Set when the machine failed for good: a CamelCase reason (e.g. InstanceCreateFailed, InstanceDied).',
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    failureMessage: s.string({ description: 'Set when the machine failed for good: what happened, for people.' }),
    conditions: conditionsSchema,
  },
  { description: 'What the machine operator observed.' },
);

export type MachineSpec = Infer<typeof machineSpecSchema>;
export type MachineStatus = Infer<typeof machineStatusSchema>;

export interface Machine {
  apiVersion: `${typeof group}/${typeof version}`;
  kind: 'Machine';
  metadata: V1ObjectMeta;
  spec: MachineSpec;
  status?: MachineStatus;
}

export const machineKind = defineKind({
  group,
  version,
  kind: 'Machine',
  plural: 'machines',
  singular: 'machine',
  // "mach": kubectl knows no resource by it; cluster-api's machines use "ma".
  shortNames: ['mach'],
  scope: 'Namespaced',
  categories: ['kok'],
  description: 'One machine of a Cluster, created by a MachinePool: where it runs, the instance and the Node it became.',
  printerColumns: [
    { name: 'Cluster', type: 'string', jsonPath: '.spec.clusterName', description: 'The Cluster the machine joins.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary of the machine state.' },
    { name: 'Node', type: 'string', jsonPath: '.status.nodeRef.name', description: 'The Node the machine became.' },
    { name: 'Type', type: 'string', jsonPath: '.spec.machineType', description: 'Machine type.' },
    { name: 'Zone', type: 'string', jsonPath: '.spec.zone', description: 'Zone of the target.' },
    { name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name', description: 'The CloudTarget.', priority: 1 },
    { name: 'ProviderID', type: 'string', jsonPath: '.spec.providerID', description: 'The provider\'s ID of the instance.', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  spec: machineSpecSchema,
  status: machineStatusSchema,
});
