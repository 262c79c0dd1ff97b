/**
 * The runtime of `registry.k8s.io/kube-controller-manager` pods: kok's built-in controllers
 * (ControllerManager) stand in for the image, run against the business API the pod's
 * --kubeconfig names, by the leader of the Lease `kube-system/kube-controller-manager`.
 */
import { ControllerManager, type ControllerManagerOptions } from './controller-manager.js';
import { LeaderElectedRuntime, type LeaderElectedRuntimeOptions } from './leader-elected-runtime.js';

export const KUBE_CONTROLLER_MANAGER_IMAGE = 'registry.k8s.io/kube-controller-manager';

export type KubeControllerManagerRuntimeOptions = Pick<LeaderElectedRuntimeOptions, 'client' | 'resolveService' | 'retryMs' | 'log'> & {
  controllers?: ControllerManagerOptions;
};

export function kubeControllerManagerRuntime(opts: KubeControllerManagerRuntimeOptions): LeaderElectedRuntime {
  return new LeaderElectedRuntime({
    ...opts,
    name: 'kube-controller-manager',
    image: KUBE_CONTROLLER_MANAGER_IMAGE,
    leaseName: 'kube-controller-manager',
    async startTerm(kubeConfig) {
      const manager = new ControllerManager(kubeConfig, opts.controllers);
      try {
        await manager.start();
      } catch (err) {
        await manager.stop();
        throw err;
      }
      return manager;
    },
  });
}
