/**
 * Checks of the props the constructs take, worded for the user, and a last check that runs what
 * kok's API server runs on a create (metadata rules, the CRD's structural schema, unknown fields)
 * on every object a construct emits: a blueprint that synthesises is a blueprint the API accepts.
 */
import { crdFor, fleetKinds } from '../meta-cluster/api/crds.js';
import { compileSchema, type CompiledSchema } from '../meta-cluster/apiserver/schema.js';
import { validateMetadata } from '../meta-cluster/apiserver/strategies.js';
import type { KubeObject } from '../meta-cluster/apiserver/types.js';
import { BlueprintError, quote } from './errors.js';

const schemas = new Map<string, { plural: string; schema: CompiledSchema }>(
  fleetKinds.map((def) => {
    const crd = crdFor(def) as unknown as { spec: { versions: Array<{ schema: { openAPIV3Schema: object } }> } };
    return [def.kind, { plural: def.plural, schema: compileSchema(crd.spec.versions[0]!.schema.openAPIV3Schema, def) }];
  }),
);

/**
 * Throws when kok's API server would refuse `obj` (a fleet.kok.dev object). Constructs check
 * their props first, so this firing means a prop slipped through: the message still names the
 * field and the construct.
 */
export function assertAccepted(construct: string, obj: KubeObject): void {
  const kind = schemas.get(String(obj.kind));
  if (!kind) throw new Error(`assertAccepted: ${obj.kind} is not a fleet.kok.dev kind`);
  const unknown = kind.schema.unknownFields(obj);
  const causes = [
    ...validateMetadata(kind.plural, obj),
    ...kind.schema.validate(kind.schema.applyDefaults(obj)),
    ...unknown.map((field) => ({ field, message: 'is not a field of the kind' })),
  ];
  if (causes.length > 0) {
    throw new BlueprintError(construct, `the ${obj.kind} it declares`, `would be refused by the API: ${causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`);
  }
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelValue = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Prop checks for one construct; each throws a BlueprintError naming the prop. */
export class PropChecks {
  constructor(readonly construct: string) {}

  fail(prop: string, problem: string): never {
    throw new BlueprintError(this.construct, prop, problem);
  }

  objectName(prop: string, v: string, kind: string): void {
    if (v.length > 253 || !dnsSubdomain.test(v)) {
      this.fail(prop, `${quote(v)} is not a valid ${kind} name: use lower-case letters, digits, "-" and "." (at most 253), starting and ending with a letter or digit`);
    }
  }

  namespace(prop: string, v: string): void {
    if (v.length > 63 || !dnsLabel.test(v)) {
      this.fail(prop, `${quote(v)} is not a valid namespace: use lower-case letters, digits and "-" (at most 63), starting and ending with a letter or digit`);
    }
  }

  labelValue(prop: string, v: string): void {
    if (v.length > 63 || !labelValue.test(v)) {
      this.fail(prop, `${quote(v)} is not a valid label value: use letters, digits, "-", "_" and "." (at most 63), starting and ending with a letter or digit`);
    }
  }

  integer(prop: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
    if (!Number.isInteger(v) || v < min || v > max) {
      this.fail(prop, `must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}, not ${quote(v)}`);
    }
  }

  number(prop: string, v: number, min: number, max = Number.POSITIVE_INFINITY): void {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      this.fail(prop, `must be a number ${max === Number.POSITIVE_INFINITY ? `of at least ${min}` : `from ${min} to ${max}`}, not ${quote(v)}`);
    }
  }

  oneOf<T>(prop: string, v: T, allowed: readonly T[]): void {
    if (!allowed.includes(v)) this.fail(prop, `must be one of ${allowed.map(quote).join(', ')}, not ${quote(v)}`);
  }

  nonEmptyUnique(prop: string, values: readonly string[]): void {
    if (values.length === 0) this.fail(prop, 'must name at least one');
    const seen = new Set<string>();
    for (const v of values) {
      if (seen.has(v)) this.fail(prop, `names ${quote(v)} twice`);
      seen.add(v);
    }
  }

  /** An int-or-percent ("25%") as the pool strategy and health check take them. */
  intOrPercent(prop: string, v: number | string): void {
    if (typeof v === 'number') return this.integer(prop, v, 0);
    if (!/^(0|[1-9][0-9]*)%$/.test(v) || Number(v.slice(0, -1)) > 100) this.fail(prop, `must be a whole number or a percentage such as "25%", not ${quote(v)}`);
  }
}
