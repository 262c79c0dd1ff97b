/**
 * The settings of a simulated CloudTarget and the random draws the simulation makes from them.
 * Pure functions, table-tested. The fields mirror CloudTarget spec.{zones, capacity, machineTypes,
 * simulation}; the operator copies them over, so this folder does not depend on the API types.
 */
import { InvalidTargetError } from './errors.js';
import type { MachineType } from './provider.js';

export interface SimulationSettings {
  /** Seconds an instance stays `provisioning`. @default 0 */
  readonly provisionSeconds?: number;
  /** Seconds an instance then stays `booting` before it is `running`. @default 0 */
  readonly bootSeconds?: number;
  /** Spread of both latencies: each is multiplied by a factor uniform in [1-jitter, 1+jitter]. 0..1. @default 0 */
  readonly jitter?: number;
  /** Probability that a create fails with InstanceCreateError. 0..1. @default 0 */
  readonly createFailureRate?: number;
  /** Rate at which a running instance dies, per instance per hour (a Poisson process). @default 0 */
  readonly failureRatePerHour?: number;
}

export interface SimulatedTargetSettings {
  /** At least one zone. */
  readonly zones: readonly string[];
  /** @default - no limit */
  readonly capacity?: { readonly machines?: number };
  /** At least one machine type; names are unique. */
  readonly machineTypes: readonly MachineType[];
  /** @default - every field at its default: instances run at once and never fail */
  readonly simulation?: SimulationSettings;
}

/** Settings after validation, with every default filled in. */
export interface ResolvedSettings {
  readonly zones: readonly string[];
  readonly capacity: number | undefined;
  readonly machineTypes: ReadonlyMap<string, MachineType>;
  readonly provisionSeconds: number;
  readonly bootSeconds: number;
  readonly jitter: number;
  readonly createFailureRate: number;
  readonly failureRatePerHour: number;
}

/** Validates the settings of `target` and fills in the defaults; InvalidTargetError names the bad field. */
export function resolveSettings(target: string, settings: SimulatedTargetSettings): ResolvedSettings {
  const bad = (field: string, value: unknown, fix: string) =>
    new InvalidTargetError(target, `${field} ${JSON.stringify(value)} is not valid: ${fix}`);
  const zones = settings.zones ?? [];
  if (zones.length === 0) throw bad('zones', zones, 'list at least one zone');
  for (const z of zones) if (typeof z !== 'string' || z === '') throw bad('zones[]', z, 'zones are non-empty names');
  if (new Set(zones).size !== zones.length) throw bad('zones', zones, 'zone names must be unique');

  const machines = settings.capacity?.machines;
  if (machines !== undefined && !(Number.isInteger(machines) && machines >= 0)) {
    throw bad('capacity.machines', machines, 'use a whole number of machines, 0 or more, or leave it out for no limit');
  }

  const types = new Map<string, MachineType>();
  for (const t of settings.machineTypes ?? []) {
    if (typeof t?.name !== 'string' || t.name === '') throw bad('machineTypes[].name', t?.name, 'every machine type needs a name');
    if (types.has(t.name)) throw bad('machineTypes[].name', t.name, 'machine type names must be unique');
    if (!(Number.isFinite(t.pricePerHour) && t.pricePerHour >= 0)) {
      throw bad(`machineTypes[${t.name}].pricePerHour`, t.pricePerHour, 'use a price of 0 or more');
    }
    types.set(t.name, Object.freeze({ ...t }));
  }
  if (types.size === 0) throw bad('machineTypes', settings.machineTypes ?? [], 'list at least one machine type');

  const sim = settings.simulation ?? {};
  const seconds = (field: 'provisionSeconds' | 'bootSeconds') => {
    const v = sim[field] ?? 0;
    if (!(Number.isFinite(v) && v >= 0)) throw bad(`simulation.${field}`, v, 'use a number of seconds, 0 or more');
    return v;
  };
  const fraction = (field: 'jitter' | 'createFailureRate') => {
    const v = sim[field] ?? 0;
    if (!(Number.isFinite(v) && v >= 0 && v <= 1)) throw bad(`simulation.${field}`, v, 'use a number from 0 to 1');
    return v;
  };
  const rate = sim.failureRatePerHour ?? 0;
  if (!(Number.isFinite(rate) && rate >= 0)) throw bad('simulation.failureRatePerHour', rate, 'use a rate per hour, 0 or more');

  return {
    zones: Object.freeze([...zones]),
    capacity: machines,
    machineTypes: types,
    provisionSeconds: seconds('provisionSeconds'),
    bootSeconds: seconds('bootSeconds'),
    jitter: fraction('jitter'),
    createFailureRate: fraction('createFailureRate'),
    failureRatePerHour: rate,
  };
}

/** A latency factor uniform in [1-jitter, 1+jitter], from `u` uniform in [0, 1). */
export function jitterFactor(jitter: number, u: number): number {
  return 1 - jitter + 2 * jitter * u;
}

/**
 * Milliseconds until a running instance dies, from `u` uniform in [0, 1): the waiting time of a
 * Poisson process of `ratePerHour` (exponential, inverse transform). Undefined when it never dies
 * (rate 0, or later than any date can say).
 */
export function timeToFailureMs(ratePerHour: number, u: number): number | undefined {
  if (ratePerHour <= 0) return undefined;
  const ms = Math.max(0, (-Math.log1p(-u) / ratePerHour) * 3_600_000);
  return ms < MAX_FUTURE_MS ? Math.round(ms) : undefined;
}

/** About 100,000 years: beyond this an instance is as good as immortal (and Dates stay valid). */
const MAX_FUTURE_MS = 3.15e15;
