/** Cluster (fleet.kok.dev/v1alpha1): a business cluster the cluster operator provisions and upgrades. */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { conditionsSchema } from './conditions.js';
import { dnsSubdomainPattern, kubernetesVersionPattern } from './patterns.js';
import { defineKind, s, type Infer } from './schema-dsl.js';

export const group = 'fleet.kok.dev';
export const version = 'v1alpha1';

const ipv4CidrPattern = '^([0-9]{1,3}\\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$';

/** Odd sizes only: an even member count adds no fault tolerance to a quorum. */
const quorumSizes = [1, 3, 5, 7] as const;

export const clusterSpecSchema = s.object(
  {
    version: s.string({
      description: 'Kubernetes version of the control plane: a minor ("1.31", its latest patch) or a patch ("1.31.2").',
      pattern: kubernetesVersionPattern,
    }),
    controlPlane: s.object(
      {
        replicas: s.enum(quorumSizes, { description: 'API server replicas (1, 3, 5 or 7).', default: 3 }),
        datastore: s.object(
          {
            type: s.enum(['etcd'], { description: 'Datastore of the control plane.', default: 'etcd' }),
            replicas: s.enum(quorumSizes, { description: 'Datastore members (1, 3, 5 or 7), odd for a quorum.', default: 3 }),
          },
          { description: 'Where the control plane keeps its state.', default: {} },
        ),
      },
      { description: 'Shape of the control plane.', default: {} },
    ),
    network: s.object(
      {
        serviceCIDR: s.string({ description: 'IPv4 range of Service cluster IPs.', pattern: ipv4CidrPattern, default: '10.96.0.0/12' }),
        podCIDR: s.string({ description: 'IPv4 range of Pod IPs.', pattern: ipv4CidrPattern, default: '10.244.0.0/16' }),
        dnsDomain: s.string({ description: 'Cluster DNS domain.', pattern: dnsSubdomainPattern, maxLength: 253, default: 'cluster.local' }),
      },
      { description: 'Networks of the cluster.', default: {} },
    ),
    paused: s.boolean({ description: 'When true the cluster operator leaves the cluster as it is.' }),
  },
  { required: ['version'], description: 'The desired business cluster.' },
);

export const clusterPhases = ['Pending', 'Provisioning', 'Ready', 'Upgrading', 'Failed', 'Deleting'] as const;
export type ClusterPhase = (typeof clusterPhases)[number];

export const clusterStatusSchema = s.object(
  {
    observedGeneration: s.integer({ description: 'The .metadata.generation this status was computed from.', minimum: 0 }),
    phase: s.enum(clusterPhases, { description: 'A one-word summary for `kubectl get`; conditions hold the detail.' }),
    version: s.string({ description: 'Kubernetes version the control plane runs now.' }),
    endpoint: s.string({ description: 'HTTPS URL of the cluster API server.' }),
    kubeconfigSecretRef: s.object(
      { name: s.string({ description: 'Name of the Secret (same namespace) holding an admin kubeconfig under key "value".' }) },
      { required: ['name'], description: 'The Secret with the admin kubeconfig.' },
    ),
    readyControlPlaneReplicas: s.integer({ description: 'API server replicas that are ready.', minimum: 0 }),
    conditions: conditionsSchema,
  },
  { description: 'What the cluster operator observed.' },
);

export type ClusterSpec = Infer<typeof clusterSpecSchema>;
export type ClusterStatus = Infer<typeof clusterStatusSchema>;

export interface Cluster {
  apiVersion: `${typeof group}/${typeof version}`;
  kind: 'Cluster';
  metadata: V1ObjectMeta;
  spec: ClusterSpec;
  status?: ClusterStatus;
}

export const clusterKind = defineKind({
  group,
  version,
  kind: 'Cluster',
  plural: 'clusters',
  singular: 'cluster',
  // "kc" ("kok cluster"): kubectl knows no resource by it; "cluster" alone would be ambiguous.
  shortNames: ['kc'],
  scope: 'Namespaced',
  categories: ['kok'],
  description: 'A business cluster: Kubernetes version, control plane (replicas, datastore) and networks.',
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary of the cluster state.' },
    { name: 'Version', type: 'string', jsonPath: '.spec.version', description: 'Desired Kubernetes version.' },
    { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint', description: 'URL of the cluster API server.' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'The Ready condition.' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  spec: clusterSpecSchema,
  status: clusterStatusSchema,
});
