/**
 * The Endpoints controller: for every Service with a selector, an Endpoints object of the same
 * name listing the IPs of the pods the selector matches — ready pods in `addresses`, the others in
 * `notReadyAddresses` — with ports resolved from each service port's targetPort. Pod readiness and
 * selector changes (a blue-green switch) are reflected on the next reconcile; a write happens only
 * when the computed subsets or labels differ from what is stored. Services without a selector are
 * left alone, so users can manage their Endpoints by hand.
 */
import { isDeepStrictEqual } from 'node:util';
import { isStaleCache, isNotFound, type KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { SharedInformers, type Informer, objectKey } from '../../operators/runtime/informer.js';
import { WorkQueue } from '../../operators/runtime/workqueue.js';
import { labelSelectorFromSet, matchesLabels } from '../apiserver/selectors.js';
import { isReady, isTerminal, isTerminating, type Pod } from './pod-util.js';
import { resources } from './resources.js';

/** Marks Endpoints this controller owns: only those are deleted with their Service. */
export const MANAGED_BY_LABEL = 'endpoints.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpoint-controller';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

export type Service = KubeObject;

export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef: { kind: 'Pod'; namespace: string; name: string; uid: string };
}

export interface EndpointPort {
  name?: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}

/** The selector of a Service, or undefined when it has none (then its Endpoints are the user's). */
export function serviceSelector(svc: Service): Record<string, string> | undefined {
  const sel = svc.spec?.selector as Record<string, string> | undefined;
  return sel && Object.keys(sel).length > 0 ? sel : undefined;
}

export function selectsPod(svc: Service, pod: Pod): boolean {
  const sel = serviceSelector(svc);
  return sel !== undefined && pod.metadata.namespace === svc.metadata.namespace && matchesLabels(labelSelectorFromSet(sel), pod.metadata.labels);
}

/** `FindPort`: a number is the port; a name is looked up among the pod's container ports. */
export function resolveTargetPort(pod: Pod, servicePort: { port: number; targetPort?: number | string; protocol?: string }): number | undefined {
  const target = servicePort.targetPort ?? servicePort.port;
  if (typeof target === 'number') return target;
  const protocol = servicePort.protocol ?? 'TCP';
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === target && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
    }
  }
  return undefined;
}

const podIP = (pod: Pod): string | undefined => pod.status?.podIPs?.[0]?.ip ?? pod.status?.podIP ?? undefined;

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The subsets for a service from the pods its selector matches, packed as `RepackSubsets` does:
 * addresses sharing the same ports form one subset. Sorted, so equal inputs give equal output.
 */
export function endpointSubsets(svc: Service, pods: Pod[]): EndpointSubset[] {
  const servicePorts: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string; appProtocol?: string }> = svc.spec?.ports ?? [];
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const headless = svc.spec?.clusterIP === 'None';
  const groups = new Map<string, { ports: EndpointPort[]; addresses: EndpointAddress[]; notReady: EndpointAddress[] }>();

  for (const pod of pods) {
    const ip = podIP(pod);
    if (!ip || isTerminal(pod)) continue;
    if (isTerminating(pod) && !publishNotReady) continue;
    const address: EndpointAddress = {
      ip,
      ...(pod.spec?.hostname && pod.spec?.subdomain === svc.metadata.name ? { hostname: pod.spec.hostname } : {}),
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace!, name: pod.metadata.name!, uid: pod.metadata.uid! },
    };
    const ports: EndpointPort[] = [];
    for (const sp of servicePorts) {
      const port = resolveTargetPort(pod, sp);
      if (port === undefined) continue;
      ports.push({
        ...(sp.name ? { name: sp.name } : {}),
        port,
        protocol: sp.protocol ?? 'TCP',
        ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}),
      });
    }
    // A pod without a single resolvable port serves nothing, except behind a portless headless service.
    if (ports.length === 0 && !(servicePorts.length === 0 && headless)) continue;
    ports.sort((a, b) => compare(a.name ?? '', b.name ?? '') || a.port - b.port || compare(a.protocol, b.protocol));
    const key = JSON.stringify(ports);
    const group = groups.get(key) ?? { ports, addresses: [], notReady: [] };
    groups.set(key, group);
    (publishNotReady || isReady(pod) ? group.addresses : group.notReady).push(address);
  }

  const byIp = (a: EndpointAddress, b: EndpointAddress) => compare(a.ip, b.ip) || compare(a.targetRef.name, b.targetRef.name);
  return [...groups.entries()]
    .sort(([a], [b]) => compare(a, b))
    .map(([, g]) => ({
      ...(g.addresses.length ? { addresses: g.addresses.sort(byIp) } : {}),
      ...(g.notReady.length ? { notReadyAddresses: g.notReady.sort(byIp) } : {}),
      ...(g.ports.length ? { ports: g.ports } : {}),
    }));
}

/** The labels of a service's Endpoints: the service's own, plus who manages them. */
export function endpointsLabels(svc: Service): Record<string, string> {
  return {
    ...(svc.metadata.labels ?? {}),
    [MANAGED_BY_LABEL]: MANAGED_BY,
    ...(svc.spec?.clusterIP === 'None' ? { [HEADLESS_LABEL]: '' } : {}),
  };
}

/** The Endpoints to store, or undefined when `existing` already says it all. */
export function desiredEndpoints(svc: Service, pods: Pod[], existing?: KubeObject): KubeObject | undefined {
  const subsets = endpointSubsets(svc, pods);
  const labels = endpointsLabels(svc);
  if (existing && isDeepStrictEqual(existing.subsets ?? [], subsets) && isDeepStrictEqual(existing.metadata.labels ?? {}, labels)) return undefined;
  const metadata = existing
    ? { ...existing.metadata, labels }
    : { name: svc.metadata.name, namespace: svc.metadata.namespace, labels };
  return { apiVersion: 'v1', kind: 'Endpoints', metadata, subsets };
}

// --- the controller --------------------------------------------------------------------------------

export interface EndpointsControllerOptions {
  /** Informers shared with the other components of the process. @default this controller's own */
  informers?: SharedInformers;
  /** Parallel reconciles of different services. @default 4 */
  concurrency?: number;
  /** Informer full relist interval. @default 5 minutes */
  relistIntervalMs?: number;
  /** Where reconcile failures go. @default console.warn, conflicts excepted */
  log?: (message: string, err: unknown) => void;
}

export class EndpointsController {
  private readonly services: Informer;
  private readonly pods: Informer;
  private readonly endpoints: Informer;
  private readonly queue: WorkQueue;

  constructor(
    private readonly client: KubeClient,
    opts: EndpointsControllerOptions = {},
  ) {
    const relistIntervalMs = opts.relistIntervalMs;
    const informers = opts.informers ?? new SharedInformers(client);
    this.services = informers.get({ resource: resources.services, relistIntervalMs });
    this.pods = informers.get({ resource: resources.pods, relistIntervalMs });
    this.endpoints = informers.get({ resource: resources.endpoints, relistIntervalMs });
    const log = opts.log ?? ((m, e) => console.warn(m, e instanceof Error ? e.message : e));
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      name: 'endpoints',
      concurrency: opts.concurrency,
      onError: (key, err) => isStaleCache(err) || log(`endpoints ${key}: reconcile failed`, err),
    });
    const enqueue = (o: KubeObject) => this.queue.add(objectKey(o));
    this.services.on({ add: enqueue, update: (_, o) => enqueue(o), delete: enqueue });
    // Someone else's edit or deletion of managed Endpoints is repaired.
    this.endpoints.on({ update: (_, o) => enqueue(o), delete: enqueue });
    const podChanged = (...versions: Pod[]) => {
      for (const svc of this.services.list(versions[0]!.metadata.namespace)) {
        if (versions.some((p) => selectsPod(svc, p))) enqueue(svc);
      }
    };
    this.pods.on({ add: (p) => podChanged(p), update: (a, b) => podChanged(a, b), delete: (p) => podChanged(p) });
  }

  async start(): Promise<void> {
    await Promise.all([this.pods.start(), this.endpoints.start()]);
    await this.services.start();
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await this.queue.idle();
    await Promise.all([this.services.stop(), this.pods.stop(), this.endpoints.stop()]);
  }

  private async reconcile(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const svc = this.services.get(namespace, name);
    const existing = this.endpoints.get(namespace, name);
    if (!svc) {
      if (existing?.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) {
        await this.client.delete(resources.endpoints, namespace, name, { preconditions: { uid: existing.metadata.uid } }).catch((e) => {
          if (!isNotFound(e)) throw e;
        });
      }
      return;
    }
    if (!serviceSelector(svc)) return;
    const pods = this.pods.list(namespace).filter((p) => selectsPod(svc, p));
    const want = desiredEndpoints(svc, pods, existing);
    if (!want) return;
    if (existing) await this.client.update(resources.endpoints, want);
    else await this.client.create(resources.endpoints, namespace, want);
  }
}
