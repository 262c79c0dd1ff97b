/**
 * The embedded cluster runtime end to end, driven with kubectl as a user types it: controllers,
 * scheduler and the simulated node agent together, asserting what `kubectl get` shows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCluster, type EmbeddedCluster } from '../meta-cluster/cluster.js';
import { eventually, kubectl, tempDir } from './helpers.js';

let cluster: EmbeddedCluster;
const dir = tempDir('kok-runtime-');
let kc: string;

const k = async (...args: string[]) => {
  const r = await kubectl(kc, args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const json = async (...args: string[]) => JSON.parse(await k(...args, '-o', 'json'));

beforeAll(async () => {
  cluster = await startEmbeddedCluster({
    dataDir: dir.path,
    clusterName: 'rt',
    nodes: 3,
    nodeAgent: { heartbeatIntervalMs: 300, leaseDurationSeconds: 2, readinessDelayMs: 100 },
    nodeMonitorGracePeriodSeconds: 2,
  });
  kc = cluster.apiServer.kubeconfigPath;
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  dir.remove();
});

const readyPods = async (selector: string) =>
  (await json('get', 'pods', '-l', selector)).items.filter(
    (p: any) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
  );

describe('embedded cluster runtime through kubectl', () => {
  it('runs a Deployment to three Ready pods spread over the nodes', async () => {
    await k('create', 'deployment', 'web', '--image=nginx:1.25', '--replicas=3');
    await k('rollout', 'status', 'deployment/web', '--timeout=30s');
    const pods = await readyPods('app=web');
    expect(pods).toHaveLength(3);
    expect(new Set(pods.map((p: any) => p.spec.nodeName)).size).toBe(3);
    const table = await k('get', 'pods', '-l', 'app=web');
    expect(table.match(/1\/1\s+Running/g)).toHaveLength(3);
  });

  it('rolls a new image without exceeding maxUnavailable, then undoes it', async () => {
    let minReady = Infinity;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        minReady = Math.min(minReady, (await readyPods('app=web')).length);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await k('set', 'image', 'deployment/web', 'nginx=nginx:1.26');
    await k('rollout', 'status', 'deployment/web', '--timeout=60s');
    watching = false;
    await watcher;
    // replicas 3, maxUnavailable 25% rounds down to 0: at least 3 ready pods at every moment.
    expect(minReady).toBeGreaterThanOrEqual(3);
    const images = (await readyPods('app=web')).map((p: any) => p.spec.containers[0].image);
    expect(images).toEqual(['nginx:1.26', 'nginx:1.26', 'nginx:1.26']);

    await k('rollout', 'undo', 'deployment/web');
    await k('rollout', 'status', 'deployment/web', '--timeout=60s');
    const deploy = await json('get', 'deployment', 'web');
    expect(deploy.spec.template.spec.containers[0].image).toBe('nginx:1.25');
    expect(deploy.metadata.annotations['deployment.kubernetes.io/revision']).toBe('3');
    expect(await k('rollout', 'history', 'deployment/web')).toMatch(/2\s+<none>[\s\S]*3\s+<none>/);
  });

  it('scales, and replaces a deleted pod', async () => {
    await k('scale', 'deployment/web', '--replicas=5');
    await eventually(async () => (await readyPods('app=web')).length === 5, 30_000);
    const victim = (await readyPods('app=web'))[0].metadata.name;
    await k('delete', 'pod', victim);
    await eventually(async () => {
      const pods = await readyPods('app=web');
      return pods.length === 5 && !pods.some((p: any) => p.metadata.name === victim);
    }, 30_000);
  });

  it('leaves a pod too large for any node Pending with reason Unschedulable', async () => {
    await k('run', 'huge', '--image=nginx', '--overrides', JSON.stringify({ spec: { containers: [{ name: 'huge', image: 'nginx', resources: { requests: { cpu: '64' } } }] } }));
    const pod = await eventually(async () => {
      const p = await json('get', 'pod', 'huge');
      const c = p.status.conditions?.find((x: any) => x.type === 'PodScheduled');
      return c?.reason === 'Unschedulable' ? p : undefined;
    }, 20_000);
    expect(pod.status.phase).toBe('Pending');
    expect(pod.status.conditions.find((x: any) => x.type === 'PodScheduled').message).toMatch(/Insufficient cpu/);
    await k('delete', 'pod', 'huge');
  });

  it('brings StatefulSet pods up in order', async () => {
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db' },
      spec: {
        replicas: 3,
        serviceName: 'db',
        selector: { matchLabels: { app: 'db' } },
        template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'postgres:16' }] } },
      },
    };
    await kubectl(kc, ['apply', '-f', '-'], { input: JSON.stringify(sts) });
    await k('rollout', 'status', 'statefulset/db', '--timeout=60s');
    const pods = (await json('get', 'pods', '-l', 'app=db')).items;
    const created = Object.fromEntries(pods.map((p: any) => [p.metadata.name, p.metadata.creationTimestamp]));
    const readyAt = Object.fromEntries(
      pods.map((p: any) => [p.metadata.name, p.status.conditions.find((c: any) => c.type === 'Ready').lastTransitionTime]),
    );
    expect(Object.keys(created).sort()).toEqual(['db-0', 'db-1', 'db-2']);
    // Timestamps have one-second resolution: each pod is created no earlier than its predecessor got Ready.
    expect(created['db-1'] >= readyAt['db-0']).toBe(true);
    expect(created['db-2'] >= readyAt['db-1']).toBe(true);
  });

  it('keeps Service endpoints on the ready pods its selector names, and follows a selector switch', async () => {
    await k('create', 'deployment', 'blue', '--image=app:1', '--replicas=2');
    await k('create', 'deployment', 'green', '--image=app:2', '--replicas=2');
    await k('rollout', 'status', 'deployment/blue', '--timeout=30s');
    await k('rollout', 'status', 'deployment/green', '--timeout=30s');
    await k('create', 'service', 'clusterip', 'shop', '--tcp=80:8080');
    await k('patch', 'service', 'shop', '-p', JSON.stringify({ spec: { selector: { app: 'blue' } } }));
    const ipsOf = async (app: string) => (await readyPods(`app=${app}`)).map((p: any) => p.status.podIP).sort();
    const endpointIps = async () =>
      ((await json('get', 'endpoints', 'shop')).subsets ?? []).flatMap((s: any) => (s.addresses ?? []).map((a: any) => a.ip)).sort();
    const blue = await ipsOf('blue');
    await eventually(async () => JSON.stringify(await endpointIps()) === JSON.stringify(blue), 10_000);
    await k('patch', 'service', 'shop', '-p', JSON.stringify({ spec: { selector: { app: 'green' } } }));
    const green = await ipsOf('green');
    await eventually(async () => JSON.stringify(await endpointIps()) === JSON.stringify(green), 10_000);
    expect(green).toHaveLength(2);
  });

  it('marks a node that stops heartbeating NotReady and brings its pods back elsewhere', async () => {
    const pods = await readyPods('app=web');
    const node = pods[0].spec.nodeName;
    cluster.nodeAgent.pauseHeartbeats(node);
    await eventually(async () => (await k('get', 'node', node)).match(/NotReady|Unknown/), 20_000);
    const taints = (await json('get', 'node', node)).spec.taints.map((t: any) => t.key);
    expect(taints).toContain('node.kubernetes.io/unreachable');
    await eventually(async () => {
      const now = await readyPods('app=web');
      return now.length === 5 && now.every((p: any) => p.spec.nodeName !== node);
    }, 40_000);
    await cluster.nodeAgent.resumeHeartbeats(node);
    await eventually(async () => /\sReady\s/.test(await k('get', 'node', node)), 20_000);
  });
});
