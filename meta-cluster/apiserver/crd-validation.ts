/**
 * CustomResourceDefinition validation, as apiextensions' validation.go does the parts clients
 * trip over: names, versions, structural schemas, scale paths. Pure; returns causes.
 */
import { cause, type StatusCause } from './errors.js';
import { asObj, compileError, isObj, str, type JSONSchemaProps, type Obj } from './schema.js';


const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const isLabel = (re: RegExp, v: string) => v.length <= 63 && re.test(v);
const requiredBecause = (field: string, detail: string): StatusCause => ({
  ...cause.required(field),
  message: `Required value: ${detail}`,
});

export function validateCrd(crd: unknown): StatusCause[] {
  const out: StatusCause[] = [];
  const spec = asObj(asObj(crd).spec);
  const names = asObj(spec.names);
  const name = asObj(asObj(crd).metadata).name;
  const group = str(spec.group);
  const plural = str(names.plural);

  if (name !== `${plural}.${group}`) {
    out.push(cause.invalid('metadata.name', name ?? '', 'must be spec.names.plural+"."+spec.group'));
  }
  if (!group) out.push(cause.required('spec.group'));
  else if (!group.includes('.')) out.push(cause.invalid('spec.group', group, 'should be a domain with at least one dot'));

  if (!spec.scope) out.push(cause.required('spec.scope'));
  else if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') {
    out.push(cause.notSupported('spec.scope', spec.scope, ['Cluster', 'Namespaced']));
  }

  if (!plural) out.push(cause.required('spec.names.plural'));
  else if (!isLabel(DNS1123_LABEL, plural)) out.push(cause.invalid('spec.names.plural', plural, DNS1123_MSG));
  const singular = str(names.singular);
  if (singular && !isLabel(DNS1123_LABEL, singular)) out.push(cause.invalid('spec.names.singular', singular, DNS1123_MSG));
  for (const field of ['kind', 'listKind'] as const) {
    const v = str(names[field]);
    if (!v && field === 'kind') out.push(cause.required('spec.names.kind'));
    else if (v && !isLabel(DNS1035_LABEL, v.toLowerCase())) {
      out.push(cause.invalid(`spec.names.${field}`, v, `may have mixed case, but should otherwise match: ${DNS1035_MSG}`));
    }
  }
  const shortNames = Array.isArray(names.shortNames) ? names.shortNames : [];
  shortNames.forEach((s, i) => {
    if (!isLabel(DNS1123_LABEL, str(s))) out.push(cause.invalid(`spec.names.shortNames[${i}]`, s, DNS1123_MSG));
  });

  out.push(...validateVersions(Array.isArray(spec.versions) ? spec.versions : []));
  return out;
}

function validateVersions(versions: unknown[]): StatusCause[] {
  const out: StatusCause[] = [];
  const names = versions.map((v) => str(asObj(v).name));
  if (versions.length === 0) out.push(requiredBecause('spec.versions', 'must have at least one version'));
  versions.forEach((raw, i) => {
    const v = asObj(raw);
    const at = `spec.versions[${i}]`;
    if (!isLabel(DNS1035_LABEL, names[i])) out.push(cause.invalid(`${at}.name`, names[i], DNS1035_MSG));
    const schema = asObj(v.schema).openAPIV3Schema;
    if (isObj(schema)) {
      const before = out.length;
      structuralCauses(schema, `${at}.schema.openAPIV3Schema`, 'root', out);
      // Anything ajv still cannot compile would otherwise surface as a 500 on the first write.
      if (out.length === before) {
        const error = compileError(schema);
        if (error) out.push({ reason: 'FieldValueInvalid', field: `${at}.schema.openAPIV3Schema`, message: `Invalid value: ${error}` });
      }
    } else if (v.served === true) out.push(requiredBecause(`${at}.schema.openAPIV3Schema`, 'schemas are required'));
    const scale = asObj(v.subresources).scale;
    if (isObj(scale)) out.push(...scaleCauses(scale, `${at}.subresources.scale`));
  });
  // Values are rendered as the version names: the apiserver dumps whole structs, which helps nobody.
  if (new Set(names).size !== names.length) out.push(cause.invalid('spec.versions', names, 'must contain unique version names'));
  if (versions.length > 0 && !versions.some((v) => asObj(v).served === true)) {
    out.push(cause.invalid('spec.versions', names, 'must serve at least one version'));
  }
  if (versions.length > 0 && versions.filter((v) => asObj(v).storage === true).length !== 1) {
    out.push(cause.invalid('spec.versions', names, 'must have exactly one version marked as storage version'));
  }
  return out;
}

function scaleCauses(scale: Obj, at: string): StatusCause[] {
  const out: StatusCause[] = [];
  const check = (field: string, prefixes: string[], detail: string, required: boolean) => {
    const v = str(scale[field]);
    if (!v) {
      if (required) out.push(cause.required(`${at}.${field}`));
    } else if (!prefixes.some((p) => v.startsWith(p))) out.push(cause.invalid(`${at}.${field}`, v, detail));
  };
  check('specReplicasPath', ['.spec.'], 'should be a json path under .spec', true);
  check('statusReplicasPath', ['.status.'], 'should be a json path under .status', true);
  check('labelSelectorPath', ['.spec.', '.status.'], 'should be a json path under either .spec or .status', false);
  return out;
}

/** A structural schema has a type at every node (apiextensions pkg/apiserver/schema). */
function structuralCauses(s: JSONSchemaProps, at: string, level: 'root' | 'field' | 'items', out: StatusCause[]) {
  const open = s['x-kubernetes-int-or-string'] === true || s['x-kubernetes-preserve-unknown-fields'] === true;
  if (level === 'root') {
    if (!s.type) out.push(requiredBecause(`${at}.type`, 'must not be empty at the root'));
    else if (s.type !== 'object') out.push(cause.invalid(`${at}.type`, s.type, 'must be object at the root'));
  } else if (!s.type && !open) {
    const detail = level === 'items' ? 'must not be empty for specified array items' : 'must not be empty for specified object fields';
    out.push(requiredBecause(`${at}.type`, detail));
  }
  if (typeof s.pattern === 'string') {
    try {
      new RegExp(s.pattern);
    } catch (e) {
      out.push(cause.invalid(`${at}.pattern`, s.pattern, `must be a valid regular expression, but isn't: ${(e as Error).message}`));
    }
  }
  if (isObj(s.properties) && s.additionalProperties !== undefined && s.additionalProperties !== false) {
    out.push(cause.forbidden(`${at}.additionalProperties`, 'additionalProperties and properties are mutual exclusive'));
  }
  for (const [k, p] of Object.entries(asObj(s.properties))) {
    if (isObj(p)) structuralCauses(p, `${at}.properties[${k}]`, 'field', out);
  }
  if (Array.isArray(s.items)) out.push(cause.forbidden(`${at}.items`, 'items must be a schema object and not an array'));
  else if (isObj(s.items)) structuralCauses(s.items, `${at}.items`, 'items', out);
  else if (s.type === 'array') out.push(requiredBecause(`${at}.items`, 'must be specified'));
  if (isObj(s.additionalProperties)) structuralCauses(s.additionalProperties, `${at}.additionalProperties`, 'field', out);
}

