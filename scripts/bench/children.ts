/**
 * Child processes of the benchmarks, started through the compiled `kok` CLI as kok's image runs it
 * (`npm run build` → dist/scripts/kok.js, no TypeScript loader in the process), and how the
 * benchmarks read their /metrics.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
let compiledCli: string | undefined;

/** Builds dist/ once per benchmark run (`npm run build`), so children run what the image runs. */
function kokCli(): string {
  if (compiledCli) return compiledCli;
  process.stderr.write('building the kok CLI (npm run build) …\n');
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm run build failed (exit ${r.status})`);
  compiledCli = join(repoRoot, 'dist', 'scripts', 'kok.js');
  return compiledCli;
}

export interface Child {
  proc: ChildProcess;
  /** Resolves with the first capture of `pattern` in the child's output. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  output(): string;
}

/** Node's arguments to write a CPU profile of a child into DIR/<who>, when profiling. */
export function profileArgs(dir: string | undefined, who: string): string[] {
  return dir ? ['--cpu-prof', '--cpu-prof-dir', join(dir, who)] : [];
}

/**
 * SIGINT, then waits for each child to exit on its own: a profiled child writes its profile only
 * on a normal exit (a meta-cluster with many control planes can take a minute to stop).
 */
export async function stopForProfile(children: Child[], timeoutMs = 90_000): Promise<void> {
  await Promise.all(
    children.map((child) => {
      if (child.proc.exitCode !== null) return undefined;
      const exited = new Promise((r) => child.proc.once('exit', r));
      child.proc.kill('SIGINT');
      return Promise.race([exited, new Promise((r) => setTimeout(r, timeoutMs))]);
    }),
  );
}

export function startChild(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): Child {
  const proc = spawn(process.execPath, [...nodeArgs, kokCli(), ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KOK_LOG_LEVEL: 'warn', ...env },
  });
  let all = '';
  const listeners: Array<() => void> = [];
  const keep = (c: Buffer) => {
    all = (all + c.toString()).slice(-65_536);
    for (const l of listeners) l();
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  return {
    proc,
    output: () => all,
    waitFor: (pattern, timeoutMs) =>
      new Promise((res, reject) => {
        const check = () => {
          const m = pattern.exec(all);
          if (m) {
            clearTimeout(timer);
            res(m[1] ?? m[0]);
          }
        };
        const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs / 1000}s:\n${all.slice(-4000)}`)), timeoutMs);
        proc.once('exit', (code) => reject(new Error(`child exited (${code}):\n${all.slice(-4000)}`)));
        listeners.push(check);
        check();
      }),
  };
}

/** GET a TLS URL without verifying the (self-signed) certificate: the benchmark reads its own child. */
export function httpsGet(url: string, token: string): Promise<string> {
  return new Promise((res, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false }, (r) => {
      let body = '';
      r.on('data', (c) => (body += c));
      r.on('end', () => (r.statusCode === 200 ? res(body) : reject(new Error(`${url}: HTTP ${r.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A gauge's value from a Prometheus text page (the first series of that name). */
export function gauge(metricsText: string, name: string): number {
  const line = metricsText.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

