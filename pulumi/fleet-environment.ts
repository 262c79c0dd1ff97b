/**
 * FleetEnvironment (`kok:index:FleetEnvironment`): kok and one environment's fleet on a
 * meta-cluster. It installs the fleet.kok.dev CRDs and the operators (KokInstall), then declares
 * the CloudTargets, Clusters and MachinePools of the environment from the blueprints, each object
 * a @pulumi/kubernetes resource that is a child of the component. Pass the meta-cluster's
 * `k8s.Provider` as `provider` (children inherit it).
 *
 * Order, as Pulumi sees it (dependsOn): the namespaces and CRDs first; every operator object after
 * them; every fleet object after all of kok (so on `pulumi destroy` Clusters go while their
 * operators still run to remove finalizers); MachinePools after their CloudTargets.
 */
import * as pulumi from '@pulumi/pulumi';
import type { FleetEnvironmentArgs } from './config.js';
import { planFleet } from './fleet-app.js';
import { kubernetesResource, resourceName } from './kubernetes-resource.js';

export const FLEET_ENVIRONMENT_TYPE = 'kok:index:FleetEnvironment';

export type { FleetEnvironmentArgs } from './config.js';

export class FleetEnvironment extends pulumi.ComponentResource {
  /** The business clusters, as `namespace/name`. */
  readonly clusters: pulumi.Output<string[]>;
  /** Per cluster (same order), the Secret in `namespace` holding its admin kubeconfig (key `value`). */
  readonly kubeconfigSecrets: pulumi.Output<string[]>;
  /** The namespace of the fleet's Clusters, MachinePools and kubeconfig Secrets. */
  readonly namespace: pulumi.Output<string>;
  /** Every object declared, in declaration order (dependencies first). */
  readonly resources: readonly pulumi.CustomResource[];

  /**
   * Args are plain values, not Inputs: the blueprints synthesise the objects while the program
   * runs, so sizes and names must be known then (they come from stack config).
   */
  constructor(name: string, args: FleetEnvironmentArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(FLEET_ENVIRONMENT_TYPE, name, {}, opts);
    const plan = planFleet(args);

    const resources: pulumi.CustomResource[] = [];
    for (const { object, dependsOn } of plan.objects) {
      resources.push(kubernetesResource(resourceName(name, object), object, { parent: this, dependsOn: dependsOn.map((i) => resources[i]!) }));
    }
    this.resources = resources;

    // Taken from the declared resources, so the outputs resolve only once the Clusters exist.
    const metadataOf = (i: number) => (resources[i] as unknown as { metadata: pulumi.Output<{ name: string; namespace: string }> }).metadata;
    this.clusters = pulumi.all(plan.clusters.map((c) => metadataOf(c.object).apply((m) => `${m.namespace}/${m.name}`)));
    this.kubeconfigSecrets = pulumi.all(plan.clusters.map((c) => metadataOf(c.object).apply(() => c.kubeconfigSecretName)));
    this.namespace = pulumi.output(plan.namespace);

    this.registerOutputs({ clusters: this.clusters, kubeconfigSecrets: this.kubeconfigSecrets, namespace: this.namespace });
  }
}
