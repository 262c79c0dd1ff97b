/**
 * The embedded meta-cluster's load balancers, in the role a cloud-controller-manager's service
 * controller plays: every Service of type LoadBalancer gets, per TCP port, a proxy on a free
 * 127.0.0.1 port that forwards each connection to one of the Service's ready endpoints (round
 * robin), reached through the simulated pod network; an endpoint whose pod serves nothing (a
 * simulated pod) is skipped, and with no backend left the connection is reset at once.
 *
 * The Service's `status.loadBalancer.ingress` says where to connect: `ip: 127.0.0.1` and, in the
 * order of `spec.ports`, the loopback `ports`. The annotation `kok.dev/loopback-port`
 * (`<service port>=<loopback port>,…`) remembers the ports so a restarted kok listens on the same
 * ones when they are still free, and clients' kubeconfigs keep working.
 */
import { isDeepStrictEqual } from 'node:util';
import { isNotFound, type KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { Informer } from '../../operators/runtime/informer.js';
import { WorkQueue } from '../../operators/runtime/workqueue.js';
import { resources } from '../controllers/resources.js';
import type { LoopbackAddress, PodNetwork } from './pod-network.js';
import { TcpProxy } from './tcp-proxy.js';

export const LOOPBACK_PORT_ANNOTATION = 'kok.dev/loopback-port';
const HOST = '127.0.0.1';

interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
}

interface Balancer {
  proxy: TcpProxy;
  port: number;
  /** Round-robin position over the resolvable ready endpoints. */
  next: number;
}

export interface LoopbackLoadBalancerOptions {
  /** A meta-cluster client (fieldManager names the writer of annotations and status). */
  client: KubeClient;
  network: PodNetwork;
  /** @default console.warn */
  log?: (message: string, err?: unknown) => void;
}

/** `6443=40123,80=40124` → {6443 → 40123, 80 → 40124}; malformed pairs are ignored (a fresh port then). */
export function parseLoopbackPorts(text: string | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const pair of (text ?? '').split(',')) {
    const m = /^\s*(\d+)=(\d+)\s*$/.exec(pair);
    if (m && Number(m[2]) > 0 && Number(m[2]) < 65536) out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

export function formatLoopbackPorts(ports: Map<number, number>): string {
  return [...ports].map(([svc, lb]) => `${svc}=${lb}`).join(',');
}

export class LoopbackLoadBalancer {
  private readonly services: Informer;
  private readonly endpoints: Informer;
  private readonly queue: WorkQueue;
  /** Service key → service port → its proxy. */
  private readonly balancers = new Map<string, Map<number, Balancer>>();
  private readonly log: (message: string, err?: unknown) => void;

  constructor(private readonly opts: LoopbackLoadBalancerOptions) {
    this.log = opts.log ?? ((m, e) => console.warn(`loopback-lb: ${m}${e ? `: ${e instanceof Error ? e.message : String(e)}` : ''}`));
    this.services = new Informer({ client: opts.client, resource: resources.services });
    this.endpoints = new Informer({ client: opts.client, resource: resources.endpoints });
    const enqueue = (s: KubeObject) => this.queue.add(`${s.metadata.namespace}/${s.metadata.name}`);
    this.services.on({ add: enqueue, update: (_old, s) => enqueue(s), delete: enqueue });
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      name: 'loopback-lb',
      concurrency: 4,
      baseDelayMs: 100,
      onError: (key, err, attempt) => {
        if (attempt === 1 || attempt % 10 === 0) this.log(`service ${key}: sync failed (attempt ${attempt})`, err);
      },
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.endpoints.start(), this.services.start()]);
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await Promise.all([this.services.stop(), this.endpoints.stop(), this.queue.idle()]);
    await Promise.all([...this.balancers.keys()].map((k) => this.closeAll(k)));
  }

  /** Where in this process the Service's `port` is served: 127.0.0.1 and its loopback port. */
  addressOf(namespace: string, serviceName: string, port: number): LoopbackAddress | undefined {
    const b = this.balancers.get(`${namespace}/${serviceName}`)?.get(port);
    return b && { host: HOST, port: b.port };
  }

  private async reconcile(key: string): Promise<void> {
    const [namespace, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
    const svc = this.services.get(namespace, name);
    if (!svc || svc.metadata.deletionTimestamp || svc.spec?.type !== 'LoadBalancer') {
      await this.closeAll(key);
      // A Service that stopped being a LoadBalancer loses its ingress, as the cloud controller clears it.
      if (svc && svc.spec?.type !== 'LoadBalancer' && svc.status?.loadBalancer?.ingress) {
        await this.write(svc, { status: { loadBalancer: { ingress: null } } }, 'status');
      }
      return;
    }
    const ports = ((svc.spec.ports ?? []) as ServicePort[]).filter((p) => (p.protocol ?? 'TCP') === 'TCP');
    const current = this.balancers.get(key) ?? new Map<number, Balancer>();
    this.balancers.set(key, current);
    for (const [port, b] of current) {
      if (!ports.some((p) => p.port === port)) {
        current.delete(port);
        await b.proxy.close();
      }
    }
    const remembered = parseLoopbackPorts(svc.metadata.annotations?.[LOOPBACK_PORT_ANNOTATION]);
    for (const p of ports) {
      if (current.has(p.port)) continue;
      const b: Balancer = { proxy: new TcpProxy(() => this.pick(namespace, name, p, b)), port: 0, next: 0 };
      b.port = await this.listen(b.proxy, remembered.get(p.port));
      current.set(p.port, b);
    }

    const allocated = new Map(ports.map((p) => [p.port, current.get(p.port)!.port]));
    const annotation = formatLoopbackPorts(allocated);
    if (svc.metadata.annotations?.[LOOPBACK_PORT_ANNOTATION] !== annotation) {
      await this.write(svc, { metadata: { annotations: { [LOOPBACK_PORT_ANNOTATION]: annotation } } });
    }
    const ingress = [{ ip: HOST, ports: ports.map((p) => ({ port: allocated.get(p.port)!, protocol: 'TCP' })) }];
    if (!isDeepStrictEqual(svc.status?.loadBalancer?.ingress, ingress)) {
      await this.write(svc, { status: { loadBalancer: { ingress } } }, 'status');
    }
  }

  /** The remembered port when it is free, else any free port. */
  private async listen(proxy: TcpProxy, remembered: number | undefined): Promise<number> {
    if (remembered) {
      try {
        return await proxy.listen(remembered, HOST);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
    return proxy.listen(0, HOST);
  }

  /** The next ready endpoint of the port that something in the pod network serves. */
  private pick(namespace: string, name: string, port: ServicePort, b: Balancer): LoopbackAddress | undefined {
    const ep = this.endpoints.get(namespace, name);
    const targets: LoopbackAddress[] = [];
    for (const subset of ep?.subsets ?? []) {
      const epPort = (subset.ports ?? []).find((x: ServicePort) => (x.name ?? '') === (port.name ?? '') && (x.protocol ?? 'TCP') === 'TCP');
      if (!epPort) continue;
      for (const a of subset.addresses ?? []) {
        const t = this.opts.network.resolve(a.ip, epPort.port);
        if (t) targets.push(t);
      }
    }
    if (!targets.length) return undefined;
    return targets[b.next++ % targets.length];
  }

  private async closeAll(key: string): Promise<void> {
    const current = this.balancers.get(key);
    if (!current) return;
    this.balancers.delete(key);
    await Promise.all([...current.values()].map((b) => b.proxy.close()));
  }

  private async write(svc: KubeObject, patch: unknown, sub?: 'status'): Promise<void> {
    try {
      await this.opts.client.patch(resources.services, svc.metadata.namespace, svc.metadata.name!, 'merge', patch, { sub });
    } catch (err) {
      if (!isNotFound(err)) throw err; // gone meanwhile: the delete event closes its proxies
    }
  }
}
