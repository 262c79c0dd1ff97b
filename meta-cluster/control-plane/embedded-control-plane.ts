/**
 * What makes business control-plane pods really serve on the embedded meta-cluster: the pod
 * network, the loopback load balancer for Services of type LoadBalancer, the business API
 * backends, and the runtimes of the kube-apiserver, kube-controller-manager and kube-scheduler
 * images, registered in the node agent's RuntimeRegistry. Pods of other images (etcd included)
 * stay simulated, and their `kok.dev/Simulated` condition says so.
 */
import type { ControllerManagerOptions } from './controller-manager.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../operators/runtime/client.js';
import type { RuntimeRegistry } from '../node-agent/runtime.js';
import { BusinessBackends } from './business-backends.js';
import { KUBE_APISERVER_IMAGE, KubeApiserverRuntime } from './kube-apiserver-runtime.js';
import { KUBE_CONTROLLER_MANAGER_IMAGE, kubeControllerManagerRuntime } from './kube-controller-manager-runtime.js';
import { KUBE_SCHEDULER_IMAGE, kubeSchedulerRuntime } from './kube-scheduler-runtime.js';
import type { LeaderElectedRuntime } from './leader-elected-runtime.js';
import { LoopbackLoadBalancer } from './loopback-lb.js';
import { PodNetwork } from './pod-network.js';

export interface EmbeddedControlPlaneOptions {
  /** The meta-cluster's data dir; business clusters' data goes under `business/<namespace>/`. */
  dataDir: string;
  /** Credentials for the meta-cluster's API. */
  kubeConfig: KubeConfig;
  /** The node agent's registry; the control-plane images are registered in it. */
  runtimes: RuntimeRegistry;
  /** Wait between a controller-manager's or scheduler's attempts to reach its API. @default 1000 */
  retryMs?: number;
  /** Bookmark interval of the business API servers' watches. @default 30 s */
  bookmarkIntervalMs?: number;
  /** Settings of the business controller-managers (e.g. a short node grace period in tests). */
  controllers?: ControllerManagerOptions;
}

export class EmbeddedControlPlane {
  readonly network = new PodNetwork();
  readonly loadBalancer: LoopbackLoadBalancer;
  readonly backends: BusinessBackends;
  readonly apiserver: KubeApiserverRuntime;
  readonly controllerManager: LeaderElectedRuntime;
  readonly scheduler: LeaderElectedRuntime;
  private readonly clients: KubeClient[] = [];

  constructor(opts: EmbeddedControlPlaneOptions) {
    const client = (fieldManager: string) => {
      const c = new KubeClient(opts.kubeConfig, { fieldManager });
      this.clients.push(c);
      return c;
    };
    this.loadBalancer = new LoopbackLoadBalancer({ client: client('service-controller'), network: this.network });
    this.backends = new BusinessBackends({ dataDir: opts.dataDir, client: client('kok-business-backends') });
    const kubelet = client('kok-control-plane-runtimes');
    const resolveService = this.loadBalancer.addressOf.bind(this.loadBalancer);
    this.apiserver = new KubeApiserverRuntime({ client: kubelet, backends: this.backends, network: this.network, bookmarkIntervalMs: opts.bookmarkIntervalMs });
    this.controllerManager = kubeControllerManagerRuntime({ client: kubelet, resolveService, retryMs: opts.retryMs, controllers: opts.controllers });
    this.scheduler = kubeSchedulerRuntime({ client: kubelet, resolveService, retryMs: opts.retryMs });
    opts.runtimes
      .register(KUBE_APISERVER_IMAGE, this.apiserver)
      .register(KUBE_CONTROLLER_MANAGER_IMAGE, this.controllerManager)
      .register(KUBE_SCHEDULER_IMAGE, this.scheduler);
  }

  async start(): Promise<void> {
    await Promise.all([this.loadBalancer.start(), this.backends.start()]);
  }

  /**
   * Ends the controller-managers' and schedulers' work and releases their Leases. Call before the
   * node agent stops the apiserver pods, so they can still reach their API.
   */
  async stopClientsOfBusinessApis(): Promise<void> {
    await Promise.all([this.controllerManager.stopAll(), this.scheduler.stopAll()]);
  }

  /** After the node agent stopped the pods: closes the load balancers and any backend left open. */
  async stop(): Promise<void> {
    await this.stopClientsOfBusinessApis();
    await Promise.allSettled([this.loadBalancer.stop(), this.backends.stop()]);
    for (const c of this.clients) c.close();
  }
}
