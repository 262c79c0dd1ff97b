/**
 * A stand-in for the Pulumi engine's two gRPC services (ResourceMonitor and Engine), enough to run
 * a program the way the Pulumi CLI's Node.js language host does — `node <nodeargs>
 * @pulumi/pulumi/cmd/run --monitor … --engine … <main>` in the project directory, config in
 * PULUMI_CONFIG — when the CLI itself cannot be installed. It records every RegisterResource
 * request and answers with the inputs as outputs, as a create would; it plans and applies nothing.
 * Built on the gRPC library and service definitions @pulumi/pulumi ships.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import { PROJECT_DIR } from '../config.js';
import type { Registration } from './mock-stack.js';

const sdkRequire = createRequire(createRequire(import.meta.url).resolve('@pulumi/pulumi/package.json'));
const grpc = sdkRequire('@grpc/grpc-js');
const resourceGrpc = sdkRequire('./proto/resource_grpc_pb.js');
const resourcePb = sdkRequire('./proto/resource_pb.js');
const engineGrpc = sdkRequire('./proto/engine_grpc_pb.js');
const enginePb = sdkRequire('./proto/engine_pb.js');
const { Empty } = sdkRequire('google-protobuf/google/protobuf/empty_pb.js');

/** Features the fake monitor claims; others (output values, transforms, hooks) the SDK then does without. */
const FEATURES = new Set(['secrets', 'resourceReferences', 'aliasSpecs', 'deletedWith']);

export interface EngineRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Engine.Log messages, `severity: message`. */
  readonly logs: readonly string[];
  readonly registrations: readonly Registration[];
  /** RegisterResourceOutputs by URN (the stack's outputs are on the root `pulumi:pulumi:Stack`). */
  readonly outputs: ReadonlyMap<string, Record<string, unknown>>;
}

interface Unary<Req> {
  request: Req;
}
type Done = (err: unknown, res?: unknown) => void;

/**
 * Runs the program in PROJECT_DIR as `pulumi up` would (or `pulumi preview` with dryRun), with the
 * runtime options and main of Pulumi.yaml.
 */
export async function runLikeLanguageHost(opts: { stack: string; config: Record<string, string>; dryRun?: boolean; timeoutMs?: number }): Promise<EngineRun> {
  const project = parse(readFileSync(join(PROJECT_DIR, 'Pulumi.yaml'), 'utf8')) as {
    name: string;
    main?: string;
    runtime: { name: string; options?: { typescript?: boolean; nodeargs?: string } };
  };
  const registrations: Registration[] = [];
  const outputs = new Map<string, Record<string, unknown>>();
  const logs: string[] = [];
  let root = '';

  const urnOf = (parent: string, type: string, name: string) => {
    const parentType = parent ? parent.split('::')[2]! : '';
    return `urn:pulumi:${opts.stack}::${project.name}::${parentType ? `${parentType}$` : ''}${type}::${name}`;
  };
  const server = new grpc.Server();
  server.addService(resourceGrpc.ResourceMonitorService, {
    supportsFeature: (call: Unary<{ getId(): string }>, done: Done) => done(null, new resourcePb.SupportsFeatureResponse().setHassupport(FEATURES.has(call.request.getId()))),
    registerResource: (call: Unary<any>, done: Done) => {
      const req = call.request;
      const urn = urnOf(req.getParent(), req.getType(), req.getName());
      registrations.push({
        type: req.getType(),
        name: req.getName(),
        urn,
        parent: req.getParent(),
        dependencies: req.getDependenciesList(),
        provider: req.getProvider(),
        custom: req.getCustom(),
        inputs: pulumi.runtime.deserializeProperties(req.getObject()),
      });
      const res = new resourcePb.RegisterResourceResponse().setUrn(urn).setObject(req.getObject());
      if (req.getCustom()) res.setId(`${req.getName()}-id`);
      done(null, res);
    },
    registerResourceOutputs: (call: Unary<any>, done: Done) => {
      outputs.set(call.request.getUrn(), pulumi.runtime.deserializeProperties(call.request.getOutputs()));
      done(null, new Empty());
    },
    signalAndWaitForShutdown: (_call: unknown, done: Done) => done(null, new Empty()),
    invoke: (call: Unary<{ getTok(): string }>, done: Done) => done({ code: grpc.status.UNIMPLEMENTED, details: `the program invoked ${call.request.getTok()}` }),
  });
  server.addService(engineGrpc.EngineService, {
    log: (call: Unary<{ getSeverity(): number; getMessage(): string }>, done: Done) => {
      logs.push(`${['debug', 'info', 'warning', 'error'][call.request.getSeverity()] ?? call.request.getSeverity()}: ${call.request.getMessage()}`);
      done(null, new Empty());
    },
    getRootResource: (_call: unknown, done: Done) => done(null, new enginePb.GetRootResourceResponse().setUrn(root)),
    setRootResource: (call: Unary<{ getUrn(): string }>, done: Done) => {
      root = call.request.getUrn();
      done(null, new enginePb.SetRootResourceResponse());
    },
    requirePulumiVersion: (_call: unknown, done: Done) => done(null, new enginePb.RequirePulumiVersionResponse()),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err: Error | null, p: number) => (err ? reject(err) : resolve(p))),
  );
  const address = `127.0.0.1:${port}`;

  try {
    const options = project.runtime.options ?? {};
    const runEntry = sdkRequire.resolve('./cmd/run');
    const args = [
      ...(options.nodeargs ?? '').split(/\s+/).filter(Boolean),
      runEntry,
      `--monitor=${address}`,
      `--engine=${address}`,
      `--project=${project.name}`,
      `--stack=${opts.stack}`,
      `--pwd=${PROJECT_DIR}`,
      `--root-directory=${PROJECT_DIR}`,
      `--organization=organization`,
      `--parallel=16`,
      ...(opts.dryRun ? ['--dry-run'] : []),
      project.main ?? '.',
    ];
    const child = spawn(process.execPath, args, {
      cwd: PROJECT_DIR,
      env: {
        ...process.env,
        PULUMI_CONFIG: JSON.stringify(opts.config),
        PULUMI_CONFIG_SECRET_KEYS: '[]',
        PULUMI_NODEJS_TYPESCRIPT: String(options.typescript ?? true),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    const exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    clearTimeout(timer);
    return { exitCode, stdout, stderr, logs, registrations, outputs };
  } finally {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
}
