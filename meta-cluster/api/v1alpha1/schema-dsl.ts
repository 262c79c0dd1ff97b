/**
 * A tiny typed builder for structural OpenAPI v3 schemas: each builder returns the schema object a
 * CRD needs and carries the matching TypeScript type, so `Infer<typeof X>` and the CRD can never
 * disagree. No schema library is installed (TypeBox and zod are not dependencies), and the subset a
 * structural CRD schema allows is small enough to own.
 */

/** The part of apiextensions.k8s.io/v1 JSONSchemaProps kok's kinds use. */
export interface JSONSchemaProps {
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array';
  description?: string;
  default?: unknown;
  enum?: readonly (string | number)[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  items?: JSONSchemaProps;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

/** A schema together with the static type of the values it accepts (`T` exists only for inference). */
export interface Schema<T> {
  readonly schema: JSONSchemaProps;
  /** Phantom: never set at runtime. */
  readonly _type?: T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

interface Common<T> {
  description?: string;
  /** Filled in by the API server when the field is absent. */
  default?: T;
}

export interface StringOptions extends Common<string> {
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
}

export interface NumberOptions extends Common<number> {
  minimum?: number;
  maximum?: number;
  format?: string;
}

export interface ArrayOptions<T> extends Common<T[]> {
  minItems?: number;
  maxItems?: number;
  listType?: 'atomic' | 'set' | 'map';
  /** With `listType: 'map'`: the fields that identify an item. */
  listMapKeys?: string[];
}

type Props = Record<string, Schema<unknown>>;

/** Required keys are present; the rest are optional (a defaulted field is optional to the writer). */
export type ObjectOf<P extends Props, R extends keyof P> = Simplify<
  { [K in R]: Infer<P[K]> } & { [K in Exclude<keyof P, R>]?: Infer<P[K]> }
>;

export interface ObjectOptions<P extends Props, R extends readonly (keyof P & string)[]> extends Common<Partial<ObjectOf<P, R[number]>>> {
  required?: R;
}

/** Drops undefined options so the generated schema (and YAML) holds only what was said. */
function build<T>(schema: JSONSchemaProps): Schema<T> {
  const clean = Object.fromEntries(Object.entries(schema).filter(([, v]) => v !== undefined)) as JSONSchemaProps;
  return { schema: clean };
}

export const s = {
  string<T extends string = string>(o: StringOptions = {}): Schema<T> {
    return build({ type: 'string', ...o });
  },

  integer(o: NumberOptions = {}): Schema<number> {
    return build({ type: 'integer', ...o });
  },

  number(o: NumberOptions = {}): Schema<number> {
    return build({ type: 'number', ...o });
  },

  boolean(o: Common<boolean> = {}): Schema<boolean> {
    return build({ type: 'boolean', ...o });
  },

  /** A closed set of strings or of integers; the type is their union. */
  enum<const V extends readonly string[] | readonly number[]>(values: V, o: Common<V[number]> = {}): Schema<V[number]> {
    if (values.length === 0) throw new Error('s.enum: give at least one value');
    const type = typeof values[0] === 'string' ? 'string' : 'integer';
    return build({ type, enum: values, ...o });
  },

  array<T>(items: Schema<T>, o: ArrayOptions<T> = {}): Schema<T[]> {
    const { listType, listMapKeys, ...rest } = o;
    return build({
      type: 'array',
      items: items.schema,
      ...rest,
      'x-kubernetes-list-type': listType,
      'x-kubernetes-list-map-keys': listMapKeys,
    });
  },

  /**
   * An object with known fields. Give a nested object `default: {}` so the defaults of its fields
   * apply even when the writer leaves the whole object out.
   */
  object<P extends Props, const R extends readonly (keyof P & string)[] = []>(
    properties: P,
    o: ObjectOptions<P, R> = {},
  ): Schema<ObjectOf<P, R[number]>> {
    const { required, ...rest } = o;
    const props = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, v.schema]));
    return build({ type: 'object', properties: props, required: required?.length ? [...required] : undefined, ...rest });
  },

  /** A string-keyed map of one value type (`additionalProperties`), e.g. labels. */
  map<T>(values: Schema<T>, o: Common<Record<string, T>> = {}): Schema<Record<string, T>> {
    return build({ type: 'object', additionalProperties: values.schema, ...o });
  },

  /** `x-kubernetes-int-or-string`, as for ports and percentages (`maxUnavailable: 25%`). */
  intOrString(o: Common<number | string> = {}): Schema<number | string> {
    return build({ 'x-kubernetes-int-or-string': true, ...o });
  },

  /** An object whose content the API server keeps without checking it. */
  preserveUnknown(o: Common<Record<string, unknown>> = {}): Schema<Record<string, unknown>> {
    return build({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, ...o });
  },
};

/** One additionalPrinterColumn of a CRD. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  format?: string;
  /** 0 shows by default; higher shows only with `-o wide`. */
  priority?: number;
}

/** apiextensions.k8s.io/v1 CustomResourceSubresourceScale: JSON paths into the object. */
export interface ScaleSubresource {
  /** Under .spec, e.g. ".spec.replicas". */
  specReplicasPath: string;
  /** Under .status, e.g. ".status.replicas". */
  statusReplicasPath: string;
  /** Under .spec or .status: a label selector in string form, e.g. ".status.selector". */
  labelSelectorPath?: string;
}

/** Everything a CRD says about one kind: names, scope, printer columns and the spec/status schemas. */
export interface KindDefinition<Spec = unknown, Status = unknown> {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Namespaced' | 'Cluster';
  categories: string[];
  description: string;
  printerColumns: PrinterColumn[];
  /** A `scale` subresource (`kubectl scale`, autoscalers): where replicas and the selector live. */
  scale?: ScaleSubresource;
  spec: Schema<Spec>;
  status: Schema<Status>;
}

/** Identity for inference: keeps Spec and Status attached to the definition. */
export function defineKind<Spec, Status>(def: KindDefinition<Spec, Status>): KindDefinition<Spec, Status> {
  return def;
}
