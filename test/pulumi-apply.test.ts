/**
 * The kok-fleet program produces a working fleet: the exact objects it registers under
 * `pulumi.runtime.setMocks` for the dev stack are applied, in registration order and server-side
 * as the Kubernetes provider applies them, to an embedded meta-cluster with the cluster and
 * machine operators running; before each object, its dependsOn must be ready the way `pulumi up`
 * awaits them (CRDs Established, Deployments available). Then every Cluster and MachinePool
 * reaches Ready, and the kubeconfig Secrets the stack outputs name open the business clusters,
 * whose Nodes are the pools' machines.
 */
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCluster, type EmbeddedCluster } from '../meta-cluster/cluster.js';
import { ClusterOperator } from '../operators/cluster/operator.js';
import { MachineOperator } from '../operators/machine/operator.js';
import { createLogger } from '../operators/runtime/log.js';
import { runUnderMocks, stackConfig, type Registration, type StackRun } from '../pulumi/testing/mock-stack.js';
import { eventually, tempDir } from './helpers.js';

const dir = tempDir('kok-pulumi-apply-');
const log = createLogger({ name: 'test', level: 'silent' });
let run: StackRun;
let meta: EmbeddedCluster;
let objects: k8s.KubernetesObjectApi;
let clusterOp: ClusterOperator | undefined;
let machineOp: MachineOperator | undefined;
const applied: string[] = [];
const timings: Record<string, number> = {};

type Obj = k8s.KubernetesObject & { spec?: any; status?: any };
const cond = (o: Obj, type: string) => (o.status?.conditions as any[] | undefined)?.find((c) => c.type === type);
const read = (o: Obj) => objects.read({ apiVersion: o.apiVersion!, kind: o.kind!, metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace } }) as Promise<Obj>;

/** Ready as the Kubernetes provider's await logic sees it, for the kinds this program declares. */
async function isReady(o: Obj): Promise<boolean> {
  const live = await read(o);
  switch (live.kind) {
    case 'CustomResourceDefinition':
      return cond(live, 'Established')?.status === 'True';
    case 'Deployment':
      return (
        cond(live, 'Available')?.status === 'True' &&
        live.status?.updatedReplicas === live.spec.replicas &&
        live.status?.availableReplicas === live.spec.replicas &&
        (live.status?.observedGeneration ?? 0) >= (live.metadata!.generation ?? 0)
      );
    default:
      if (live.metadata?.annotations?.['pulumi.com/waitFor'] === 'condition=Ready') return cond(live, 'Ready')?.status === 'True';
      return true;
  }
}

beforeAll(async () => {
  let t = Date.now();
  run = await runUnderMocks({ stack: 'dev', config: stackConfig('dev'), load: () => import('../pulumi/index.js') });
  timings.mocks = Date.now() - t;

  t = Date.now();
  meta = await startEmbeddedCluster({
    dataDir: join(dir.path, 'meta'),
    clusterName: 'meta',
    nodes: 3,
    nodeAgent: { startLatencyMs: 200, readinessDelayMs: 50, heartbeatIntervalMs: 1_000 },
    controlPlaneRetryMs: 200,
    simulatedCloud: { pollIntervalMs: 200, nodeAgent: { heartbeatIntervalMs: 1_000 } },
  });
  objects = k8s.KubernetesObjectApi.makeApiClient(meta.kubeConfig);
  clusterOp = new ClusterOperator({ kubeConfig: meta.kubeConfig, log, probeIntervalMs: 500, leaderElection: false });
  await clusterOp.start();
  machineOp = new MachineOperator({ kubeConfig: meta.kubeConfig, log, leaderElection: false });
  void machineOp.start();
  timings.metaCluster = Date.now() - t;
}, 60_000);

afterAll(async () => {
  await machineOp?.stop();
  await clusterOp?.stop();
  await meta?.stop();
  dir.remove();
  console.log(`pulumi-apply timings (ms): ${JSON.stringify(timings)}`);
}, 60_000);

const kubeChildren = () => run.registrations.filter((r) => r.type.startsWith('kubernetes:'));
const ofKind = (kind: string) => kubeChildren().filter((r) => r.inputs.kind === kind);

describe('the dev stack, as registered under mocks, applied to an embedded meta-cluster', () => {
  it('applies every registered object in registration order, each once its dependsOn are ready', async () => {
    const t = Date.now();
    const byUrn = new Map(run.registrations.map((r) => [r.urn, r]));
    for (const r of kubeChildren()) {
      for (const dep of r.dependencies.map((u) => byUrn.get(u)!).filter((d): d is Registration => d.type.startsWith('kubernetes:'))) {
        await eventually(() => isReady(dep.inputs as Obj), 30_000, 100);
      }
      // What the provider does with enableServerSideApply: an apply patch of the inputs, forced.
      // (loadYaml turns the JSON into client-node's model, which patch() serialises back to JSON;
      // given plain JSON, it would drop the fields its model spells differently, like `default`.)
      await objects.patch(k8s.loadYaml<Obj>(JSON.stringify(r.inputs)), undefined, undefined, 'pulumi-kubernetes', true, k8s.PatchStrategy.ServerSideApply);
      applied.push(r.name);
    }
    timings.apply = Date.now() - t;
    expect(applied).toEqual(kubeChildren().map((r) => r.name));
    // Everything registered is on the meta-cluster as declared (plus what the server defaults).
    for (const r of kubeChildren()) {
      const live = parse(k8s.dumpYaml(await read(r.inputs as Obj)));
      const { status: _status, ...declared } = r.inputs;
      expect(live, r.name).toMatchObject(declared);
    }
  }, 60_000);

  it('runs kok: the operator Deployments become available', async () => {
    for (const d of ofKind('Deployment')) expect(await eventually(() => isReady(d.inputs as Obj), 30_000, 200), d.name).toBe(true);
  }, 40_000);

  it('brings every Cluster and MachinePool to Ready', async () => {
    const t = Date.now();
    const fleet = [...ofKind('Cluster'), ...ofKind('MachinePool')];
    expect(fleet.map((r) => r.inputs.kind).sort()).toEqual(['Cluster', 'Cluster', 'MachinePool', 'MachinePool', 'MachinePool', 'MachinePool']);
    await Promise.all(
      fleet.map((r) =>
        eventually(async () => {
          const live = await read(r.inputs as Obj);
          expect(cond(live, 'Ready')?.status, `${r.name}: ${JSON.stringify(live.status?.conditions)}`).toBe('True');
          if (live.kind === 'MachinePool') expect(live.status?.readyReplicas, r.name).toBe(live.spec.replicas);
          return live;
        }, 80_000, 250),
      ),
    );
    timings.fleetReady = Date.now() - t;
  }, 90_000);

  it('names in its outputs the kubeconfig Secrets that open each business cluster, whose Nodes are its pools\' machines', async () => {
    const { clusters, kubeconfigSecrets, fleetNamespace } = run.outputs as { clusters: string[]; kubeconfigSecrets: string[]; fleetNamespace: string };
    expect(clusters).toEqual(['fleet-dev/dev-a-1', 'fleet-dev/dev-b-1']);
    const core = meta.kubeConfig.makeApiClient(k8s.CoreV1Api);
    for (const [i, ref] of clusters.entries()) {
      const [namespace, name] = ref.split('/') as [string, string];
      expect(namespace).toBe(fleetNamespace);
      const cluster = await read({ apiVersion: 'fleet.kok.dev/v1alpha1', kind: 'Cluster', metadata: { namespace, name } });
      expect(cluster.status?.kubeconfigSecretRef?.name).toBe(kubeconfigSecrets[i]);
      const secret = await core.readNamespacedSecret({ namespace, name: kubeconfigSecrets[i]! });
      const business = new k8s.KubeConfig();
      business.loadFromString(Buffer.from(secret.data!.value!, 'base64').toString());
      const pools = ofKind('MachinePool').filter((p) => p.inputs.spec.clusterName === name);
      const machines = pools.reduce((n, p) => n + p.inputs.spec.replicas, 0);
      const nodes = await eventually(async () => {
        const list = await business.makeApiClient(k8s.CoreV1Api).listNode();
        const ready = list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
        expect(ready.length, name).toBe(machines);
        return ready;
      }, 20_000, 250);
      expect(nodes.map((n) => n.metadata?.labels?.['fleet.kok.dev/target']).sort()).toEqual(pools.map((p) => p.inputs.spec.template.targetRef.name).sort());
      expect(nodes.every((n) => n.metadata?.labels?.['fleet.kok.dev/unit'] === cluster.metadata?.labels?.['fleet.kok.dev/unit'])).toBe(true);
    }
  }, 40_000);
});
