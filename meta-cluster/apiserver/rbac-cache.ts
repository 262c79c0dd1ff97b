/**
 * The RBAC objects of a store, kept in memory the way kube-apiserver's RBAC authorizer reads them
 * through informers: listed once, then followed through the store's committed events, so
 * authorizing a request reads no row. A store publishes a commit's events before it answers the
 * writes of that commit, so a binding is in force by the time its creator hears it was created.
 *
 * Bindings are indexed by the identity they name (a user — ServiceAccounts included — or a group),
 * rebuilt on the first lookup after a binding changed: bindings change rarely, requests constantly.
 */
import type { Store, StoreEvent } from './store.js';
import type { KubeObject } from './types.js';
import { subjectKey, type Binding, type BoundSubject, type PolicyRule, type RbacPolicy, type Subject } from './rbac.js';

const ROLES = 'rbac.authorization.k8s.io/roles';
const ROLE_BINDINGS = 'rbac.authorization.k8s.io/rolebindings';
const CLUSTER_ROLES = 'rbac.authorization.k8s.io/clusterroles';
const CLUSTER_ROLE_BINDINGS = 'rbac.authorization.k8s.io/clusterrolebindings';

interface Index {
  cluster: Map<string, BoundSubject[]>;
  /** namespace → identity key → subjects. */
  namespaced: Map<string, Map<string, BoundSubject[]>>;
}

const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);

/** The rules of a stored Role or ClusterRole; fields that are not lists of strings count as empty. */
export function rulesOf(o: KubeObject): PolicyRule[] {
  const rules = Array.isArray(o.rules) ? (o.rules as unknown[]) : [];
  return rules
    .filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null)
    .map((r) => ({
      verbs: strings(r.verbs) ?? [],
      apiGroups: strings(r.apiGroups),
      resources: strings(r.resources),
      resourceNames: strings(r.resourceNames),
      nonResourceURLs: strings(r.nonResourceURLs),
    }));
}

/** A stored RoleBinding or ClusterRoleBinding. */
export function bindingOf(o: KubeObject): Binding {
  const ref = (o.roleRef ?? {}) as Record<string, unknown>;
  const subjects = (Array.isArray(o.subjects) ? (o.subjects as unknown[]) : []).filter(
    (s): s is Subject => typeof s === 'object' && s !== null && typeof (s as Subject).kind === 'string' && typeof (s as Subject).name === 'string',
  );
  return {
    name: o.metadata.name ?? '',
    namespace: o.metadata.namespace ?? '',
    roleRef: { kind: String(ref.kind ?? ''), name: String(ref.name ?? '') },
    subjects,
  };
}

export class RbacCache implements RbacPolicy {
  /** `namespace/name` → rules. */
  private readonly roles = new Map<string, PolicyRule[]>();
  private readonly clusterRoles = new Map<string, PolicyRule[]>();
  /** `namespace/name` ('' namespace for ClusterRoleBindings) → binding. */
  private readonly bindings = new Map<string, Binding>();
  private index: Index | undefined;
  private readonly unsubscribe: () => void;

  constructor(store: Store) {
    for (const o of store.list(ROLES, undefined).items) this.roles.set(`${o.metadata.namespace}/${o.metadata.name}`, rulesOf(o));
    for (const o of store.list(CLUSTER_ROLES, undefined).items) this.clusterRoles.set(o.metadata.name!, rulesOf(o));
    for (const resource of [ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS]) {
      for (const o of store.list(resource, undefined).items) this.bindings.set(`${o.metadata.namespace ?? ''}/${o.metadata.name}`, bindingOf(o));
    }
    // Listing and subscribing happen in one synchronous step: no commit falls between them.
    this.unsubscribe = store.subscribe((e) => this.apply(e));
  }

  close(): void {
    this.unsubscribe();
  }

  private apply(e: StoreEvent): void {
    const key = `${e.namespace}/${e.name}`;
    const gone = e.type === 'DELETED';
    switch (e.resource) {
      case ROLES:
        if (gone) this.roles.delete(key);
        else this.roles.set(key, rulesOf(e.object));
        return;
      case CLUSTER_ROLES:
        if (gone) this.clusterRoles.delete(e.name);
        else this.clusterRoles.set(e.name, rulesOf(e.object));
        return;
      case ROLE_BINDINGS:
      case CLUSTER_ROLE_BINDINGS:
        if (gone) this.bindings.delete(key);
        else this.bindings.set(key, bindingOf(e.object));
        this.index = undefined;
        return;
    }
  }

  clusterBindingsOf(key: string): readonly BoundSubject[] | undefined {
    return (this.index ??= this.buildIndex()).cluster.get(key);
  }

  roleBindingsOf(namespace: string, key: string): readonly BoundSubject[] | undefined {
    return (this.index ??= this.buildIndex()).namespaced.get(namespace)?.get(key);
  }

  clusterRoleRules(name: string): readonly PolicyRule[] | undefined {
    return this.clusterRoles.get(name);
  }

  roleRules(namespace: string, name: string): readonly PolicyRule[] | undefined {
    return this.roles.get(`${namespace}/${name}`);
  }

  private buildIndex(): Index {
    const index: Index = { cluster: new Map(), namespaced: new Map() };
    // In name order, so which binding a decision names does not depend on the order of writes.
    const sorted = [...this.bindings.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [, binding] of sorted) {
      let byKey = index.cluster;
      if (binding.namespace) {
        byKey = index.namespaced.get(binding.namespace) ?? new Map();
        index.namespaced.set(binding.namespace, byKey);
      }
      for (const subject of binding.subjects) {
        const key = subjectKey(subject, binding.namespace);
        if (key === undefined) continue;
        const list = byKey.get(key);
        if (list) list.push({ binding, subject });
        else byKey.set(key, [{ binding, subject }]);
      }
    }
    return index;
  }
}
