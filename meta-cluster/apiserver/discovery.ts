/** Legacy (unaggregated) discovery documents, which every kubectl and client-node understand. */
import { compareVersions, type Registry, type ServedResource } from './registry.js';

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

const selfSubjectReviews = { name: 'selfsubjectreviews', singularName: 'selfsubjectreview', namespaced: false, kind: 'SelfSubjectReview', verbs: ['create'] };

const review = (kind: string) => ({ name: `${kind.toLowerCase()}s`, singularName: kind.toLowerCase(), namespaced: false, kind, verbs: ['create'] });

/**
 * Resources served without storage (the server answers them from the request alone), listed
 * beside the registry's. SelfSubjectReview is what `kubectl auth whoami` creates (kubectl 1.27
 * only knows v1beta1); the access reviews are what `kubectl auth can-i` creates.
 */
export const unstoredResources: Array<{ group: string; version: string; resources: Record<string, unknown>[] }> = [
  { group: 'authentication.k8s.io', version: 'v1', resources: [selfSubjectReviews] },
  { group: 'authentication.k8s.io', version: 'v1beta1', resources: [selfSubjectReviews] },
  { group: 'authorization.k8s.io', version: 'v1', resources: [review('SelfSubjectAccessReview'), review('SelfSubjectRulesReview')] },
];

/** The registry's groups and versions with those of {@link unstoredResources}, in discovery order. */
function groupVersions(registry: Registry): Array<{ group: string; versions: string[] }> {
  const groups = registry.groupVersions().map((g) => ({ group: g.group, versions: [...g.versions] }));
  for (const u of unstoredResources) {
    const g = groups.find((x) => x.group === u.group);
    if (!g) groups.push({ group: u.group, versions: [u.version] });
    else if (!g.versions.includes(u.version)) g.versions.push(u.version);
  }
  for (const g of groups) g.versions.sort(compareVersions);
  return groups.sort((a, b) => (a.group === '' ? -1 : b.group === '' ? 1 : a.group.localeCompare(b.group)));
}

export function apiGroupList(registry: Registry) {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groupVersions(registry)
      .filter((g) => g.group !== '')
      .map((g) => apiGroup(g.group, g.versions)),
  };
}

export function apiGroupDoc(registry: Registry, group: string) {
  const g = groupVersions(registry).find((x) => x.group === group);
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

export interface ResourceListOptions {
  /** The server issues TokenRequests: list `serviceaccounts/token`. */
  serviceAccountTokens?: boolean;
}

export function apiResourceList(registry: Registry, group: string, version: string, opts: ResourceListOptions = {}) {
  const resources = registry.resourcesOf(group, version);
  const unstored = unstoredResources.filter((u) => u.group === group && u.version === version).flatMap((u) => u.resources);
  if (!resources.length && !unstored.length) return undefined;
  const list: Record<string, unknown>[] = [...unstored];
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
    if (!r.custom && r.group === '' && r.plural === 'serviceaccounts' && opts.serviceAccountTokens) {
      list.push({ name: 'serviceaccounts/token', singularName: '', namespaced: true, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] });
    }
    if (!r.custom && r.group === '' && r.plural === 'namespaces') {
      list.push({ name: 'namespaces/finalize', singularName: '', namespaced: false, kind: 'Namespace', verbs: ['update'] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources: list };
}
