/**
 * kok's built-in controllers as one set, started against any API: the meta-cluster's own (in
 * cluster.ts) and a business cluster's (in kube-controller-manager pods). Each controller is an
 * ordinary client with its own field manager; they share one pod, node and ReplicaSet watch.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../operators/runtime/client.js';
import { SharedInformers } from '../../operators/runtime/informer.js';
import { DaemonSetController } from '../controllers/daemonset.js';
import { DeploymentController } from '../controllers/deployment.js';
import { DisruptionController } from '../controllers/disruption.js';
import { EndpointsController } from '../controllers/endpoints.js';
import { NodeLifecycleController } from '../controllers/node-lifecycle.js';
import { ReplicaSetController } from '../controllers/replicaset.js';
import { StatefulSetController } from '../controllers/statefulset.js';

export interface ControllerManagerOptions {
  /** How long a node may miss heartbeats before it is Unknown and tainted. @default 40 */
  nodeMonitorGracePeriodSeconds?: number;
}

interface Controller {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class ControllerManager {
  private readonly clients: KubeClient[] = [];
  private readonly controllers: Controller[];

  constructor(kubeConfig: KubeConfig, opts: ControllerManagerOptions = {}) {
    const client = (fieldManager: string) => {
      const c = new KubeClient(kubeConfig, { fieldManager });
      this.clients.push(c);
      return c;
    };
    const informers = new SharedInformers(client('informers'));
    this.controllers = [
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
    ];
  }

  /** Resolves once every controller has synced its caches. */
  async start(): Promise<void> {
    await Promise.all(this.controllers.map((c) => c.start()));
  }

  /** Stops the controllers and closes their connections; final. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.controllers.map((c) => c.stop()));
    for (const c of this.clients) c.close();
  }
}
