/**
 * What a simulated node looks like in the API: its Node object at registration, its status as a
 * kubelet reports it, its Lease, and the addresses it gets. Pure functions, table-tested.
 *
 * Addresses are deterministic in the node's index (its order of registration, kept across agent
 * restarts through `spec.podCIDR`): node i has InternalIP 10.0.0.0/10 + i + 1 (unless its spec gives
 * an address, as a simulated cloud instance's does) and pod CIDR 10.(64 + i/256).(i%256).0/24, so up
 * to 49,152 nodes of 253 pods each.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../operators/runtime/client.js';
import { microTime, rfc3339 } from '../../operators/runtime/time.js';
import { NODE_LEASE_NAMESPACE } from '../controllers/resources.js';

export { NODE_LEASE_NAMESPACE, microTime, rfc3339 };

export const SIMULATED_ANNOTATION = 'kok.dev/simulated';
export const CONTAINER_RUNTIME_VERSION = 'kok-sim://1.0';
export const OS_IMAGE = 'kok simulated node';
export const DEFAULT_KUBELET_VERSION = 'v1.31.0';
export const READY_MESSAGE = "kubelet is posting ready status (node simulated by kok's node agent; no kubelet or container runs)";

export interface ResourceList {
  cpu: string;
  memory: string;
  pods: string;
  [resource: string]: string;
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface SimulatedNodeSpec {
  name: string;
  /** Added to the well-known labels (and may override them). */
  labels?: Record<string, string>;
  /** @default cpu 4, memory 16Gi, pods 110 */
  capacity?: ResourceList;
  /** @default the capacity */
  allocatable?: ResourceList;
  /** Registered with the node (like kubelet --register-with-taints); never reconciled afterwards. */
  taints?: Taint[];
  /** `topology.kubernetes.io/zone`; @default "simulated-zone-a" */
  zone?: string;
  /** `node.kubernetes.io/instance-type`; @default "simulated.standard" */
  instanceType?: string;
  /** @default v1.31.0 */
  kubeletVersion?: string;
  /**
   * spec.providerID at registration, e.g. the cloud instance's `simulated://<target>/<zone>/<id>`.
   * An adopted Node keeps the one it has (the API allows setting it once, never changing it).
   * @default "kok://simulated/<name>"
   */
  providerID?: string;
  /** The node's InternalIP (and the hostIP of its pods), e.g. its cloud instance's address. @default - nodeInternalIP(index) */
  address?: string;
}

export const DEFAULT_CAPACITY: ResourceList = { cpu: '4', memory: '16Gi', pods: '110' };
export const MAX_NODES = 49_152;

export function nodeInternalIP(index: number): string {
  const n = index + 1;
  return `10.${(n >> 16) & 63}.${(n >> 8) & 255}.${n & 255}`;
}

export function nodePodCIDR(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_NODES) {
    throw new RangeError(`node index ${index} is outside the simulated pod network (0..${MAX_NODES - 1})`);
  }
  return `10.${64 + (index >> 8)}.${index & 255}.0/24`;
}

/** The index a pod CIDR of this scheme belongs to; undefined for any other CIDR. */
export function indexOfPodCIDR(cidr: string | undefined): number | undefined {
  const m = /^10\.(\d+)\.(\d+)\.0\/24$/.exec(cidr ?? '');
  if (!m) return undefined;
  const [a, b] = [Number(m[1]), Number(m[2])];
  if (a < 64 || a > 255 || b > 255) return undefined;
  return (a - 64) * 256 + b;
}

/** Stable 32-hex-digit id derived from the node name (machineID, systemUUID). */
function stableId(name: string, salt: string): string {
  return createHash('sha256').update(`${salt}/${name}`).digest('hex').slice(0, 32);
}

const uuidOf = (hex: string) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;

export function nodeLabels(spec: SimulatedNodeSpec): Record<string, string> {
  return {
    'kubernetes.io/hostname': spec.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'topology.kubernetes.io/zone': spec.zone ?? 'simulated-zone-a',
    'node.kubernetes.io/instance-type': spec.instanceType ?? 'simulated.standard',
    ...spec.labels,
  };
}

/** The Node the agent registers (status is written separately, through nodes/status). */
export function desiredNode(spec: SimulatedNodeSpec, index: number): KubeObject {
  const cidr = nodePodCIDR(index);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      labels: nodeLabels(spec),
      annotations: { [SIMULATED_ANNOTATION]: 'true' },
    },
    spec: {
      podCIDR: cidr,
      podCIDRs: [cidr],
      providerID: spec.providerID ?? `kok://simulated/${spec.name}`,
      ...(spec.taints?.length ? { taints: spec.taints } : {}),
    },
  };
}

/**
 * What an existing Node needs so the agent can adopt it (after an agent restart); undefined: nothing.
 * A providerID is only ever added to a Node that has none: it is immutable once set.
 */
export function adoptionPatch(wanted: SimulatedNodeSpec, node: KubeObject, index: number): Record<string, unknown> | undefined {
  const labels = nodeLabels(wanted);
  const missing = Object.entries(labels).filter(([k, v]) => node.metadata.labels?.[k] !== v);
  const metadata: Record<string, unknown> = {};
  if (missing.length) metadata.labels = Object.fromEntries(missing);
  if (node.metadata.annotations?.[SIMULATED_ANNOTATION] !== 'true') metadata.annotations = { [SIMULATED_ANNOTATION]: 'true' };
  const patch: Record<string, unknown> = {};
  if (Object.keys(metadata).length) patch.metadata = metadata;
  const spec: Record<string, unknown> = {};
  if (!node.spec?.podCIDR) Object.assign(spec, { podCIDR: nodePodCIDR(index), podCIDRs: [nodePodCIDR(index)] });
  if (wanted.providerID && !node.spec?.providerID) spec.providerID = wanted.providerID;
  if (Object.keys(spec).length) patch.spec = spec;
  return Object.keys(patch).length ? patch : undefined;
}

interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

const OWN_CONDITIONS: Array<Pick<NodeCondition, 'type' | 'status' | 'reason' | 'message'>> = [
  { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
  { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
  { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
  { type: 'Ready', status: 'True', reason: 'KubeletReady', message: READY_MESSAGE },
];

/**
 * The node's status as its kubelet reports it at `now`. Conditions keep their lastTransitionTime
 * while their status holds (so a node marked Unknown by a lifecycle controller flips back with a
 * fresh one); conditions of other owners (node-problem-detector) are kept as they are.
 */
export function desiredNodeStatus(spec: SimulatedNodeSpec, index: number, current: KubeObject | undefined, now: Date, bootID: string): Record<string, unknown> {
  const existing: NodeCondition[] = current?.status?.conditions ?? [];
  const stamp = rfc3339(now);
  const own = OWN_CONDITIONS.map((c) => {
    const before = existing.find((e) => e.type === c.type);
    const lastTransitionTime = before?.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : stamp;
    return { ...c, lastHeartbeatTime: stamp, lastTransitionTime };
  });
  const foreign = existing.filter((e) => !OWN_CONDITIONS.some((c) => c.type === e.type));
  const capacity = spec.capacity ?? DEFAULT_CAPACITY;
  return {
    capacity,
    allocatable: spec.allocatable ?? capacity,
    conditions: [...own, ...foreign],
    addresses: [
      { type: 'InternalIP', address: spec.address ?? nodeInternalIP(index) },
      { type: 'Hostname', address: spec.name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      machineID: stableId(spec.name, 'machine'),
      systemUUID: uuidOf(stableId(spec.name, 'system')),
      bootID,
      kernelVersion: '6.1.0-kok-sim',
      osImage: OS_IMAGE,
      containerRuntimeVersion: CONTAINER_RUNTIME_VERSION,
      kubeletVersion: spec.kubeletVersion ?? DEFAULT_KUBELET_VERSION,
      kubeProxyVersion: spec.kubeletVersion ?? DEFAULT_KUBELET_VERSION,
      operatingSystem: 'linux',
      architecture: 'amd64',
    },
  };
}

/** The node's Lease in kube-node-lease, owned by the Node so it goes when the Node goes. */
export function desiredLease(nodeName: string, nodeUid: string | undefined, leaseDurationSeconds: number, now: Date): KubeObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: nodeName,
      namespace: NODE_LEASE_NAMESPACE,
      ...(nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUid }] } : {}),
    },
    spec: { holderIdentity: nodeName, leaseDurationSeconds, renewTime: microTime(now) },
  };
}
