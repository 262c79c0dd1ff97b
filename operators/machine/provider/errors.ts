/**
 * Errors of cloud providers, each with a stable `code` and a message naming the CloudTarget and,
 * where there is one, the Machine. `retry` tells the Machine operator what to do with it, so a
 * full target is a wait and a bad spec is a condition, neither an error loop.
 * No message ever holds a request's user data.
 */

export type ProviderErrorCode =
  /** The target holds as many instances as its capacity allows. */
  | 'QuotaExceeded'
  /** The cloud failed to create the instance this time (no capacity in the zone, an API hiccup). */
  | 'InstanceCreateFailed'
  /** The requested machine type is not one the target offers. */
  | 'UnknownMachineType'
  /** The request is malformed or contradicts the instance the Machine already has. */
  | 'InvalidRequest'
  /** The target's settings cannot be used (no zones, a negative capacity, a rate above 1). */
  | 'InvalidTarget'
  /** The provider cannot be reached or is closed; nothing is known about the request's outcome. */
  | 'ProviderUnavailable';

/**
 * What the operator does with a failure:
 * - `wait`: the world must change first (a delete frees capacity): requeue after a while, no backoff,
 *   no error logged, a condition says what is awaited;
 * - `backoff`: transient: throw, so the work queue retries with backoff;
 * - `never`: retrying cannot help until the spec changes: terminal, a condition says why.
 */
export type RetryAdvice = 'wait' | 'backoff' | 'never';

export interface MachineRef {
  readonly namespace: string;
  readonly name: string;
}

export abstract class ProviderError extends Error {
  abstract readonly code: ProviderErrorCode;
  abstract readonly retry: RetryAdvice;

  constructor(
    /** The CloudTarget the failure happened at. */
    readonly target: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`CloudTarget ${target}: ${message}`, options);
  }
}

const forMachine = (m: MachineRef | undefined) => (m ? ` for Machine ${m.namespace}/${m.name}` : '');

export class QuotaExceededError extends ProviderError {
  readonly code = 'QuotaExceeded';
  readonly retry = 'wait';
  override readonly name = 'QuotaExceededError';

  constructor(
    target: string,
    readonly machine: MachineRef,
    readonly capacity: number,
    readonly inUse: number,
  ) {
    super(target, `quota exceeded creating instance${forMachine(machine)} (${inUse} of ${capacity} machines in use)`);
  }
}

export class InstanceCreateError extends ProviderError {
  readonly code = 'InstanceCreateFailed';
  readonly retry = 'backoff';
  override readonly name = 'InstanceCreateError';

  constructor(
    target: string,
    readonly machine: MachineRef,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(target, `creating instance${forMachine(machine)} failed: ${reason}`, options);
  }
}

export class UnknownMachineTypeError extends ProviderError {
  readonly code = 'UnknownMachineType';
  readonly retry = 'never';
  override readonly name = 'UnknownMachineTypeError';

  constructor(
    target: string,
    readonly machineType: string,
    readonly offered: readonly string[],
    readonly machine?: MachineRef,
  ) {
    const what = machine ? `creating instance${forMachine(machine)}: ` : '';
    super(target, `${what}machine type "${machineType}" is not offered; use one of ${offered.map((t) => `"${t}"`).join(', ') || '(none)'}`);
  }
}

export class InvalidRequestError extends ProviderError {
  readonly code = 'InvalidRequest';
  readonly retry = 'never';
  override readonly name = 'InvalidRequestError';

  constructor(
    target: string,
    message: string,
    readonly machine?: MachineRef,
  ) {
    super(target, machine ? `creating instance${forMachine(machine)}: ${message}` : message);
  }
}

export class InvalidTargetError extends ProviderError {
  readonly code = 'InvalidTarget';
  readonly retry = 'never';
  override readonly name = 'InvalidTargetError';
}

export class ProviderUnavailableError extends ProviderError {
  readonly code = 'ProviderUnavailable';
  readonly retry = 'backoff';
  override readonly name = 'ProviderUnavailableError';
}

export const isProviderError = (e: unknown, code?: ProviderErrorCode): e is ProviderError =>
  e instanceof ProviderError && (code === undefined || e.code === code);
