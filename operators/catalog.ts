/**
 * kok's operators by name, with what the install chart needs to run each one: a description and
 * the API access it uses. Kept free of the operators' code so charts and Pulumi programs load fast.
 */
import { clusterOperatorPermissions } from './cluster/permissions.js';
import { machineOperatorPermissions } from './machine/permissions.js';
import type { Permission } from './runtime/permissions.js';

export interface OperatorInfo {
  readonly description: string;
  readonly permissions: readonly Permission[];
}

export const operatorCatalog = {
  cluster: { description: 'business clusters whose control planes run as pods', permissions: clusterOperatorPermissions },
  machine: { description: 'machines on cloud targets that join clusters as Nodes', permissions: machineOperatorPermissions },
} as const satisfies Record<string, OperatorInfo>;

export type OperatorName = keyof typeof operatorCatalog;
export const operatorNames = Object.keys(operatorCatalog) as OperatorName[];

export const isOperatorName = (v: string): v is OperatorName => Object.hasOwn(operatorCatalog, v);
