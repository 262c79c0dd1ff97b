/**
 * Shapes and small pure helpers shared by the Deployment and ReplicaSet controllers: the apps/v1
 * fields they read, conditions, selectors, controller owner references and template comparison.
 */
import type { KubeObject } from '../../operators/runtime/client.js';
import { labelSelectorFromObject, matchesLabels, type LabelSelector, type LabelSelectorObject } from '../apiserver/selectors.js';

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  spec?: Record<string, unknown>;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
}

export interface ReplicaSetStatus {
  replicas?: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface ReplicaSet extends KubeObject {
  spec: { replicas?: number; minReadySeconds?: number; selector: LabelSelectorObject; template: PodTemplate };
  status?: ReplicaSetStatus;
}

export type IntOrString = number | string;

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  collisionCount?: number;
  conditions?: Condition[];
}

export interface Deployment extends KubeObject {
  spec: {
    replicas?: number;
    selector: LabelSelectorObject;
    template: PodTemplate;
    strategy?: { type?: 'RollingUpdate' | 'Recreate'; rollingUpdate?: { maxSurge?: IntOrString; maxUnavailable?: IntOrString } };
    minReadySeconds?: number;
    revisionHistoryLimit?: number;
    paused?: boolean;
    progressDeadlineSeconds?: number;
  };
  status?: DeploymentStatus;
}

export const nowRfc3339 = (ms = Date.now()): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

export const getCondition = (conditions: Condition[] | undefined, type: string): Condition | undefined =>
  (conditions ?? []).find((c) => c.type === type);

export const removeCondition = (conditions: Condition[] | undefined, type: string): Condition[] =>
  (conditions ?? []).filter((c) => c.type !== type);

/**
 * Kubernetes' SetDeploymentCondition/SetCondition: the same status and reason changes nothing;
 * a status flip takes the new transition time, the same status keeps the old one.
 */
export function setCondition(conditions: Condition[] | undefined, next: Condition): Condition[] {
  const current = getCondition(conditions, next.type);
  if (current && current.status === next.status && current.reason === next.reason) return conditions ?? [];
  const c = { ...next };
  if (current && current.status === next.status) c.lastTransitionTime = current.lastTransitionTime;
  return [...removeCondition(conditions, next.type), c];
}

const parsedSelectors = new WeakMap<object, LabelSelector>();

/** Whether a metav1.LabelSelector selects these labels; an unparsable selector selects nothing. */
export function selectorMatches(selector: LabelSelectorObject | undefined | null, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  let sel = parsedSelectors.get(selector);
  if (!sel) {
    try {
      sel = labelSelectorFromObject(selector);
    } catch {
      sel = { requirements: [], matchesNothing: true };
    }
    parsedSelectors.set(selector, sel);
  }
  return matchesLabels(sel, labels ?? {});
}

/** `{}` selects everything: Kubernetes controllers refuse to act on it. */
export const isEmptySelector = (s: LabelSelectorObject | undefined | null): boolean =>
  !s || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);

export function controllerRefTo(owner: KubeObject, kind: string, apiVersion = 'apps/v1') {
  return { apiVersion, kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

/**
 * A canonical form for comparing and hashing templates: keys sorted; null, empty objects and empty
 * arrays dropped, as Kubernetes' semantic equality treats a nil and an empty field alike (and
 * kubectl re-encodes templates with `creationTimestamp: null`).
 */
export function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const c = canonical((v as Record<string, unknown>)[k]);
      if (c === null || c === undefined) continue;
      if (Array.isArray(c) && c.length === 0) continue;
      if (typeof c === 'object' && !Array.isArray(c) && Object.keys(c).length === 0) continue;
      out[k] = c;
    }
    return out;
  }
  return v;
}

export const canonicalJson = (v: unknown): string => JSON.stringify(canonical(v) ?? null);

export const revisionOf = (o: KubeObject): number => {
  const n = Number.parseInt(o.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? '', 10);
  return Number.isFinite(n) ? n : 0;
};

/** Oldest first; Kubernetes breaks ties by name, we first by revision (timestamps have 1 s resolution). */
export function byCreation(a: KubeObject, b: KubeObject): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ra = revisionOf(a);
  const rb = revisionOf(b);
  if (ra !== rb) return ra - rb;
  return (a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : (a.metadata.name ?? '') > (b.metadata.name ?? '') ? 1 : 0;
}

/** Deep equality by canonical JSON (status written only when it changed). */
export const sameJson = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);

/** A merge patch turning `from` into `to` at the top level (removed keys become null). */
export function replaceFields(from: Record<string, unknown> | undefined, to: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...to };
  for (const k of Object.keys(from ?? {})) if (!(k in to)) patch[k] = null;
  return patch;
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/**
 * An index of cached objects by their controller's uid, and of the orphans (no controller) by
 * namespace: a sync reads its own children without scanning every object of the kind.
 */
export class OwnerIndex {
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly orphans = new Map<string, Set<string>>();
  private readonly placed = new Map<string, { owner?: string; namespace: string }>();

  set(o: KubeObject): void {
    const key = keyOf(o);
    const owner = (o.metadata.ownerReferences ?? []).find((r) => r.controller)?.uid;
    const before = this.placed.get(key);
    if (before && before.owner === owner) return;
    if (before) this.remove(key, before);
    const namespace = o.metadata.namespace ?? '';
    this.placed.set(key, { owner, namespace });
    const [map, bucket] = owner ? [this.byOwner, owner] : [this.orphans, namespace];
    let set = map.get(bucket);
    if (!set) map.set(bucket, (set = new Set()));
    set.add(key);
  }

  delete(o: KubeObject): void {
    const key = keyOf(o);
    const before = this.placed.get(key);
    if (before) this.remove(key, before);
  }

  private remove(key: string, at: { owner?: string; namespace: string }): void {
    this.placed.delete(key);
    const [map, bucket] = at.owner ? [this.byOwner, at.owner] : [this.orphans, at.namespace];
    const set = map.get(bucket);
    set?.delete(key);
    if (set?.size === 0) map.delete(bucket);
  }

  /** Keys (`ns/name`) of objects whose controller has this uid. */
  owned(uid: string): string[] {
    return [...(this.byOwner.get(uid) ?? [])];
  }

  /** Keys of objects in the namespace without a controller. */
  orphansIn(namespace: string): string[] {
    return [...(this.orphans.get(namespace) ?? [])];
  }
}

export const splitKey = (key: string): [string, string] => {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
};
