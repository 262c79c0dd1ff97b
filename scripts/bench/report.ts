/**
 * Shared output of the benchmarks: a table on stdout, progress on stderr, and
 * `bench/results/<name>.json` for tracking numbers over time.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** A goal a metric should meet; `op` reads "value op target" (e.g. `createsPerSec >= 3000`). */
export interface Target {
  op: '>=' | '>' | '<=' | '<';
  value: number;
  /** Where the target comes from / under what condition it holds (e.g. "with 200 watchers"). */
  note?: string;
}

export interface Metric {
  /** The key in `metrics` of the JSON result. */
  name: string;
  value: number;
  unit: string;
  target?: Target;
  /** Free-form context printed after the table (how it was measured, caveats). */
  note?: string;
}

export interface BenchResult {
  name: string;
  date: string;
  machine: { cpus: number; node: string; cpuModel: string; platform: string; memMiB: number; [k: string]: unknown };
  metrics: Record<string, number>;
  targets: Record<string, Target & { ok: boolean }>;
  units: Record<string, string>;
  notes: Record<string, string>;
  /** Benchmark parameters (counts, concurrency) so results are comparable. */
  config: Record<string, unknown>;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const resultsDir = join(repoRoot, 'bench', 'results');

/** A progress line on stderr, prefixed with the seconds since the benchmark started. */
const t0 = performance.now();
export function progress(msg: string): void {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);
}

export function meets(value: number, t: Target): boolean {
  if (!Number.isFinite(value)) return false;
  switch (t.op) {
    case '>=':
      return value >= t.value;
    case '>':
      return value > t.value;
    case '<=':
      return value <= t.value;
    case '<':
      return value < t.value;
  }
}

export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const abs = Math.abs(v);
  return v.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3);
}

/** The table: name, value, unit, target, ok. */
export function printTable(metrics: Metric[], out: NodeJS.WritableStream = process.stdout): void {
  const rows = [
    ['name', 'value', 'unit', 'target', 'ok'],
    ...metrics.map((m) => [
      m.name,
      formatValue(m.value),
      m.unit,
      m.target ? `${m.target.op} ${m.target.value}${m.target.note ? ` (${m.target.note})` : ''}` : '',
      m.target ? (meets(m.value, m.target) ? 'ok' : 'MISSED') : '',
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 1 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  out.write(`${line(rows[0])}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of rows.slice(1)) out.write(`${line(r)}\n`);
  const notes = metrics.filter((m) => m.note);
  if (notes.length) {
    out.write('\nnotes:\n');
    for (const m of notes) out.write(`  ${m.name}: ${m.note}\n`);
  }
}

/**
 * Writes `bench/results/<name>.json` and returns its path. `machine` adds what the benchmark saw of
 * the machine while it ran (load, CPU steal), which matters when comparing runs.
 */
export function writeResult(
  name: string,
  metrics: Metric[],
  config: Record<string, unknown> = {},
  machine: Record<string, unknown> = {},
): string {
  const result: BenchResult = {
    name,
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      node: process.version,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      platform: `${process.platform}-${process.arch}`,
      memMiB: Math.round(totalmem() / 2 ** 20),
      ...machine,
    },
    metrics: Object.fromEntries(metrics.map((m) => [m.name, round(m.value)])),
    targets: Object.fromEntries(metrics.filter((m) => m.target).map((m) => [m.name, { ...m.target!, ok: meets(m.value, m.target!) }])),
    units: Object.fromEntries(metrics.map((m) => [m.name, m.unit])),
    notes: Object.fromEntries(metrics.filter((m) => m.note).map((m) => [m.name, m.note!])),
    config,
  };
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}

/** `missed` lists the metrics whose targets were not met. */
export function missedTargets(metrics: Metric[]): Metric[] {
  return metrics.filter((m) => m.target && !meets(m.value, m.target));
}

/** Aggregate CPU times from /proc/stat (Linux), to see how busy the machine was and how much the hypervisor stole. */
export interface CpuTimes {
  busy: number;
  steal: number;
  total: number;
}

export function cpuTimes(): CpuTimes | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return { busy: user + nice + system + irq + softirq, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
  } catch {
    return undefined;
  }
}

/** Busy and stolen shares of all CPUs between two readings, in percent. */
export function cpuShare(a: CpuTimes | undefined, b: CpuTimes | undefined): { busyPct: number; stealPct: number } | undefined {
  if (!a || !b || b.total <= a.total) return undefined;
  const d = b.total - a.total;
  return { busyPct: Math.round(((b.busy - a.busy) / d) * 1000) / 10, stealPct: Math.round(((b.steal - a.steal) / d) * 1000) / 10 };
}

function round(v: number): number {
  return Number.isFinite(v) ? Math.round(v * 1000) / 1000 : v;
}

/** Percentile by nearest rank on a sorted copy (p in 0..100). */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

/**
 * Command-line options of a benchmark, through node:util's parseArgs: each numeric option is
 * `--flag N` (N >= min, default from `numbers`), plus `--cpu-prof [DIR]` and `--check`. Unknown
 * flags throw, naming the benchmark file whose header documents them.
 */
export function benchOptions<K extends string>(
  args: string[],
  numbers: Record<K, { flag: string; default: number; min?: number }>,
  file: string,
): Record<K, number> & { cpuProfDir?: string; check: boolean } {
  const options: Record<string, { type: 'string' | 'boolean' }> = { 'cpu-prof': { type: 'string' }, check: { type: 'boolean' } };
  for (const o of Object.values<{ flag: string }>(numbers)) options[o.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new Error(`${(err as Error).message} (see the header of ${file})`);
  }
  const out = { check: values.check === true } as Record<K, number> & { cpuProfDir?: string; check: boolean };
  if (values['cpu-prof'] !== undefined) out.cpuProfDir = resolve(String(values['cpu-prof']) || 'bench/profiles');
  for (const [key, o] of Object.entries<{ flag: string; default: number; min?: number }>(numbers)) {
    const raw = values[o.flag];
    const n = raw === undefined ? o.default : Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${o.flag} needs a number, got "${String(raw)}"`);
    (out as Record<string, number>)[key] = Math.max(o.min ?? 0, n);
  }
  return out;
}

/**
 * A benchmark's scratch dir and child process, released on every way out: the normal end
 * (`dispose`), Ctrl-C, SIGTERM, process exit, or a hard watchdog `hardTimeoutS` after the start.
 * `release` kills the child and closes clients; the dir is removed after it.
 */
export function scratchRun(opts: { prefix: string; what: string; hardTimeoutS: number; release: () => void }): {
  tmp: string;
  dispose: () => void;
} {
  const tmp = mkdtempSync(join(tmpdir(), opts.prefix));
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    opts.release();
    rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    progress(`${sig}: stopping the ${opts.what} and removing ${tmp}`);
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', cleanup);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const watchdog = setTimeout(() => {
    progress(`hard timeout (${opts.hardTimeoutS}s): stopping the ${opts.what}`);
    cleanup();
    process.exit(1);
  }, opts.hardTimeoutS * 1000);
  watchdog.unref();
  return {
    tmp,
    dispose() {
      clearTimeout(watchdog);
      cleanup();
      process.off('exit', cleanup);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** VmRSS and VmHWM (peak) of a process from /proc, in MiB; NaN where /proc is not there. */
export function procStatusMiB(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

/** utime + stime of a process in seconds (clock ticks of 1/100 s, the Linux default). */
export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * Polls `done` until it holds or `deadline` (performance.now() time) passes, printing `line(seconds
 * since \`since\`)` and the load average every 10 s.
 */
export async function waitUntil(done: () => boolean, line: (elapsedSec: number) => string, opts: { deadline: number; since?: number; pollMs?: number }): Promise<void> {
  const since = opts.since ?? performance.now();
  let last = performance.now();
  while (!done() && performance.now() < opts.deadline) {
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
    if (performance.now() - last > 10_000) {
      last = performance.now();
      progress(`${line((performance.now() - since) / 1000)}; load ${loadavg()[0]!.toFixed(1)}`);
    }
  }
}
