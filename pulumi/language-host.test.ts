/**
 * The program runs the way the Pulumi CLI runs it — Pulumi's own Node.js entry point
 * (@pulumi/pulumi/cmd/run) started with Pulumi.yaml's nodeargs (`--import tsx`), typescript off and
 * `main: index.ts`, config in PULUMI_CONFIG, talking gRPC to an engine — here a stand-in engine,
 * as the CLI cannot be installed. It registers the same graph as under setMocks, under the root
 * Stack, and a bad config fails `pulumi preview` with the message naming the key.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runLikeLanguageHost, type EngineRun } from './testing/fake-engine.js';
import { runUnderMocks, stackConfig, type Registration, type StackRun } from './testing/mock-stack.js';

let up: EngineRun;
let mocked: StackRun;

beforeAll(async () => {
  up = await runLikeLanguageHost({ stack: 'dev', config: stackConfig('dev') });
  mocked = await runUnderMocks({ stack: 'dev', config: stackConfig('dev'), load: () => import('./index.js') });
}, 90_000);

const notDebug = (logs: readonly string[]) => logs.filter((l) => !l.startsWith('debug:'));
/** A registration without URNs, which differ by the root Stack the language host adds. */
const shape = (regs: readonly Registration[]) => {
  const nameOf = new Map(regs.map((r) => [r.urn, `${r.type} ${r.name}`]));
  return regs
    .filter((r) => r.type !== 'pulumi:pulumi:Stack')
    .map((r) => ({
      resource: `${r.type} ${r.name}`,
      parent: nameOf.get(r.parent) ?? '(stack)',
      dependsOn: r.dependencies.map((d) => nameOf.get(d)).sort(),
      provider: r.provider ? nameOf.get(r.provider.split('::').slice(0, -1).join('::')) : '',
      inputs: r.inputs,
    }))
    .sort((a, b) => a.resource.localeCompare(b.resource));
};

describe('the dev stack run by Pulumi\'s Node.js entry point with Pulumi.yaml\'s runtime options', () => {
  it('loads index.ts with tsx as an ES module and exits 0 without warnings or errors', () => {
    expect(up.exitCode, `${up.stderr}\n${notDebug(up.logs).join('\n')}`).toBe(0);
    expect(notDebug(up.logs)).toEqual([]);
    expect(up.logs).toContain("debug: Running program '" + `${process.cwd()}/pulumi/index.ts' in pwd '${process.cwd()}/pulumi' w/ args: `);
  });

  it('registers the root Stack, and under it the same graph as under setMocks', () => {
    const stack = up.registrations.find((r) => r.type === 'pulumi:pulumi:Stack')!;
    expect(stack).toMatchObject({ name: 'kok-fleet-dev', parent: '' });
    expect(up.registrations.filter((r) => r.parent === stack.urn).map((r) => r.type).sort()).toEqual(['kok:index:FleetEnvironment', 'pulumi:providers:kubernetes']);
    const mockedShape = shape(mocked.registrations).map((r) => ({ ...r, parent: r.parent === '(stack)' ? '(stack)' : r.parent }));
    const upShape = shape(up.registrations).map((r) => ({ ...r, parent: r.parent === `pulumi:pulumi:Stack kok-fleet-dev` ? '(stack)' : r.parent }));
    expect(upShape.length).toBeGreaterThan(20);
    expect(upShape).toEqual(mockedShape);
  });

  it('sets the stack outputs: clusters, kubeconfigSecrets, fleetNamespace', () => {
    const stack = up.registrations.find((r) => r.type === 'pulumi:pulumi:Stack')!;
    expect(up.outputs.get(stack.urn)).toEqual({
      clusters: ['fleet-dev/dev-a-1', 'fleet-dev/dev-b-1'],
      kubeconfigSecrets: ['dev-a-1-kubeconfig', 'dev-b-1-kubeconfig'],
      fleetNamespace: 'fleet-dev',
    });
  });

  it('fails a preview with a bad config, reporting the key to the engine, before declaring any resource', async () => {
    const config = { ...stackConfig('dev'), 'kok-fleet:controlPlaneReplicas': '2' };
    const preview = await runLikeLanguageHost({ stack: 'dev', config, dryRun: true, timeoutMs: 30_000 });
    // 32: the program failed after logging a message for the user (not killed by the timeout, -1).
    expect(preview.exitCode).toBe(32);
    expect(notDebug(preview.logs).join('\n')).toContain('kok-fleet:controlPlaneReplicas must be one of 1, 3, 5, 7, not "2"');
    expect(preview.registrations.map((r) => r.type)).toEqual(['pulumi:pulumi:Stack']);
  }, 45_000);
});
