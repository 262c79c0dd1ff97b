/** Legacy (unaggregated) discovery documents, which every kubectl and client-node understand. */
import type { Registry, ServedResource } from './registry.js';

export const kubeVersion = {
  major: '1',
  minor: '31',
  gitVersion: 'v1.31.0-kok',
  gitCommit: 'kok',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.22.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export function apiVersions(serverAddress: string) {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(name: string, versions: string[]) {
  const vs = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(registry: Registry) {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: registry
      .groupVersions()
      .filter((g) => g.group !== '')
      .map((g) => apiGroup(g.group, g.versions)),
  };
}

export function apiGroupDoc(registry: Registry, group: string) {
  const g = registry.groupVersions().find((x) => x.group === group);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g.group, g.versions) } : undefined;
}

function entry(r: ServedResource) {
  const e: Record<string, unknown> = {
    name: r.plural,
    singularName: r.singular,
    namespaced: r.namespaced,
    kind: r.kind,
    verbs: r.verbs,
  };
  if (r.shortNames.length) e.shortNames = r.shortNames;
  if (r.categories.length) e.categories = r.categories;
  return e;
}

export function apiResourceList(registry: Registry, group: string, version: string) {
  const resources = registry.resourcesOf(group, version);
  if (!resources.length) return undefined;
  const list: Record<string, unknown>[] = [];
  for (const r of resources) {
    list.push(entry(r));
    const sub = (name: string, kind: string, extra: Record<string, unknown> = {}) =>
      list.push({ name: `${r.plural}/${name}`, singularName: '', namespaced: r.namespaced, kind, verbs: ['get', 'patch', 'update'], ...extra });
    if (r.status) sub('status', r.kind);
    if (r.scale) sub('scale', 'Scale', { group: 'autoscaling', version: 'v1' });
    if (!r.custom && r.group === '' && r.plural === 'pods') {
      list.push({ name: 'pods/binding', singularName: '', namespaced: true, kind: 'Binding', verbs: ['create'] });
      list.push({ name: 'pods/eviction', singularName: '', namespaced: true, kind: 'Eviction', group: 'policy', version: 'v1', verbs: ['create'] });
    }
    if (!r.custom && r.group === '' && r.plural === 'namespaces') {
      list.push({ name: 'namespaces/finalize', singularName: '', namespaced: false, kind: 'Namespace', verbs: ['update'] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources: list };
}
