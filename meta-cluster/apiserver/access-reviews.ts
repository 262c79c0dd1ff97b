/**
 * authorization.k8s.io/v1 SelfSubjectAccessReview (`kubectl auth can-i <verb> <resource>`) and
 * SelfSubjectRulesReview (`kubectl auth can-i --list`): the caller asks what the server's
 * authorizer would say to it; the answer is the review with its `status`. Nothing is stored.
 */
import type { Authorizer, UserInfo } from './authorizer.js';
import { badRequest, cause, invalid } from './errors.js';

const API_VERSION = 'authorization.k8s.io/v1';

type Obj = Record<string, any>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The answered SelfSubjectAccessReview for `body`; a spec that is not exactly one kind of attributes is a 422. */
export function selfSubjectAccessReview(authorizer: Authorizer, user: UserInfo, body: unknown): Obj {
  const spec: Obj = ((body as Obj)?.spec ?? {}) as Obj;
  const resource = spec.resourceAttributes as Obj | null | undefined;
  const nonResource = spec.nonResourceAttributes as Obj | null | undefined;
  if (!resource && !nonResource) {
    throw invalid('SelfSubjectAccessReview', 'authorization.k8s.io', '', [
      { ...cause.required('spec.resourceAttributes'), message: 'Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified' },
    ]);
  }
  if (resource && nonResource) {
    throw invalid('SelfSubjectAccessReview', 'authorization.k8s.io', '', [
      cause.invalid('spec.nonResourceAttributes', nonResource, 'cannot be specified in combination with resourceAttributes'),
    ]);
  }
  const decision = resource
    ? authorizer.authorize(user, {
        verb: str(resource.verb),
        apiGroup: str(resource.group),
        apiVersion: str(resource.version),
        resource: str(resource.resource),
        subresource: str(resource.subresource),
        namespace: str(resource.namespace),
        name: str(resource.name),
      })
    : authorizer.authorize(user, { verb: str(nonResource!.verb), path: str(nonResource!.path) });
  const status: Obj = { allowed: decision.allowed };
  if (decision.reason) status.reason = decision.reason;
  return { kind: 'SelfSubjectAccessReview', apiVersion: API_VERSION, metadata: { creationTimestamp: null }, spec, status };
}

/** The answered SelfSubjectRulesReview for `body`: every rule the caller holds in `spec.namespace`. */
export function selfSubjectRulesReview(authorizer: Authorizer, user: UserInfo, body: unknown): Obj {
  const spec: Obj = ((body as Obj)?.spec ?? {}) as Obj;
  const namespace = str(spec.namespace);
  if (!namespace) throw badRequest('no namespace on request');
  const rules = authorizer.rulesFor(user, namespace);
  const status: Obj = { resourceRules: rules.resourceRules, nonResourceRules: rules.nonResourceRules, incomplete: false };
  if (rules.evaluationError) status.evaluationError = rules.evaluationError;
  return { kind: 'SelfSubjectRulesReview', apiVersion: API_VERSION, metadata: { creationTimestamp: null }, spec, status };
}
