/**
 * Which ReplicaSet belongs to which template and revision, as the Kubernetes Deployment controller
 * decides it: a deterministic pod-template-hash names the ReplicaSet, a template matches a
 * ReplicaSet when they are equal but for that label, and revisions live in annotations.
 */
import { byCreation, canonical, canonicalJson, controllerRefTo, revisionOf, type Deployment, type PodTemplate, type ReplicaSet } from './workload.js';

export const podTemplateHashLabel = 'pod-template-hash';
export const revisionAnnotation = 'deployment.kubernetes.io/revision';
export const revisionHistoryAnnotation = 'deployment.kubernetes.io/revision-history';
export const desiredReplicasAnnotation = 'deployment.kubernetes.io/desired-replicas';
export const maxReplicasAnnotation = 'deployment.kubernetes.io/max-replicas';
/** Longest revision-history annotation kept, as in Kubernetes. */
export const maxRevisionHistoryChars = 2000;

/** Deployment annotations never copied to its ReplicaSets (and not restored by `rollout undo`). */
export const annotationsToSkip = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  revisionAnnotation,
  revisionHistoryAnnotation,
  desiredReplicasAnnotation,
  maxReplicasAnnotation,
  'deprecated.deployment.rollback.to',
]);

/** Kubernetes' rand.SafeEncodeString alphabet: no vowels, no confusable digits. */
const safeAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * The pod-template-hash: FNV-1a (32 bit) of the template's canonical JSON, optionally salted with
 * a collision count, encoded like Kubernetes' (decimal digits mapped onto the safe alphabet).
 * Deterministic across processes and restarts; no timestamps take part.
 */
export function podTemplateHash(template: PodTemplate, collisionCount?: number): string {
  let h = 0x811c9dc5;
  const feed = (s: string) => {
    for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  };
  feed(canonicalJson(template));
  if (collisionCount) feed(String(collisionCount));
  return [...String(h >>> 0)].map((d) => safeAlphabet[d.charCodeAt(0) % safeAlphabet.length]).join('');
}

function withoutHash(t: PodTemplate | undefined): unknown {
  const c = canonical(t ?? {}) as { metadata?: { labels?: Record<string, string> } };
  if (c.metadata?.labels) {
    const { [podTemplateHashLabel]: _h, ...labels } = c.metadata.labels;
    c.metadata = { ...c.metadata, labels };
  }
  return c;
}

/** Equal templates but for the pod-template-hash label (Kubernetes' EqualIgnoreHash). */
export const equalIgnoreHash = (a: PodTemplate | undefined, b: PodTemplate | undefined): boolean =>
  canonicalJson(withoutHash(a)) === canonicalJson(withoutHash(b));

/** The oldest ReplicaSet whose template is the Deployment's (there should be only one). */
export function findNewReplicaSet(d: Deployment, rsList: ReplicaSet[]): ReplicaSet | undefined {
  return [...rsList].sort(byCreation).find((rs) => equalIgnoreHash(rs.spec.template, d.spec.template));
}

export const maxRevision = (rsList: ReplicaSet[]): number => rsList.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);

/**
 * Kubernetes' SetNewReplicaSetAnnotations: copy the Deployment's own annotations, raise the
 * revision (remembering the previous one in revision-history when an old ReplicaSet is reused),
 * and on creation record desired/max replicas. Returns the new annotations and whether they changed.
 */
export function newReplicaSetAnnotations(
  d: Deployment,
  rs: ReplicaSet,
  newRevision: number,
  exists: boolean,
  maxSurge: number,
): { annotations: Record<string, string>; changed: boolean } {
  const annotations = { ...(rs.metadata.annotations ?? {}) };
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (annotationsToSkip.has(k) || annotations[k] === v) continue;
    annotations[k] = v;
    changed = true;
  }
  const oldRevision = annotations[revisionAnnotation];
  const oldRevisionInt = oldRevision ? Number.parseInt(oldRevision, 10) : 0;
  if (Number.isFinite(oldRevisionInt) && oldRevisionInt < newRevision) {
    annotations[revisionAnnotation] = String(newRevision);
    changed = true;
    if (oldRevision) annotations[revisionHistoryAnnotation] = appendHistory(annotations[revisionHistoryAnnotation], oldRevision);
  }
  if (!exists) {
    const replicas = d.spec.replicas ?? 1;
    annotations[desiredReplicasAnnotation] = String(replicas);
    annotations[maxReplicasAnnotation] = String(replicas + maxSurge);
    changed = true;
  }
  return { annotations, changed };
}

function appendHistory(history: string | undefined, revision: string): string {
  const old = history ? history.split(',') : [];
  while (old.length && [...old, revision].join(',').length > maxRevisionHistoryChars) old.shift();
  return [...old, revision].join(',');
}

/** The ReplicaSet for the Deployment's current template, named `<deployment>-<hash>`. */
export function newReplicaSetFor(d: Deployment, hash: string, replicas: number): ReplicaSet {
  const tmpl = d.spec.template;
  const labels = { ...(tmpl.metadata?.labels ?? {}), [podTemplateHashLabel]: hash };
  const selector = { ...d.spec.selector, matchLabels: { ...(d.spec.selector.matchLabels ?? {}), [podTemplateHashLabel]: hash } };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${d.metadata.name}-${hash}`,
      namespace: d.metadata.namespace,
      labels,
      annotations: {},
      ownerReferences: [controllerRefTo(d, 'Deployment')],
    },
    spec: {
      replicas,
      minReadySeconds: d.spec.minReadySeconds ?? 0,
      selector,
      template: { ...structuredClone(tmpl), metadata: { ...structuredClone(tmpl.metadata ?? {}), labels } },
    },
  };
}
