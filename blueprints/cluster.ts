/**
 * FleetCluster: one business cluster and its machines in one place — a Cluster, and a
 * MachinePool per place its Nodes come from (private, hybrid, public targets).
 */
import { Construct } from 'constructs';
import { UNIT_LABEL } from '../meta-cluster/api/v1alpha1/machine-pool.js';
import { kubeconfigSecretName } from '../operators/cluster/names.js';
import { resolveVersion, supportedMinors } from '../operators/cluster/versions.js';
import { kubeletSkewProblem } from '../operators/machine/skew.js';
import { FleetChart } from './chart.js';
import { quote } from './errors.js';
import { Cluster, MachinePool } from './imports/fleet.kok.dev.js';
import type { FleetTarget } from './target.js';
import { Unit } from './unit.js';
import { assertAccepted, PropChecks } from './validate.js';

/** `o`, or undefined when it has no defined field (so no `{}` is synthesised; generated classes drop undefined). */
const unlessEmpty = <T extends object>(o: T): T | undefined => (Object.values(o).some((v) => v !== undefined) ? o : undefined);

const quorumSizes = [1, 3, 5, 7] as const;
type QuorumSize = (typeof quorumSizes)[number];

export interface PoolProps {
  /** Name of the MachinePool. @default - `<cluster>-<target>` */
  readonly name?: string;
  /** Where the machines come from: a FleetTarget, or the name of a CloudTarget declared elsewhere. */
  readonly target: FleetTarget | string;
  /** One of the target's machine types. @default - the target's cheapest (required when `target` is a name) */
  readonly machineType?: string;
  /** How many machines. @default 1 */
  readonly replicas?: number;
  /** Zones of the target to spread over. @default - every zone of the target */
  readonly zones?: readonly string[];
  /** Kubelet version: at most the cluster's, at most three minors older. @default - the cluster's version */
  readonly version?: string;
  /** Extra Node labels. @default - none */
  readonly labels?: Readonly<Record<string, string>>;
  /** Machines a rollout may add above `replicas` (number or "25%"). @default 1 */
  readonly maxSurge?: number | string;
  /** Machines a rollout may take away below `replicas` (number or "25%"). @default 0 */
  readonly maxUnavailable?: number | string;
  /** A Node not Ready for longer than this is replaced. @default 300 */
  readonly nodeNotReadySeconds?: number;
  /** Replacement stops while more than this many machines are unhealthy (number or "40%"). @default "40%" */
  readonly maxUnhealthy?: number | string;
  /** How long a machine's pods are evicted before it is deleted anyway; 0: no drain. @default 300 */
  readonly drainTimeoutSeconds?: number;
}

export interface FleetClusterProps {
  /** Name of the Cluster. @default - the construct id */
  readonly name?: string;
  /** Namespace of the Cluster and its pools. @default - the enclosing FleetChart's namespace, else "default" */
  readonly namespace?: string;
  /** Kubernetes version: a minor ("1.31", its latest patch) or a patch ("1.31.2"). */
  readonly version: string;
  /** API server replicas: 1, 3, 5 or 7. @default 3 */
  readonly controlPlaneReplicas?: QuorumSize;
  /** etcd members: 1, 3, 5 or 7. @default - the same as controlPlaneReplicas */
  readonly datastoreReplicas?: QuorumSize;
  /** IPv4 range of Service IPs. @default "10.96.0.0/12" */
  readonly serviceCIDR?: string;
  /** IPv4 range of Pod IPs. @default "10.244.0.0/16" */
  readonly podCIDR?: string;
  /** The unit (fleet.kok.dev/unit label of the Cluster and its Nodes). @default - the enclosing Unit's name, else none */
  readonly unit?: string;
  /** Extra labels of the Cluster object. @default - none */
  readonly labels?: Readonly<Record<string, string>>;
  /** Machine pools; more with addPool(). @default - none */
  readonly pools?: readonly PoolProps[];
}

export class FleetCluster extends Construct {
  readonly name: string;
  readonly namespace: string;
  readonly version: string;
  /** The unit, if the cluster belongs to one. */
  readonly unit?: string;
  /** The Secret (in `namespace`) the cluster operator writes the admin kubeconfig to. */
  readonly kubeconfigSecretName: string;
  /** The low-level Cluster object. */
  readonly apiObject: Cluster;
  private readonly poolList: MachinePool[] = [];
  private readonly check: PropChecks;

  constructor(scope: Construct, id: string, props: FleetClusterProps) {
    super(scope, id);
    this.name = props.name ?? id;
    const chart = FleetChart.fleetOf(this);
    this.namespace = props.namespace ?? chart?.fleetNamespace ?? 'default';
    // Created after their namespace, whoever applies them (kubectl in file order, Pulumi by dependsOn).
    if (chart?.namespaceObject && this.namespace === chart.fleetNamespace) this.node.addDependency(chart.namespaceObject);
    const check: PropChecks = (this.check = new PropChecks(`FleetCluster ${quote(`${this.namespace}/${this.name}`)}`));
    check.objectName(props.name === undefined ? 'id' : 'props.name', this.name, 'Cluster');
    check.namespace('props.namespace', this.namespace);
    if (!resolveVersion(props.version)) {
      check.fail('props.version', `${quote(props.version)} is not a supported Kubernetes version; use one of ${supportedMinors().map(quote).join(', ')} or one of their patches ("1.31.2")`);
    }
    const replicas = props.controlPlaneReplicas ?? 3;
    check.oneOf('props.controlPlaneReplicas', replicas, quorumSizes);
    const datastoreReplicas = props.datastoreReplicas ?? replicas;
    check.oneOf('props.datastoreReplicas', datastoreReplicas, quorumSizes);
    const enclosing = Unit.of(this)?.name;
    if (props.unit !== undefined && enclosing !== undefined && props.unit !== enclosing) {
      check.fail('props.unit', `${quote(props.unit)} contradicts the enclosing Unit ${quote(enclosing)}; leave it out or declare the cluster outside that Unit`);
    }
    this.unit = props.unit ?? enclosing;
    if (this.unit !== undefined) check.labelValue('props.unit', this.unit);
    if (props.labels?.[UNIT_LABEL] !== undefined) check.fail(`props.labels["${UNIT_LABEL}"]`, 'is set from the unit; use props.unit or a Unit');
    this.version = props.version;
    this.kubeconfigSecretName = kubeconfigSecretName({ namespace: this.namespace, name: this.name });

    this.apiObject = new Cluster(this, 'Resource', {
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { ...props.labels, ...(this.unit !== undefined && { [UNIT_LABEL]: this.unit }) },
      },
      spec: {
        version: props.version,
        controlPlane: { replicas: replicas as never, datastore: { replicas: datastoreReplicas as never } },
        // Generated classes drop undefined fields when synthesised.
        network: unlessEmpty({ serviceCidr: props.serviceCIDR, podCidr: props.podCIDR }),
      },
    });
    assertAccepted(check.construct, this.apiObject.toJson());
    props.pools?.forEach((p, i) => this.addPoolAt(p, `props.pools[${i}]`));
  }

  /** The MachinePools declared so far. */
  get pools(): readonly MachinePool[] {
    return [...this.poolList];
  }

  /** Adds a MachinePool of this cluster on a target. */
  addPool(props: PoolProps): MachinePool {
    return this.addPoolAt(props, 'addPool(props)');
  }

  private addPoolAt(p: PoolProps, at: string): MachinePool {
    const check: PropChecks = this.check;
    const target = typeof p.target === 'string' ? undefined : p.target;
    const targetName = typeof p.target === 'string' ? p.target : p.target.name;
    check.objectName(`${at}.target`, targetName, 'CloudTarget');
    const name = p.name ?? `${this.name}-${targetName}`;
    check.objectName(p.name === undefined ? `${at} (its default name)` : `${at}.name`, name, 'MachinePool');
    if (this.node.tryFindChild(name)) check.fail(`${at}.name`, `${quote(name)} is already a pool of this cluster; give one of them another name`);

    let machineType = p.machineType;
    if (machineType === undefined) {
      if (!target) check.fail(`${at}.machineType`, `is required when the target is given by name (${quote(targetName)}); or pass the FleetTarget`);
      machineType = target.cheapestMachineType.name;
    } else if (target && !target.machineTypes.some((t) => t.name === machineType)) {
      check.fail(`${at}.machineType`, `${quote(machineType)} is not offered by CloudTarget ${quote(targetName)}; it offers ${target.machineTypes.map((t) => quote(t.name)).join(', ')}`);
    }
    const replicas = p.replicas ?? 1;
    check.integer(`${at}.replicas`, replicas, 0);
    if (p.zones) {
      check.nonEmptyUnique(`${at}.zones`, p.zones);
      const outside = target ? p.zones.filter((z) => !target.zones.includes(z)) : [];
      if (outside.length > 0) check.fail(`${at}.zones`, `${outside.map(quote).join(', ')} not in CloudTarget ${quote(targetName)} (zones ${target!.zones.map(quote).join(', ')})`);
    }
    if (p.version !== undefined) {
      const problem = kubeletSkewProblem(p.version, this.version);
      if (problem) check.fail(`${at}.version`, problem);
    }
    for (const k of ['maxSurge', 'maxUnavailable', 'maxUnhealthy'] as const) if (p[k] !== undefined) check.intOrPercent(`${at}.${k}`, p[k]);
    if (p.nodeNotReadySeconds !== undefined) check.integer(`${at}.nodeNotReadySeconds`, p.nodeNotReadySeconds, 1);
    if (p.drainTimeoutSeconds !== undefined) check.integer(`${at}.drainTimeoutSeconds`, p.drainTimeoutSeconds, 0);

    const pool = new MachinePool(this, name, {
      metadata: { name, namespace: this.namespace },
      spec: {
        clusterName: this.name,
        replicas,
        unit: this.unit,
        template: {
          targetRef: { name: targetName },
          machineType,
          zones: p.zones && [...p.zones],
          version: p.version,
          labels: p.labels && { ...p.labels },
        },
        strategy: unlessEmpty({ maxSurge: p.maxSurge, maxUnavailable: p.maxUnavailable }),
        healthCheck: unlessEmpty({ nodeNotReadySeconds: p.nodeNotReadySeconds, maxUnhealthy: p.maxUnhealthy }),
        drainTimeoutSeconds: p.drainTimeoutSeconds,
      },
    });
    // Pools come after the targets they name, so `kubectl apply -f` of the synthesised file creates them in order.
    if (target) pool.node.addDependency(target);
    assertAccepted(check.construct, pool.toJson());
    this.poolList.push(pool);
    return pool;
  }
}
