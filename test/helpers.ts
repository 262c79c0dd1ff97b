/** Shared by tests that drive a real embedded API server through kubectl and client-node. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startApiServer, type ApiServerOptions, type RunningApiServer } from '../meta-cluster/apiserver/apiserver.js';


export function tempDir(prefix = 'kok-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface TestServer extends RunningApiServer {
  dataDir: string;
  kubeConfig: k8s.KubeConfig;
  /** Stops the server and removes its data dir. */
  destroy(): Promise<void>;
}

export async function startTestServer(opts: Partial<ApiServerOptions> = {}): Promise<TestServer> {
  const dir = opts.dataDir ? { path: opts.dataDir, remove() {} } : tempDir();
  const server = await startApiServer({ ...opts, dataDir: dir.path });
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(server.kubeconfigPath);
  return {
    ...server,
    dataDir: dir.path,
    kubeConfig,
    async destroy() {
      await server.stop();
      dir.remove();
    },
  };
}

/** Requests the server has answered for a verb and resource (`core/nodes`), of one status code or all. */
export async function apiRequests(server: Pick<RunningApiServer, 'metrics'>, verb: string, resource: string, code?: number): Promise<number> {
  const { body } = await server.metrics.render();
  const prefix = `apiserver_request_total{verb="${verb}",resource="${resource}",code="${code ?? ''}`;
  return body
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

/** The kubectl binaries installed beside the default one (kubectl.1.27 … kubectl.1.33). */
export function kubectlBinary(version?: string): string {
  if (!version) return 'kubectl';
  const onPath = (process.env.PATH ?? '').split(':').map((d) => join(d, 'kubectl')).find((p) => existsSync(p));
  if (!onPath) throw new Error('kubectl is not on PATH');
  const path = join(dirname(realpathSync(onPath)), `kubectl.${version}`);
  if (!existsSync(path)) throw new Error(`kubectl ${version} is not installed at ${path}`);
  return path;
}

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs kubectl as a user types it, against the given kubeconfig; never throws on a non-zero exit. */
export async function kubectl(
  kubeconfigPath: string,
  args: string[],
  opts: { version?: string; input?: string; timeoutMs?: number } = {},
): Promise<KubectlResult> {
  const bin = kubectlBinary(opts.version);
  const child = execFile(bin, args, {
    env: { ...process.env, KUBECONFIG: kubeconfigPath, HOME: dirname(kubeconfigPath) },
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (opts.input !== undefined) {
    child.stdin!.end(opts.input);
  }
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ stdout, stderr, code: code ?? -1 }));
  });
}

/** Polls until `check` stops throwing (or returns a truthy value), then returns its value. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== false && v !== undefined && v !== null) return v;
      lastError = new Error(`condition returned ${String(v)}`);
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw lastError;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

