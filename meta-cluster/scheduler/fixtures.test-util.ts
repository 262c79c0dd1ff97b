/** Node and Pod objects for the scheduler's table tests. */
import type { KubeObject } from '../../operators/runtime/client.js';
import type { NodeSelectorTerm, Taint, Toleration } from './pod-info.js';

export interface NodeFixture {
  name: string;
  cpu?: string;
  memory?: string;
  pods?: string;
  ready?: 'True' | 'False' | 'Unknown' | null;
  unschedulable?: boolean;
  labels?: Record<string, string>;
  taints?: Taint[];
  extra?: Record<string, string>;
}

export function makeNode(f: NodeFixture): KubeObject {
  const resources = { cpu: f.cpu ?? '4', memory: f.memory ?? '8Gi', pods: f.pods ?? '110', ...f.extra };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: f.name, labels: { 'kubernetes.io/hostname': f.name, ...f.labels } },
    spec: { ...(f.unschedulable ? { unschedulable: true } : {}), ...(f.taints ? { taints: f.taints } : {}) },
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: f.ready === null ? [] : [{ type: 'Ready', status: f.ready ?? 'True', reason: 'KubeletReady' }],
    },
  };
}

export interface PodFixture {
  name?: string;
  uid?: string;
  cpu?: string;
  memory?: string;
  owner?: string;
  nodeSelector?: Record<string, string>;
  terms?: NodeSelectorTerm[];
  tolerations?: Toleration[];
  schedulerName?: string;
  extra?: Record<string, string>;
}

let seq = 0;

export function makePod(f: PodFixture = {}): KubeObject {
  const name = f.name ?? `p${++seq}`;
  const requests: Record<string, string> = { ...f.extra };
  if (f.cpu) requests.cpu = f.cpu;
  if (f.memory) requests.memory = f.memory;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: f.uid ?? `uid-${name}`,
      ...(f.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: f.owner, uid: f.owner, controller: true }] } : {}),
    },
    spec: {
      containers: [{ name: 'c', image: 'busybox', resources: { requests } }],
      ...(f.nodeSelector ? { nodeSelector: f.nodeSelector } : {}),
      ...(f.terms ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: f.terms } } } } : {}),
      ...(f.tolerations ? { tolerations: f.tolerations } : {}),
      ...(f.schedulerName ? { schedulerName: f.schedulerName } : {}),
    },
  };
}
