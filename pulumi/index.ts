/**
 * The `kok-fleet` Pulumi program: kok and one environment's fleet on a meta-cluster, sized by the
 * stack's configuration (Pulumi.<stack>.yaml). `pulumi up` in pulumi/ runs it with tsx (see
 * Pulumi.yaml and README.md).
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { FleetConfigError, parseFleetConfig, PROJECT, type FleetConfig } from './config.js';
import { FleetEnvironment } from './fleet-environment.js';
import { planFleet } from './fleet-app.js';

/**
 * The stack config, checked as the blueprints check it (names, zones, machine types, versions)
 * before anything is declared, so a bad value fails the preview naming its key rather than
 * leaving half a graph. A bad value is a RunError, which Pulumi prints as its message alone.
 */
function stackConfig(): FleetConfig {
  try {
    const config = parseFleetConfig(pulumi.runtime.allConfig());
    planFleet(config.environment);
    return config;
  } catch (err) {
    if (!(err instanceof FleetConfigError)) throw err;
    const failure = new pulumi.RunError(err.message);
    // Pulumi still formats the stack of every error it reports (util.inspect with colours), and on
    // Node 20 that loops forever on the source-mapped frames of @pulumi/pulumi
    // ("node_modules/@pulumi/resource.ts", nodejs/node#64011): `pulumi preview` would hang instead
    // of printing this message. A RunError's stack is never shown, so it goes.
    failure.stack = failure.message;
    throw failure;
  }
}

const config = stackConfig();

const metaCluster = new k8s.Provider('meta-cluster', {
  // A path is read by the provider; content is a secret either way.
  kubeconfig: pulumi.secret('path' in config.kubeconfig ? config.kubeconfig.path : config.kubeconfig.content),
  context: config.context,
  // kok's objects are applied server-side, as kubectl apply --server-side and the operators do.
  enableServerSideApply: true,
});

const environment = new FleetEnvironment(PROJECT, config.environment, { provider: metaCluster });

/** The business clusters, `namespace/name`. */
export const clusters = environment.clusters;
/** Per cluster, the Secret (in `fleetNamespace`, key `value`) with its admin kubeconfig. */
export const kubeconfigSecrets = environment.kubeconfigSecrets;
export const fleetNamespace = environment.namespace;
