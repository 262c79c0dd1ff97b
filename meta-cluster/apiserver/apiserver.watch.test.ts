/**
 * Watches and informers of the embedded API server through @kubernetes/client-node: ordering,
 * resourceVersion replay, selector transitions, bookmarks, resuming across a server restart,
 * relisting after 410 Expired, and durability of the `kok meta-cluster start` process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type Informer,
  type ObjectCache,
  type KubernetesObject,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type RunningApiServer } from './apiserver.js';
import { eventually, startTestServer, tempDir, type TestServer } from '../../test/helpers.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const rvOf = (o: KubernetesObject) => Number(o.metadata?.resourceVersion);

/** What an informer's callbacks saw, in order, and how often it listed. */
function recordInformer(kubeConfig: KubeConfig, namespace: string) {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  let lists = 0;
  const informer = makeInformer<V1ConfigMap>(kubeConfig, `/api/v1/namespaces/${namespace}/configmaps`, () => {
    lists++;
    return core.listNamespacedConfigMap({ namespace });
  });
  const seen: string[] = [];
  const rvs: number[] = [];
  for (const verb of ['add', 'update', 'delete'] as const) {
    informer.on(verb, (o) => {
      seen.push(verb === 'delete' ? `delete ${o.metadata?.name}` : `${verb} ${o.metadata?.name} ${o.metadata?.resourceVersion}`);
      rvs.push(rvOf(o));
    });
  }
  return { informer, seen, rvs, lists: () => lists };
}

/** The informer's cache and the server's list, as comparable `name@rv` strings. */
async function cacheAndServer(informer: Informer<V1ConfigMap> & ObjectCache<V1ConfigMap>, core: CoreV1Api, namespace: string) {
  const key = (o: V1ConfigMap) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`;
  const cache = informer.list(namespace).map(key).sort();
  const server = (await core.listNamespacedConfigMap({ namespace })).items.map(key).sort();
  return { cache, server };
}

const increasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]);

describe('watch and informers on a running server', () => {
  let server: TestServer;
  let core: CoreV1Api;
  const cleanups: Array<() => unknown> = [];

  beforeAll(async () => {
    server = await startTestServer({ bookmarkIntervalMs: 200 });
    core = server.kubeConfig.makeApiClient(CoreV1Api);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  async function namespace(name: string) {
    await core.createNamespace({ body: { metadata: { name } } });
    return name;
  }
  const create = (ns: string, name: string, labels?: Record<string, string>) =>
    core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels }, data: { v: '0' } } });
  const patch = (ns: string, name: string, body: object) => core.patchNamespacedConfigMap({ name, namespace: ns, body }, merge);

  /** Starts a client-node Watch and collects `TYPE name rv` lines. */
  async function watch(path: string, query: Record<string, string | boolean>) {
    const events: Array<{ type: string; object: KubernetesObject }> = [];
    const controller = await new Watch(server.kubeConfig).watch(path, query, (type, object) => events.push({ type, object }), () => {});
    cleanups.push(() => controller.abort());
    const lines = () => events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata?.name}`);
    return { events, lines };
  }

  it('informer sees 50 writes in order and its cache matches the server', async () => {
    const ns = await namespace('informer-order');
    const first = await create(ns, 'pre');
    const rec = recordInformer(server.kubeConfig, ns);
    cleanups.push(() => rec.informer.stop());
    await rec.informer.start();
    await eventually(() => rec.seen.length === 1);

    const expected = [`add pre ${first.metadata?.resourceVersion}`];
    for (let i = 0; i < 20; i++) expected.push(`add c${i} ${(await create(ns, `c${i}`)).metadata?.resourceVersion}`);
    for (let i = 0; i < 20; i++) {
      expected.push(`update c${i} ${(await patch(ns, `c${i}`, { data: { v: String(i + 1) } })).metadata?.resourceVersion}`);
    }
    for (let i = 0; i < 10; i++) {
      await core.deleteNamespacedConfigMap({ name: `c${i}`, namespace: ns });
      expected.push(`delete c${i}`);
    }

    await eventually(() => rec.seen.length >= expected.length);
    expect(rec.seen).toEqual(expected);
    expect(increasing(rec.rvs)).toBe(true);
    const { cache, server: listed } = await cacheAndServer(rec.informer, core, ns);
    expect(cache).toHaveLength(11);
    expect(cache).toEqual(listed);
    expect(rec.lists()).toBe(1);
  });

  it('answers concurrent writes (committed together) each once, and watchers see them in revision order', async () => {
    const ns = await namespace('concurrent');
    await create(ns, 'seed');
    const w = await watch(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: '0' });
    await eventually(() => w.events.length === 1);
    // 30 distinct names and 10 racing creates of one more: one of those wins, nine get AlreadyExists.
    const names = [...Array.from({ length: 30 }, (_, i) => `c${i}`), ...Array.from({ length: 10 }, () => 'contested')];
    const results = await Promise.allSettled(names.map((name) => create(ns, name)));
    const created = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as { code?: number; body?: unknown }] : []));
    expect(created).toHaveLength(31);
    expect(refused.map((e) => [e.code, JSON.parse(String(e.body)).reason])).toEqual(Array(9).fill([409, 'AlreadyExists']));
    const rvs = created.map(rvOf);
    expect(new Set(rvs).size).toBe(31);

    await eventually(() => w.events.length === 32);
    expect(increasing(w.events.map((e) => rvOf(e.object)))).toBe(true);
    expect(w.events.slice(1).map((e) => rvOf(e.object))).toEqual([...rvs].sort((a, b) => a - b));
    const listed = await core.listNamespacedConfigMap({ namespace: ns });
    expect(listed.items).toHaveLength(32);
    expect(Number(listed.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Math.max(...rvs));
  });

  it('replays the events after a resourceVersion in order', async () => {
    const ns = await namespace('replay');
    const base = await create(ns, 'r0');
    const r1 = await create(ns, 'r1');
    const r0 = await patch(ns, 'r0', { data: { v: '1' } });
    await core.deleteNamespacedConfigMap({ name: 'r1', namespace: ns });

    const w = await watch(`/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: base.metadata!.resourceVersion! });
    await eventually(() => w.events.length >= 3);
    expect(w.lines()).toEqual(['ADDED r1', 'MODIFIED r0', 'DELETED r1']);
    expect(rvOf(w.events[0].object)).toBe(rvOf(r1));
    expect(rvOf(w.events[1].object)).toBe(rvOf(r0));
    expect(rvOf(w.events[2].object)).toBeGreaterThan(rvOf(r0));

    // Live events follow the replay.
    const r2 = await create(ns, 'r2');
    await eventually(() => w.events.length === 4);
    expect(w.lines()[3]).toBe('ADDED r2');
    expect(rvOf(w.events[3].object)).toBe(rvOf(r2));
    expect(increasing(w.events.map((e) => rvOf(e.object)))).toBe(true);
  });

  it('a label-selector watch sees objects enter (ADDED) and leave (DELETED) the match', async () => {
    const ns = await namespace('selector');
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    const w = await watch(`/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: list.metadata!.resourceVersion!,
      labelSelector: 'watched=yes',
    });
    await create(ns, 's');
    await patch(ns, 's', { metadata: { labels: { watched: 'yes' } } });
    await patch(ns, 's', { data: { v: '1' } });
    await patch(ns, 's', { metadata: { labels: { watched: 'no' } } });
    await patch(ns, 's', { data: { v: '2' } });
    await create(ns, 't', { watched: 'yes' });
    await core.deleteNamespacedConfigMap({ name: 't', namespace: ns });
    await core.deleteNamespacedConfigMap({ name: 's', namespace: ns });
    await create(ns, 'end', { watched: 'yes' });

    await eventually(() => w.lines().includes('ADDED end'));
    expect(w.lines()).toEqual(['ADDED s', 'MODIFIED s', 'DELETED s', 'ADDED t', 'DELETED t', 'ADDED end']);
  });

  it('sends BOOKMARKs that never run ahead of the events sent', async () => {
    const ns = await namespace('bookmarks');
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    const w = await watch(`/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: list.metadata!.resourceVersion!,
      allowWatchBookmarks: true,
    });
    const bookmarks = () => w.events.filter((e) => e.type === 'BOOKMARK');
    await eventually(() => bookmarks().length >= 1, 3_000);
    expect(bookmarks()[0].object.kind).toBe('ConfigMap');
    expect(rvOf(bookmarks()[0].object)).toBe(rvOf(list));

    // Writes elsewhere do not move this watcher's bookmark; its own events do.
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'elsewhere' } } });
    cleanups.push(() => core.deleteNamespacedConfigMap({ name: 'elsewhere', namespace: 'default' }));
    const mine = await create(ns, 'b');
    await eventually(() => {
      const last = bookmarks().at(-1)!;
      return w.events.indexOf(last) > w.events.findIndex((e) => e.type === 'ADDED') && rvOf(last.object) === rvOf(mine);
    }, 3_000);
    for (const b of bookmarks()) expect(rvOf(b.object)).toBeLessThanOrEqual(rvOf(mine));
  });
});

describe('informers across server restarts', () => {
  let dir: ReturnType<typeof tempDir>;
  let server: RunningApiServer;

  beforeAll(async () => {
    dir = tempDir();
    server = await startApiServer({ dataDir: dir.path });
  });
  afterAll(async () => {
    await server?.stop();
    dir?.remove();
  });

  const client = () => {
    const kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    return { kc, core: kc.makeApiClient(CoreV1Api) };
  };

  /** An informer restarted from its error callback, as client-node documents; `paused` holds restarts back. */
  function resilientInformer(kc: KubeConfig, ns: string) {
    const rec = recordInformer(kc, ns);
    const state = { errors: 0, paused: false, stopped: false };
    rec.informer.on('error', () => {
      state.errors++;
      if (state.paused || state.stopped) return;
      setTimeout(() => {
        if (!state.paused && !state.stopped) void rec.informer.start();
      }, 500);
    });
    const stop = async () => {
      state.stopped = true;
      await rec.informer.stop();
    };
    return { ...rec, state, stop };
  }

  /** Stops the server and waits until the informer has noticed. */
  async function stopServer(inf: { state: { errors: number } }) {
    const errors = inf.state.errors;
    await server.stop();
    await eventually(() => inf.state.errors > errors);
  }

  const restart = async () => {
    server = await startApiServer({ dataDir: dir.path, port: server.port });
  };

  it('stops promptly while a client is still connecting', async () => {
    // A TCP connection that never finishes its TLS handshake, as a client caught mid-reconnect.
    const socket = connect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const stopping = server.stop();
    try {
      const stopped = await Promise.race([stopping.then(() => true), new Promise((r) => setTimeout(r, 2_000, false))]);
      expect(stopped, 'server.stop() still waits for the half-open connection').toBe(true);
    } finally {
      socket.destroy();
      await stopping;
    }
    await restart();
  });

  it('resumes from its resourceVersion after a restart on the same port: nothing lost, nothing twice', async () => {
    const { kc, core } = client();
    await core.createNamespace({ body: { metadata: { name: 'resume' } } });
    const expected: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      const cm = await core.createNamespacedConfigMap({ namespace: 'resume', body: { metadata: { name } } });
      expected.push(`add ${name} ${cm.metadata?.resourceVersion}`);
    }
    const inf = resilientInformer(kc, 'resume');
    try {
      await inf.informer.start();
      await eventually(() => inf.seen.length === 3);

      await stopServer(inf);
      await restart();

      const after = client().core;
      const d = await after.createNamespacedConfigMap({ namespace: 'resume', body: { metadata: { name: 'd' } } });
      const a = await after.patchNamespacedConfigMap({ name: 'a', namespace: 'resume', body: { data: { v: '1' } } }, merge);
      await after.deleteNamespacedConfigMap({ name: 'b', namespace: 'resume' });
      expected.push(`add d ${d.metadata?.resourceVersion}`, `update a ${a.metadata?.resourceVersion}`, 'delete b');

      await eventually(() => inf.seen.length >= expected.length);
      await new Promise((r) => setTimeout(r, 300));
      expect(inf.seen).toEqual(expected);
      expect(increasing(inf.rvs)).toBe(true);
      // It re-watched from where it was; it never needed to list again.
      expect(inf.lists()).toBe(1);
      const { cache, server: listed } = await cacheAndServer(inf.informer, after, 'resume');
      expect(cache).toEqual(listed);
      expect(cache.map((k: string) => k.split('@')[0])).toEqual(['a', 'c', 'd']);
    } finally {
      await inf.stop();
    }
  });

  it('relists after 410 Expired when its resourceVersion was compacted away', async () => {
    const { kc, core } = client();
    await core.createNamespace({ body: { metadata: { name: 'expired' } } });
    for (const name of ['a', 'b', 'c']) {
      await core.createNamespacedConfigMap({ namespace: 'expired', body: { metadata: { name } } });
    }
    const inf = resilientInformer(kc, 'expired');
    try {
      await inf.informer.start();
      await eventually(() => inf.seen.length === 3);

      // While the informer is away, objects change and the event log is compacted past its RV.
      inf.state.paused = true;
      await stopServer(inf);
      await restart();
      const after = client().core;
      const created = await after.createNamespacedConfigMap({ namespace: 'expired', body: { metadata: { name: 'new' } } });
      await after.deleteNamespacedConfigMap({ name: 'a', namespace: 'expired' });
      const c = await after.patchNamespacedConfigMap({ name: 'c', namespace: 'expired', body: { data: { v: '1' } } }, merge);
      server.store.compact(server.store.revision);
      inf.state.paused = false;
      await inf.informer.start();

      await eventually(async () => {
        const { cache, server: listed } = await cacheAndServer(inf.informer, after, 'expired');
        expect(cache).toEqual(listed);
        return true;
      });
      expect(inf.lists()).toBe(2);
      // The relist reports the differences, in the cache's order rather than the server's.
      expect(inf.seen.slice(3).sort()).toEqual(
        ['delete a', `add new ${created.metadata?.resourceVersion}`, `update c ${c.metadata?.resourceVersion}`].sort(),
      );

      // And it keeps watching from the fresh list.
      const e = await after.createNamespacedConfigMap({ namespace: 'expired', body: { metadata: { name: 'e' } } });
      await eventually(() => inf.seen.at(-1) === `add e ${e.metadata?.resourceVersion}`);
    } finally {
      await inf.stop();
    }
  });
});

describe('the kok meta-cluster process', () => {
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const d of dirs) d.remove();
  });

  /** Runs `kok meta-cluster start` (tsx, one process) and waits for it to print its port. */
  async function startCli(dataDir: string): Promise<{ child: ChildProcess; port: number; kc: KubeConfig }> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'scripts/kok.ts'), 'meta-cluster', 'start', '--data-dir', dataDir, '--port', '0'],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const port = await eventually(() => {
      if (child.exitCode !== null) throw new Error(`kok exited with ${child.exitCode}: ${out}`);
      const m = /serving on https:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (!m) throw new Error(`kok has not printed its port yet: ${out}`);
      return Number(m[1]);
    }, 30_000);
    const kc = new KubeConfig();
    kc.loadFromFile(join(dataDir, 'kubeconfig'));
    expect(kc.getCurrentCluster()?.server).toBe(`https://127.0.0.1:${port}`);
    return { child, port, kc };
  }

  const exited = (child: ChildProcess) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });

  it('keeps every acknowledged write across kill -9, and exits 0 promptly on SIGTERM', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const first = await startCli(dir.path);
    const core = first.kc.makeApiClient(CoreV1Api);
    let maxRv = 0;
    for (let i = 0; i < 20; i++) {
      const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `durable-${i}` }, data: { i: String(i) } } });
      maxRv = Math.max(maxRv, rvOf(cm));
    }
    first.child.kill('SIGKILL');
    expect(await exited(first.child)).toEqual({ code: null, signal: 'SIGKILL' });

    const second = await startCli(dir.path);
    const core2 = second.kc.makeApiClient(CoreV1Api);
    const names = (await core2.listNamespacedConfigMap({ namespace: 'default' })).items.map((c) => c.metadata?.name);
    for (let i = 0; i < 20; i++) expect(names).toContain(`durable-${i}`);
    expect((await core2.readNamespacedConfigMap({ name: 'durable-19', namespace: 'default' })).data).toEqual({ i: '19' });
    const next = await core2.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'after-crash' } } });
    expect(rvOf(next)).toBeGreaterThan(maxRv);

    const t0 = Date.now();
    second.child.kill('SIGTERM');
    expect(await exited(second.child)).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(5_000);
  }, 120_000); // two process start-ups, slow on a busy machine
});
