/**
 * A whole embedded cluster in one process: the API server, the built-in controllers, the
 * scheduler and a node agent playing the kubelet for N simulated nodes. The meta-cluster is one;
 * business clusters reuse the same entry point. Every component other than the API server is an
 * ordinary client of the API through its own kubeconfig credentials.
 */
import * as k8s from '@kubernetes/client-node';
import { KubeClient } from '../operators/runtime/client.js';
import { SharedInformers } from '../operators/runtime/informer.js';
import { installCrds } from './api/crds.js';
import { startApiServer, type ApiServerOptions, type RunningApiServer } from './apiserver/apiserver.js';
import { DaemonSetController } from './controllers/daemonset.js';
import { DeploymentController } from './controllers/deployment.js';
import { DisruptionController } from './controllers/disruption.js';
import { EndpointsController } from './controllers/endpoints.js';
import { NodeLifecycleController } from './controllers/node-lifecycle.js';
import { ReplicaSetController } from './controllers/replicaset.js';
import { StatefulSetController } from './controllers/statefulset.js';
import { NodeAgent, type NodeAgentOptions } from './node-agent/node-agent.js';
import type { SimulatedNodeSpec } from './node-agent/node-status.js';
import { Scheduler } from './scheduler/scheduler.js';

export interface EmbeddedClusterOptions extends ApiServerOptions {
  /** Simulated nodes: a count (named `<cluster>-node-<i>`, spread over three zones) or specs. @default 3 */
  nodes?: number | SimulatedNodeSpec[];
  /** Node agent settings (start latency, readiness delay, heartbeat interval, …). */
  nodeAgent?: Omit<NodeAgentOptions, 'nodes'>;
  /** How long a node may miss heartbeats before it is Unknown and tainted. @default 40 */
  nodeMonitorGracePeriodSeconds?: number;
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
  const apiServer = await startApiServer(opts);
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
  const scheduler = new Scheduler(client('kube-scheduler'));
  const nodeAgent = new NodeAgent(client('kubelet'), { ...opts.nodeAgent, nodes });
  // The controllers share their pod, node and ReplicaSet caches: one watch and one decode per event.
  const informers = new SharedInformers(client('informers'));
  const components: Component[] = [
    new DeploymentController(client('deployment-controller'), { informers }),
    new ReplicaSetController(client('replicaset-controller'), { informers }),
    new StatefulSetController(client('statefulset-controller'), { informers }),
    new DaemonSetController(client('daemonset-controller'), { informers }),
    new EndpointsController(client('endpoint-controller'), { informers }),
    new DisruptionController(client('disruption-controller'), { informers }),
    new NodeLifecycleController(client('node-controller'), {
      informers,
      nodeMonitorGracePeriodSeconds: opts.nodeMonitorGracePeriodSeconds,
    }),
    scheduler,
    nodeAgent,
  ];
  const stop = async () => {
    await Promise.allSettled(components.map((c) => c.stop()));
    for (const c of clients) c.close();
    await apiServer.stop();
  };
  try {
    await Promise.all(components.map((c) => c.start()));
  } catch (err) {
    await stop();
    throw err;
  }
  return { apiServer, kubeConfig, nodeAgent, scheduler, stop };
}
