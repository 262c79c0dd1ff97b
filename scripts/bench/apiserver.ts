/**
 * `npm run bench -- apiserver`: the meta-cluster API server under load.
 *
 * The server runs as a separate child process through the CLI (`kok meta-cluster start`, via
 * `node --import tsx` so the child's pid IS the server and /proc/<pid>/status gives its RSS),
 * on a fresh temp data dir. This process is the load generator: Node `https` with a keep-alive
 * Agent (maxSockets = concurrency), the bearer token and CA read from the written kubeconfig.
 *
 * Phases (all bounded by counts, a per-phase time cap and a global deadline):
 *   warm-up  → creates in a throwaway namespace (JIT, TLS sessions), not measured;
 *   creates  → POST N configmaps, `concurrency` in flight (seeds the list);
 *   updates  → PUT each with its resourceVersion;
 *   gets     → GET by name;
 *   list     → full list of the N configmaps, median of 5;
 *   watch    → W streaming watchers on a second namespace, then writes paced at R/s, each carrying
 *              its send time in `data.sentAt`; latency = receive − write start, per watcher per event;
 *   rss      → VmRSS / VmHWM of the server process;
 *   sqlite   → the raw ceiling: better-sqlite3 on a fresh file with the Store's pragmas and table
 *              shape, the same JSON payloads, one transaction per write; and the Store class itself.
 *
 * Args: --count N  --concurrency N  --watchers N  --watch-writes N  --watch-rate N  --timeout S
 *       --cpu-prof DIR (profile the server: writes a .cpuprofile there on exit)  --check (exit 1 on a missed target)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import YAML from 'yaml';
import { Store } from '../../meta-cluster/apiserver/store.js';
import { benchOptions, scratchRun, cpuShare, cpuTimes, median, missedTargets, percentile, printTable, procCpuSeconds, procStatusMiB, progress, writeResult, type Metric } from './report.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Config {
  count: number;
  concurrency: number;
  watchers: number;
  watchWrites: number;
  watchRate: number;
  warmup: number;
  listRuns: number;
  timeoutS: number;
  phaseCapS: number;
  cpuProfDir?: string;
  check: boolean;
}

function parseConfig(args: string[]): Config {
  const o = benchOptions(
    args,
    {
      count: { flag: 'count', default: 20_000 },
      concurrency: { flag: 'concurrency', default: 32, min: 1 },
      watchers: { flag: 'watchers', default: 200 },
      watchWrites: { flag: 'watch-writes', default: 500 },
      watchRate: { flag: 'watch-rate', default: 200, min: 1 },
      warmup: { flag: 'warmup', default: 1_000 },
      timeoutS: { flag: 'timeout', default: 165 },
    },
    'scripts/bench/apiserver.ts',
  );
  return { ...o, listRuns: 5, phaseCapS: 40 };
}

// ---------------------------------------------------------------------------------------------
// The server child

interface ServerChild {
  proc: ChildProcess;
  pid: number;
  host: string;
  port: number;
  token: string;
  ca: string;
  output: () => string;
}

async function startServer(dataDir: string, cfg: Config): Promise<ServerChild> {
  const nodeArgs = cfg.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cfg.cpuProfDir] : [];
  const proc = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', join(repoRoot, 'scripts', 'kok.ts'), 'meta-cluster', 'start', '--data-dir', dataDir, '--port', '0'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let tail = '';
  const keep = (c: Buffer) => {
    tail = (tail + c.toString()).slice(-8192);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const url = await new Promise<URL>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 60s:\n${tail}`)), 60_000);
    const onData = () => {
      const m = /serving on (https:\/\/\S+)/.exec(tail);
      if (m) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        resolveUrl(new URL(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? sig}) before serving:\n${tail}`));
    });
  });
  const kc = YAML.parse(readFileSync(join(dataDir, 'kubeconfig'), 'utf8')) as {
    clusters: Array<{ cluster: { 'certificate-authority-data': string } }>;
    users: Array<{ user: { token?: string } }>;
  };
  const token = kc.users[0]?.user.token;
  if (!token) throw new Error('kubeconfig has no bearer token');
  return {
    proc,
    pid: proc.pid!,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port),
    token,
    ca: Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(),
    output: () => tail,
  };
}

async function stopServer(s: ServerChild): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => s.proc.once('exit', () => r()));
  s.proc.kill('SIGTERM');
  const timer = setTimeout(() => s.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

const selfCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

// ---------------------------------------------------------------------------------------------
// The client

interface Reply {
  status: number;
  body: string;
}

class Client {
  readonly agent: https.Agent;
  readonly watchAgent: https.Agent;
  constructor(
    readonly server: ServerChild,
    concurrency: number,
  ) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: server.ca });
    // Watches hold their connection for the whole stream: one socket each, outside the request pool.
    this.watchAgent = new https.Agent({ keepAlive: false, maxSockets: Infinity, ca: server.ca });
  }

  request(method: string, path: string, body?: string): Promise<Reply> {
    return new Promise((resolveReply, reject) => {
      const headers: Record<string, string | number> = { authorization: `Bearer ${this.server.token}`, accept: 'application/json' };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = https.request({ host: this.server.host, port: this.server.port, method, path, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolveReply({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Opens a watch; resolves once the response headers arrived. `onChunk` gets each chunk and its arrival time. */
  watch(path: string, onChunk: (chunk: string, at: number) => void): Promise<{ close: () => void }> {
    return new Promise((resolveWatch, reject) => {
      const req = https.request(
        {
          host: this.server.host,
          port: this.server.port,
          method: 'GET',
          path,
          agent: this.watchAgent,
          headers: { authorization: `Bearer ${this.server.token}`, accept: 'application/json' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new Error(`watch ${path}: HTTP ${res.statusCode}`));
            res.resume();
            return;
          }
          res.setEncoding('utf8');
          res.on('data', (c: string) => onChunk(c, now()));
          res.on('error', () => undefined);
          resolveWatch({ close: () => req.destroy() });
        },
      );
      // Until the headers arrive; the stream itself may then stay quiet for as long as it likes.
      req.setTimeout(30_000, () => req.destroy(new Error(`watch ${path}: no response within 30s`)));
      req.on('response', () => req.setTimeout(0));
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }
}

interface PhaseResult {
  done: number;
  errors: number;
  seconds: number;
  perSec: number;
  serverCpuS: number;
  clientCpuS: number;
  firstError?: string;
}

/**
 * Runs `fn(0..count-1)` with `concurrency` in flight until done, the phase cap or the deadline.
 * `fn` returns whether the reply was the expected one.
 */
async function pool(
  label: string,
  count: number,
  concurrency: number,
  stopAt: number,
  serverPid: number,
  fn: (i: number) => Promise<boolean | string>,
): Promise<PhaseResult> {
  let next = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  const cpu0 = procCpuSeconds(serverPid);
  const self0 = selfCpuSeconds();
  const t0 = performance.now();
  const ticker = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    progress(`  ${label}: ${done}/${count} (${Math.round(done / s)}/s)`);
  }, 2_000);
  const worker = async () => {
    while (next < count && performance.now() < stopAt) {
      const i = next++;
      let ok: boolean | string;
      try {
        ok = await fn(i);
      } catch (err) {
        ok = String((err as Error).message ?? err);
      }
      if (ok !== true) {
        errors++;
        firstError ??= typeof ok === 'string' ? ok : `request ${i} failed`;
      }
      done++;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } finally {
    clearInterval(ticker);
  }
  const seconds = (performance.now() - t0) / 1000;
  const r: PhaseResult = {
    done,
    errors,
    seconds,
    perSec: seconds > 0 ? (done - errors) / seconds : NaN,
    serverCpuS: procCpuSeconds(serverPid) - cpu0,
    clientCpuS: selfCpuSeconds() - self0,
    firstError,
  };
  progress(
    `  ${label}: ${done} in ${seconds.toFixed(2)}s = ${Math.round(r.perSec)}/s; server CPU ${r.serverCpuS.toFixed(2)}s, ` +
      `client CPU ${r.clientCpuS.toFixed(2)}s${errors ? `; ${errors} errors, first: ${firstError}` : ''}`,
  );
  return r;
}

const cmName = (i: number) => `cm-${String(i).padStart(6, '0')}`;

function configMap(name: string, data: Record<string, string>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: 'bench', tier: 'load' } }, data });
}

const status = (want: number, r: Reply): true | string => (r.status === want ? true : `HTTP ${r.status}: ${r.body.slice(0, 200)}`);

// ---------------------------------------------------------------------------------------------
// Watch latency

interface WatchResult {
  p50: number;
  p99: number;
  max: number;
  delivered: number;
  expected: number;
  writeErrors: number;
  writeSeconds: number;
  serverCpuS: number;
  clientCpuS: number;
  connectSeconds: number;
}

async function watchPhase(client: Client, cfg: Config, namespace: string, stopAt: number): Promise<WatchResult> {
  const W = cfg.watchers;
  const N = cfg.watchWrites;
  const list = await client.request('GET', `/api/v1/namespaces/${namespace}/configmaps?limit=1`);
  if (list.status !== 200) throw new Error(`list ${namespace}: HTTP ${list.status}`);
  const rv = (JSON.parse(list.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;

  // latencies[w * N + seq]; NaN = not (yet) delivered.
  const latencies = new Float64Array(W * N).fill(NaN);
  let delivered = 0;
  const line = /"seq":"(\d+)","sentAt":"([\d.]+)"/;
  const t0 = performance.now();
  const watches: Array<{ close: () => void }> = [];
  const open = async (w: number) => {
    let buf = '';
    const h = await client.watch(`/api/v1/namespaces/${namespace}/configmaps?watch=true&resourceVersion=${rv}`, (chunk, at) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const m = line.exec(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (!m) continue;
        const idx = w * N + Number(m[1]);
        if (Number.isNaN(latencies[idx])) delivered++;
        latencies[idx] = at - Number(m[2]);
      }
    });
    watches.push(h);
  };
  let ticker: NodeJS.Timeout | undefined;
  try {
    // Open in batches so the TLS handshakes do not all time out at once on a slow machine.
    for (let w = 0; w < W; w += 25) await Promise.all(Array.from({ length: Math.min(25, W - w) }, (_, k) => open(w + k)));
    const connectSeconds = (performance.now() - t0) / 1000;
    progress(`  ${W} watchers connected in ${connectSeconds.toFixed(2)}s`);
    await sleep(500);

    const cpu0 = procCpuSeconds(client.server.pid);
    const self0 = selfCpuSeconds();
    const interval = 1000 / cfg.watchRate;
    const start = performance.now();
    const inflight: Array<Promise<void>> = [];
    let writeErrors = 0;
    let sent = 0;
    ticker = setInterval(() => progress(`  watch: ${delivered}/${W * sent} deliveries`), 2_000);
    for (let seq = 0; seq < N && performance.now() < stopAt; seq++, sent++) {
      const wait = start + seq * interval - performance.now();
      if (wait >= 1) await sleep(wait);
      const sentAt = now();
      const body = configMap(`w-${String(seq).padStart(6, '0')}`, { seq: String(seq), sentAt: sentAt.toFixed(3) });
      inflight.push(
        client.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, body).then(
          (r) => void (r.status === 201 || writeErrors++),
          () => void writeErrors++,
        ),
      );
    }
    await Promise.all(inflight);
    const writeSeconds = (performance.now() - start) / 1000;
    // Deliveries trail the last write: wait for all of them (bounded).
    const waitUntil = Math.min(stopAt, performance.now() + 20_000);
    const expected = W * (sent - writeErrors);
    while (delivered < expected && performance.now() < waitUntil) await sleep(20);
    const serverCpuS = procCpuSeconds(client.server.pid) - cpu0;
    const clientCpuS = selfCpuSeconds() - self0;
    const got = latencies.filter((v) => !Number.isNaN(v));
    const r: WatchResult = {
      p50: percentile(got, 50),
      p99: percentile(got, 99),
      max: got.reduce((a, b) => Math.max(a, b), -Infinity),
      delivered,
      expected: W * sent,
      writeErrors,
      writeSeconds,
      serverCpuS,
      clientCpuS,
      connectSeconds,
    };
    progress(
      `  watch: ${delivered}/${W * sent} deliveries, p50 ${r.p50.toFixed(1)}ms p99 ${r.p99.toFixed(1)}ms max ${r.max.toFixed(1)}ms; ` +
        `${sent} writes in ${writeSeconds.toFixed(2)}s; server CPU ${serverCpuS.toFixed(2)}s, client CPU ${clientCpuS.toFixed(2)}s`,
    );
    return r;
  } finally {
    clearInterval(ticker);
    for (const h of watches) h.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The SQLite ceiling

interface SqliteResult {
  perSec: number;
  /** The same on tmpfs (/dev/shm): SQLite's CPU cost alone, without the disk. */
  tmpfsPerSec?: number;
  storePerSec: number;
  journalMode: string;
  synchronous: string;
  sqlFrom: 'store' | 'copy';
}

type Payload = { namespace: string; name: string; value: string };

interface StoreDefaults {
  journalMode: string;
  synchronous: string;
  sql: { upsert: string; event: string; setMeta: string };
  sqlFrom: 'store' | 'copy';
}

const syncNames = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];

/**
 * Opens a Store with its defaults on `path` (which creates the schema there) and reads back its
 * pragmas and prepared SQL, so the raw test follows store.ts as it changes. These are private
 * fields, only read; the copies are the fallback should they be renamed.
 */
function storeDefaults(path: string): StoreDefaults {
  const store = new Store(path);
  try {
    const inner = store as unknown as { db?: Database.Database; stmt?: Record<string, { source?: string } | undefined> };
    const journalMode = String(inner.db?.pragma('journal_mode', { simple: true }) ?? 'wal');
    const syncValue = inner.db?.pragma('synchronous', { simple: true });
    const synchronous = typeof syncValue === 'number' ? (syncNames[syncValue] ?? String(syncValue)) : 'NORMAL';
    const copies = {
      upsert:
        'INSERT INTO objects (resource, namespace, name, rev, value) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (resource, namespace, name) DO UPDATE SET rev = excluded.rev, value = excluded.value',
      event: 'INSERT INTO events (rev, ts, type, resource, namespace, name, value, prev) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      setMeta: 'UPDATE meta SET value = ? WHERE key = ?',
    };
    const upsert = inner.stmt?.upsert?.source;
    const event = inner.stmt?.event?.source;
    const setMeta = inner.stmt?.setMeta?.source;
    if (upsert && event && setMeta) return { journalMode, synchronous, sql: { upsert, event, setMeta }, sqlFrom: 'store' };
    return { journalMode, synchronous, sql: copies, sqlFrom: 'copy' };
  } finally {
    store.close();
  }
}

/** Raw better-sqlite3 on a Store-created file: one transaction per write (object upsert + event row + revision). */
function rawInserts(path: string, d: StoreDefaults, payloads: Payload[], maxMs: number): number {
  const db = new Database(path);
  try {
    db.pragma(`journal_mode = ${d.journalMode}`);
    db.pragma(`synchronous = ${d.synchronous}`);
    const upsert = db.prepare(d.sql.upsert);
    const event = db.prepare(d.sql.event);
    const setMeta = db.prepare(d.sql.setMeta);
    const write = db.transaction((rev: number, namespace: string, name: string, value: string) => {
      upsert.run('core/configmaps', namespace, name, rev, value);
      event.run(rev, Date.now(), 'ADDED', 'core/configmaps', namespace, name, value, null);
      setMeta.run(rev, 'revision');
    });
    const t0 = performance.now();
    const stopAt = t0 + maxMs;
    let i = 0;
    for (; i < payloads.length && (i % 256 !== 0 || performance.now() < stopAt); i++) {
      write(i + 1, payloads[i].namespace, payloads[i].name, payloads[i].value);
    }
    return i / ((performance.now() - t0) / 1000);
  } finally {
    db.close();
  }
}

/** The Store class itself, in-process: JSON.stringify + transaction + publish, no HTTP or API layer. */
function storePuts(path: string, payloads: Payload[], maxMs: number): number {
  const store = new Store(path);
  try {
    const objects = payloads.map((p) => ({ ...p, object: JSON.parse(p.value) as { metadata: { resourceVersion?: string } } }));
    const t0 = performance.now();
    const stopAt = t0 + maxMs;
    let i = 0;
    for (; i < objects.length && (i % 256 !== 0 || performance.now() < stopAt); i++) {
      const o = objects[i];
      store.put('ADDED', 'core/configmaps', o.namespace, o.name, (rev) => {
        o.object.metadata.resourceVersion = String(rev);
        return o.object as never;
      });
    }
    return i / ((performance.now() - t0) / 1000);
  } finally {
    store.close();
  }
}

/**
 * The ceiling: raw inserts into a fresh file next to where the server kept its data (same disk),
 * after a `sync` so the server's dirty pages do not bill this test; then on tmpfs; then Store.put.
 * Each part stops after `maxMsEach` (rates are over what was done), so a slow disk cannot blow the time budget.
 */
function sqlitePhase(dir: string, payloads: Payload[], maxMsEach: number): SqliteResult {
  spawnSync('sync', { stdio: 'ignore', timeout: 30_000 });
  const path = join(dir, 'ceiling.db');
  const d = storeDefaults(path);
  const perSec = rawInserts(path, d, payloads, maxMsEach);
  let tmpfsPerSec: number | undefined;
  if (existsSync('/dev/shm')) {
    const shm = mkdtempSync('/dev/shm/kok-bench-');
    try {
      const p = join(shm, 'ceiling.db');
      tmpfsPerSec = rawInserts(p, storeDefaults(p), payloads, maxMsEach);
    } catch {
      tmpfsPerSec = undefined;
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  }
  const storePerSec = storePuts(join(dir, 'store.db'), payloads, maxMsEach);
  return { perSec, tmpfsPerSec, storePerSec, journalMode: d.journalMode, synchronous: d.synchronous, sqlFrom: d.sqlFrom };
}

// ---------------------------------------------------------------------------------------------

export async function run(args: string[]): Promise<number> {
  const cfg = parseConfig(args);
  const load0 = loadavg()[0];
  const cpu0 = cpuTimes();
  let server: ServerChild | undefined;
  let client: Client | undefined;
  const { tmp, dispose } = scratchRun({
    prefix: 'kok-bench-',
    what: 'server',
    hardTimeoutS: cfg.timeoutS + 15,
    release: () => {
      client?.close();
      if (server && server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGKILL');
    },
  });
  const deadline = performance.now() + cfg.timeoutS * 1000;
  // Each load phase stops at its cap or at its share of what is left of the time: the list, watch
  // and SQLite phases need ~25s at the end. Normal runs never hit either.
  const phaseEnd = (phasesLeft: number) => {
    const t = performance.now();
    return Math.min(t + cfg.phaseCapS * 1000, t + Math.max(0, deadline - 25_000 - t) / phasesLeft);
  };

  try {
    progress(`starting the API server (data dir ${tmp}/data)${cfg.cpuProfDir ? `, CPU profile to ${cfg.cpuProfDir}` : ''}`);
    const started = performance.now();
    server = await startServer(join(tmp, 'data'), cfg);
    const startSeconds = (performance.now() - started) / 1000;
    const startRss = procStatusMiB(server.pid);
    progress(`server pid ${server.pid} on ${server.host}:${server.port} after ${startSeconds.toFixed(1)}s, RSS ${startRss.rss.toFixed(0)} MiB`);
    client = new Client(server, cfg.concurrency);
    const c = client;
    const ns = 'bench';
    const watchNs = 'bench-watch';
    for (const name of [ns, watchNs, 'bench-warmup']) {
      const r = await c.request('POST', '/api/v1/namespaces', JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
      if (r.status !== 201) throw new Error(`create namespace ${name}: HTTP ${r.status} ${r.body}`);
    }

    progress(`warm-up: ${cfg.warmup} creates in bench-warmup`);
    await pool('warm-up', cfg.warmup, cfg.concurrency, phaseEnd(4), server.pid, async (i) =>
      status(201, await c.request('POST', '/api/v1/namespaces/bench-warmup/configmaps', configMap(cmName(i), { key: `value-${i}` }))),
    );

    progress(`creates: ${cfg.count} configmaps, ${cfg.concurrency} in flight`);
    const stored: string[] = new Array(cfg.count);
    const data = (i: number, gen: number) => ({ key: `value-${i}-${gen}`, config: `listen=0.0.0.0:${8000 + (i % 1000)}\nworkers=4\n` });
    const creates = await pool('creates', cfg.count, cfg.concurrency, phaseEnd(3), server.pid, async (i) => {
      const r = await c.request('POST', `/api/v1/namespaces/${ns}/configmaps`, configMap(cmName(i), data(i, 0)));
      if (r.status === 201) stored[i] = r.body;
      return status(201, r);
    });
    // Updates and gets go over what was created (all of it unless the time ran out or requests failed).
    const ids = stored.flatMap((s, i) => (s ? [i] : []));
    const created = ids.length;

    progress(`updates: PUT ${created} configmaps with their resourceVersion`);
    const updates = await pool('updates', created, cfg.concurrency, phaseEnd(2), server.pid, async (k) => {
      const i = ids[k];
      const o = JSON.parse(stored[i]) as { data: Record<string, string> };
      o.data = data(i, 1);
      return status(200, await c.request('PUT', `/api/v1/namespaces/${ns}/configmaps/${cmName(i)}`, JSON.stringify(o)));
    });

    progress(`gets: GET ${created} configmaps by name`);
    const gets = await pool('gets', created, cfg.concurrency, phaseEnd(1), server.pid, async (k) =>
      status(200, await c.request('GET', `/api/v1/namespaces/${ns}/configmaps/${cmName(ids[k])}`)),
    );

    progress(`list: ${cfg.listRuns} full lists of ${created} configmaps`);
    const listMs: number[] = [];
    let listBytes = 0;
    for (let k = 0; k < cfg.listRuns && performance.now() < deadline - 25_000; k++) {
      const t0 = performance.now();
      const r = await c.request('GET', `/api/v1/namespaces/${ns}/configmaps`);
      listMs.push(performance.now() - t0);
      listBytes = r.body.length;
      const items = (JSON.parse(r.body) as { items?: unknown[] }).items?.length ?? -1;
      if (r.status !== 200 || items !== created) throw new Error(`list: HTTP ${r.status}, ${items} items, wanted ${created}`);
    }
    progress(`  list: ${listMs.map((m) => m.toFixed(0)).join(', ')} ms (${(listBytes / 2 ** 20).toFixed(1)} MiB each)`);

    progress(`watch: ${cfg.watchers} watchers on ${watchNs}, ${cfg.watchWrites} writes at ${cfg.watchRate}/s`);
    const watch = await watchPhase(c, cfg, watchNs, deadline - 5_000);

    const rss = procStatusMiB(server.pid);
    progress(`server RSS ${rss.rss.toFixed(0)} MiB, peak ${rss.hwm.toFixed(0)} MiB; stopping it`);
    client.close();
    await stopServer(server);

    progress(`sqlite: ${created} raw inserts, one transaction each`);
    const payloads = stored.flatMap((value, i) => (value ? [{ namespace: ns, name: cmName(i), value }] : []));
    const sqlite = sqlitePhase(tmp, payloads, Math.max(2_000, Math.min(10_000, (deadline - performance.now() - 3_000) / 3)));
    progress(
      `  sqlite: ${Math.round(sqlite.perSec)}/s raw${sqlite.tmpfsPerSec ? `, ${Math.round(sqlite.tmpfsPerSec)}/s raw on tmpfs` : ''}, ${Math.round(sqlite.storePerSec)}/s through Store.put`,
    );

    const share = cpuShare(cpu0, cpuTimes());
    const machine = { loadavg1AtStart: Math.round(load0 * 100) / 100, ...(share ?? {}) };
    const cpuUs = (p: PhaseResult) => (p.serverCpuS / Math.max(1, p.done)) * 1e6;
    const errors = creates.errors + updates.errors + gets.errors + watch.writeErrors;
    const metrics: Metric[] = [
      {
        name: 'createsPerSec',
        value: creates.perSec,
        unit: 'req/s',
        target: { op: '>=', value: 3000 },
        note: `${creates.done} POSTs in ${creates.seconds.toFixed(2)}s, ${cfg.concurrency} in flight; server CPU ${cpuUs(creates).toFixed(0)} µs/req`,
      },
      { name: 'updatesPerSec', value: updates.perSec, unit: 'req/s', note: `server CPU ${cpuUs(updates).toFixed(0)} µs/req` },
      { name: 'getsPerSec', value: gets.perSec, unit: 'req/s', note: `server CPU ${cpuUs(gets).toFixed(0)} µs/req` },
      {
        name: 'list20kMs',
        value: median(listMs),
        unit: 'ms',
        note: `median of ${listMs.length} full lists of ${created} configmaps (${(listBytes / 2 ** 20).toFixed(1)} MiB): ${listMs.map((m) => m.toFixed(0)).join(', ')} ms`,
      },
      {
        name: 'watchP50Ms',
        value: watch.p50,
        unit: 'ms',
        note: `${watch.delivered}/${watch.expected} deliveries to ${cfg.watchers} watchers, ${cfg.watchWrites} creates at ${cfg.watchRate}/s (took ${watch.writeSeconds.toFixed(2)}s); server CPU ${watch.serverCpuS.toFixed(2)}s, client CPU ${watch.clientCpuS.toFixed(2)}s`,
      },
      { name: 'watchP99Ms', value: watch.p99, unit: 'ms', target: { op: '<', value: 50, note: `${cfg.watchers} watchers` } },
      { name: 'watchMaxMs', value: watch.max, unit: 'ms' },
      { name: 'watchDelivered', value: watch.delivered / Math.max(1, watch.expected), unit: 'fraction', target: { op: '>=', value: 1, note: 'sanity' } },
      { name: 'rssMiB', value: rss.rss, unit: 'MiB', note: `VmRSS after the runs; ${startRss.rss.toFixed(0)} MiB right after start-up` },
      { name: 'peakRssMiB', value: rss.hwm, unit: 'MiB' },
      {
        name: 'sqliteCreatesPerSec',
        value: sqlite.perSec,
        unit: 'tx/s',
        note: `better-sqlite3, journal_mode=${sqlite.journalMode} synchronous=${sqlite.synchronous} (read from a Store opened with its defaults), SQL ${sqlite.sqlFrom === 'store' ? "from the Store's prepared statements" : 'copied from store.ts'}; ${payloads.length} server-stored JSON payloads, one transaction each (object upsert + event + revision)`,
      },
      ...(sqlite.tmpfsPerSec
        ? [{ name: 'sqliteTmpfsCreatesPerSec', value: sqlite.tmpfsPerSec, unit: 'tx/s', note: 'the same raw inserts on /dev/shm: SQLite CPU alone, no disk' }]
        : []),
      { name: 'storePutsPerSec', value: sqlite.storePerSec, unit: 'put/s', note: 'Store.put in-process (JSON.stringify + transaction + publish), no HTTP/API layer' },
      { name: 'createRatio', value: creates.perSec / sqlite.perSec, unit: 'ratio', target: { op: '>=', value: 0.1 } },
      { name: 'httpErrors', value: errors, unit: 'count', target: { op: '<=', value: 0, note: 'sanity' } },
    ];
    process.stdout.write('\n');
    printTable(metrics);
    const path = writeResult('apiserver', metrics, {
      count: cfg.count,
      created,
      concurrency: cfg.concurrency,
      watchers: cfg.watchers,
      watchWrites: cfg.watchWrites,
      watchRate: cfg.watchRate,
      warmup: cfg.warmup,
      listRuns: cfg.listRuns,
      serverStartSeconds: Math.round(startSeconds * 100) / 100,
      phases: {
        creates: phaseSummary(creates),
        updates: phaseSummary(updates),
        gets: phaseSummary(gets),
        watch: { serverCpuS: watch.serverCpuS, clientCpuS: watch.clientCpuS, connectSeconds: watch.connectSeconds },
      },
      sqlite: { journalMode: sqlite.journalMode, synchronous: sqlite.synchronous, sqlFrom: sqlite.sqlFrom },
    }, machine);
    process.stdout.write(`\nwrote ${path}\n`);
    process.stdout.write(
      `machine: ${machine.loadavg1AtStart} load at start` +
        (share ? `, all CPUs ${share.busyPct}% busy and ${share.stealPct}% stolen by the hypervisor during the run` : '') +
        '\n',
    );
    if (load0 > 0.5 || (share && share.stealPct > 5)) {
      process.stdout.write('warning: the machine was not idle (other load or CPU steal): expect noisy numbers, compare several runs\n');
    }
    const missed = missedTargets(metrics);
    if (missed.length) process.stdout.write(`missed targets: ${missed.map((m) => m.name).join(', ')}\n`);
    if (cfg.cpuProfDir) process.stdout.write(`server CPU profile in ${cfg.cpuProfDir}\n`);
    return cfg.check && missed.length ? 1 : 0;
  } catch (err) {
    progress(`failed: ${(err as Error).stack ?? String(err)}`);
    if (server) process.stderr.write(`--- server output (tail) ---\n${server.output()}\n`);
    return 1;
  } finally {
    if (server) await stopServer(server).catch(() => undefined);
    dispose();
  }
}

function phaseSummary(p: PhaseResult) {
  return {
    done: p.done,
    errors: p.errors,
    seconds: Math.round(p.seconds * 100) / 100,
    serverCpuS: p.serverCpuS,
    clientCpuS: Math.round(p.clientCpuS * 100) / 100,
    ...(p.firstError ? { firstError: p.firstError } : {}),
  };
}
