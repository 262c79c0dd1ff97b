/**
 * The runtime of `registry.k8s.io/kube-scheduler` pods: kok's Scheduler stands in for the image,
 * scheduling the business cluster's pods through the API the pod's --kubeconfig names, by the
 * leader of the Lease `kube-system/kube-scheduler`. A Scheduler serves one term, so each
 * leadership term gets a new one.
 */
import { KubeClient } from '../../operators/runtime/client.js';
import { Scheduler, type SchedulerOptions } from '../scheduler/scheduler.js';
import { LeaderElectedRuntime, type LeaderElectedRuntimeOptions } from './leader-elected-runtime.js';

export const KUBE_SCHEDULER_IMAGE = 'registry.k8s.io/kube-scheduler';

export type KubeSchedulerRuntimeOptions = Pick<LeaderElectedRuntimeOptions, 'client' | 'resolveService' | 'retryMs' | 'log'> & {
  scheduler?: SchedulerOptions;
};

export function kubeSchedulerRuntime(opts: KubeSchedulerRuntimeOptions): LeaderElectedRuntime {
  return new LeaderElectedRuntime({
    ...opts,
    name: 'kube-scheduler',
    image: KUBE_SCHEDULER_IMAGE,
    leaseName: 'kube-scheduler',
    async startTerm(kubeConfig) {
      const client = new KubeClient(kubeConfig, { fieldManager: 'kube-scheduler' });
      const scheduler = new Scheduler(client, opts.scheduler);
      const stop = async () => {
        await scheduler.stop();
        client.close();
      };
      try {
        await scheduler.start();
      } catch (err) {
        await stop();
        throw err;
      }
      return { stop };
    },
  });
}
