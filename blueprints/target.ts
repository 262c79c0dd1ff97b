/** FleetTarget: a CloudTarget — a place machines come from — with its machine types and prices. */
import { Construct } from 'constructs';
import { cloudTargetTiers, SIMULATED_PROVIDER, type CloudTargetTier, type MachineType } from '../meta-cluster/api/v1alpha1/cloud-target.js';
import { CloudTarget } from './imports/fleet.kok.dev.js';
import { quote } from './errors.js';
import { assertAccepted, PropChecks } from './validate.js';

/** A machine type on offer: name, cpu, memoryGiB, pricePerHour (CloudTarget spec.machineTypes[]). */
export type MachineTypeProps = Readonly<MachineType>;

/** How the `simulated` provider behaves; other providers ignore it. */
export interface SimulationProps {
  /** Seconds to place an instance before it boots. @default 0 */
  readonly provisionSeconds?: number;
  /** Seconds an instance boots before its node agent registers the Node. @default 0 */
  readonly bootSeconds?: number;
  /** Spread of the latencies, 0 to 1: each is multiplied by a factor from [1-jitter, 1+jitter]. @default 0 */
  readonly jitter?: number;
  /** Fraction of creates that fail, 0 to 1. @default 0 */
  readonly createFailureRate?: number;
  /** How often a running machine dies, per machine per hour. @default 0 */
  readonly failureRatePerHour?: number;
}

export interface FleetTargetProps {
  /** Name of the CloudTarget (cluster-scoped). @default - the construct id */
  readonly name?: string;
  /** private (your data centres), hybrid (a private cloud or partner region) or public. */
  readonly tier: CloudTargetTier;
  /** Region; Nodes carry it as topology.kubernetes.io/region. */
  readonly region: string;
  /** Zones machines may be placed in; Nodes carry theirs as topology.kubernetes.io/zone. */
  readonly zones: readonly string[];
  /** The machine types on offer, with size and price. */
  readonly machineTypes: readonly MachineTypeProps[];
  /** The most machines the target holds at once, counting every pool on it. @default - no limit */
  readonly capacity?: number;
  /** The provider plugin that creates machines. @default "simulated" (the only one implemented) */
  readonly provider?: string;
  /** The Secret with the provider's endpoint and credentials. @default - none (the simulated provider needs none) */
  readonly credentialsSecret?: { readonly namespace: string; readonly name: string };
  /** Latencies and failures of the simulated provider. @default - no latency, no failures */
  readonly simulation?: SimulationProps;
}

export class FleetTarget extends Construct {
  /** Name of the CloudTarget. */
  readonly name: string;
  readonly tier: CloudTargetTier;
  readonly zones: readonly string[];
  readonly machineTypes: readonly MachineTypeProps[];
  /** The low-level CloudTarget object. */
  readonly apiObject: CloudTarget;

  constructor(scope: Construct, id: string, props: FleetTargetProps) {
    super(scope, id);
    this.name = props.name ?? id;
    const check = new PropChecks(`FleetTarget ${quote(this.name)}`);
    check.objectName(props.name === undefined ? 'id' : 'props.name', this.name, 'CloudTarget');
    check.oneOf('props.tier', props.tier, cloudTargetTiers);
    check.labelValue('props.region', props.region);
    check.nonEmptyUnique('props.zones', props.zones);
    props.zones.forEach((z, i) => check.labelValue(`props.zones[${i}]`, z));
    check.nonEmptyUnique('props.machineTypes', props.machineTypes.map((t) => t.name));
    props.machineTypes.forEach((t, i) => {
      const at = `props.machineTypes[${i}]`;
      check.labelValue(`${at}.name`, t.name);
      check.integer(`${at}.cpu`, t.cpu, 1);
      check.integer(`${at}.memoryGiB`, t.memoryGiB, 1);
      check.number(`${at}.pricePerHour`, t.pricePerHour, 0);
    });
    if (props.capacity !== undefined) check.integer('props.capacity', props.capacity, 0);
    const sim = props.simulation ?? {};
    for (const k of ['provisionSeconds', 'bootSeconds', 'failureRatePerHour'] as const) if (sim[k] !== undefined) check.number(`props.simulation.${k}`, sim[k], 0);
    for (const k of ['jitter', 'createFailureRate'] as const) if (sim[k] !== undefined) check.number(`props.simulation.${k}`, sim[k], 0, 1);

    this.tier = props.tier;
    this.zones = [...props.zones];
    this.machineTypes = props.machineTypes.map((t) => ({ ...t }));
    this.apiObject = new CloudTarget(this, 'Resource', {
      metadata: { name: this.name },
      spec: {
        tier: props.tier as never,
        provider: props.provider ?? SIMULATED_PROVIDER,
        region: props.region,
        zones: this.zones as string[],
        capacity: props.capacity === undefined ? undefined : { machines: props.capacity },
        machineTypes: this.machineTypes.map((t) => ({ ...t })),
        credentialsSecretRef: props.credentialsSecret && { ...props.credentialsSecret },
        simulation: props.simulation && { ...props.simulation },
      },
    });
    assertAccepted(check.construct, this.apiObject.toJson());
  }

  /** The cheapest machine type (the first of equal price): what a pool gets when it names none. */
  get cheapestMachineType(): MachineTypeProps {
    return this.machineTypes.reduce((a, b) => (b.pricePerHour < a.pricePerHour ? b : a));
  }
}
