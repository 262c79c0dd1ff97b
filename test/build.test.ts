/**
 * The compiled `kok` command (`npm run build` → dist/), which kok's image runs: it builds, and the
 * built CLI works without a TypeScript loader — same CRDs as the committed YAML, the operator
 * command there, kok's version read from beside the build.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, '..');
// Inside the repository, so the built files resolve node_modules as dist/ does.
const cacheDir = join(repoRoot, 'node_modules', '.cache');
let out: string;

beforeAll(async () => {
  mkdirSync(cacheDir, { recursive: true });
  out = mkdtempSync(join(cacheDir, 'kok-build-test-'));
  await run('npm', ['run', '--silent', 'build', '--', '--outDir', out], { cwd: repoRoot });
}, 120_000);
afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

const kok = (...args: string[]) => run(process.execPath, [join(out, 'scripts', 'kok.js'), ...args], { cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: '' } });

describe('npm run build', () => {
  it('emits the CLI without tests, benchmarks or examples, and with package.json beside it', () => {
    expect(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')).name).toBe('kok');
    expect(() => readFileSync(join(out, 'scripts', 'bench', 'run.js'))).toThrow();
    expect(() => readFileSync(join(out, 'operators', 'runtime', 'controller.test.js'))).toThrow();
  });

  it('the built CLI prints the committed CRDs and offers the operators', async () => {
    const crds = await kok('crds');
    expect(crds.stdout).toBe(readFileSync(join(repoRoot, 'meta-cluster', 'api', 'crds.yaml'), 'utf8'));
    const help = await kok('operator', 'run', '--help');
    expect(help.stdout).toMatch(/cluster/);
    expect(help.stdout).toMatch(/machine/);
  });
});
