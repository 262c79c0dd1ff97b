/**
 * The providers of CloudTargets. kok implements `simulated`: a SimulatedCloud kept in one SQLite
 * file that the meta-cluster process also opens to boot the instances (provider/simulated-host.ts).
 * The operator finds that file from its option, or from the Secret kok-system/kok-simulated-cloud
 * (key `path`) the embedded meta-cluster writes when it starts — so an operator running as its
 * own process needs nothing but its kubeconfig. Any other `spec.provider` is reported as
 * unsupported on the target and its machines, without retries.
 */
import type { CloudTarget } from '../../meta-cluster/api/v1alpha1/cloud-target.js';
import { resources } from '../../meta-cluster/controllers/resources.js';
import { isNotFound, type KubeClient, type KubeObject } from '../runtime/client.js';
import type { ProviderSource } from './machine-reconcile.js';
import { isProviderError } from './provider/errors.js';
import type { Provider } from './provider/provider.js';
import { SimulatedCloud } from './provider/simulated.js';

export const SIMULATED_CLOUD_SECRET = { namespace: 'kok-system', name: 'kok-simulated-cloud' } as const;

export class Providers implements ProviderSource {
  private cloud?: SimulatedCloud;

  constructor(private readonly opts: { readonly simulatedCloudPath?: string; readonly cloud?: SimulatedCloud }) {
    this.cloud = opts.cloud;
  }

  /** Opens the simulated cloud (from the option or the meta-cluster's Secret) before the first reconcile. */
  async open(client: KubeClient): Promise<void> {
    if (this.cloud) return;
    let path = this.opts.simulatedCloudPath;
    if (!path) {
      try {
        const s = await client.get(resources.secrets, SIMULATED_CLOUD_SECRET.namespace, SIMULATED_CLOUD_SECRET.name);
        path = Buffer.from(s.data?.path ?? '', 'base64').toString('utf8') || undefined;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (path) this.cloud = new SimulatedCloud(path);
  }

  providerFor(target: CloudTarget & KubeObject): Provider | { unsupported: string } {
    const name = target.metadata.name!;
    if (target.spec.provider !== 'simulated') {
      return { unsupported: `CloudTarget ${name}: spec.provider "${target.spec.provider}" is not implemented by this kok (implemented: simulated)` };
    }
    if (!this.cloud) {
      return { unsupported: `CloudTarget ${name}: no simulated cloud is configured (start the operator with --simulated-cloud <file>, or run it against kok's embedded meta-cluster)` };
    }
    try {
      return this.cloud.provider(name, target.spec);
    } catch (err) {
      if (isProviderError(err)) return { unsupported: err.message };
      throw err;
    }
  }

  close(): void {
    if (!this.opts.cloud) this.cloud?.close();
  }
}
