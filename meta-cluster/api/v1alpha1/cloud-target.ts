/** CloudTarget (fleet.kok.dev/v1alpha1): a place machines come from, with its capacity and prices. */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { group, version } from './cluster.js';
import { conditionsSchema } from './conditions.js';
import { dnsLabelPattern, dnsSubdomainPattern, labelValuePattern } from './patterns.js';
import { defineKind, s, type Infer } from './schema-dsl.js';


/** The provider kok implements; real clouds plug in behind the same interface later. */
export const SIMULATED_PROVIDER = 'simulated';

export const cloudTargetTiers = ['private', 'hybrid', 'public'] as const;
export type CloudTargetTier = (typeof cloudTargetTiers)[number];

/** A number from 0 to 1. */
const fraction = (description: string) => s.number({ description, minimum: 0, maximum: 1, default: 0 });

export const machineTypeSchema = s.object(
  {
    name: s.string({ description: 'Name of the machine type, unique in the target (e.g. "c8m32").', pattern: dnsLabelPattern, maxLength: 63 }),
    cpu: s.integer({ description: 'CPU cores a machine of this type gives its Node.', minimum: 1 }),
    memoryGiB: s.integer({ description: 'Memory in GiB a machine of this type gives its Node.', minimum: 1 }),
    pricePerHour: s.number({ description: 'What one machine of this type costs per hour, in currency units.', minimum: 0 }),
  },
  { required: ['name', 'cpu', 'memoryGiB', 'pricePerHour'], description: 'A machine type the target offers.' },
);
export type MachineType = Infer<typeof machineTypeSchema>;

export const cloudTargetSpecSchema = s.object(
  {
    tier: s.enum(cloudTargetTiers, {
      description: 'private, hybrid or public. Bursts take public targets, cheapest first; steady pools prefer private ones.',
    }),
    provider: s.string({
      description: `The provider plugin that creates the machines. Only "${SIMULATED_PROVIDER}" is implemented: it simulates instances with the latencies, failures and prices of spec.simulation and spec.machineTypes.`,
      pattern: dnsLabelPattern,
      maxLength: 63,
    }),
    region: s.string({
      description: 'Region of the target; Nodes carry it as topology.kubernetes.io/region.',
      pattern: labelValuePattern,
      maxLength: 63,
    }),
    zones: s.array(s.string({ description: 'A zone; Nodes carry it as topology.kubernetes.io/zone.', pattern: labelValuePattern, maxLength: 63 }), {
      description: 'Zones of the region machines can be placed in.',
      minItems: 1,
      listType: 'set',
    }),
    capacity: s.object(
      {
        machines: s.integer({ description: 'The most machines the target holds at once, counting every pool on it. Absent: no limit.', minimum: 0 }),
      },
      { description: 'Limits of the target. Absent: no limit.' },
    ),
    machineTypes: s.array(machineTypeSchema, {
      description: 'The machine types the target offers, with their size and price.',
      minItems: 1,
      listType: 'map',
      listMapKeys: ['name'],
    }),
    credentialsSecretRef: s.object(
      {
        namespace: s.string({ description: 'Namespace of the Secret.', pattern: dnsLabelPattern, maxLength: 63 }),
        name: s.string({ description: 'Name of the Secret.', pattern: dnsSubdomainPattern, maxLength: 253 }),
      },
      {
        required: ['namespace', 'name'],
        description: `The Secret holding the provider's endpoint and credentials. The "${SIMULATED_PROVIDER}" provider needs none.`,
      },
    ),
    simulation: s.object(
      {
        provisionSeconds: s.number({ description: 'Seconds the provider takes to place an instance (state provisioning) before it boots.', minimum: 0, default: 0 }),
        bootSeconds: s.number({ description: 'Seconds an instance boots (state booting) before it runs its node agent, which registers the Node.', minimum: 0, default: 0 }),
        jitter: fraction('Spread of the latencies: each one is multiplied by a factor drawn from [1-jitter, 1+jitter].'),
        createFailureRate: fraction('Fraction of instance creations that fail.'),
        failureRatePerHour: s.number({
          description: 'How often a running machine dies, per machine per hour (0.01: one in a hundred machines dies each hour).',
          minimum: 0,
          default: 0,
        }),
      },
      { description: `Behaviour of the "${SIMULATED_PROVIDER}" provider; other providers ignore it.`, default: {} },
    ),
  },
  { required: ['tier', 'provider', 'region', 'zones', 'machineTypes'], description: 'The desired cloud target.' },
);

export const cloudTargetPhases = ['Ready', 'Full', 'Unavailable'] as const;
export type CloudTargetPhase = (typeof cloudTargetPhases)[number];

export const cloudTargetStatusSchema = s.object(
  {
    observedGeneration: s.integer({ description: 'The .metadata.generation this status was computed from.', minimum: 0 }),
    phase: s.enum(cloudTargetPhases, {
      description: 'Ready: machines can be had; Full: every machine the capacity allows is in use; Unavailable: the provider cannot be used. Conditions hold the detail.',
    }),
    capacity: s.integer({ description: 'The most machines the target holds at once, as the provider reports it; absent when there is no limit.', minimum: 0 }),
    machinesInUse: s.integer({ description: 'Machines of any pool that exist on the target now.', minimum: 0 }),
    costPerHour: s.number({ description: 'Sum of pricePerHour of the machines in use, in currency units per hour.', minimum: 0 }),
    orphanedInstances: s.integer({
      description: 'Instances kok made at the provider whose Machine no longer exists (leaks), found by listing the provider; the machine operator deletes them once they are older than its grace period.',
      minimum: 0,
    }),
    conditions: conditionsSchema,
  },
  { description: 'What the machine operator observed.' },
);

export type CloudTargetSpec = Infer<typeof cloudTargetSpecSchema>;
export type CloudTargetStatus = Infer<typeof cloudTargetStatusSchema>;

export interface CloudTarget {
  apiVersion: `${typeof group}/${typeof version}`;
  kind: 'CloudTarget';
  metadata: V1ObjectMeta;
  spec: CloudTargetSpec;
  status?: CloudTargetStatus;
}

export const cloudTargetKind = defineKind({
  group,
  version,
  kind: 'CloudTarget',
  plural: 'cloudtargets',
  singular: 'cloudtarget',
  shortNames: ['ct'],
  // Cluster-scoped: pools of many namespaces draw on one target and share its capacity.
  scope: 'Cluster',
  categories: ['kok'],
  description: 'A place machines come from: tier, provider, region and zones, capacity, machine types with prices, simulation settings.',
  printerColumns: [
    { name: 'Tier', type: 'string', jsonPath: '.spec.tier', description: 'private, hybrid or public.' },
    { name: 'Provider', type: 'string', jsonPath: '.spec.provider', description: 'The provider plugin.' },
    { name: 'Region', type: 'string', jsonPath: '.spec.region', description: 'Region of the target.' },
    { name: 'In-Use', type: 'integer', jsonPath: '.status.machinesInUse', description: 'Machines on the target now.' },
    { name: 'Capacity', type: 'integer', jsonPath: '.spec.capacity.machines', description: 'The most machines the target holds.' },
    { name: 'Cost/h', type: 'number', jsonPath: '.status.costPerHour', description: 'Cost of the machines in use per hour.' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  spec: cloudTargetSpecSchema,
  status: cloudTargetStatusSchema,
});
