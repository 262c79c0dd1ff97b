/**
 * The one error blueprints throw: a construct was given props it cannot turn into objects the
 * API accepts. The message names the construct, the prop and the bad value, and says how to fix it.
 */
export class BlueprintError extends Error {
  /** Stable, for programs that branch on it. */
  readonly code = 'InvalidProps';

  constructor(
    /** `FleetCluster "fleet/pay-core"`. */
    readonly construct: string,
    /** `props.version`. */
    readonly prop: string,
    problem: string,
  ) {
    super(`${construct}: ${prop} ${problem}`);
    this.name = 'BlueprintError';
  }
}

/** `"value"` for strings, JSON otherwise: how bad values are quoted in messages. */
export const quote = (v: unknown): string => JSON.stringify(v);
