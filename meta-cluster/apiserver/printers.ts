/**
 * Server-side printers for built-in resources: the columns `kubectl get` shows, as
 * kube-apiserver's pkg/printers/internalversion builds them. The apiserver always prints "wide",
 * so priority-1 columns are always filled and kubectl hides them unless `-o wide`.
 */

import { qualifiedResource } from './errors.js';
import { formatLabels, formatLabelSelector, labelSelectorFromObject, type LabelSelectorObject } from './selectors.js';
import type { KubeObject } from './types.js';

export type Cell = string | number | boolean | null;

/** metav1.TableColumnDefinition: every field is always serialised. */
export interface ColumnDefinition {
  name: string;
  /** OpenAPI type: string, integer, number, boolean, date. */
  type: string;
  /** `name` marks the column holding the object name. */
  format: string;
  description: string;
  /** 0 = always shown; >0 = only with `-o wide`. */
  priority: number;
}

/** metav1.TableRowCondition; pods mark finished rows `Completed`. */
export interface RowCondition {
  type: 'Completed';
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
}

export interface PrintContext {
  now: Date;
}

export interface Printer {
  readonly columns: readonly ColumnDefinition[];
  /** One cell per column, in order. */
  readonly cells: (obj: KubeObject, ctx: PrintContext) => Cell[];
  readonly conditions?: (obj: KubeObject) => RowCondition[] | undefined;
}

// --- durations and timestamps -----------------------------------------------------------------

/**
 * k8s.io/apimachinery/pkg/util/duration.HumanDuration: two significant units at most, coarser
 * as the duration grows (`90s`, `5m30s`, `45m`, `5h10m`, `30h`, `3d5h`, `120d`, `2y30d`, `9y`).
 * A clock skew of up to 2s reads as `0s`; further into the future is `<invalid>`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) {
    const d = days % 365;
    return d === 0 ? `${years}y` : `${years}y${d}d`;
  }
  return `${years}y`;
}

/** Milliseconds since the epoch, or undefined for an absent, unparsable or zero (`0001-…`) time. */
export function parseTimestamp(v: unknown): number | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t) || t <= ZERO_TIME) return undefined;
  return t;
}

/** Go's zero time.Time, which serialises as 0001-01-01T00:00:00Z. */
const ZERO_TIME = Date.parse('0001-01-01T00:00:00Z');

/** translateTimestampSince: the age of a timestamp, `<unknown>` when unset. */
export function ageOf(timestamp: unknown, now: Date): string {
  const t = parseTimestamp(timestamp);
  return t === undefined ? '<unknown>' : humanDuration(now.getTime() - t);
}

/** Go's `time.RFC3339` in UTC: no fractional seconds. */
function rfc3339(timestamp: unknown): string {
  const t = parseTimestamp(timestamp);
  return t === undefined ? '0001-01-01T00:00:00Z' : new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
}

// --- plain-JSON access ------------------------------------------------------------------------

type Obj = Record<string, unknown>;

const rec = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(rec) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0);

function get(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const part of path.split('.')) cur = rec(cur)[part];
  return cur;
}

const orNone = (s: string): string => (s === '' ? '<none>' : s);

// --- columns ----------------------------------------------------------------------------------

function col(name: string, description: string, opts: { type?: string; format?: string; priority?: number } = {}): ColumnDefinition {
  return { name, type: opts.type ?? 'string', format: opts.format ?? '', description, priority: opts.priority ?? 0 };
}

const wide = { priority: 1 } as const;

export const NAME_COLUMN: ColumnDefinition = col(
  'Name',
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  { format: 'name' },
);

const CREATION_TIMESTAMP_DOC =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.';

export const AGE_COLUMN: ColumnDefinition = col('Age', CREATION_TIMESTAMP_DOC);
const CREATED_AT_COLUMN: ColumnDefinition = col('Created At', CREATION_TIMESTAMP_DOC, { type: 'date' });

const name = (o: KubeObject): string => o.metadata.name ?? '';
const age = (o: KubeObject, ctx: PrintContext): string => ageOf(o.metadata.creationTimestamp, ctx.now);

/** Names and images of a pod template's containers: the wide Containers/Images cells. */
function containerCells(obj: KubeObject): [string, string] {
  const containers = list(get(obj, 'spec.template.spec.containers'));
  return [containers.map((c) => str(c.name)).join(','), containers.map((c) => str(c.image)).join(',')];
}

/** `selector.String()` of a metav1.LabelSelector; `<invalid>` when it does not convert. */
function selectorString(sel: unknown, emptyAs = ''): string {
  try {
    const s = formatLabelSelector(labelSelectorFromObject(sel as LabelSelectorObject | null | undefined));
    return s === '' ? emptyAs : s;
  } catch {
    return '<invalid>';
  }
}

const CONTAINERS_COLUMN = col('Containers', 'Names of each container in the template.', wide);
const IMAGES_COLUMN = col('Images', 'Images referenced by each container in the template.', wide);
const SELECTOR_COLUMN = col('Selector', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', wide);

// --- pods -------------------------------------------------------------------------------------

const isRestartableInit = (c: Obj | undefined): boolean => c?.restartPolicy === 'Always';
const hasTrueCondition = (status: Obj, type: string): boolean =>
  list(status.conditions).some((c) => c.type === type && c.status === 'True');

interface PodSummary {
  ready: string;
  reason: string;
  restarts: string;
}

/** printPod's Ready/Status/Restarts: the container whose state explains the pod wins. */
export function summarizePod(pod: KubeObject, now: Date): PodSummary {
  const spec = rec(pod.spec);
  const status = rec(pod.status);
  const phase = str(status.phase);
  let reason = str(status.reason) || phase;
  if (list(status.conditions).some((c) => c.type === 'PodScheduled' && c.reason === 'SchedulingGated')) {
    reason = 'SchedulingGated';
  }

  const initSpecs = new Map(list(spec.initContainers).map((c) => [str(c.name), c]));
  let totalContainers = list(spec.containers).length;
  for (const c of initSpecs.values()) if (isRestartableInit(c)) totalContainers++;

  let readyContainers = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = 0;
  let lastSidecarRestart = 0;
  const finishedAt = (cs: Obj): number => parseTimestamp(get(cs, 'lastState.terminated.finishedAt')) ?? 0;

  const initStatuses = list(status.initContainerStatuses);
  const initCount = list(spec.initContainers).length;
  let initializing = false;
  for (const [i, cs] of initStatuses.entries()) {
    restarts += int(cs.restartCount);
    lastRestart = Math.max(lastRestart, finishedAt(cs));
    const sidecar = isRestartableInit(initSpecs.get(str(cs.name)));
    if (sidecar) {
      sidecarRestarts += int(cs.restartCount);
      lastSidecarRestart = Math.max(lastSidecarRestart, finishedAt(cs));
    }
    const terminated = get(cs, 'state.terminated');
    const waitingReason = str(get(cs, 'state.waiting.reason'));
    if (terminated !== undefined && int(rec(terminated).exitCode) === 0) continue;
    if (sidecar && cs.started === true) {
      if (cs.ready === true) readyContainers++;
      continue;
    }
    if (terminated !== undefined) {
      const t = rec(terminated);
      if (str(t.reason) !== '') reason = `Init:${str(t.reason)}`;
      else reason = int(t.signal) !== 0 ? `Init:Signal:${int(t.signal)}` : `Init:ExitCode:${int(t.exitCode)}`;
    } else if (waitingReason !== '' && waitingReason !== 'PodInitializing') {
      reason = `Init:${waitingReason}`;
    } else {
      reason = `Init:${i}/${initCount}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || hasTrueCondition(status, 'Initialized')) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = list(status.containerStatuses);
    // Walk backwards so the first container's state is the one left in `reason`.
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i]!;
      restarts += int(cs.restartCount);
      lastRestart = Math.max(lastRestart, finishedAt(cs));
      const waiting = str(get(cs, 'state.waiting.reason'));
      const terminated = get(cs, 'state.terminated');
      const t = rec(terminated);
      if (waiting !== '') reason = waiting;
      else if (terminated !== undefined && str(t.reason) !== '') reason = str(t.reason);
      else if (terminated !== undefined) reason = int(t.signal) !== 0 ? `Signal:${int(t.signal)}` : `ExitCode:${int(t.exitCode)}`;
      else if (cs.ready === true && get(cs, 'state.running') !== undefined) {
        hasRunning = true;
        readyContainers++;
      }
    }
    if (reason === 'Completed' && hasRunning) reason = hasTrueCondition(status, 'Ready') ? 'Running' : 'NotReady';
  }

  const deleting = pod.metadata.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
  if (deleting && status.reason === 'NodeLost') reason = 'Unknown';
  else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';

  const restartsCell =
    restarts !== 0 && lastRestart !== 0 ? `${restarts} (${humanDuration(now.getTime() - lastRestart)} ago)` : String(restarts);
  return { ready: `${readyContainers}/${totalContainers}`, reason, restarts: restartsCell };
}

function podReadinessGates(pod: KubeObject): string {
  const gates = list(get(pod, 'spec.readinessGates'));
  if (gates.length === 0) return '<none>';
  const conditions = list(get(pod, 'status.conditions'));
  const met = gates.filter((g) => conditions.find((c) => c.type === g.conditionType)?.status === 'True').length;
  return `${met}/${gates.length}`;
}

const podPrinter: Printer = {
  columns: [
    NAME_COLUMN,
    col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    AGE_COLUMN,
    col('IP', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', wide),
    col('Node', 'NodeName indicates in which node this pod is scheduled.', wide),
    col('Nominated Node', 'nominatedNodeName is set only when this pod preempts other pods on the node.', wide),
    col('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.', wide),
  ],
  cells(pod, ctx) {
    const s = summarizePod(pod, ctx.now);
    const podIPs = list(get(pod, 'status.podIPs'));
    const ip = str(podIPs[0]?.ip) || str(get(pod, 'status.podIP'));
    return [
      name(pod),
      s.ready,
      s.reason,
      s.restarts,
      age(pod, ctx),
      orNone(ip),
      orNone(str(get(pod, 'spec.nodeName'))),
      orNone(str(get(pod, 'status.nominatedNodeName'))),
      podReadinessGates(pod),
    ];
  },
  conditions(pod) {
    const phase = get(pod, 'status.phase');
    if (phase === 'Succeeded') return [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }];
    if (phase === 'Failed') return [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];
    return undefined;
  },
};

// --- workloads --------------------------------------------------------------------------------

/** Unset `spec.replicas` is defaulted to 1 by the apiserver. */
const desiredReplicas = (o: KubeObject): number => {
  const r = get(o, 'spec.replicas');
  return typeof r === 'number' ? Math.trunc(r) : 1;
};

const deploymentPrinter: Printer = {
  columns: [
    NAME_COLUMN,
    col('Ready', 'Number of the pod with ready state'),
    col('Up-to-date', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
    col('Available', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
  ],
  cells: (o, ctx) => [
    name(o),
    `${int(get(o, 'status.readyReplicas'))}/${desiredReplicas(o)}`,
    int(get(o, 'status.updatedReplicas')),
    int(get(o, 'status.availableReplicas')),
    age(o, ctx),
    ...containerCells(o),
    selectorString(get(o, 'spec.selector')),
  ],
};

const replicaSetPrinter: Printer = {
  columns: [
    NAME_COLUMN,
    col('Desired', 'Replicas is the number of desired replicas.', { type: 'integer' }),
    col('Current', 'Replicas is the most recently observed number of replicas.', { type: 'integer' }),
    col('Ready', 'The number of ready replicas for this replica set.', { type: 'integer' }),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
  ],
  cells: (o, ctx) => [
    name(o),
    desiredReplicas(o),
    int(get(o, 'status.replicas')),
    int(get(o, 'status.readyReplicas')),
    age(o, ctx),
    ...containerCells(o),
    selectorString(get(o, 'spec.selector')),
  ],
};

const statefulSetPrinter: Printer = {
  columns: [NAME_COLUMN, col('Ready', 'Number of the pod with ready state'), AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN],
  cells: (o, ctx) => [name(o), `${int(get(o, 'status.readyReplicas'))}/${desiredReplicas(o)}`, age(o, ctx), ...containerCells(o)],
};

const daemonSetPrinter: Printer = {
  columns: [
    NAME_COLUMN,
    col('Desired', 'The total number of nodes that should be running the daemon pod.', { type: 'integer' }),
    col('Current', 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.', { type: 'integer' }),
    col('Ready', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.', { type: 'integer' }),
    col('Up-to-date', 'The total number of nodes that are running updated daemon pod.', { type: 'integer' }),
    col('Available', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.', { type: 'integer' }),
    col('Node Selector', 'NodeSelector is a selector which must be true for the pod to fit on a node.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
  ],
  cells: (o, ctx) => [
    name(o),
    int(get(o, 'status.desiredNumberScheduled')),
    int(get(o, 'status.currentNumberScheduled')),
    int(get(o, 'status.numberReady')),
    int(get(o, 'status.updatedNumberScheduled')),
    int(get(o, 'status.numberAvailable')),
    formatLabels(rec(get(o, 'spec.template.spec.nodeSelector')) as Record<string, string>),
    age(o, ctx),
    ...containerCells(o),
    selectorString(get(o, 'spec.selector')),
  ],
};

// --- networking -------------------------------------------------------------------------------

function serviceExternalIP(svc: KubeObject): string {
  const spec = rec(svc.spec);
  const externalIPs = Array.isArray(spec.externalIPs) ? spec.externalIPs.map(str) : [];
  switch (str(spec.type) || 'ClusterIP') {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const ingress = list(get(svc, 'status.loadBalancer.ingress'))
        .map((i) => str(i.ip) || str(i.hostname))
        .filter((s) => s !== '');
      const all = [...ingress, ...externalIPs];
      return all.length > 0 ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return str(spec.externalName);
    default:
      return '<unknown>';
  }
}

function servicePorts(svc: KubeObject): string {
  const ports = list(get(svc, 'spec.ports')).map((p) => {
    const protocol = str(p.protocol) || 'TCP';
    return int(p.nodePort) > 0 ? `${int(p.port)}:${int(p.nodePort)}/${protocol}` : `${int(p.port)}/${protocol}`;
  });
  return orNone(ports.join(','));
}

const servicePrinter: Printer = {
  columns: [
    NAME_COLUMN,
    col('Type', 'type determines how the Service is exposed.'),
    col('Cluster-IP', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
    col('External-IP', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
    col('Port(s)', 'The list of ports that are exposed by this service.'),
    AGE_COLUMN,
    col('Selector', 'Route service traffic to pods with label keys and values matching this selector.', wide),
  ],
  cells(o, ctx) {
    const clusterIPs = get(o, 'spec.clusterIPs');
    const clusterIP = (Array.isArray(clusterIPs) ? str(clusterIPs[0]) : '') || str(get(o, 'spec.clusterIP'));
    return [
      name(o),
      str(get(o, 'spec.type')) || 'ClusterIP',
      orNone(clusterIP),
      serviceExternalIP(o),
      servicePorts(o),
      age(o, ctx),
      formatLabels(rec(get(o, 'spec.selector')) as Record<string, string>),
    ];
  },
};

/** formatEndpoints: the first three `ip:port`s, then `+ N more...`. */
function formatEndpoints(ep: KubeObject): string {
  const subsets = list(ep.subsets);
  if (subsets.length === 0) return '<none>';
  const max = 3;
  const shown: string[] = [];
  let count = 0;
  const hostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
  for (const ss of subsets) {
    const addresses = list(ss.addresses).map((a) => str(a.ip));
    const ports = list(ss.ports);
    // Headless services may have no ports: list bare addresses.
    const entries = ports.length === 0 ? addresses : ports.flatMap((p) => addresses.map((ip) => hostPort(ip, int(p.port))));
    count += entries.length;
    for (const e of entries) if (shown.length < max) shown.push(e);
  }
  const joined = shown.join(',');
  return count > max ? `${joined} + ${count - max} more...` : joined;
}

const endpointsPrinter: Printer = {
  columns: [NAME_COLUMN, col('Endpoints', 'Endpoints of the service'), AGE_COLUMN],
  cells: (o, ctx) => [name(o), formatEndpoints(o), age(o, ctx)],
};

const networkPolicyPrinter: Printer = {
  columns: [NAME_COLUMN, col('Pod-Selector', 'Selects the pods to which this NetworkPolicy object applies.'), AGE_COLUMN],
  cells: (o, ctx) => [name(o), selectorString(get(o, 'spec.podSelector') ?? {}, '<none>'), age(o, ctx)],
};

// --- cluster ----------------------------------------------------------------------------------

const NODE_ROLE_PREFIX = 'node-role.kubernetes.io/';

function nodeRoles(node: KubeObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith(NODE_ROLE_PREFIX) && k.length > NODE_ROLE_PREFIX.length) roles.add(k.slice(NODE_ROLE_PREFIX.length));
    else if (k === 'kubernetes.io/role' && v !== '') roles.add(v);
  }
  return orNone([...roles].sort().join(','));
}

function nodeStatus(node: KubeObject): string {
  const ready = list(get(node, 'status.conditions')).find((c) => c.type === 'Ready');
  const status = [ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady'];
  if (get(node, 'spec.unschedulable') === true) status.push('SchedulingDisabled');
  return status.join(',');
}

const nodeAddress = (node: KubeObject, type: string): string =>
  orNone(str(list(get(node, 'status.addresses')).find((a) => a.type === type)?.address));

const orUnknown = (s: string): string => (s === '' ? '<unknown>' : s);

const nodePrinter: Printer = {
  columns: [
    NAME_COLUMN,
    col('Status', 'The status of the node'),
    col('Roles', 'The roles of the node'),
    AGE_COLUMN,
    col('Version', 'Kubelet Version reported by the node.'),
    col('Internal-IP', 'List of internal IPs in the node.', wide),
    col('External-IP', 'List of external IPs in the node.', wide),
    col('OS-Image', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', wide),
    col('Kernel-Version', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", wide),
    col('Container-Runtime', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', wide),
  ],
  cells: (o, ctx) => [
    name(o),
    nodeStatus(o),
    nodeRoles(o),
    age(o, ctx),
    str(get(o, 'status.nodeInfo.kubeletVersion')),
    nodeAddress(o, 'InternalIP'),
    nodeAddress(o, 'ExternalIP'),
    orUnknown(str(get(o, 'status.nodeInfo.osImage'))),
    orUnknown(str(get(o, 'status.nodeInfo.kernelVersion'))),
    orUnknown(str(get(o, 'status.nodeInfo.containerRuntimeVersion'))),
  ],
};

const namespacePrinter: Printer = {
  columns: [NAME_COLUMN, col('Status', 'The status of the namespace'), AGE_COLUMN],
  // The apiserver stamps `Active` on create; show it for objects stored before that happened.
  cells: (o, ctx) => [name(o), str(get(o, 'status.phase')) || (o.metadata.deletionTimestamp ? 'Terminating' : 'Active'), age(o, ctx)],
};

const leasePrinter: Printer = {
  columns: [NAME_COLUMN, col('Holder', 'holderIdentity contains the identity of the holder of a current lease.'), AGE_COLUMN],
  cells: (o, ctx) => [name(o), str(get(o, 'spec.holderIdentity')), age(o, ctx)],
};

const createdAtPrinter: Printer = {
  columns: [NAME_COLUMN, CREATED_AT_COLUMN],
  cells: (o) => [name(o), rfc3339(o.metadata.creationTimestamp)],
};

// --- config -----------------------------------------------------------------------------------

const configMapPrinter: Printer = {
  columns: [NAME_COLUMN, col('Data', 'Data contains the configuration data.'), AGE_COLUMN],
  cells: (o, ctx) => [name(o), Object.keys(rec(o.data)).length + Object.keys(rec(o.binaryData)).length, age(o, ctx)],
};

const secretPrinter: Printer = {
  columns: [
    NAME_COLUMN,
    col('Type', 'Used to facilitate programmatic handling of secret data.'),
    col('Data', 'Data contains the secret data.'),
    AGE_COLUMN,
  ],
  cells: (o, ctx) => [name(o), str(o.type) || 'Opaque', Object.keys(rec(o.data)).length, age(o, ctx)],
};

const serviceAccountPrinter: Printer = {
  columns: [NAME_COLUMN, col('Secrets', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.'), AGE_COLUMN],
  cells: (o, ctx) => [name(o), list(o.secrets).length, age(o, ctx)],
};

const pdbPrinter: Printer = {
  columns: [
    NAME_COLUMN,
    col('Min Available', 'An eviction is allowed if at least "minAvailable" pods selected by "selector" will still be available after the eviction.'),
    col('Max Unavailable', 'An eviction is allowed if at most "maxUnavailable" pods selected by "selector" are unavailable after the eviction.'),
    col('Allowed Disruptions', 'Number of pod disruptions that are currently allowed.', { type: 'integer' }),
    AGE_COLUMN,
  ],
  cells(o, ctx) {
    const intOrString = (v: unknown): string => (typeof v === 'number' || typeof v === 'string' ? String(v) : 'N/A');
    return [
      name(o),
      intOrString(get(o, 'spec.minAvailable')),
      intOrString(get(o, 'spec.maxUnavailable')),
      int(get(o, 'status.disruptionsAllowed')),
      age(o, ctx),
    ];
  },
};

// --- rbac -------------------------------------------------------------------------------------

const roleBindingPrinter: Printer = {
  columns: [
    NAME_COLUMN,
    col('Role', 'RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.'),
    AGE_COLUMN,
    col('Users', 'Users in the roleBinding', wide),
    col('Groups', 'Groups in the roleBinding', wide),
    col('ServiceAccounts', 'ServiceAccounts in the roleBinding', wide),
  ],
  cells(o, ctx) {
    const subjects = list(o.subjects);
    const of = (kind: string, render: (s: Obj) => string): string =>
      subjects.filter((s) => s.kind === kind).map(render).join(', ');
    return [
      name(o),
      `${str(get(o, 'roleRef.kind'))}/${str(get(o, 'roleRef.name'))}`,
      age(o, ctx),
      of('User', (s) => str(s.name)),
      of('Group', (s) => str(s.name)),
      of('ServiceAccount', (s) => `${str(s.namespace)}/${str(s.name)}`),
    ];
  },
};

// --- events -----------------------------------------------------------------------------------

/** events.k8s.io/v1 renames core/v1 Event fields; print both the same way, as the apiserver does. */
function coreEventView(o: KubeObject): Obj {
  if (!('regarding' in o) && !('note' in o) && !('deprecatedLastTimestamp' in o)) return o;
  return {
    involvedObject: o.regarding,
    message: o.note,
    reason: o.reason,
    type: o.type,
    firstTimestamp: o.deprecatedFirstTimestamp,
    lastTimestamp: o.deprecatedLastTimestamp,
    count: o.deprecatedCount,
    eventTime: o.eventTime,
    series: o.series,
    source: o.deprecatedSource,
    reportingComponent: o.reportingController,
    reportingInstance: o.reportingInstance,
  };
}

const eventPrinter: Printer = {
  columns: [
    col('Last Seen', 'The time at which the most recent occurrence of this event was recorded.'),
    col('Type', 'Type of this event (Normal, Warning), new types could be added in the future.'),
    col('Reason', 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.'),
    col('Object', 'The object this Event is about.'),
    col('Subobject', 'The part of the object this Event is about (fieldPath).', wide),
    col('Source', 'The component reporting this event.', wide),
    col('Message', 'A human-readable description of the status of this operation.'),
    col('First Seen', 'The time at which the event was first recorded.', wide),
    col('Count', 'The number of times this event has occurred.', wide),
    { ...NAME_COLUMN, priority: 1 },
  ],
  cells(o, ctx) {
    const e = coreEventView(o);
    const since = (t: unknown): string => ageOf(t, ctx.now);
    const first = parseTimestamp(e.firstTimestamp) !== undefined ? since(e.firstTimestamp) : since(e.eventTime);
    let last = parseTimestamp(e.lastTimestamp) !== undefined ? since(e.lastTimestamp) : first;
    let count = int(e.count);
    if (e.series !== undefined && e.series !== null) {
      last = since(get(e, 'series.lastObservedTime'));
      count = int(get(e, 'series.count'));
    } else if (count === 0) {
      count = 1; // singleton events carry no count in the new API
    }
    const involved = rec(e.involvedObject);
    const kind = str(involved.kind).toLowerCase();
    const target = str(involved.name) !== '' ? `${kind}/${str(involved.name)}` : kind;
    const component = str(get(e, 'source.component')) || str(e.reportingComponent);
    const instance = str(get(e, 'source.host')) || str(e.reportingInstance);
    return [
      last,
      str(e.type),
      str(e.reason),
      target,
      str(involved.fieldPath),
      instance === '' ? component : `${component}, ${instance}`,
      str(e.message).trim(),
      first,
      count,
      name(o),
    ];
  },
};

// --- registry ---------------------------------------------------------------------------------

/** Built-in printers keyed by qualified resource (`deployments.apps`, `pods`). */
export const PRINTERS: ReadonlyMap<string, Printer> = new Map<string, Printer>([
  ['pods', podPrinter],
  ['deployments.apps', deploymentPrinter],
  ['replicasets.apps', replicaSetPrinter],
  ['statefulsets.apps', statefulSetPrinter],
  ['daemonsets.apps', daemonSetPrinter],
  ['services', servicePrinter],
  ['endpoints', endpointsPrinter],
  ['nodes', nodePrinter],
  ['namespaces', namespacePrinter],
  ['configmaps', configMapPrinter],
  ['secrets', secretPrinter],
  ['serviceaccounts', serviceAccountPrinter],
  ['events', eventPrinter],
  ['events.events.k8s.io', eventPrinter],
  ['leases.coordination.k8s.io', leasePrinter],
  ['customresourcedefinitions.apiextensions.k8s.io', createdAtPrinter],
  ['poddisruptionbudgets.policy', pdbPrinter],
  ['roles.rbac.authorization.k8s.io', createdAtPrinter],
  ['clusterroles.rbac.authorization.k8s.io', createdAtPrinter],
  ['rolebindings.rbac.authorization.k8s.io', roleBindingPrinter],
  ['clusterrolebindings.rbac.authorization.k8s.io', roleBindingPrinter],
  ['networkpolicies.networking.k8s.io', networkPolicyPrinter],
]);

/** Any other built-in: Name and Age. */
export const DEFAULT_PRINTER: Printer = {
  columns: [NAME_COLUMN, AGE_COLUMN],
  cells: (o, ctx) => [name(o), age(o, ctx)],
};

export function printerFor(resource: { group: string; plural: string }): Printer {
  return PRINTERS.get(qualifiedResource(resource.group, resource.plural)) ?? DEFAULT_PRINTER;
}
