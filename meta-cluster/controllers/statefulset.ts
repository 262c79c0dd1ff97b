/**
 * The StatefulSet controller: pods `<set>-<ordinal>` with stable names and identities, created in
 * ordinal order (OrderedReady) or all at once (Parallel), removed from the highest ordinal, and
 * rolled to a new template from the highest ordinal down to the partition, one pod at a time.
 *
 * A revision is `<set>-<hash of the pod template>`. No ControllerRevision objects are kept: the
 * template of the current revision is recovered from a pod that still carries it, so a lost pod
 * below the partition comes back at the current revision as long as one of its siblings does.
 * volumeClaimTemplates are not served by the meta-cluster and are ignored.
 */
import { isDeepStrictEqual } from 'node:util';
import { isAlreadyExists, isStaleCache, isNotFound, type KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { SharedInformers, type Informer, objectKey } from '../../operators/runtime/informer.js';
import { WorkQueue, type ReconcileResult } from '../../operators/runtime/workqueue.js';
import { controllerOf, isAvailable, isReady, isTerminal, isTerminating, type Pod } from './pod-util.js';
import { resources } from './resources.js';

export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
export const REVISION_LABEL = 'controller-revision-hash';

export type StatefulSet = KubeObject;

export interface StatefulSetStatus {
  observedGeneration: number;
  replicas: number;
  readyReplicas: number;
  currentReplicas: number;
  updatedReplicas: number;
  availableReplicas: number;
  currentRevision: string;
  updateRevision: string;
}

/** What one reconcile should do, computed from the set and the pods it owns. */
export interface StatefulSetPlan {
  create: Pod[];
  delete: Pod[];
  status: StatefulSetStatus;
  /** Set when a ready pod becomes available later (minReadySeconds) and status must follow. */
  requeueAfterMs?: number;
}

// --- revisions -----------------------------------------------------------------------------------

/** Objects as JSON with sorted keys, so equal templates hash equally whatever their key order. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** FNV-32a of the template, spelled with `rand.SafeEncodeString`'s alphabet as Kubernetes does. */
export function templateHash(template: unknown): string {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(stableJson(template ?? {}), 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [...String(h)].map((c) => SAFE_ALPHABET[c.charCodeAt(0) % SAFE_ALPHABET.length]).join('');
}

export const updateRevisionOf = (sts: StatefulSet): string => `${sts.metadata.name}-${templateHash(sts.spec?.template)}`;

const revisionOf = (pod: Pod): string | undefined => pod.metadata.labels?.[REVISION_LABEL];

/** `web-3` → 3 for set `web`; undefined when the name is not one of the set's ordinals. */
export function ordinalOf(setName: string, podName: string): number | undefined {
  if (!podName.startsWith(`${setName}-`)) return undefined;
  const rest = podName.slice(setName.length + 1);
  return /^(0|[1-9]\d{0,8})$/.test(rest) ? Number(rest) : undefined;
}

// --- pods ----------------------------------------------------------------------------------------

const controllerRef = (sts: StatefulSet) => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  name: sts.metadata.name!,
  uid: sts.metadata.uid!,
  controller: true,
  blockOwnerDeletion: true,
});

/** The pod for one ordinal, from the set's template or, when given, an older revision's template. */
export function newStatefulSetPod(sts: StatefulSet, ordinal: number, revision: string, template?: KubeObject['spec']): Pod {
  const name = `${sts.metadata.name}-${ordinal}`;
  const t = template ?? sts.spec?.template ?? {};
  const annotations = t.metadata?.annotations;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: sts.metadata.namespace,
      labels: { ...(t.metadata?.labels ?? {}), [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal), [REVISION_LABEL]: revision },
      ...(annotations && Object.keys(annotations).length ? { annotations: { ...annotations } } : {}),
      ownerReferences: [controllerRef(sts)],
    },
    spec: {
      ...structuredClone(t.spec ?? {}),
      hostname: name,
      ...(sts.spec?.serviceName ? { subdomain: sts.spec.serviceName } : {}),
    },
  };
}

/** The template a pod was made from: its labels and spec without what the set or a scheduler added. */
function templateOfRevision(pods: Pod[], revision: string): KubeObject['spec'] | undefined {
  const pod = pods.find((p) => revisionOf(p) === revision);
  if (!pod) return undefined;
  const labels = { ...(pod.metadata.labels ?? {}) };
  for (const k of [POD_NAME_LABEL, POD_INDEX_LABEL, REVISION_LABEL]) delete labels[k];
  const { nodeName: _n, hostname: _h, subdomain: _s, ...spec } = pod.spec ?? {};
  return { metadata: { labels, annotations: pod.metadata.annotations }, spec };
}

const isRunningAndReady = (pod: Pod): boolean => pod.status?.phase === 'Running' && isReady(pod);
const isHealthy = (pod: Pod, minReadySeconds: number, now: number): boolean =>
  pod.status?.phase === 'Running' && isAvailable(pod, minReadySeconds, now);

// --- the plan ------------------------------------------------------------------------------------

/**
 * Decides the next creations and deletions as the Kubernetes StatefulSet controller does:
 * OrderedReady acts on one pod at a time and only once every lower ordinal is Running and Ready;
 * Parallel creates and removes all at once; a RollingUpdate deletes the highest outdated pod at or
 * above the partition once every higher one is healthy (the create loop brings it back updated).
 */
export function planStatefulSet(sts: StatefulSet, pods: Pod[], now = Date.now()): StatefulSetPlan {
  const name = sts.metadata.name!;
  const replicas: number = sts.spec?.replicas ?? 1;
  const monotonic = sts.spec?.podManagementPolicy !== 'Parallel';
  const rolling = (sts.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
  const partition: number = rolling ? (sts.spec?.updateStrategy?.rollingUpdate?.partition ?? 0) : 0;
  const minReady: number = sts.spec?.minReadySeconds ?? 0;
  const updateRevision = updateRevisionOf(sts);
  const currentRevision: string = sts.status?.currentRevision || updateRevision;

  const byOrdinal = new Map<number, Pod>();
  const beyond: Array<[number, Pod]> = [];
  for (const pod of pods) {
    const ord = ordinalOf(name, pod.metadata.name!);
    if (ord === undefined) continue;
    if (ord < replicas) byOrdinal.set(ord, pod);
    else beyond.push([ord, pod]);
  }
  // Highest ordinal first: scale-down order.
  const condemned = beyond.sort((a, b) => b[0] - a[0]).map(([, p]) => p);

  const create: Pod[] = [];
  const del: Pod[] = [];
  const remove = (p: Pod) => {
    if (!del.some((d) => d.metadata.name === p.metadata.name)) del.push(p);
  };

  const act = (): void => {
    const currentTemplate = currentRevision !== updateRevision ? templateOfRevision(pods, currentRevision) : undefined;
    for (let ord = 0; ord < replicas; ord++) {
      const pod = byOrdinal.get(ord);
      if (!pod) {
        const atCurrent = rolling && ord < partition && currentTemplate !== undefined;
        create.push(newStatefulSetPod(sts, ord, atCurrent ? currentRevision : updateRevision, atCurrent ? currentTemplate : undefined));
        if (monotonic) return;
        continue;
      }
      if (isTerminal(pod) && !isTerminating(pod)) {
        // A finished pod is replaced: delete now, recreate on a later pass.
        remove(pod);
        if (monotonic) return;
        continue;
      }
      if (monotonic && !isHealthy(pod, minReady, now)) return;
    }
    // Of the unhealthy condemned pods only the lowest may go out of turn (as in Kubernetes).
    const firstUnhealthy = [...condemned].reverse().find((p) => !isRunningAndReady(p));
    for (const pod of condemned) {
      if (isTerminating(pod)) {
        if (monotonic) return;
        continue;
      }
      if (monotonic && !isRunningAndReady(pod) && pod !== firstUnhealthy) return;
      remove(pod);
      if (monotonic) return;
    }
    if (!rolling) return;
    for (let ord = replicas - 1; ord >= partition; ord--) {
      const pod = byOrdinal.get(ord);
      if (!pod || del.includes(pod)) return;
      if (revisionOf(pod) !== updateRevision && !isTerminating(pod)) return remove(pod);
      if (!isHealthy(pod, minReady, now)) return;
    }
  };
  if (!sts.metadata.deletionTimestamp) act();

  const { status, requeueAfterMs } = statefulSetStatus(sts, pods, currentRevision, updateRevision, now);
  return {
    create,
    delete: del,
    status,
    ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}),
  };
}

/** Status as Kubernetes counts it; the rollout is complete once every pod is updated and ready. */
export function statefulSetStatus(
  sts: StatefulSet,
  pods: Pod[],
  currentRevision: string,
  updateRevision: string,
  now = Date.now(),
): { status: StatefulSetStatus; requeueAfterMs?: number } {
  const minReady: number = sts.spec?.minReadySeconds ?? 0;
  let ready = 0;
  let available = 0;
  let current = 0;
  let updated = 0;
  let requeueAfterMs: number | undefined;
  for (const pod of pods) {
    if (isRunningAndReady(pod)) {
      ready++;
      if (isAvailable(pod, minReady, now)) available++;
      else {
        const since = Date.parse(pod.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.lastTransitionTime ?? '');
        const wait = (Number.isFinite(since) ? since : now) + minReady * 1000 - now + 10;
        requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, Math.max(wait, 10));
      }
    }
    if (isTerminating(pod)) continue;
    if (revisionOf(pod) === currentRevision) current++;
    if (revisionOf(pod) === updateRevision) updated++;
  }
  let currentRev = currentRevision;
  if (updated === pods.length && ready === pods.length && pods.length === (sts.spec?.replicas ?? 1)) {
    currentRev = updateRevision;
    current = updated;
  }
  const status: StatefulSetStatus = {
    observedGeneration: sts.metadata.generation ?? 0,
    replicas: pods.length,
    readyReplicas: ready,
    currentReplicas: current,
    updatedReplicas: updated,
    availableReplicas: available,
    currentRevision: currentRev,
    updateRevision,
  };
  return { status, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}

// --- the controller ------------------------------------------------------------------------------

export interface StatefulSetControllerOptions {
  /** Informers shared with the other components of the process. @default this controller's own */
  informers?: SharedInformers;
  /** Parallel reconciles of different sets. @default 4 */
  concurrency?: number;
  /** Informer full relist interval. @default 5 minutes */
  relistIntervalMs?: number;
  /** Where reconcile failures go. @default console.warn, conflicts excepted */
  log?: (message: string, err: unknown) => void;
}

const ignore = (test: (e: unknown) => boolean) => (e: unknown) => {
  if (!test(e)) throw e;
};

export class StatefulSetController {
  private readonly sets: Informer;
  private readonly pods: Informer;
  private readonly queue: WorkQueue;

  constructor(
    private readonly client: KubeClient,
    opts: StatefulSetControllerOptions = {},
  ) {
    const relistIntervalMs = opts.relistIntervalMs;
    const informers = opts.informers ?? new SharedInformers(client);
    this.sets = informers.get({ resource: resources.statefulsets, relistIntervalMs });
    this.pods = informers.get({ resource: resources.pods, relistIntervalMs });
    const log = opts.log ?? ((m, e) => console.warn(m, e instanceof Error ? e.message : e));
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      name: 'statefulset',
      concurrency: opts.concurrency,
      // Conflicts are a stale cache catching up: the retry is the fix, not news.
      onError: (key, err) => isStaleCache(err) || log(`statefulset ${key}: reconcile failed`, err),
    });
    const enqueue = (o: KubeObject) => this.queue.add(objectKey(o));
    this.sets.on({ add: enqueue, update: (_, o) => enqueue(o), delete: enqueue });
    const owner = (p: Pod) => {
      const ref = controllerOf(p);
      if (ref?.kind === 'StatefulSet' && ref.apiVersion.startsWith('apps/')) this.queue.add(`${p.metadata.namespace}/${ref.name}`);
    };
    this.pods.on({ add: owner, update: (_, p) => owner(p), delete: owner });
  }

  async start(): Promise<void> {
    // Pods first: a set reconciled before its pods are cached would count none.
    await this.pods.start();
    await this.sets.start();
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await this.queue.idle();
    await Promise.all([this.sets.stop(), this.pods.stop()]);
  }

  private async reconcile(key: string): Promise<ReconcileResult | void> {
    const [namespace, name] = key.split('/') as [string, string];
    const sts = this.sets.get(namespace, name);
    if (!sts) return;
    const pods = this.pods.list(namespace).filter((p) => controllerOf(p)?.uid === sts.metadata.uid);
    const plan = planStatefulSet(sts, pods);
    await Promise.all(plan.create.map((p) => this.client.create(resources.pods, namespace, p).catch(ignore(isAlreadyExists))));
    await Promise.all(
      plan.delete.map((p) =>
        this.client.delete(resources.pods, namespace, p.metadata.name!, { preconditions: { uid: p.metadata.uid } }).catch(ignore(isNotFound)),
      ),
    );
    if (!isDeepStrictEqual(sts.status ?? {}, { ...(sts.status ?? {}), ...plan.status })) {
      await this.client.patch(resources.statefulsets, namespace, name, 'merge', { metadata: { resourceVersion: sts.metadata.resourceVersion }, status: plan.status }, { sub: 'status' });
    }
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }
}
