/**
 * The objects a FleetEnvironment declares, built with kok's blueprints: a cdk8s App holding
 * KokInstall (namespace kok-system, the fleet.kok.dev CRDs, the operators) and a FleetChart (the
 * fleet namespace, the CloudTargets, a Unit per unit with its FleetClusters and their pools),
 * synthesised into plain Kubernetes objects in an order where everything comes after what it
 * depends on. Pure: no Pulumi, no I/O, so it is tested as a table of configs.
 */
import { ApiObject, App, Chart, DependencyGraph } from 'cdk8s';
import type { IConstruct } from 'constructs';
import { BlueprintError, FleetChart, FleetCluster, FleetTarget, KokInstall, Unit } from '../blueprints/index.js';
import { PROJECT, FleetConfigError, type FleetEnvironmentArgs } from './config.js';

/** Makes `pulumi up` wait for a kok object's Ready condition (pulumi-kubernetes ≥ 4.18). */
export const WAIT_FOR_ANNOTATION = 'pulumi.com/waitFor';
export const WAIT_FOR_READY = 'condition=Ready';

export type KubeObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };

export interface PlannedObject {
  readonly object: KubeObject;
  /** Indices (into FleetPlan.objects, all before this one) of the objects this one needs first. */
  readonly dependsOn: readonly number[];
}

export interface PlannedCluster {
  readonly namespace: string;
  readonly name: string;
  readonly unit: string;
  /** The Secret (in `namespace`) the cluster operator writes the admin kubeconfig to. */
  readonly kubeconfigSecretName: string;
  /** Index of the Cluster object in FleetPlan.objects. */
  readonly object: number;
}

export interface FleetPlan {
  /** Every object, in an order where each comes after everything in its dependsOn. */
  readonly objects: readonly PlannedObject[];
  readonly clusters: readonly PlannedCluster[];
  readonly namespace: string;
}

/** Cluster `n` (from 1) of a unit. */
export const clusterName = (unit: string, n: number): string => `${unit}-${n}`;

export function planFleet(args: FleetEnvironmentArgs): FleetPlan {
  const app = new App();
  const install = blame(installKey, () =>
    new KokInstall(app, 'kok', { image: args.operatorImage, replicas: args.operatorReplicas, operators: args.operators, concurrency: args.operatorConcurrency }),
  );
  const fleet = blame(() => `${PROJECT}:namespace`, () => new FleetChart(app, 'fleet', { namespace: args.namespace }));
  // The fleet after all of kok: its kinds must exist first, and on `pulumi destroy` Clusters and
  // pools go while the operators still run to remove their finalizers.
  fleet.addDependency(install);

  const targets = new Map<string, FleetTarget>();
  args.targets.forEach((t, i) => {
    const at = `${PROJECT}:targets[${i}]`;
    const { name, ...props } = t;
    targets.set(name, blame((prop) => (prop === 'id' ? `${at}.name` : prop.startsWith('props.') ? `${at}.${prop.slice(6)}` : at), () => new FleetTarget(fleet, name, props)));
  });

  const clusters: FleetCluster[] = [];
  args.units.forEach((u, i) => {
    const at = `${PROJECT}:units[${i}]`;
    const unit = blame(() => `${at}.name`, () => new Unit(fleet, u.name));
    for (let n = 1; n <= u.clusters; n++) {
      const cluster = blame((prop) => clusterKey(at, u.kubernetesVersion !== undefined, u.controlPlaneReplicas !== undefined, prop), () =>
        new FleetCluster(unit, clusterName(u.name, n), {
          version: u.kubernetesVersion ?? args.kubernetesVersion,
          controlPlaneReplicas: u.controlPlaneReplicas ?? args.controlPlaneReplicas,
          pools: u.pools.map((p) => ({ target: targets.get(p.target) ?? p.target, replicas: p.machines, machineType: p.machineType, zones: p.zones })),
        }),
      );
      if (args.awaitReady) for (const o of [cluster.apiObject, ...cluster.pools]) o.metadata.addAnnotation(WAIT_FOR_ANNOTATION, WAIT_FOR_READY);
      clusters.push(cluster);
    }
  });

  const synthesized = synthesize(app);
  const index = new Map(synthesized.map((s, i) => [s.apiObject, i]));
  const objects = synthesized.map(({ apiObject, json }) => ({
    object: json,
    dependsOn: [...new Set(apiObject.node.dependencies.filter((d): d is ApiObject => d instanceof ApiObject).map((d) => index.get(d)!))].sort((a, b) => a - b),
  }));
  return {
    objects,
    namespace: fleet.fleetNamespace,
    clusters: clusters.map((c) => ({ namespace: c.namespace, name: c.name, unit: c.unit!, kubeconfigSecretName: c.kubeconfigSecretName, object: index.get(c.apiObject)! })),
  };
}

/**
 * Every chart's objects as cdk8s orders them (dependencies first), then a stable topological
 * sort across charts: an object comes after each object it depends on, whatever chart holds it.
 */
function synthesize(app: App): Array<{ apiObject: ApiObject; json: KubeObject }> {
  const inChartOrder: Array<{ apiObject: ApiObject; json: KubeObject }> = [];
  for (const chart of app.charts) {
    // toJson() first: it turns construct and chart dependencies into ApiObject dependencies.
    const json = chart.toJson() as KubeObject[];
    const ordered = new DependencyGraph(chart.node)
      .topology()
      .filter((c): c is ApiObject => c instanceof ApiObject && Chart.of(c) === chart);
    if (ordered.length !== json.length) throw new Error(`planFleet: chart ${chart.node.id} synthesised ${json.length} objects but holds ${ordered.length}`);
    ordered.forEach((apiObject, i) => inChartOrder.push({ apiObject, json: json[i]! }));
  }
  const position = new Map(inChartOrder.map((e, i) => [e.apiObject, i]));
  const done = new Set<ApiObject>();
  const visiting = new Set<ApiObject>();
  const out: typeof inChartOrder = [];
  const visit = (e: (typeof inChartOrder)[number]): void => {
    if (done.has(e.apiObject)) return;
    if (visiting.has(e.apiObject)) throw new Error(`planFleet: dependency cycle through ${e.apiObject.kind} ${e.apiObject.name}`);
    visiting.add(e.apiObject);
    for (const d of e.apiObject.node.dependencies) if (d instanceof ApiObject && position.has(d)) visit(inChartOrder[position.get(d)!]!);
    visiting.delete(e.apiObject);
    done.add(e.apiObject);
    out.push(e);
  };
  inChartOrder.forEach(visit);
  return out;
}

/**
 * Runs a blueprint constructor; a BlueprintError it throws becomes a FleetConfigError naming the
 * config key the bad prop came from (`key(prop)`), keeping the blueprint's words and construct.
 */
function blame<T extends IConstruct>(key: (prop: string) => string, build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (!(err instanceof BlueprintError)) throw err;
    const problem = err.message.slice(`${err.construct}: ${err.prop} `.length);
    throw new FleetConfigError(key(err.prop), `${problem} (${err.construct}, ${err.prop})`);
  }
}

function installKey(prop: string): string {
  if (prop === 'props.replicas') return `${PROJECT}:operatorReplicas`;
  if (prop === 'props.concurrency') return `${PROJECT}:operatorConcurrency`;
  if (prop.startsWith('props.operators')) return `${PROJECT}:${prop.slice(6)}`;
  return `${PROJECT}:operatorImage`;
}

/** FleetCluster props → the unit's keys (or the top-level defaults the unit did not override). */
function clusterKey(at: string, unitVersion: boolean, unitReplicas: boolean, prop: string): string {
  if (prop === 'props.version') return unitVersion ? `${at}.kubernetesVersion` : `${PROJECT}:kubernetesVersion`;
  if (prop === 'props.controlPlaneReplicas' || prop === 'props.datastoreReplicas') return unitReplicas ? `${at}.controlPlaneReplicas` : `${PROJECT}:controlPlaneReplicas`;
  const pool = /^props\.pools\[(\d+)\](?:\.(\w+))?/.exec(prop);
  if (pool) {
    const field = pool[2] === 'replicas' ? 'machines' : pool[2] === undefined || pool[2] === 'name' ? 'target' : pool[2];
    return `${at}.pools[${pool[1]}].${field}`;
  }
  return `${at}.name`;
}
