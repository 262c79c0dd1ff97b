/**
 * What the cluster operator keeps of each child in its caches: only the fields the reconciler
 * reads (controller-runtime's metadata-only watches, taken a little further). At a thousand
 * clusters the full objects — Secrets' key material, pod specs, managedFields — were most of the
 * operator's memory. Secret data is read with a GET when a Secret must be checked or signed with.
 */
import { SIMULATED_CONDITION } from '../../meta-cluster/node-agent/pod-status.js';
import type { KubeObject } from '../runtime/client.js';
import type { ChildKind } from './reconcile.js';
import { DESIRED_HASH_ANNOTATION } from './names.js';


function meta(o: KubeObject): KubeObject['metadata'] {
  const m = o.metadata;
  const hash = m.annotations?.[DESIRED_HASH_ANNOTATION];
  return {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    generation: m.generation,
    labels: m.labels,
    ...(hash ? { annotations: { [DESIRED_HASH_ANNOTATION]: hash } } : {}),
    ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
  };
}

const head = (o: KubeObject) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: meta(o) });

/** Replicas, the first container's image (the component's version) and status. */
function workload(o: KubeObject): KubeObject {
  const image = o.spec?.template?.spec?.containers?.[0]?.image;
  return { ...head(o), spec: { replicas: o.spec?.replicas, template: { spec: { containers: [{ image }] } } }, status: o.status };
}

export const slimmers: Record<ChildKind, (o: KubeObject) => KubeObject> = {
  Namespace: head,
  Secret: (o) => ({ ...head(o), type: o.type }),
  Service: (o) => ({ ...head(o), spec: { ports: o.spec?.ports }, status: o.status }),
  Pod: (o) => ({
    ...head(o),
    status: { conditions: (o.status?.conditions ?? []).filter((c: { type: string }) => c.type === SIMULATED_CONDITION || c.type === 'Ready') },
  }),
  Deployment: workload,
  StatefulSet: workload,
  PodDisruptionBudget: head,
  NetworkPolicy: head,
};
