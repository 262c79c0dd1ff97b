/**
 * The committed YAML beside each example blueprint is what `kok synth` writes for it, and the
 * generated low-level classes are what `cdk8s import` makes of the committed CRDs: a change to a
 * blueprint, a construct or a kind that was not synthesised again fails here.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { synthFile } from '../scripts/synth.js';

const examples = readdirSync('blueprints/examples').filter((f) => f.endsWith('.ts'));
const synthesised = async (name: string) => parseAllDocuments(await synthFile(`blueprints/examples/${name}.ts`)).map((d) => d.toJSON());

describe('example blueprints', () => {
  it.each(examples)('%s matches its committed YAML (regenerate: kok synth blueprints/examples/<name>.ts -o …)', async (file) => {
    const yaml = await synthFile(`blueprints/examples/${file}`);
    expect(yaml).toBe(readFileSync(`blueprints/examples/${file.replace(/\.ts$/, '.yaml')}`, 'utf8'));
    expect(await synthFile(`blueprints/examples/${file}`)).toBe(yaml);
  });

  it('the multi-unit fleet spreads every unit over private, hybrid and public targets', async () => {
    const objects = await synthesised('multi-unit');
    const tierOf = new Map(objects.filter((o) => o.kind === 'CloudTarget').map((t) => [t.metadata.name, t.spec.tier]));
    const tiersByUnit = new Map<string, Set<string>>();
    for (const p of objects.filter((o) => o.kind === 'MachinePool')) {
      const tiers = tiersByUnit.get(p.spec.unit) ?? new Set();
      tiers.add(tierOf.get(p.spec.template.targetRef.name));
      tiersByUnit.set(p.spec.unit, tiers);
    }
    expect(tiersByUnit.size).toBe(3);
    for (const tiers of tiersByUnit.values()) expect([...tiers].sort()).toEqual(['hybrid', 'private', 'public']);
    const clusterUnits = objects.filter((o) => o.kind === 'Cluster').map((c) => c.metadata.labels['fleet.kok.dev/unit']);
    expect(new Set(clusterUnits)).toEqual(new Set(tiersByUnit.keys()));
  });

  it('a module without a blueprint function is refused with a clear error', async () => {
    await expect(synthFile('blueprints/errors.ts')).rejects.toThrow(/blueprints\/errors.ts: a blueprint's default export must be a function \(app: App\) => void/);
  });
});

describe('generated classes (blueprints/imports)', () => {
  it('are what `cdk8s import` makes of meta-cluster/api/crds.yaml (regenerate: npm run imports)', () => {
    const out = mkdtempSync(join(tmpdir(), 'kok-imports-'));
    execFileSync(process.execPath, ['node_modules/cdk8s-cli/bin/cdk8s', 'import', 'meta-cluster/api/crds.yaml', '--language', 'typescript', '--output', out], { stdio: 'pipe' });
    expect(readFileSync(join(out, 'fleet.kok.dev.ts'), 'utf8')).toBe(readFileSync('blueprints/imports/fleet.kok.dev.ts', 'utf8'));
  });
});
