/**
 * The stack configuration of the `kok-fleet` program (the `kok-fleet:` keys of Pulumi.<stack>.yaml),
 * read and checked before anything is declared. Errors name the key as `pulumi config` spells it
 * (`kok-fleet:units[1].clusters`), say what is wrong and the bad value, and show how to set it.
 */
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cloudTargetTiers } from '../meta-cluster/api/v1alpha1/cloud-target.js';
import { operatorNames, type OperatorName } from '../operators/catalog.js';
import type { FleetTargetProps, SimulationProps } from '../blueprints/index.js';

export const PROJECT = 'kok-fleet';
/** Where Pulumi.yaml is: relative kubeconfig paths are read from here, as `pulumi` runs the program here. */
export const PROJECT_DIR = dirname(fileURLToPath(import.meta.url));

const quote = (v: unknown): string => JSON.stringify(v);

/** A key of the stack configuration was missing or wrong. `key` is the full key (`kok-fleet:units[1].clusters`). */
export class FleetConfigError extends Error {
  /** Stable, for programs that branch on it. */
  readonly code = 'InvalidConfig';

  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`${key} ${problem}`);
    this.name = 'FleetConfigError';
  }
}

/** `kok-fleet:targets[i]`: a CloudTarget, named, with FleetTarget's props. */
export interface TargetConfig extends Omit<FleetTargetProps, 'name'> {
  readonly name: string;
}

/** `kok-fleet:units[i].pools[j]`: the machines every cluster of the unit gets from one target. */
export interface PoolConfig {
  /** Name of one of `kok-fleet:targets`. */
  readonly target: string;
  /** Machines per cluster from this target. */
  readonly machines: number;
  /** @default - the target's cheapest machine type */
  readonly machineType?: string;
  /** @default - every zone of the target */
  readonly zones?: readonly string[];
}

/** `kok-fleet:units[i]`: a unit of `clusters` business clusters named `<unit>-1` … `<unit>-<clusters>`. */
export interface UnitConfig {
  readonly name: string;
  readonly clusters: number;
  readonly pools: readonly PoolConfig[];
  /** @default - kok-fleet:kubernetesVersion */
  readonly kubernetesVersion?: string;
  /** @default - kok-fleet:controlPlaneReplicas */
  readonly controlPlaneReplicas?: QuorumSize;
}

export const quorumSizes = [1, 3, 5, 7] as const;
export type QuorumSize = (typeof quorumSizes)[number];

/** What a FleetEnvironment installs and declares: the stack configuration without the connection to the meta-cluster. */
export interface FleetEnvironmentArgs {
  /** The image with the kok command line. @default - KokInstall's default, `ghcr.io/kok-dev/kok:<kok version>` */
  readonly operatorImage?: string;
  /** Replicas of each operator Deployment (one leads). @default 2 */
  readonly operatorReplicas: number;
  /** Which operators to run. @default - all of them */
  readonly operators?: readonly OperatorName[];
  /** Reconciles at once per operator. @default - the operator's own default */
  readonly operatorConcurrency?: number;
  /** Namespace of the Clusters, MachinePools and kubeconfig Secrets. @default "fleet" */
  readonly namespace: string;
  /** Kubernetes version of every cluster, unless its unit says otherwise. */
  readonly kubernetesVersion: string;
  /** API server (and etcd) replicas of every cluster, unless its unit says otherwise. @default 3 */
  readonly controlPlaneReplicas: QuorumSize;
  readonly targets: readonly TargetConfig[];
  readonly units: readonly UnitConfig[];
  /**
   * `pulumi up` waits for every Cluster and MachinePool to be Ready (annotation
   * `pulumi.com/waitFor: condition=Ready`), so the kubeconfig Secrets exist when it returns. @default true
   */
  readonly awaitReady: boolean;
}

export interface FleetConfig {
  /** The meta-cluster's kubeconfig: a file (absolute path) or its content. */
  readonly kubeconfig: { readonly path: string } | { readonly content: string };
  /** Context of the kubeconfig to use. @default - its current context */
  readonly context?: string;
  readonly environment: FleetEnvironmentArgs;
}

/** Every key the program reads, with a line for the error listing them. */
export const configKeys = {
  kubeconfig: 'the meta-cluster kubeconfig: a path (relative to pulumi/) or the file content (set it with --secret)',
  context: 'context of that kubeconfig (default: its current context)',
  operatorImage: 'image of the operators (default: ghcr.io/kok-dev/kok:<version>)',
  operatorReplicas: 'replicas of each operator Deployment (default: 2)',
  operators: 'which operators to install (default: all)',
  operatorConcurrency: 'reconciles at once per operator',
  namespace: 'namespace of the fleet (default: fleet)',
  kubernetesVersion: 'Kubernetes version of the clusters',
  controlPlaneReplicas: 'API server and etcd replicas per cluster: 1, 3, 5 or 7 (default: 3)',
  targets: 'the CloudTargets: [{name, tier, region, zones, machineTypes, capacity?, simulation?}]',
  units: 'the units: [{name, clusters, pools: [{target, machines, machineType?}]}]',
  awaitReady: 'wait for every Cluster and MachinePool to be Ready (default: true)',
} as const;
export type ConfigKey = keyof typeof configKeys;

/**
 * Parses the `kok-fleet:` configuration. `raw` maps full keys (`kok-fleet:units`) to the strings
 * Pulumi hands a program: plain strings as they are, numbers and booleans as text, lists and
 * objects as JSON.
 */
export function parseFleetConfig(raw: Readonly<Record<string, string | undefined>>): FleetConfig {
  for (const key of Object.keys(raw)) {
    const short = key.startsWith(`${PROJECT}:`) ? key.slice(PROJECT.length + 1) : undefined;
    if (short !== undefined && raw[key] !== undefined && !Object.hasOwn(configKeys, short)) {
      throw new FleetConfigError(key, `is not a key of this program; it reads ${Object.keys(configKeys).map((k) => `${PROJECT}:${k}`).join(', ')}`);
    }
  }
  const top = (k: ConfigKey): Value => {
    const text = raw[`${PROJECT}:${k}`];
    return new Value(`${PROJECT}:${k}`, text === undefined ? undefined : parseText(`${PROJECT}:${k}`, k, text));
  };

  const kubeconfigValue = top('kubeconfig').string();
  if (kubeconfigValue === undefined || kubeconfigValue.trim() === '') {
    throw new FleetConfigError(
      `${PROJECT}:kubeconfig`,
      `is required: the kubeconfig of the meta-cluster to install into, e.g. \`pulumi config set ${PROJECT}:kubeconfig ~/.kube/meta.yaml\` or \`pulumi config set --secret ${PROJECT}:kubeconfig "$(cat meta.yaml)"\``,
    );
  }
  const targets = top('targets').list((v) => target(v));
  const targetNames = targets.map((t) => t.name);
  unique(`${PROJECT}:targets`, targetNames, 'name');
  const units = top('units').list((v) => unit(v, targets));
  unique(`${PROJECT}:units`, units.map((u) => u.name), 'name');
  if (targets.length === 0) throw new FleetConfigError(`${PROJECT}:targets`, 'must declare at least one CloudTarget');
  if (units.length === 0) throw new FleetConfigError(`${PROJECT}:units`, 'must declare at least one unit');

  const kubernetesVersion = top('kubernetesVersion').string();
  if (kubernetesVersion === undefined) throw new FleetConfigError(`${PROJECT}:kubernetesVersion`, `is required: e.g. \`pulumi config set ${PROJECT}:kubernetesVersion 1.31\``);
  const operators = top('operators').optionalList((v) => v.requiredOneOf(operatorNames));

  return {
    kubeconfig: kubeconfigOf(kubeconfigValue),
    context: top('context').string(),
    environment: {
      operatorImage: top('operatorImage').string(),
      operatorReplicas: top('operatorReplicas').integer(1, 10) ?? 2,
      operators,
      operatorConcurrency: top('operatorConcurrency').integer(1, 256),
      namespace: top('namespace').string() ?? 'fleet',
      kubernetesVersion,
      controlPlaneReplicas: top('controlPlaneReplicas').oneOf(quorumSizes) ?? 3,
      targets,
      units,
      awaitReady: top('awaitReady').boolean() ?? true,
    },
  };
}

/** A path (`~/…`, absolute, or relative to pulumi/) unless it looks like kubeconfig content. */
export function kubeconfigOf(value: string): FleetConfig['kubeconfig'] {
  if (/\n|^\s*(apiVersion|kind|clusters|\{)/.test(value)) return { content: value };
  const expanded = value === '~' || value.startsWith('~/') ? homedir() + value.slice(1) : value;
  return { path: isAbsolute(expanded) ? expanded : resolve(PROJECT_DIR, expanded) };
}

function target(v: Value): TargetConfig {
  v.knownFields(['name', 'tier', 'region', 'zones', 'machineTypes', 'capacity', 'provider', 'credentialsSecret', 'simulation']);
  const sim = v.field('simulation');
  sim.knownFields(['provisionSeconds', 'bootSeconds', 'jitter', 'createFailureRate', 'failureRatePerHour']);
  const secret = v.field('credentialsSecret');
  secret.knownFields(['namespace', 'name']);
  const machineTypes = v.field('machineTypes').list((t) => {
    t.knownFields(['name', 'cpu', 'memoryGiB', 'pricePerHour']);
    return {
      name: t.field('name').requiredString(),
      cpu: t.field('cpu').requiredInteger(1, 1024),
      memoryGiB: t.field('memoryGiB').requiredInteger(1, 1 << 16),
      pricePerHour: t.field('pricePerHour').requiredNumber(0),
    };
  });
  if (machineTypes.length === 0) throw new FleetConfigError(v.field('machineTypes').key, 'must offer at least one machine type');
  unique(v.field('machineTypes').key, machineTypes.map((t) => t.name), 'name');
  const simulation: SimulationProps | undefined = sim.isSet()
    ? {
        provisionSeconds: sim.field('provisionSeconds').number(0),
        bootSeconds: sim.field('bootSeconds').number(0),
        jitter: sim.field('jitter').number(0, 1),
        createFailureRate: sim.field('createFailureRate').number(0, 1),
        failureRatePerHour: sim.field('failureRatePerHour').number(0),
      }
    : undefined;
  return dropUndefined({
    name: v.field('name').requiredString(),
    tier: v.field('tier').requiredOneOf(cloudTargetTiers),
    region: v.field('region').requiredString(),
    zones: v.field('zones').list((z) => z.requiredString()),
    machineTypes,
    capacity: v.field('capacity').integer(0),
    provider: v.field('provider').string(),
    credentialsSecret: secret.isSet() ? { namespace: secret.field('namespace').requiredString(), name: secret.field('name').requiredString() } : undefined,
    simulation: simulation && dropUndefined(simulation),
  });
}

function unit(v: Value, targets: readonly TargetConfig[]): UnitConfig {
  v.knownFields(['name', 'clusters', 'pools', 'kubernetesVersion', 'controlPlaneReplicas']);
  const pools = v.field('pools').list((p) => {
    p.knownFields(['target', 'machines', 'machineType', 'zones']);
    const targetName = p.field('target').requiredString();
    if (!targets.some((t) => t.name === targetName)) {
      throw new FleetConfigError(p.field('target').key, `${quote(targetName)} is not one of ${PROJECT}:targets (${targets.map((t) => quote(t.name)).join(', ') || 'none declared'})`);
    }
    return dropUndefined({
      target: targetName,
      machines: p.field('machines').requiredInteger(0, 1000),
      machineType: p.field('machineType').string(),
      zones: p.field('zones').optionalList((z) => z.requiredString()),
    });
  });
  unique(v.field('pools').key, pools.map((p) => p.target), 'target');
  return dropUndefined({
    name: v.field('name').requiredString(),
    clusters: v.field('clusters').requiredInteger(1, 100),
    pools,
    kubernetesVersion: v.field('kubernetesVersion').string(),
    controlPlaneReplicas: v.field('controlPlaneReplicas').oneOf(quorumSizes),
  });
}

function unique(key: string, values: readonly string[], field: string): void {
  const seen = new Set<string>();
  values.forEach((v, i) => {
    if (seen.has(v)) throw new FleetConfigError(`${key}[${i}].${field}`, `${quote(v)} is declared twice; each ${field} must be unique`);
    seen.add(v);
  });
}

const dropUndefined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** Structured keys are JSON; scalars stay text and are parsed by the reader that knows the type. */
function parseText(key: string, short: ConfigKey, text: string): unknown {
  if (short !== 'targets' && short !== 'units' && short !== 'operators') return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new FleetConfigError(key, `must be a list (YAML in the stack file, or JSON with \`pulumi config set --path\`), not ${quote(text)}`);
  }
}

/** One value at a config key, with readers that throw a FleetConfigError naming the key. */
class Value {
  constructor(
    readonly key: string,
    readonly v: unknown,
  ) {}

  isSet(): boolean {
    return this.v !== undefined && this.v !== null;
  }

  private fail(problem: string): never {
    throw new FleetConfigError(this.key, problem);
  }

  private required(what: string): void {
    if (!this.isSet()) this.fail(`is required: ${what}`);
  }

  field(name: string): Value {
    if (!this.isSet()) return new Value(`${this.key}.${name}`, undefined);
    if (typeof this.v !== 'object' || Array.isArray(this.v)) this.fail(`must be an object, not ${quote(this.v)}`);
    return new Value(`${this.key}.${name}`, (this.v as Record<string, unknown>)[name]);
  }

  knownFields(known: readonly string[]): void {
    if (!this.isSet()) return;
    if (typeof this.v !== 'object' || Array.isArray(this.v)) this.fail(`must be an object, not ${quote(this.v)}`);
    for (const k of Object.keys(this.v as object)) {
      if (!known.includes(k)) throw new FleetConfigError(`${this.key}.${k}`, `is not a known field; use ${known.join(', ')}`);
    }
  }

  list<T>(item: (v: Value) => T): T[] {
    this.required('a list');
    return this.optionalList(item)!;
  }

  optionalList<T>(item: (v: Value) => T): T[] | undefined {
    if (!this.isSet()) return undefined;
    if (!Array.isArray(this.v)) this.fail(`must be a list, not ${quote(this.v)}`);
    return (this.v as unknown[]).map((x, i) => item(new Value(`${this.key}[${i}]`, x)));
  }

  string(): string | undefined {
    if (!this.isSet()) return undefined;
    if (typeof this.v !== 'string') this.fail(`must be text, not ${quote(this.v)}`);
    return this.v as string;
  }

  requiredString(): string {
    this.required('text');
    const s = this.string()!;
    if (s.trim() === '') this.fail('must not be empty');
    return s;
  }

  /** Numbers come as text from scalar keys and as JSON numbers inside lists. */
  number(min: number, max = Number.POSITIVE_INFINITY): number | undefined {
    if (!this.isSet()) return undefined;
    const n = typeof this.v === 'string' && this.v.trim() !== '' ? Number(this.v) : this.v;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) {
      this.fail(`must be a number ${max === Number.POSITIVE_INFINITY ? `of at least ${min}` : `from ${min} to ${max}`}, not ${quote(this.v)}`);
    }
    return n;
  }

  requiredNumber(min: number, max?: number): number {
    this.required(`a number of at least ${min}`);
    return this.number(min, max)!;
  }

  integer(min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    if (!this.isSet()) return undefined;
    const n = typeof this.v === 'string' && /^-?\d+$/.test(this.v.trim()) ? Number(this.v) : this.v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      this.fail(`must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}, not ${quote(this.v)}`);
    }
    return n;
  }

  requiredInteger(min: number, max?: number): number {
    this.required(`a whole number of at least ${min}`);
    return this.integer(min, max)!;
  }

  boolean(): boolean | undefined {
    if (!this.isSet()) return undefined;
    if (this.v === true || this.v === 'true') return true;
    if (this.v === false || this.v === 'false') return false;
    return this.fail(`must be true or false, not ${quote(this.v)}`);
  }

  oneOf<T extends string | number>(allowed: readonly T[]): T | undefined {
    if (!this.isSet()) return undefined;
    const v = typeof allowed[0] === 'number' && typeof this.v === 'string' && this.v.trim() !== '' ? Number(this.v) : this.v;
    if (!allowed.includes(v as T)) this.fail(`must be one of ${allowed.map(quote).join(', ')}, not ${quote(this.v)}`);
    return v as T;
  }

  requiredOneOf<T extends string | number>(allowed: readonly T[]): T {
    this.required(`one of ${allowed.map(quote).join(', ')}`);
    return this.oneOf(allowed)!;
  }
}
