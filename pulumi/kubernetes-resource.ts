/**
 * One synthesised Kubernetes object as a @pulumi/kubernetes resource: CRDs and built-in kinds with
 * their typed classes (so Pulumi's await logic and diffs know them), kok's own kinds as
 * CustomResources.
 */
import * as k8s from '@pulumi/kubernetes';
import type * as pulumi from '@pulumi/pulumi';
import type { KubeObject } from './fleet-app.js';

type TypedClass = new (name: string, args: Record<string, unknown>, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource;

/** The built-in kinds kok's blueprints synthesise, by `apiVersion/kind`. */
export const typedClasses: Readonly<Record<string, TypedClass>> = {
  'v1/Namespace': k8s.core.v1.Namespace,
  'v1/ServiceAccount': k8s.core.v1.ServiceAccount,
  'v1/Service': k8s.core.v1.Service,
  'v1/Secret': k8s.core.v1.Secret,
  'v1/ConfigMap': k8s.core.v1.ConfigMap,
  'apps/v1/Deployment': k8s.apps.v1.Deployment,
  'rbac.authorization.k8s.io/v1/ClusterRole': k8s.rbac.v1.ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': k8s.rbac.v1.ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': k8s.rbac.v1.Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': k8s.rbac.v1.RoleBinding,
  'coordination.k8s.io/v1/Lease': k8s.coordination.v1.Lease,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': k8s.apiextensions.v1.CustomResourceDefinition,
} as unknown as Record<string, TypedClass>;

/** Groups whose objects are CustomResources (their CRDs are installed by the same program). */
export const customGroups: readonly string[] = ['fleet.kok.dev'];

/** The Pulumi resource name of an object: unique per kind in a stack, readable in `pulumi preview`. */
export const resourceName = (prefix: string, o: KubeObject): string =>
  `${prefix}:${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

export function kubernetesResource(name: string, o: KubeObject, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
  const group = o.apiVersion.includes('/') ? o.apiVersion.slice(0, o.apiVersion.indexOf('/')) : '';
  if (customGroups.includes(group)) {
    return new k8s.apiextensions.CustomResource(name, o as k8s.apiextensions.CustomResourceArgs, opts);
  }
  const Typed = typedClasses[`${o.apiVersion}/${o.kind}`];
  if (!Typed) {
    throw new Error(`FleetEnvironment: no @pulumi/kubernetes class is mapped for ${o.apiVersion} ${o.kind} (${o.metadata.name}); add it to typedClasses in pulumi/kubernetes-resource.ts`);
  }
  // The typed classes set apiVersion and kind themselves.
  const { apiVersion: _apiVersion, kind: _kind, ...args } = o;
  return new Typed(name, args, opts);
}
