/** Subresources with their own kinds: `scale` (autoscaling/v1 Scale), pod `binding` and `eviction`. */
import { nowRfc3339, type Api, type PatchKind, type WriteOptions } from './api.js';
import { ApiError, badRequest, conflict, invalid, successStatus } from './errors.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.js';
import type { ServedResource } from './registry.js';
import { formatLabelSelector, labelSelectorFromObject, matchesLabels } from './selectors.js';
import type { KubeObject } from './types.js';

type Obj = Record<string, any>;

/** Reads `.spec.replicas`-style paths of a scale subresource. */
function at(o: unknown, path: string): unknown {
  return path
    .replace(/^\./, '')
    .split('.')
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), o);
}

function setAt(o: Obj, path: string, value: unknown): void {
  const keys = path.replace(/^\./, '').split('.');
  let cur = o;
  for (const k of keys.slice(0, -1)) cur = cur[k] ??= {};
  cur[keys[keys.length - 1]] = value;
}

function scaleOf(r: ServedResource, o: KubeObject): Obj {
  const s = r.scale!;
  let selector = s.labelSelectorPath ? at(o, s.labelSelectorPath) : undefined;
  if (!r.custom) {
    // Built-in workloads keep the selector as an object in spec; Scale carries its string form.
    const sel = (o as Obj).spec?.selector;
    selector = sel ? formatLabelSelector(labelSelectorFromObject(sel)) : undefined;
  }
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: o.metadata.name,
      namespace: o.metadata.namespace,
      uid: o.metadata.uid,
      resourceVersion: o.metadata.resourceVersion,
      creationTimestamp: o.metadata.creationTimestamp,
    },
    spec: { replicas: Number(at(o, s.specReplicasPath) ?? 0) },
    status: { replicas: Number(at(o, s.statusReplicasPath) ?? 0), ...(selector ? { selector } : {}) },
  };
}

export function getScale(api: Api, r: ServedResource, ns: string, name: string): Obj {
  return scaleOf(r, api.get(r, ns, name));
}

export function updateScale(
  api: Api,
  r: ServedResource,
  ns: string,
  name: string,
  type: 'put' | PatchKind,
  body: unknown,
  opts: WriteOptions,
): Obj {
  const current = scaleOf(r, api.get(r, ns, name));
  let next: Obj;
  switch (type) {
    case 'put':
      next = body as Obj;
      break;
    case 'json':
      next = applyJsonPatch(current, body) as Obj;
      break;
    case 'merge':
    case 'apply':
      next = applyMergePatch(current, body) as Obj;
      break;
    case 'strategic':
      next = applyStrategicMergePatch(current, body, 'Scale') as Obj;
      break;
    default:
      throw badRequest(`unsupported patch type for scale: ${String(type)}`);
  }
  const replicas = next?.spec?.replicas;
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new ApiError('Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`, {
      name,
      group: 'autoscaling',
      kind: 'Scale',
      causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`, field: 'spec.replicas' }],
    });
  }
  const scaled = (o: Obj) => {
    setAt(o, r.scale!.specReplicasPath, replicas);
    // A custom resource's schema (minimum, maximum, ...) bounds the replicas as on any other write.
    if (r.custom) {
      const causes = r.schema.validate(o as KubeObject);
      if (causes.length) throw invalid(r.kind, r.group, name, causes);
    }
  };
  if (opts.dryRun) {
    scaled(structuredClone(api.get(r, ns, name)) as Obj);
    return { ...current, spec: { replicas } };
  }
  const updated = api.mutate(r, ns, name, (o) => scaled(o as Obj), next.metadata?.resourceVersion);
  return scaleOf(r, updated);
}

function podsResource(api: Api): ServedResource {
  return api.registry.lookup('', 'v1', 'pods')!;
}

/** The scheduler's write: sets spec.nodeName once and marks the pod scheduled. */
export function bindPod(api: Api, ns: string, name: string, body: unknown): Obj {
  const target = (body as Obj)?.target;
  if (!target?.name) throw badRequest('binding target is required: target.name must be set');
  const r = podsResource(api);
  api.mutate(r, ns, name, (o) => {
    const pod = o as Obj;
    if (pod.spec?.nodeName) {
      throw conflict('', 'pods', name, `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
    }
    if (o.metadata.deletionTimestamp) throw conflict('', 'pods', name, 'pod is being deleted, cannot be assigned to a host');
    pod.spec.nodeName = target.name;
    pod.status ??= {};
    const conditions: Obj[] = (pod.status.conditions ?? []).filter((c: Obj) => c.type !== 'PodScheduled');
    conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: nowRfc3339() });
    pod.status.conditions = conditions;
  });
  return successStatus();
}

/**
 * policy/v1 Eviction: refuses (429) when a PodDisruptionBudget covering the pod allows no more
 * disruptions, as its controller last computed them; otherwise counts the disruption and deletes.
 */
export function evictPod(api: Api, ns: string, name: string, body: unknown): Obj {
  const r = podsResource(api);
  const pod = api.get(r, ns, name) as Obj;
  const pdbs = api.registry.lookup('policy', 'v1', 'poddisruptionbudgets')!;
  const { items } = api.store.list('policy/poddisruptionbudgets', ns);
  const covering = items.filter((p) => {
    const sel = (p as Obj).spec?.selector;
    return sel && matchesLabels(labelSelectorFromObject(sel), pod.metadata.labels ?? {});
  });
  const terminal = ['Succeeded', 'Failed'].includes(pod.status?.phase);
  // An unready pod is not counted healthy, so evicting it under a healthy budget (the default
  // IfHealthyBudget policy) or an AlwaysAllow one costs nothing: no check, no decrement.
  const ready = (pod.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
  const charged = covering.filter((p) => {
    const { spec, status } = p as Obj;
    if (ready) return true;
    if (spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow') return false;
    return !(status && status.desiredHealthy > 0 && status.currentHealthy >= status.desiredHealthy);
  });
  if (!terminal && !pod.metadata.deletionTimestamp) {
    for (const p of charged) {
      const status = (p as Obj).status;
      if (!status || (status.observedGeneration ?? 0) < (p.metadata.generation ?? 1) || (status.disruptionsAllowed ?? 0) < 1) {
        throw new ApiError('TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
          causes: [{ reason: 'DisruptionBudget', message: `The disruption budget ${p.metadata.name} needs ${status?.desiredHealthy ?? '?'} healthy pods and has ${status?.currentHealthy ?? '?'} currently` }],
        });
      }
    }
    for (const p of charged) {
      api.mutate(pdbs, ns, p.metadata.name!, (o) => {
        const s = (o as Obj).status;
        s.disruptionsAllowed = Math.max(0, s.disruptionsAllowed - 1);
        s.disruptedPods = { ...(s.disruptedPods ?? {}), [name]: nowRfc3339() };
      });
    }
  }
  const opts = (body as Obj)?.deleteOptions ?? {};
  api.delete(r, ns, name, { gracePeriodSeconds: opts.gracePeriodSeconds, preconditions: opts.preconditions });
  return successStatus();
}
