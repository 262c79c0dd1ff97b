/**
 * Per-kind behaviour of built-in resources, after the apiserver's registry strategies: defaults
 * applied on every write, validation with field causes, and what create resets.
 */
import { cause, type StatusCause } from './errors.js';
import { labelSelectorFromObject, matchesLabels } from './selectors.js';
import type { KubeObject } from './types.js';

type Obj = Record<string, any>;

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelKey = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Kinds whose names must be DNS-1123 labels rather than subdomains. */
const labelNamed = new Set(['namespaces', 'services']);
/** RBAC names are path segments: anything but "/" and "%" and "." / "..". */
const pathNamed = new Set(['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings']);

export function validateMetadata(plural: string, obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const m = obj.metadata;
  const name = m.name;
  if (!name) {
    causes.push(cause.required('metadata.name'));
  } else if (pathNamed.has(plural)) {
    if (name === '.' || name === '..' || /[/%]/.test(name)) {
      causes.push(cause.invalid('metadata.name', name, 'may not contain "/" or "%" and may not be "." or ".."'));
    }
  } else if (labelNamed.has(plural)) {
    if (name.length > 63 || !dns1123Label.test(name)) {
      causes.push(
        cause.invalid(
          'metadata.name',
          name,
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        ),
      );
    }
  } else if (name.length > 253 || !dns1123Subdomain.test(name)) {
    causes.push(
      cause.invalid(
        'metadata.name',
        name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ),
    );
  }
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    if (!labelKey.test(k) || k.length > 317) causes.push(cause.invalid('metadata.labels', k, 'name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\''));
    if (typeof v !== 'string' || v.length > 63 || !labelValue.test(v)) {
      causes.push(cause.invalid(`metadata.labels`, v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
    }
  }
  for (const [k, v] of Object.entries(m.annotations ?? {})) {
    if (typeof v !== 'string') causes.push(cause.typeInvalid(`metadata.annotations.${k}`, v, 'must be a string'));
  }
  for (const [i, f] of (m.finalizers ?? []).entries()) {
    if (typeof f !== 'string' || !f) causes.push(cause.invalid(`metadata.finalizers[${i}]`, f, 'must be a non-empty string'));
  }
  for (const [i, ref] of (m.ownerReferences ?? []).entries()) {
    for (const f of ['apiVersion', 'kind', 'name', 'uid'] as const) {
      if (!ref?.[f]) causes.push(cause.required(`metadata.ownerReferences[${i}].${f}`));
    }
  }
  if ((m.ownerReferences ?? []).filter((r) => r.controller).length > 1) {
    causes.push(cause.invalid('metadata.ownerReferences', m.ownerReferences, 'Only one reference can have Controller set to true'));
  }
  return causes;
}

function defaultPodSpec(spec: Obj | undefined): void {
  if (!spec) return;
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    if (!c || typeof c !== 'object') continue;
    const image = String(c.image ?? '');
    const tag = image.includes('@') ? 'digest' : /:([^/]+)$/.exec(image)?.[1];
    c.imagePullPolicy ??= !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    c.resources ??= {};
    for (const p of c.ports ?? []) if (p && typeof p === 'object') p.protocol ??= 'TCP';
  }
}

function defaultTemplate(spec: Obj | undefined): void {
  if (spec?.template) {
    spec.template.metadata ??= {};
    defaultPodSpec(spec.template.spec);
  }
}

/** Defaults the apiserver applies to built-in kinds (what `kubectl get -o yaml` shows after create). */
export function applyBuiltinDefaults(plural: string, obj: KubeObject): void {
  const o = obj as Obj;
  switch (plural) {
    case 'pods':
      defaultPodSpec(o.spec);
      break;
    case 'deployments':
      o.spec ??= {};
      o.spec.replicas ??= 1;
      o.spec.revisionHistoryLimit ??= 10;
      o.spec.progressDeadlineSeconds ??= 600;
      o.spec.strategy ??= { type: 'RollingUpdate' };
      if ((o.spec.strategy.type ??= 'RollingUpdate') === 'RollingUpdate') {
        o.spec.strategy.rollingUpdate ??= {};
        o.spec.strategy.rollingUpdate.maxSurge ??= '25%';
        o.spec.strategy.rollingUpdate.maxUnavailable ??= '25%';
      }
      defaultTemplate(o.spec);
      break;
    case 'replicasets':
      o.spec ??= {};
      o.spec.replicas ??= 1;
      defaultTemplate(o.spec);
      break;
    case 'statefulsets':
      o.spec ??= {};
      o.spec.replicas ??= 1;
      o.spec.podManagementPolicy ??= 'OrderedReady';
      o.spec.revisionHistoryLimit ??= 10;
      o.spec.updateStrategy ??= { type: 'RollingUpdate' };
      if (o.spec.updateStrategy.type === 'RollingUpdate') {
        o.spec.updateStrategy.rollingUpdate ??= {};
        o.spec.updateStrategy.rollingUpdate.partition ??= 0;
      }
      o.spec.persistentVolumeClaimRetentionPolicy ??= { whenDeleted: 'Retain', whenScaled: 'Retain' };
      defaultTemplate(o.spec);
      break;
    case 'daemonsets':
      o.spec ??= {};
      o.spec.revisionHistoryLimit ??= 10;
      o.spec.updateStrategy ??= { type: 'RollingUpdate' };
      if (o.spec.updateStrategy.type === 'RollingUpdate') {
        o.spec.updateStrategy.rollingUpdate ??= {};
        o.spec.updateStrategy.rollingUpdate.maxUnavailable ??= 1;
        o.spec.updateStrategy.rollingUpdate.maxSurge ??= 0;
      }
      defaultTemplate(o.spec);
      break;
    case 'services':
      o.spec ??= {};
      o.spec.type ??= 'ClusterIP';
      o.spec.sessionAffinity ??= 'None';
      o.spec.internalTrafficPolicy ??= 'Cluster';
      o.spec.ipFamilies ??= ['IPv4'];
      o.spec.ipFamilyPolicy ??= 'SingleStack';
      for (const p of o.spec.ports ?? []) {
        if (!p || typeof p !== 'object') continue;
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port;
      }
      break;
    case 'secrets':
      o.type ??= 'Opaque';
      if (o.stringData && typeof o.stringData === 'object') {
        o.data = { ...(o.data ?? {}) };
        for (const [k, v] of Object.entries(o.stringData)) o.data[k] = Buffer.from(String(v)).toString('base64');
        delete o.stringData;
      }
      break;
    case 'namespaces':
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name ?? '' };
      o.spec ??= {};
      o.spec.finalizers ??= ['kubernetes'];
      break;
    case 'nodes':
      o.spec ??= {};
      break;
  }
}

function validateContainers(containers: unknown, field: string, causes: StatusCause[]): void {
  if (!Array.isArray(containers) || containers.length === 0) {
    causes.push(cause.required(field));
    return;
  }
  const names = new Set<string>();
  containers.forEach((c: Obj, i) => {
    const f = `${field}[${i}]`;
    if (!c?.name) causes.push(cause.required(`${f}.name`));
    else if (!dns1123Label.test(c.name)) causes.push(cause.invalid(`${f}.name`, c.name, 'a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\''));
    else if (names.has(c.name)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(c.name)}`, field: `${f}.name` });
    names.add(c?.name);
    if (!c?.image) causes.push(cause.required(`${f}.image`));
  });
}

function validateTemplated(o: Obj, causes: StatusCause[]): void {
  const spec = o.spec ?? {};
  if (typeof spec.replicas === 'number' && spec.replicas < 0) {
    causes.push(cause.invalid('spec.replicas', spec.replicas, 'must be greater than or equal to 0'));
  }
  if (!spec.selector) {
    causes.push(cause.required('spec.selector'));
  } else {
    const labels = spec.template?.metadata?.labels ?? {};
    const selector = labelSelectorFromObject(spec.selector);
    if (Object.keys(spec.selector.matchLabels ?? {}).length + (spec.selector.matchExpressions ?? []).length === 0) {
      causes.push(cause.invalid('spec.selector', spec.selector, 'empty selector is invalid for deployment'));
    } else if (!matchesLabels(selector, labels)) {
      causes.push(cause.invalid('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'));
    }
  }
  validateContainers(spec.template?.spec?.containers, 'spec.template.spec.containers', causes);
}

/** apps validation's ValidateRollingUpdateDeployment: non-negative ints or percentages, not both zero. */
function validateRollingUpdate(ru: Obj, causes: StatusCause[]): void {
  const field = 'spec.strategy.rollingUpdate';
  const valueOf = (name: 'maxSurge' | 'maxUnavailable'): number | undefined => {
    const v = ru[name];
    if (v === undefined || v === null) return 0;
    if (typeof v === 'number') {
      if (v < 0) causes.push(cause.invalid(`${field}.${name}`, v, 'must be greater than or equal to 0'));
      return v;
    }
    if (typeof v === 'string' && /^[0-9]+%$/.test(v)) return Number.parseInt(v, 10);
    causes.push(
      cause.invalid(`${field}.${name}`, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"),
    );
    return undefined;
  };
  const unavailable = valueOf('maxUnavailable');
  const surge = valueOf('maxSurge');
  if (unavailable === 0 && surge === 0) causes.push(cause.invalid(`${field}.maxUnavailable`, ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
  if (typeof ru.maxUnavailable === 'string' && unavailable !== undefined && unavailable > 100) {
    causes.push(cause.invalid(`${field}.maxUnavailable`, ru.maxUnavailable, 'must not be greater than 100%'));
  }
}

export function validateBuiltin(plural: string, obj: KubeObject, old?: KubeObject): StatusCause[] {
  const o = obj as Obj;
  const causes: StatusCause[] = [];
  switch (plural) {
    case 'pods':
      validateContainers(o.spec?.containers, 'spec.containers', causes);
      if (old) {
        const oldNode = (old as Obj).spec?.nodeName;
        if (oldNode && o.spec?.nodeName !== oldNode) causes.push(cause.forbidden('spec.nodeName', 'field is immutable once set'));
      }
      break;
    case 'deployments':
    case 'replicasets':
    case 'statefulsets':
    case 'daemonsets':
      validateTemplated(o, causes);
      if (plural === 'deployments' && o.spec?.strategy?.type === 'RollingUpdate' && o.spec.strategy.rollingUpdate) {
        validateRollingUpdate(o.spec.strategy.rollingUpdate, causes);
      }
      if (old && JSON.stringify((old as Obj).spec?.selector) !== JSON.stringify(o.spec?.selector)) {
        causes.push(cause.invalid('spec.selector', o.spec?.selector, 'field is immutable'));
      }
      break;
    case 'services':
      (o.spec?.ports ?? []).forEach((p: Obj, i: number) => {
        if (typeof p?.port !== 'number') causes.push(cause.required(`spec.ports[${i}].port`));
        else if (p.port < 1 || p.port > 65535) causes.push(cause.invalid(`spec.ports[${i}].port`, p.port, 'must be between 1 and 65535, inclusive'));
      });
      if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(o.spec?.type)) {
        causes.push(cause.notSupported('spec.type', o.spec?.type, ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort']));
      }
      if (old && (old as Obj).spec?.clusterIP && o.spec?.clusterIP && (old as Obj).spec.clusterIP !== o.spec.clusterIP) {
        causes.push(cause.invalid('spec.clusterIP', o.spec.clusterIP, 'field is immutable'));
      }
      break;
    case 'configmaps':
    case 'secrets':
      for (const k of Object.keys(o.data ?? {})) {
        if (!/^[-._a-zA-Z0-9]+$/.test(k)) causes.push(cause.invalid(`data[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
      }
      if (plural === 'secrets' && old && (old as Obj).type !== o.type) causes.push(cause.invalid('type', o.type, 'field is immutable'));
      break;
    case 'leases': {
      const d = o.spec?.leaseDurationSeconds;
      if (d !== undefined && (typeof d !== 'number' || d <= 0)) causes.push(cause.invalid('spec.leaseDurationSeconds', d, 'must be greater than 0'));
      break;
    }
    case 'poddisruptionbudgets':
      if (o.spec?.minAvailable !== undefined && o.spec?.maxUnavailable !== undefined) {
        causes.push(cause.invalid('spec', o.spec, 'minAvailable and maxUnavailable cannot be both set'));
      }
      break;
  }
  return causes;
}

/** What the apiserver resets when an object is created: status starts empty (pods start Pending). */
export function prepareBuiltinCreate(plural: string, obj: KubeObject, hasStatusSubresource: boolean): void {
  const o = obj as Obj;
  if (plural === 'namespaces') {
    o.status = { phase: 'Active' };
    return;
  }
  if (plural === 'nodes' || plural === 'customresourcedefinitions') return;
  if (hasStatusSubresource) delete o.status;
  if (plural === 'pods') {
    o.status = { phase: 'Pending', qosClass: qosClass(o.spec) };
  }
}

function qosClass(spec: Obj | undefined): string {
  const containers: Obj[] = spec?.containers ?? [];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (!lim[r] || (req[r] !== undefined && req[r] !== lim[r])) guaranteed = false;
    }
  }
  return guaranteed ? 'Guaranteed' : any ? 'Burstable' : 'BestEffort';
}
