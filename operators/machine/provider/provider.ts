/**
 * The cloud provider interface of the Machine operator: how a Machine gets one instance at a
 * CloudTarget. kok ships the `simulated` provider (simulated.ts); plugins for real clouds
 * (OpenStack, VMware, a public cloud) implement the same interface and the same guarantees.
 */
import type { MachineType as ApiMachineType } from '../../../meta-cluster/api/v1alpha1/cloud-target.js';

/**
 * The life of an instance, in order. `failed` and `terminated` are final.
 * - `provisioning`: the cloud is placing the instance (scheduling, attaching disks and network).
 * - `booting`: the instance has an address and is starting its OS and the node agent.
 * - `running`: booted; the node agent runs with the user data and registers its Node.
 * - `failed`: the instance died or could not start (its host failed, it was killed). It still
 *   exists, holds quota and costs money until it is deleted.
 * - `terminated`: deleted. Holds no quota and costs nothing; kept for a while for audit.
 */
export type InstanceState = 'provisioning' | 'booting' | 'running' | 'failed' | 'terminated';

export const instanceStates: readonly InstanceState[] = ['provisioning', 'booting', 'running', 'failed', 'terminated'];

/** True while the instance exists at the provider: it holds quota and costs money. */
export const isLive = (state: InstanceState): boolean => state !== 'terminated';

/**
 * Tags every provider puts on the instances it creates, so `list()` and a person in the cloud's
 * console can tell kok's instances apart and trace each to its Machine. They win over request tags.
 */
export const TAG_MACHINE_UID = 'fleet.kok.dev/machine-uid';
/** `<namespace>/<name>` of the Machine. */
export const TAG_MACHINE = 'fleet.kok.dev/machine';
export const TAG_CLUSTER = 'fleet.kok.dev/cluster';
export const TAG_CLOUD_TARGET = 'fleet.kok.dev/cloud-target';

/** A machine type a target offers (CloudTarget spec.machineTypes[]: name, cpu, memoryGiB, pricePerHour). */
export type MachineType = Readonly<ApiMachineType>;

export interface CreateInstanceRequest {
  /**
   * The Machine's metadata.uid: the idempotency key. The instance is tagged with it; a create for a
   * uid the provider already holds an instance for returns that instance and makes no other.
   */
  readonly machineUid: string;
  readonly machineNamespace: string;
  readonly machineName: string;
  /** Name of the business Cluster the machine joins. */
  readonly cluster: string;
  /** One of the target's machine types. */
  readonly machineType: string;
  /** One of the target's zones. @default - the provider picks one (the simulated provider: the least used) */
  readonly zone?: string;
  /** Extra tags (labels) for the instance, such as the unit and the pool. */
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * The bootstrap payload (a kubeconfig with a bootstrap token, cloud-init user data). Opaque to the
   * provider: given to the instance at its first boot, and never logged, never put in an error
   * message, never returned in an Instance.
   */
  readonly userData: string;
}

/**
 * One instance as the provider reports it. Plain data: safe to log and to serialise, because it
 * never holds the user data.
 */
export interface Instance {
  /** The provider's id of the instance, unique in the target. */
  readonly id: string;
  /**
   * The id as a Node's spec.providerID spells it: `<provider>://<where>/<id>`, e.g.
   * `simulated://public-eu/eu-1a/i-0000000001`. The Machine records it.
   */
  readonly providerID: string;
  /** The CloudTarget the instance belongs to. */
  readonly target: string;
  readonly machineUid: string;
  readonly machineNamespace: string;
  readonly machineName: string;
  readonly cluster: string;
  readonly machineType: string;
  readonly zone: string;
  readonly state: InstanceState;
  /** The instance's private IPv4 address. */
  readonly address: string;
  /** RFC 3339 with milliseconds, UTC. */
  readonly createdAt: string;
  /** When the instance became running; present once it has been running (also after it failed). */
  readonly runningSince?: string;
  /** When the instance failed; present in state `failed` (and `terminated` if it failed first). */
  readonly failedAt?: string;
  /** Why the instance failed, for a condition message. */
  readonly failureReason?: string;
  /** When the instance was deleted; present in state `terminated`. */
  readonly terminatedAt?: string;
  /** Request tags plus the TAG_* tags. */
  readonly tags: Readonly<Record<string, string>>;
}

export interface Quota {
  /** The most live instances the target holds at once; undefined when there is no limit. */
  readonly capacity: number | undefined;
  /** Live (not terminated) instances of the target now, failed ones included. */
  readonly inUse: number;
}

export interface ListOptions {
  /** Also list terminated instances the provider still remembers. @default false */
  readonly includeTerminated?: boolean;
}

/**
 * A cloud provider for one CloudTarget. What a plugin (OpenStack, VMware, a public cloud) must
 * implement and guarantee, because the Machine operator relies on every point:
 *
 * 1. **Idempotent create.** `create` tags the instance with the Machine's uid (TAG_MACHINE_UID) and
 *    finds by that tag before it makes anything, atomically with respect to other creates (a
 *    client token, a unique constraint, a lock): a retried, concurrent or restarted create for the
 *    same uid returns the one instance and never makes a second. This holds while the provider
 *    remembers the instance, terminated ones included (like a client token). The operator calls
 *    `create` only while the Machine has no providerID recorded; the uid closes the window between
 *    the create and that write. A retry with a different machineType or zone for a uid that has an
 *    instance is an InvalidRequestError, not a second instance.
 * 2. **Create returns promptly** with the instance in `provisioning` (or later); it does not wait
 *    for the boot. The operator polls `describe` with requeue-after to watch it reach `running`.
 * 3. **User data is a secret.** It reaches the instance at its first boot and nowhere else: not in
 *    logs, error messages, Instance objects or events. Deleting the instance destroys it.
 * 4. **describe / findByMachine** return undefined only when the provider holds no such instance
 *    (never created, or terminated and forgotten). A provider that cannot answer throws
 *    ProviderUnavailableError; it never answers undefined, or the operator would create again.
 * 5. **Delete is idempotent**: deleting an instance that is gone, terminated or unknown succeeds.
 *    Once `delete` resolves, the instance no longer holds quota nor costs money (it is terminated
 *    or terminating) and will not come back.
 * 6. **list** returns every live instance the provider made for this target (found by the
 *    TAG_CLOUD_TARGET tag, not from memory), so the operator can find instances whose Machine is
 *    gone or never learnt their id (leaks). It never returns instances kok did not create.
 * 7. **quota** counts what `create` checks: live instances (failed ones hold quota until deleted).
 * 8. **Errors** are ProviderError subclasses (errors.ts) with a stable `code` and `retry` advice;
 *    messages name the CloudTarget and the Machine. Anything else thrown is treated as a bug.
 * 9. **providerID** is stable for the life of the instance and equals the spec.providerID its Node
 *    registers with, so the operator can match Nodes to Machines.
 */
export interface Provider {
  /** Name of the CloudTarget this provider serves. */
  readonly target: string;
  /** Creates the instance for a Machine, or returns the one it already has (guarantee 1). */
  create(request: CreateInstanceRequest): Promise<Instance>;
  describe(instanceId: string): Promise<Instance | undefined>;
  /** The instance tagged with this Machine uid, if the provider holds one. */
  findByMachine(machineUid: string): Promise<Instance | undefined>;
  /** Deletes the instance; unknown or already terminated instances are success. */
  delete(instanceId: string): Promise<void>;
  /** Every instance the provider holds for this target, live ones by default. */
  list(options?: ListOptions): Promise<Instance[]>;
  quota(): Promise<Quota>;
  /** The machine types the target offers, with their prices. */
  machineTypes(): Promise<readonly MachineType[]>;
  /** Price per hour of one instance of the type; UnknownMachineTypeError if the target has no such type. */
  price(machineType: string): Promise<number>;
  /** What the live instances of this target cost per hour now, in currency units. */
  costPerHour(): Promise<number>;
}
