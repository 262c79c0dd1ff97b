/** Where the kinds the machine operator reads and writes live. */
import { cloudTargetKind } from '../../meta-cluster/api/v1alpha1/cloud-target.js';
import { clusterKind } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { machineKind } from '../../meta-cluster/api/v1alpha1/machine.js';
import { machinePoolKind } from '../../meta-cluster/api/v1alpha1/machine-pool.js';
import type { KindDefinition } from '../../meta-cluster/api/v1alpha1/schema-dsl.js';
import type { ResourceRef } from '../runtime/client.js';

const refOf = (k: KindDefinition): ResourceRef => ({ group: k.group, version: k.version, plural: k.plural, namespaced: k.scope === 'Namespaced' });

export const fleetResources = {
  Cluster: refOf(clusterKind as KindDefinition),
  CloudTarget: refOf(cloudTargetKind as KindDefinition),
  MachinePool: refOf(machinePoolKind as KindDefinition),
  Machine: refOf(machineKind as KindDefinition),
} as const;

export const apiVersionOf = (k: KindDefinition): string => `${k.group}/${k.version}`;
