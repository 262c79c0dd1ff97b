/** MachinePool (fleet.kok.dev/v1alpha1): N machines of one type on one CloudTarget for one Cluster. */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { dnsLabelPattern, dnsSubdomainPattern, kubernetesVersionPattern, labelValuePattern } from './patterns.js';
import { group, version } from './cluster.js';
import { conditionsSchema } from './conditions.js';
import { defineKind, s, type Infer } from './schema-dsl.js';

/**
 * The `clusterName` that means the meta-cluster itself rather than a business Cluster, so a pool
 * can add worker Nodes to the meta-cluster. A Cluster named "meta-cluster" cannot be given machines.
 */
export const META_CLUSTER = 'meta-cluster';

/** The label that says which unit a Cluster (and here, a Node) belongs to. */
export const UNIT_LABEL = 'fleet.kok.dev/unit';

// Field schemas a MachinePool's template shares with the Machines it creates.

export const clusterNameSchema = s.string({
  description: `Name of the Cluster (same namespace) the machines join as Nodes; "${META_CLUSTER}" means the meta-cluster itself.`,
  pattern: dnsSubdomainPattern,
  maxLength: 253,
});

export const targetRefSchema = s.object(
  { name: s.string({ description: 'Name of the CloudTarget.', pattern: dnsSubdomainPattern, maxLength: 253 }) },
  { required: ['name'], description: 'The CloudTarget (cluster-scoped) the machines come from.' },
);

export const machineTypeNameSchema = s.string({
  description: 'Name of one of the target\'s spec.machineTypes.',
  pattern: dnsLabelPattern,
  maxLength: 63,
});

export const kubeletVersionSchema = s.string({
  description: 'Kubernetes version of the kubelet: a minor ("1.31") or a patch ("1.31.2"). Absent: the Cluster\'s spec.version.',
  pattern: kubernetesVersionPattern,
});

export const unitSchema = s.string({
  description: `The ${UNIT_LABEL} label value the Nodes get. Absent: the Nodes carry no unit label.`,
  pattern: labelValuePattern,
  maxLength: 63,
});

export const nodeLabelsSchema = s.map(
  s.string({ description: 'A label value.', pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$', maxLength: 63 }),
  { description: 'Extra labels of the Nodes. kok\'s own labels (unit, zone, region, machine type) win over these.' },
);

export const machinePoolSpecSchema = s.object(
  {
    clusterName: clusterNameSchema,
    replicas: s.integer({ description: 'How many machines the pool keeps.', minimum: 0, default: 1 }),
    unit: unitSchema,
    template: s.object(
      {
        targetRef: targetRefSchema,
        machineType: machineTypeNameSchema,
        zones: s.array(s.string({ description: 'A zone of the target.', pattern: labelValuePattern, maxLength: 63 }), {
          description: 'Zones of the target to spread the machines across, evenly. Absent: every zone of the target.',
          minItems: 1,
          listType: 'set',
        }),
        version: kubeletVersionSchema,
        labels: nodeLabelsSchema,
      },
      {
        required: ['targetRef', 'machineType'],
        description: 'What each machine is. A change replaces the machines, as spec.strategy says.',
      },
    ),
    strategy: s.object(
      {
        maxSurge: s.intOrString({
          description: 'Machines a rollout may create above spec.replicas: a number or a percentage of replicas ("25%", rounded up).',
          default: 1,
        }),
        maxUnavailable: s.intOrString({
          description: 'Machines a rollout may take away below spec.replicas: a number or a percentage of replicas ("25%", rounded down).',
          default: 0,
        }),
      },
      { description: 'How a template change rolls out: new machines first, then the old ones are drained and deleted.', default: {} },
    ),
    healthCheck: s.object(
      {
        nodeNotReadySeconds: s.integer({
          description: 'A machine whose Node is not Ready for longer than this (or never joins within it after booting) is replaced.',
          minimum: 1,
          default: 300,
        }),
        maxUnhealthy: s.intOrString({
          description: 'Replacement stops while more machines than this are unhealthy (a number or a percentage of replicas), since the fault is then likely not in the machines.',
          default: '40%',
        }),
      },
      { description: 'When unhealthy machines are replaced.', default: {} },
    ),
    drainTimeoutSeconds: s.integer({
      description: 'How long the pods of a machine being removed are evicted (retrying while disruption budgets refuse) before the machine is deleted anyway. 0: delete without draining.',
      minimum: 0,
      default: 300,
    }),
    paused: s.boolean({ description: 'When true the machine operator leaves the pool and its machines as they are.' }),
  },
  { required: ['clusterName', 'template'], description: 'The desired machine pool.' },
);

/**
 * Pending: waiting for its Cluster or CloudTarget; ScalingUp/ScalingDown: towards spec.replicas;
 * RollingOut: replacing machines of an older template; Running: everything as desired;
 * Failed: cannot make progress without a change (see conditions); Deleting: being deleted.
 */
export const machinePoolPhases = ['Pending', 'ScalingUp', 'ScalingDown', 'RollingOut', 'Running', 'Failed', 'Deleting'] as const;
export type MachinePoolPhase = (typeof machinePoolPhases)[number];

const count = (description: string) => s.integer({ description, minimum: 0 });

export const machinePoolStatusSchema = s.object(
  {
    observedGeneration: s.integer({ description: 'The .metadata.generation this status was computed from.', minimum: 0 }),
    phase: s.enum(machinePoolPhases, { description: 'A one-word summary for `kubectl get`; conditions hold the detail.' }),
    replicas: count('Machines of the pool that exist, of any template, not counting those being deleted.'),
    readyReplicas: count('Machines whose Node is Ready.'),
    availableReplicas: count('Ready machines that are not being drained: what rollouts count against maxUnavailable.'),
    updatedReplicas: count('Machines of the current template.'),
    selector: s.string({ description: 'Label selector of the pool\'s Machines, in string form (for the scale subresource).' }),
    conditions: conditionsSchema,
  },
  { description: 'What the machine operator observed.' },
);

export type MachinePoolSpec = Infer<typeof machinePoolSpecSchema>;
export type MachinePoolStatus = Infer<typeof machinePoolStatusSchema>;

export interface MachinePool {
  apiVersion: `${typeof group}/${typeof version}`;
  kind: 'MachinePool';
  metadata: V1ObjectMeta;
  spec: MachinePoolSpec;
  status?: MachinePoolStatus;
}

export const machinePoolKind = defineKind({
  group,
  version,
  kind: 'MachinePool',
  plural: 'machinepools',
  singular: 'machinepool',
  shortNames: ['mp'],
  scope: 'Namespaced',
  categories: ['kok'],
  description: 'N machines of one type on one CloudTarget for one Cluster, with a unit label, rollout strategy and health checks.',
  printerColumns: [
    { name: 'Cluster', type: 'string', jsonPath: '.spec.clusterName', description: 'The Cluster the machines join.' },
    { name: 'Target', type: 'string', jsonPath: '.spec.template.targetRef.name', description: 'The CloudTarget the machines come from.' },
    { name: 'Type', type: 'string', jsonPath: '.spec.template.machineType', description: 'Machine type.' },
    { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas', description: 'Machines wanted.' },
    { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Machines whose Node is Ready.' },
    { name: 'Updated', type: 'integer', jsonPath: '.status.updatedReplicas', description: 'Machines of the current template.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary of the pool state.' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  // `kubectl scale mp` and autoscalers write spec.replicas through /scale.
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
  spec: machinePoolSpecSchema,
  status: machinePoolStatusSchema,
});
