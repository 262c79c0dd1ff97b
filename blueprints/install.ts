/**
 * KokInstall: kok itself on a meta-cluster — namespace kok-system, the fleet.kok.dev CRDs, and per
 * operator a ServiceAccount with exactly the RBAC it uses, a Deployment of replicas that elect a
 * leader on a Lease, and a metrics Service for all of them. The Deployments run `kok operator run
 * <name>` with the in-cluster config.
 */
import { readFileSync } from 'node:fs';
import { ApiObject, Chart, Duration, Size, type ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { allCrds } from '../meta-cluster/api/crds.js';
import { operatorCatalog, operatorNames, type OperatorName } from '../operators/catalog.js';
import { OPERATOR_NAMESPACE } from '../operators/runtime/operator-process.js';
import type { Permission } from '../operators/runtime/permissions.js';
import { quote } from './errors.js';
import { PropChecks } from './validate.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** Where /metrics, /healthz and /readyz are served (HTTPS). */
export const METRICS_PORT = 8443;
/** A Secret (key `token`) holding the bearer token scrapers send; optional: without it each pod makes one up and logs where it is. */
export const METRICS_TOKEN_SECRET = 'kok-metrics-token';

export interface KokInstallProps extends Omit<ChartProps, 'namespace'> {
  /** The image with the kok command line (see the Dockerfile). @default - `ghcr.io/kok-dev/kok:<kok version>` */
  readonly image?: string;
  /** Replicas of each operator; one leads at a time. @default 2 */
  readonly replicas?: number;
  /** Which operators to run. @default - all of them (cluster, machine) */
  readonly operators?: readonly OperatorName[];
  /** Install the CRDs (false when they are managed elsewhere). @default true */
  readonly crds?: boolean;
  /** Reconciles at once per operator. @default - the operator's own default */
  readonly concurrency?: number;
}

export class KokInstall extends Chart {
  /** The objects everything else needs first: the namespace and the CRDs. */
  readonly foundation: readonly Construct[];
  readonly image: string;

  constructor(scope: Construct, id: string, props: KokInstallProps = {}) {
    // No chart namespace: cdk8s would stamp it on the cluster-scoped objects too.
    super(scope, id, props);
    const check = new PropChecks(`KokInstall ${quote(id)}`);
    const replicas = props.replicas ?? 2;
    check.integer('props.replicas', replicas, 1, 10);
    const operators = props.operators ?? operatorNames;
    check.nonEmptyUnique('props.operators', operators);
    operators.forEach((o, i) => check.oneOf(`props.operators[${i}]`, o, operatorNames));
    if (props.concurrency !== undefined) check.integer('props.concurrency', props.concurrency, 1, 256);
    this.image = props.image ?? `ghcr.io/kok-dev/kok:${version}`;
    if (!this.image.trim() || /\s/.test(this.image)) check.fail('props.image', `${quote(this.image)} is not an image reference`);

    const namespace = new kplus.Namespace(this, 'Namespace', { metadata: { name: OPERATOR_NAMESPACE } });
    const crds = (props.crds ?? true) ? allCrds().map((crd) => new ApiObject(this, `crd-${crd.metadata.name}`, crd as never)) : [];
    this.foundation = [namespace, ...crds];

    const selectorLabels = { 'app.kubernetes.io/part-of': 'kok', 'app.kubernetes.io/component': 'operator' };
    for (const name of operators) {
      this.operator(name, { replicas, concurrency: props.concurrency, labels: selectorLabels });
    }
    new kplus.Service(this, 'metrics', {
      metadata: { name: 'kok-operator-metrics', namespace: OPERATOR_NAMESPACE, labels: { 'app.kubernetes.io/part-of': 'kok' } },
      type: kplus.ServiceType.CLUSTER_IP,
      selector: kplus.Pods.select(this, 'operator-pods', { labels: selectorLabels }),
      ports: [{ name: 'https-metrics', port: METRICS_PORT, targetPort: METRICS_PORT }],
    });
    // Everything after the namespace and CRDs, so `kubectl apply -f` creates them first.
    for (const o of this.node.findAll()) if (o instanceof ApiObject && !this.foundation.some((f) => f.node.findAll().includes(o))) o.node.addDependency(...this.foundation);
  }

  private operator(name: OperatorName, o: { replicas: number; concurrency?: number; labels: Record<string, string> }): void {
    const fullName = `kok-${name}-operator`;
    const labels = { ...o.labels, 'app.kubernetes.io/name': fullName };
    const namespaced = { name: fullName, namespace: OPERATOR_NAMESPACE, labels };
    const sa = new kplus.ServiceAccount(this, `${name}-sa`, { metadata: namespaced, automountToken: true });
    const { permissions } = operatorCatalog[name];
    const clusterRole = new kplus.ClusterRole(this, `${name}-clusterrole`, { metadata: { name: fullName, labels } });
    allow(clusterRole, permissions.filter((p) => !p.ownNamespaceOnly));
    const clusterRoleBinding = new kplus.ClusterRoleBinding(this, `${name}-clusterrolebinding`, { metadata: { name: fullName, labels }, role: clusterRole });
    clusterRoleBinding.addSubjects(sa);
    const access: Construct[] = [sa, clusterRole, clusterRoleBinding];
    const own = permissions.filter((p) => p.ownNamespaceOnly);
    if (own.length > 0) {
      const role = new kplus.Role(this, `${name}-role`, { metadata: namespaced });
      allow(role, own);
      const roleBinding = new kplus.RoleBinding(this, `${name}-rolebinding`, { metadata: namespaced, role });
      roleBinding.addSubjects(sa);
      access.push(role, roleBinding);
    }

    const args = ['operator', 'run', name, '--metrics-host', '0.0.0.0', '--metrics-port', String(METRICS_PORT)];
    if (o.concurrency !== undefined) args.push('--concurrency', String(o.concurrency));
    const probe = (path: string, failureThreshold: number) =>
      kplus.Probe.fromHttpGet(path, { port: METRICS_PORT, scheme: kplus.ConnectionScheme.HTTPS, periodSeconds: Duration.seconds(10), failureThreshold });
    const deployment = new kplus.Deployment(this, name, {
      metadata: namespaced,
      replicas: o.replicas,
      serviceAccount: sa,
      automountServiceAccountToken: true,
      podMetadata: { labels },
      // Leader election hands over on the Lease; replacing pods one by one keeps a standby.
      strategy: kplus.DeploymentStrategy.rollingUpdate({ maxSurge: kplus.PercentOrAbsolute.absolute(1), maxUnavailable: kplus.PercentOrAbsolute.absolute(0) }),
      securityContext: { ensureNonRoot: true, user: 65532, group: 65532 },
      containers: [
        {
          name: 'operator',
          image: this.image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          args,
          ports: [{ name: 'https-metrics', number: METRICS_PORT }],
          envVariables: {
            KOK_METRICS_TOKEN: kplus.EnvValue.fromSecretValue({ secret: kplus.Secret.fromSecretName(this, `${name}-metrics-token`, METRICS_TOKEN_SECRET), key: 'token' }, { optional: true }),
          },
          liveness: probe('/healthz', 3),
          readiness: probe('/readyz', 1),
          resources: {
            cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(1000) },
            memory: { request: Size.mebibytes(256), limit: Size.mebibytes(768) },
          },
          securityContext: { ensureNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, user: 65532, group: 65532 },
          // The root filesystem is read-only: a scratch directory for the generated metrics token and the like.
          volumeMounts: [{ path: '/tmp', volume: kplus.Volume.fromEmptyDir(this, `${name}-tmp`, 'tmp') }],
        },
      ],
    });
    // Its identity and permissions first (and, on delete, last).
    deployment.node.addDependency(...access);
  }
}

/** One rule per permission, in declaration order (so the rendered RBAC reads like the declaration). */
function allow(role: kplus.ClusterRole | kplus.Role, permissions: readonly Permission[]): void {
  for (const p of permissions) role.allow([...p.verbs], kplus.ApiResource.custom({ apiGroup: p.apiGroup, resourceType: p.resource }));
}
