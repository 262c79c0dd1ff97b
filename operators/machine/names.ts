/**
 * Names, labels and annotations of what the machine operator writes, in the meta-cluster and in
 * business clusters. Machines of a pool have deterministic names (`<pool>-<template hash>-<n>`),
 * so a stale cache or a restarted operator meets "already exists", never a second machine.
 */
import { createHash } from 'node:crypto';
import { UNIT_LABEL } from '../../meta-cluster/api/v1alpha1/machine-pool.js';
import { canonicalJson } from '../../meta-cluster/controllers/workload.js';

export const FIELD_MANAGER = 'kok-machine-operator';
export const MACHINE_FINALIZER = 'fleet.kok.dev/machine';

export const labels = {
  /** On Machines: the pool that owns them. */
  pool: 'fleet.kok.dev/pool',
  /** On Machines: the Cluster they join (as spec.clusterName, for selection). */
  cluster: 'fleet.kok.dev/cluster',
  /** On Machines: the hash of the pool template they were made from. */
  templateHash: 'fleet.kok.dev/template-hash',
  /** On Nodes: where they came from. */
  unit: UNIT_LABEL,
  tier: 'fleet.kok.dev/tier',
  target: 'fleet.kok.dev/target',
  machine: 'fleet.kok.dev/machine',
  machineNamespace: 'fleet.kok.dev/machine-namespace',
  zone: 'topology.kubernetes.io/zone',
  region: 'topology.kubernetes.io/region',
  instanceType: 'node.kubernetes.io/instance-type',
} as const;

/** Ten hex digits of a SHA-256 over the canonical JSON of `value` (keys sorted, empty fields dropped, as template hashes are). */
export const stableHash = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 10);

/** The n-th machine of a pool made from the template with this hash. */
export const machineName = (pool: string, hash: string, n: number): string => `${pool}-${hash.slice(0, 5)}-${n}`;
