/**
 * A whole embedded cluster in one process: the API server, the built-in controllers, the
 * scheduler and a node agent playing the kubelet for N simulated nodes. The meta-cluster is one;
 * business clusters reuse the same entry point. Every component other than the API server is an
 * ordinary client of the API through its own kubeconfig credentials.
 *
 * With `controlPlaneRuntime: 'embedded'` (the default) business control-plane pods really serve:
 * kube-apiserver, kube-controller-manager and kube-scheduler pods run kok's own components
 * (control-plane/), and Services of type LoadBalancer get a loopback load balancer. With
 * 'simulated' every pod is simulated (LoadBalancer Services still get addresses), as benchmarks
 * of many clusters want.
 *
 * It also hosts the simulated cloud: instances the machine operator creates at `simulated`
 * CloudTargets boot here, and their node agents join their clusters with the bootstrap token
 * from their user data.
 */
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { SimulatedCloud } from '../operators/machine/provider/simulated.js';
import { SimulatedCloudHost } from '../operators/machine/provider/simulated-host.js';
import { SimulatedCloudHostThread } from '../operators/machine/provider/simulated-host-thread.js';
import { SIMULATED_CLOUD_SECRET } from '../operators/machine/providers.js';
import { KubeClient, type KubeObject, type ResourceRef } from '../operators/runtime/client.js';
import { OPERATOR_NAMESPACE } from '../operators/runtime/operator-process.js';
import { installCrds } from './api/crds.js';
import { startApiServer, type ApiServerOptions, type RunningApiServer } from './apiserver/apiserver.js';
import { ControllerManager } from './control-plane/controller-manager.js';
import { resources } from './controllers/resources.js';
import { EmbeddedControlPlane } from './control-plane/embedded-control-plane.js';
import { LoopbackLoadBalancer } from './control-plane/loopback-lb.js';
import { PodNetwork } from './control-plane/pod-network.js';
import { NodeAgent, type NodeAgentOptions } from './node-agent/node-agent.js';
import type { SimulatedNodeSpec } from './node-agent/node-status.js';
import { RuntimeRegistry } from './node-agent/runtime.js';
import { Scheduler } from './scheduler/scheduler.js';

export interface EmbeddedClusterOptions extends ApiServerOptions {
  /**
   * The meta-cluster's authorization mode (see ApiServerOptions). Its own components (controllers,
   * scheduler, node agent) use the admin credentials; operators with a ServiceAccount token may do
   * what their RBAC grants, machines joining with a bootstrap token what `kok:bootstrapped-node`
   * grants (./apiserver/bootstrap-policy.ts). Business clusters' API servers are not affected.
   * @default 'RBAC'
   */
  authorization?: ApiServerOptions['authorization'];
  /** Simulated nodes: a count (named `<cluster>-node-<i>`, spread over three zones) or specs. @default 3 */
  nodes?: number | SimulatedNodeSpec[];
  /**
   * Node agent settings (start latency, readiness delay, heartbeat interval, …). Runtimes given
   * here come first; the control-plane runtimes are registered after them.
   */
  nodeAgent?: Omit<NodeAgentOptions, 'nodes'>;
  /** How long a node may miss heartbeats before it is Unknown and tainted, here and in embedded business clusters. @default 40 */
  nodeMonitorGracePeriodSeconds?: number;
  /**
   * 'embedded': business control-plane pods (kube-apiserver, kube-controller-manager,
   * kube-scheduler images) run kok's components and LoadBalancer Services get loopback load
   * balancers; 'simulated': no pod runs (load balancers still answer), as for benchmarks of 1,000
   * clusters. @default 'embedded'
   */
  controlPlaneRuntime?: 'embedded' | 'simulated';
  /** Wait between a business controller-manager's or scheduler's attempts to reach its API. @default 1000 */
  controlPlaneRetryMs?: number;
  /**
   * The simulated cloud this process hosts: the instances the machine operator creates at
   * `simulated` CloudTargets boot here, their node agents joining their clusters. Its SQLite file
   * is named to operators in the Secret kok-system/kok-simulated-cloud. false: none.
   * With `thread: true` (the CLI's choice) the host runs in a worker thread
   * (SimulatedCloudHostThread), so the kubelets of thousands of machines do not share the API
   * server's event loop; its nodeAgent settings must then be plain data (no runtimes).
   * @default - `<dataDir>/simulated-cloud.db`, polled every 250 ms, in this thread
   */
  simulatedCloud?: false | { path?: string; pollIntervalMs?: number; thread?: boolean; nodeAgent?: Omit<NodeAgentOptions, 'nodes' | 'log'> };
}

interface Component {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedCluster {
  apiServer: RunningApiServer;
  kubeConfig: k8s.KubeConfig;
  nodeAgent: NodeAgent;
  scheduler: Scheduler;
  /** Undefined when controlPlaneRuntime is 'simulated'. */
  controlPlane?: EmbeddedControlPlane;
  /** The simulated cloud and the host that boots its instances; undefined when disabled. */
  cloud?: { cloud: SimulatedCloud; host: SimulatedCloudHost | SimulatedCloudHostThread; path: string };
  stop(): Promise<void>;
}

/** `<name>-node-0..n-1`, spread over three zones like a small cloud region. */
export function defaultNodes(clusterName: string, count: number): SimulatedNodeSpec[] {
  const zones = ['a', 'b', 'c'];
  return Array.from({ length: count }, (_, i) => ({
    name: `${clusterName}-node-${i}`,
    zone: `${clusterName}-zone-${zones[i % zones.length]}`,
  }));
}

export async function startEmbeddedCluster(opts: EmbeddedClusterOptions): Promise<EmbeddedCluster> {
  if (opts.simulatedCloud && opts.simulatedCloud.thread && opts.simulatedCloud.nodeAgent?.runtimes) {
    throw new Error('simulatedCloud.nodeAgent.runtimes: runtimes cannot cross to the host thread; leave simulatedCloud.thread unset to use them');
  }
  // RBAC unless told otherwise: the install chart's grants are what operators may do here.
  const apiServer = await startApiServer({ ...opts, authorization: opts.authorization ?? 'RBAC' });
  try {
    // Before any client starts, so kok's kinds are served from the first request on.
    installCrds(apiServer.api);
  } catch (err) {
    await apiServer.stop();
    throw err;
  }
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(apiServer.kubeconfigPath);
  const clients: KubeClient[] = [];
  const client = (fieldManager: string) => {
    const c = new KubeClient(kubeConfig, { fieldManager });
    clients.push(c);
    return c;
  };
  const nodes = typeof opts.nodes === 'object' ? opts.nodes : defaultNodes(opts.clusterName ?? 'kok', opts.nodes ?? 3);
  const runtimes = opts.nodeAgent?.runtimes ?? new RuntimeRegistry();
  const controlPlane = (opts.controlPlaneRuntime ?? 'embedded') === 'embedded'
    ? new EmbeddedControlPlane({
        dataDir: opts.dataDir,
        kubeConfig,
        runtimes,
        retryMs: opts.controlPlaneRetryMs,
        bookmarkIntervalMs: opts.bookmarkIntervalMs,
        controllers: { nodeMonitorGracePeriodSeconds: opts.nodeMonitorGracePeriodSeconds },
      })
    : undefined;
  // Services of type LoadBalancer get an address either way; behind simulated pods nothing answers.
  const loadBalancer = controlPlane ? undefined : new LoopbackLoadBalancer({ client: client('service-controller'), network: new PodNetwork() });
  const scheduler = new Scheduler(client('kube-scheduler'));
  const nodeAgent = new NodeAgent(client('kubelet'), { ...opts.nodeAgent, nodes, runtimes });
  const components: Component[] = [
    new ControllerManager(kubeConfig, { nodeMonitorGracePeriodSeconds: opts.nodeMonitorGracePeriodSeconds }),
    scheduler,
    nodeAgent,
    ...(loadBalancer ? [loadBalancer] : []),
  ];
  const cloudPath = opts.simulatedCloud === false ? undefined : (opts.simulatedCloud?.path ?? join(opts.dataDir, 'simulated-cloud.db'));
  const cloud = cloudPath
    ? (() => {
        const c = new SimulatedCloud(cloudPath);
        const { pollIntervalMs, nodeAgent, thread } = opts.simulatedCloud || {};
        const host = thread
          ? new SimulatedCloudHostThread({ path: cloudPath, pollIntervalMs, nodeAgent })
          : new SimulatedCloudHost({ cloud: c, pollIntervalMs, nodeAgent });
        return { cloud: c, host, path: cloudPath };
      })()
    : undefined;
  const stop = async () => {
    // Business controller-managers, schedulers and machines first, while their apiserver pods
    // still serve; the control plane's load balancers and backends last, once the node agent
    // stopped its pods.
    await cloud?.host.stop();
    cloud?.cloud.close();
    await controlPlane?.stopClientsOfBusinessApis();
    await Promise.allSettled(components.map((c) => c.stop()));
    await controlPlane?.stop();
    for (const c of clients) c.close();
    await apiServer.stop();
  };
  try {
    await Promise.all([...components, ...(controlPlane ? [controlPlane] : [])].map((c) => c.start()));
    // kok's own namespace, as the install chart makes it on a real meta-cluster: operators keep
    // their leader-election Leases there and do not create it themselves.
    await applyObject(client('kok'), resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OPERATOR_NAMESPACE } });
    if (cloud) {
      await publishSimulatedCloud(client('kok'), cloud.path);
      await cloud.host.start();
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { apiServer, kubeConfig, nodeAgent, scheduler, controlPlane, cloud, stop };
}

const applyObject = (client: KubeClient, r: ResourceRef, obj: KubeObject) => client.patch(r, obj.metadata.namespace, obj.metadata.name!, 'apply', obj, { force: true });

/** Names the simulated cloud's file to operators (operators/machine/providers.ts reads it). */
async function publishSimulatedCloud(client: KubeClient, path: string): Promise<void> {
  const { namespace, name } = SIMULATED_CLOUD_SECRET;
  await applyObject(client, resources.secrets, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'kok' } },
    type: 'Opaque',
    stringData: { path },
  });
}
