/**
 * Runs the kok-fleet program under `pulumi.runtime.setMocks`, the way Pulumi documents unit tests:
 * mocks and config are set first, then the program is imported. Every RegisterResource request the
 * SDK sends is recorded as the engine would receive it — type, name, parent, dependencies
 * (dependsOn and property dependencies), provider and inputs — in the order it was sent, which
 * follows dependsOn because the SDK resolves a resource's dependencies before registering it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import { PROJECT, PROJECT_DIR } from '../config.js';

export interface Registration {
  readonly type: string;
  readonly name: string;
  /** Set once the monitor answered. */
  urn: string;
  /** URN of the parent; "" at the top of the program. */
  readonly parent: string;
  /** URNs the resource depends on. */
  readonly dependencies: readonly string[];
  /** `<provider urn>::<provider id>`, or "" for the default provider and components. */
  readonly provider: string;
  readonly custom: boolean;
  /** The inputs as the engine receives them. */
  readonly inputs: Record<string, any>;
}

export interface StackRun {
  readonly stack: string;
  /** In the order the SDK sent them. */
  readonly registrations: readonly Registration[];
  /** registerOutputs() of component resources, by URN. */
  readonly componentOutputs: ReadonlyMap<string, Record<string, unknown>>;
  /** The program's exports (stack outputs), resolved. */
  readonly outputs: Record<string, unknown>;
}

/** A stack's config as the Pulumi CLI hands it to a program: scalars as text, lists and objects as JSON. */
export function stackConfig(stack: string): Record<string, string> {
  const file = join(PROJECT_DIR, `Pulumi.${stack}.yaml`);
  const doc = parse(readFileSync(file, 'utf8')) as { config?: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (value !== null && typeof value === 'object' && 'secure' in value) {
      throw new Error(`${file}: ${key} is encrypted; tests cannot decrypt it — pass the value as an override`);
    }
    out[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

/**
 * Sets mocks and config, then imports the program (`load`, e.g. `() => import('../index.js')`,
 * with the module registry reset when a file runs several stacks), waits for every RPC and
 * resolves the exports.
 */
export async function runUnderMocks(opts: {
  stack: string;
  config: Record<string, string>;
  secretKeys?: string[];
  load: () => Promise<Record<string, unknown>>;
  /** Collects the registrations here too, so a caller sees them when the program throws. */
  registrations?: Registration[];
}): Promise<StackRun> {
  const registrations: Registration[] = opts.registrations ?? [];
  const componentOutputs = new Map<string, Record<string, unknown>>();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
      call: (args) => {
        throw new Error(`the program called ${args.token}; it should call no provider functions`);
      },
    },
    PROJECT,
    opts.stack,
  );
  pulumi.runtime.setAllConfig(opts.config, opts.secretKeys);

  const monitor = pulumi.runtime.getMonitor() as unknown as Monitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const entry: Registration = {
      type: req.getType(),
      name: req.getName(),
      urn: '',
      parent: req.getParent(),
      dependencies: req.getDependenciesList(),
      provider: req.getProvider(),
      custom: req.getCustom(),
      inputs: pulumi.runtime.deserializeProperties(req.getObject()),
    };
    registrations.push(entry);
    return register(req, (err, res) => {
      if (res) entry.urn = res.getUrn();
      callback(err, res);
    });
  };
  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResourceOutputs = (req, callback) => {
    componentOutputs.set(req.getUrn(), pulumi.runtime.deserializeProperties(req.getOutputs()));
    return registerOutputs(req, callback);
  };

  const exports = await opts.load();
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(exports)) outputs[k] = pulumi.Output.isInstance(v) ? await valueOf(v) : v;
  // What the language host does when the program returns: wait for every outstanding RPC.
  await pulumi.runtime.disconnect();
  return { stack: opts.stack, registrations, componentOutputs, outputs };
}

/** An Output's value (under mocks every value is known). */
export const valueOf = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));

interface Request {
  getType(): string;
  getName(): string;
  getParent(): string;
  getDependenciesList(): string[];
  getProvider(): string;
  getCustom(): boolean;
  getObject(): Parameters<typeof pulumi.runtime.deserializeProperties>[0];
  getUrn(): string;
  getOutputs(): Parameters<typeof pulumi.runtime.deserializeProperties>[0];
}
type Callback = (err: unknown, res: { getUrn(): string } | undefined) => void;
interface Monitor {
  registerResource(req: Request, callback: Callback): Promise<void>;
  registerResourceOutputs(req: Request, callback: Callback): void;
}
