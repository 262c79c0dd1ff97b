/**
 * The stack configuration: the three stack files parse, and a bad value fails with a message
 * naming its `kok-fleet:` key — whether the parser catches it or the blueprints do — and the
 * program fails the same way before it registers anything.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { describe, expect, it } from 'vitest';
import { FleetConfigError, kubeconfigOf, parseFleetConfig, PROJECT_DIR } from './config.js';
import { planFleet } from './fleet-app.js';
import { runUnderMocks, stackConfig, type Registration } from './testing/mock-stack.js';

const dev = () => stackConfig('dev');
const json = (k: string, c = dev()) => JSON.parse(c[`kok-fleet:${k}`]!);
/** dev's config with one key replaced (undefined removes it). */
const devWith = (key: string, value: unknown): Record<string, string> => {
  const c: Record<string, string | undefined> = dev();
  c[`kok-fleet:${key}`] = value === undefined ? undefined : typeof value === 'string' ? value : JSON.stringify(value);
  return Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as Record<string, string>;
};
const units = () => json('units');
const targets = () => json('targets');
/** Parses and plans (as the program does), returning the error. */
const failure = (config: Record<string, string>): FleetConfigError => {
  try {
    planFleet(parseFleetConfig(config).environment);
  } catch (err) {
    if (err instanceof FleetConfigError) return err;
    throw err;
  }
  throw new Error('the config was accepted');
};

describe('stack files', () => {
  it('parse into what each stack declares, with defaults filled in', () => {
    const d = parseFleetConfig(stackConfig('dev'));
    expect(d.kubeconfig).toEqual({ path: join(PROJECT_DIR, '..', '.kok', 'meta-cluster', 'kubeconfig') });
    expect(d.environment).toMatchObject({ operatorReplicas: 1, namespace: 'fleet-dev', kubernetesVersion: '1.31', controlPlaneReplicas: 1, awaitReady: true });
    expect(d.environment.operatorImage).toBeUndefined();
    expect(d.environment.units.map((u) => [u.name, u.clusters, u.pools.map((p) => `${p.target}×${p.machines}`)])).toEqual([
      ['dev-a', 1, ['dev-dc×1', 'dev-public×1']],
      ['dev-b', 1, ['dev-dc×1', 'dev-public×1']],
    ]);
    const p = parseFleetConfig(stackConfig('prod'));
    expect(p.environment).toMatchObject({ operatorReplicas: 2, operatorConcurrency: 16, controlPlaneReplicas: 3, operatorImage: 'ghcr.io/kok-dev/kok:0.1.0' });
    expect(p.environment.targets.map((t) => t.tier)).toEqual(['private', 'private', 'hybrid', 'public']);
    expect(p.environment.units.find((u) => u.name === 'canary')?.kubernetesVersion).toBe('1.32');
    expect(parseFleetConfig(stackConfig('staging')).environment.namespace).toBe('fleet-staging');
  });

  it('reads the kubeconfig as a path (relative to pulumi/, ~ or absolute) or as the file content', () => {
    expect(kubeconfigOf('../.kok/meta-cluster/kubeconfig')).toEqual({ path: join(PROJECT_DIR, '../.kok/meta-cluster/kubeconfig') });
    expect(kubeconfigOf('~/.kube/meta.yaml')).toEqual({ path: join(homedir(), '.kube/meta.yaml') });
    expect(kubeconfigOf('/etc/kok/meta.yaml')).toEqual({ path: '/etc/kok/meta.yaml' });
    const content = 'apiVersion: v1\nkind: Config\nclusters: []\n';
    expect(kubeconfigOf(content)).toEqual({ content });
  });
});

describe('a bad value names its config key', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['a missing kubeconfig', devWith('kubeconfig', undefined), /^kok-fleet:kubeconfig is required: .*pulumi config set --secret kok-fleet:kubeconfig/],
    ['a key the program does not read', { ...dev(), 'kok-fleet:unit': '[]' }, /^kok-fleet:unit is not a key of this program; it reads kok-fleet:kubeconfig, .*kok-fleet:units/],
    ['clusters that are not a number', devWith('units', [units()[0], { ...units()[1], clusters: 'two' }]), /^kok-fleet:units\[1\]\.clusters must be a whole number from 1 to 100, not "two"$/],
    ['zero clusters', devWith('units', [{ ...units()[0], clusters: 0 }]), /^kok-fleet:units\[0\]\.clusters must be a whole number from 1 to 100, not 0$/],
    ['a misspelt unit field', devWith('units', [{ ...units()[0], cluster: 2 }]), /^kok-fleet:units\[0\]\.cluster is not a known field; use name, clusters, pools/],
    ['a pool on an undeclared target', devWith('units', [{ ...units()[0], pools: [{ target: 'dev-dc', machines: 1 }, { target: 'dev-cloud', machines: 1 }] }]), /^kok-fleet:units\[0\]\.pools\[1\]\.target "dev-cloud" is not one of kok-fleet:targets \("dev-dc", "dev-public"\)$/],
    ['negative machines', devWith('units', [{ ...units()[0], pools: [{ target: 'dev-dc', machines: -1 }] }]), /^kok-fleet:units\[0\]\.pools\[0\]\.machines must be a whole number from 0 to 1000, not -1$/],
    ['two units of one name', devWith('units', [units()[0], { ...units()[1], name: 'dev-a' }]), /^kok-fleet:units\[1\]\.name "dev-a" is declared twice/],
    ['units that are not a list', devWith('units', 'dev-a'), /^kok-fleet:units must be a list/],
    ['an unknown tier', devWith('targets', [targets()[0], { ...targets()[1], tier: 'cloud' }]), /^kok-fleet:targets\[1\]\.tier must be one of "private", "hybrid", "public", not "cloud"$/],
    ['a price that is not a number', devWith('targets', [{ ...targets()[0], machineTypes: [{ name: 'std4', cpu: 4, memoryGiB: 16, pricePerHour: 'cheap' }] }, targets()[1]]), /^kok-fleet:targets\[0\]\.machineTypes\[0\]\.pricePerHour must be a number of at least 0, not "cheap"$/],
    ['an even control plane', devWith('controlPlaneReplicas', '2'), /^kok-fleet:controlPlaneReplicas must be one of 1, 3, 5, 7, not "2"$/],
    ['no operator replicas', devWith('operatorReplicas', '0'), /^kok-fleet:operatorReplicas must be a whole number from 1 to 10, not "0"$/],
    ['awaitReady that is not a boolean', devWith('awaitReady', 'yes'), /^kok-fleet:awaitReady must be true or false, not "yes"$/],
    // Caught by the blueprints, reported against the key the prop came from:
    ['a machine type the target does not offer', devWith('units', [units()[0], { ...units()[1], pools: [{ target: 'dev-public', machines: 1, machineType: 'c99' }] }]), /^kok-fleet:units\[1\]\.pools\[0\]\.machineType "c99" is not offered by CloudTarget "dev-public"; it offers "c2", "c4" \(FleetCluster "fleet-dev\/dev-b-1", props\.pools\[0\]\.machineType\)$/],
    ['an unsupported Kubernetes version', devWith('kubernetesVersion', '1.99'), /^kok-fleet:kubernetesVersion "1\.99" is not a supported Kubernetes version; use one of "1\.28"/],
    ['a unit overriding the version badly', devWith('units', [{ ...units()[0], kubernetesVersion: '2.0' }]), /^kok-fleet:units\[0\]\.kubernetesVersion "2\.0" is not a supported Kubernetes version/],
    ['a zone that is not a label value', devWith('targets', [{ ...targets()[0], zones: ['sh a'] }, targets()[1]]), /^kok-fleet:targets\[0\]\.zones\[0\] "sh a" is not a valid label value/],
    ['a pool zone outside its target', devWith('units', [{ ...units()[0], pools: [{ target: 'dev-dc', machines: 1, zones: ['east-1a'] }] }]), /^kok-fleet:units\[0\]\.pools\[0\]\.zones "east-1a" not in CloudTarget "dev-dc"/],
    ['a unit name that cannot name a cluster', devWith('units', [{ ...units()[0], name: 'Dev_A' }]), /^kok-fleet:units\[0\]\.name "Dev_A-1" is not a valid Cluster name/],
    ['an upper-case namespace', devWith('namespace', 'Fleet'), /^kok-fleet:namespace "Fleet" is not a valid namespace/],
    ['an image with a space', devWith('operatorImage', 'ghcr.io/kok dev'), /^kok-fleet:operatorImage "ghcr.io\/kok dev" is not an image reference/],
  ];

  it.each(cases)('%s', (_what, config, message) => {
    const err = failure(config);
    expect(err.message).toMatch(message);
    expect(err.code).toBe('InvalidConfig');
    expect(err.message.startsWith(err.key)).toBe(true);
  });

  it('fails the program before it registers anything, with the same message', async () => {
    const registrations: Registration[] = [];
    const config = devWith('units', [units()[0], { ...units()[1], clusters: 'two' }]);
    const err = await runUnderMocks({ stack: 'dev', config, registrations, load: () => import('./index.js') }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/^kok-fleet:units\[1\]\.clusters must be a whole number from 1 to 100, not "two"$/);
    // A RunError with no frames: Pulumi prints the message alone (see index.ts for why no stack).
    expect(pulumi.RunError.isInstance(err)).toBe(true);
    expect(err?.stack).toBe(err?.message);
    expect(registrations).toEqual([]);
  });
});
