/** Where each fleet.kok.dev kind is served, from its kind definition: the refs clients and operators use. */
import type { ResourceRef } from '../../operators/runtime/client.js';
import { cloudTargetKind } from './v1alpha1/cloud-target.js';
import { clusterKind } from './v1alpha1/cluster.js';
import { machineKind } from './v1alpha1/machine.js';
import { machinePoolKind } from './v1alpha1/machine-pool.js';
import type { KindDefinition } from './v1alpha1/schema-dsl.js';

const refOf = (k: KindDefinition): ResourceRef => ({ group: k.group, version: k.version, plural: k.plural, namespaced: k.scope === 'Namespaced' });

export const fleetResources = {
  Cluster: refOf(clusterKind as KindDefinition),
  CloudTarget: refOf(cloudTargetKind as KindDefinition),
  MachinePool: refOf(machinePoolKind as KindDefinition),
  Machine: refOf(machineKind as KindDefinition),
} as const;

/** `fleet.kok.dev/v1alpha1`, as objects of a kind spell their apiVersion. */
export const apiVersionOf = (k: KindDefinition): string => `${k.group}/${k.version}`;
