/**
 * What the server serves: the built-in resources plus one entry per served version of every
 * established CustomResourceDefinition. Discovery documents are derived from it.
 */
import { builtinResources, type BuiltinResource } from './builtins.js';
import { compileSchema } from './schema.js';
import type { PrinterColumn } from './table.js';
import { apiVersionOf, storageResource, type KubeObject, type ResourceInfo } from './types.js';

export interface CustomResourceInfo extends ResourceInfo {
  custom: true;
  storageVersion: string;
  crdName: string;
  schema: ReturnType<typeof compileSchema>;
  openAPIV3Schema: Record<string, unknown>;
  printerColumns: PrinterColumn[];
}

export type ServedResource = BuiltinResource | CustomResourceInfo;

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: Record<string, unknown> };
  subresources?: {
    status?: object;
    scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string };
  };
  additionalPrinterColumns?: PrinterColumn[];
}

export interface CrdSpec {
  group: string;
  scope: 'Namespaced' | 'Cluster';
  names: { plural: string; singular?: string; kind: string; listKind?: string; shortNames?: string[]; categories?: string[] };
  versions: CrdVersion[];
}

const crVerbs = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];

/** Resources a CRD serves, one per served version. */
export function resourcesOfCrd(crd: KubeObject): CustomResourceInfo[] {
  const spec = crd.spec as CrdSpec;
  const storage = spec.versions.find((v) => v.storage)?.name ?? spec.versions[0].name;
  return spec.versions
    .filter((v) => v.served)
    .map((v) => {
      const openAPIV3Schema = v.schema?.openAPIV3Schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
      return {
        group: spec.group,
        version: v.name,
        plural: spec.names.plural,
        singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
        kind: spec.names.kind,
        listKind: spec.names.listKind ?? `${spec.names.kind}List`,
        namespaced: spec.scope === 'Namespaced',
        shortNames: spec.names.shortNames ?? [],
        categories: spec.names.categories ?? [],
        verbs: crVerbs,
        status: Boolean(v.subresources?.status),
        scale: v.subresources?.scale,
        custom: true,
        storageVersion: storage,
        crdName: crd.metadata.name!,
        schema: compileSchema(openAPIV3Schema, { kind: spec.names.kind, group: spec.group }),
        openAPIV3Schema,
        printerColumns: v.additionalPrinterColumns ?? [],
      };
    });
}

export class Registry {
  private readonly byPath = new Map<string, ServedResource>();
  private readonly crds = new Map<string, CustomResourceInfo[]>();
  /** Bumped whenever the served set changes, so derived documents (OpenAPI) know to rebuild. */
  generation = 0;

  constructor() {
    for (const r of builtinResources) this.byPath.set(pathKey(r.group, r.version, r.plural), r);
  }

  lookup(group: string, version: string, plural: string): ServedResource | undefined {
    return this.byPath.get(pathKey(group, version, plural));
  }

  /** Finds a served resource by group and kind (owner references and events name kinds). */
  byKind(apiVersion: string, kind: string): ServedResource | undefined {
    for (const r of this.byPath.values()) if (r.kind === kind && apiVersionOf(r) === apiVersion) return r;
    return undefined;
  }

  all(): ServedResource[] {
    return [...this.byPath.values()];
  }

  private storageCache?: { generation: number; resources: ServedResource[] };

  /** One resource per storage identity: what the namespace and CRD cleaners must visit. */
  storageResources(): ServedResource[] {
    if (this.storageCache?.generation === this.generation) return this.storageCache.resources;
    const seen = new Map<string, ServedResource>();
    for (const r of this.byPath.values()) {
      const key = storageResource(r);
      if (!seen.has(key) || (r.custom && r.version === r.storageVersion)) seen.set(key, r);
    }
    this.storageCache = { generation: this.generation, resources: [...seen.values()] };
    return this.storageCache.resources;
  }

  /** Registers (or re-registers) the resources of an established CRD. */
  setCrd(crd: KubeObject): void {
    this.removeCrd(crd.metadata.name!);
    const resources = resourcesOfCrd(crd);
    this.crds.set(crd.metadata.name!, resources);
    for (const r of resources) this.byPath.set(pathKey(r.group, r.version, r.plural), r);
    this.generation++;
  }

  removeCrd(name: string): void {
    for (const r of this.crds.get(name) ?? []) this.byPath.delete(pathKey(r.group, r.version, r.plural));
    if (this.crds.delete(name)) this.generation++;
  }

  /** Group/versions in discovery order: core first, then groups by name, versions newest first. */
  groupVersions(): Array<{ group: string; versions: string[] }> {
    const groups = new Map<string, Set<string>>();
    for (const r of this.byPath.values()) {
      if (!groups.has(r.group)) groups.set(r.group, new Set());
      groups.get(r.group)!.add(r.version);
    }
    return [...groups.entries()]
      .sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)))
      .map(([group, versions]) => ({ group, versions: [...versions].sort(compareVersions) }));
  }

  resourcesOf(group: string, version: string): ServedResource[] {
    return [...this.byPath.values()]
      .filter((r) => r.group === group && r.version === version)
      .sort((a, b) => a.plural.localeCompare(b.plural));
  }
}

const pathKey = (group: string, version: string, plural: string) => `${group}/${version}/${plural}`;

/** Kubernetes version priority: GA > beta > alpha, higher numbers first (v2 > v1 > v1beta2 > v1alpha1). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [0, 0, 0];
    const stage = m[2] === 'alpha' ? 1 : m[2] === 'beta' ? 2 : 3;
    return [stage, Number(m[1]), Number(m[3] ?? 0)];
  };
  const [sa, ma, na] = parse(a);
  const [sb, mb, nb] = parse(b);
  return sb - sa || mb - ma || nb - na || a.localeCompare(b);
}
