/** Shapes the API server works with. Objects stay plain JSON: the server is schema-driven, not typed per kind. */

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: unknown[];
  [k: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

/** Where `kubectl scale` reads and writes replicas for a kind with a scale subresource. */
export interface ScaleSpec {
  specReplicasPath: string; // e.g. ".spec.replicas"
  statusReplicasPath: string; // e.g. ".status.replicas"
  labelSelectorPath?: string; // e.g. ".status.selector"
}

/** One servable resource (a group/version/plural), built-in or from a CRD. */
export interface ResourceInfo {
  group: string; // "" for core
  version: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Has a /status subresource: the main endpoint ignores `status`, /status only takes `status`. */
  status: boolean;
  scale?: ScaleSpec;
  /** Custom resources are stored per CRD; built-ins are typed (strategic merge applies). */
  custom: boolean;
  /** For a custom resource served at several versions: the version objects are stored at. */
  storageVersion?: string;
}

export const apiVersionOf = (r: { group: string; version: string }): string =>
  r.group ? `${r.group}/${r.version}` : r.version;

/** Storage identity of a resource: versions of one group/plural share a store. */
export const storageResource = (r: { group: string; plural: string }): string =>
  r.group ? `${r.group}/${r.plural}` : `core/${r.plural}`;
