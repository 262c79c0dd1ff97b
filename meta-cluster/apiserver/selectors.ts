/**
 * Label and field selectors as the apiserver parses and applies them on list and watch
 * (k8s.io/apimachinery/pkg/labels and pkg/fields). Parse errors are 400 BadRequest with the
 * apiserver's wording, so kubectl shows the same message it would against a real cluster.
 */

import { badRequest, qualifiedResource } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/** The operators of k8s.io/apimachinery/pkg/selection, spelled as there. */
export type LabelOperator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  /** Sorted and de-duplicated; empty for `exists` and `!`. */
  readonly values: readonly string[];
}

/**
 * Requirements are ANDed. `matchesNothing` is the `labels.Nothing()` selector a null
 * metav1.LabelSelector turns into; an empty requirement list matches everything.
 */
export interface LabelSelector {
  readonly requirements: readonly LabelRequirement[];
  readonly matchesNothing: boolean;
}

/** Matches every object: an empty `labelSelector` query, or an empty metav1.LabelSelector `{}`. */
export const EVERYTHING: LabelSelector = Object.freeze({ requirements: Object.freeze([]), matchesNothing: false });

/** Matches no object: a null/absent metav1.LabelSelector (e.g. a PDB without `spec.selector`). */
export const NOTHING: LabelSelector = Object.freeze({ requirements: Object.freeze([]), matchesNothing: true });

export const selectsEverything = (sel: LabelSelector): boolean => !sel.matchesNothing && sel.requirements.length === 0;

type Labels = Readonly<Record<string, string>> | null | undefined;

export function matchesLabels(sel: LabelSelector, labels: Labels): boolean {
  if (sel.matchesNothing) return false;
  return sel.requirements.every((r) => requirementMatches(r, labels ?? {}));
}

function requirementMatches(r: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = has ? labels[r.key] : undefined;
  switch (r.operator) {
    case '=':
    case '==':
    case 'in':
      return value !== undefined && r.values.includes(value);
    case '!=':
    case 'notin':
      return value === undefined || !r.values.includes(value);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (value === undefined || !INTEGER.test(value) || r.values.length !== 1) return false;
      const have = BigInt(value);
      const want = BigInt(r.values[0]!);
      return r.operator === 'gt' ? have > want : have < want;
    }
  }
}

/** `labels.Selector.String()`: requirements sorted by key, values sorted. NOTHING prints as "". */
export function formatLabelSelector(sel: LabelSelector): string {
  if (sel.matchesNothing) return '';
  return sel.requirements.map(formatRequirement).join(',');
}

function formatRequirement(r: LabelRequirement): string {
  const values = [...r.values].sort(compareStrings).join(',');
  switch (r.operator) {
    case 'exists':
      return r.key;
    case '!':
      return `!${r.key}`;
    case 'in':
    case 'notin':
      return `${r.key} ${r.operator} (${values})`;
    case 'gt':
      return `${r.key}>${values}`;
    case 'lt':
      return `${r.key}<${values}`;
    default:
      return `${r.key}${r.operator}${values}`;
  }
}

/** `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>` when empty (printer cells). */
export function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels ?? {}).sort(compareStrings);
  if (keys.length === 0) return '<none>';
  return keys.map((k) => `${k}=${labels![k]}`).join(',');
}

/**
 * Parses a `labelSelector` query parameter (labels.Parse). An empty or blank string selects
 * everything.
 * @throws ApiError BadRequest on a syntax error or an invalid key/value.
 */
export function parseLabelSelector(s: string): LabelSelector {
  const parser = new LabelParser(lex(s));
  const requirements = parser.parse();
  return { requirements: sortByKey(requirements), matchesNothing: false };
}

/** `labels.SelectorFromSet`: equality on every entry. An empty or absent set selects everything. */
export function labelSelectorFromSet(set: Labels): LabelSelector {
  const requirements = asBadRequest(() => Object.entries(set ?? {}).map(([key, value]) => newRequirement(key, '=', [value])));
  return { requirements: sortByKey(requirements), matchesNothing: false };
}

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** metav1.LabelSelector as stored in Deployment/ReplicaSet/PDB/NetworkPolicy specs. */
export interface LabelSelectorObject {
  matchLabels?: Readonly<Record<string, string>> | null;
  matchExpressions?: ReadonlyArray<{ key: string; operator: LabelSelectorOperator | string; values?: readonly string[] | null }> | null;
}

const OBJECT_OPERATORS: Record<LabelSelectorOperator, LabelOperator> = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: '!',
};

/**
 * `metav1.LabelSelectorAsSelector`: null/undefined → {@link NOTHING}; `{}` (no labels, no
 * expressions) → {@link EVERYTHING}; otherwise the AND of every matchLabels entry and expression.
 * @throws ApiError BadRequest for an unknown operator or an invalid key/value.
 */
export function labelSelectorFromObject(sel: LabelSelectorObject | null | undefined): LabelSelector {
  if (sel === null || sel === undefined) return NOTHING;
  const requirements: LabelRequirement[] = [];
  asBadRequest(() => {
    for (const [key, value] of Object.entries(sel.matchLabels ?? {})) {
      requirements.push(newRequirement(key, '=', [value]));
    }
    for (const expr of sel.matchExpressions ?? []) {
      const op = Object.prototype.hasOwnProperty.call(OBJECT_OPERATORS, expr.operator)
        ? OBJECT_OPERATORS[expr.operator as LabelSelectorOperator]
        : undefined;
      if (!op) throw badRequest(`${JSON.stringify(expr.operator)} is not a valid label selector operator`);
      requirements.push(newRequirement(expr.key, op, [...(expr.values ?? [])]));
    }
  });
  if (requirements.length === 0) return EVERYTHING;
  return { requirements: sortByKey(requirements), matchesNothing: false };
}

// --- validation (k8s.io/apimachinery/pkg/util/validation) -------------------------------------

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const INTEGER = /^[+-]?\d+$/;

function regexError(msg: string, fmt: string, ...examples: string[]): string {
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join('or ')}regex used for validation is '${fmt}')`;
}

const qualifiedNameMsg = regexError(
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
  '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]',
  'MyName',
  'my.name',
  '123-abc',
);

/** `validation.IsQualifiedName`: `[prefix/]name`, the shape of a label key. */
function labelKeyErrors(key: string): string[] {
  const parts = key.split('/');
  if (parts.length > 2) {
    return [`a qualified name ${qualifiedNameMsg} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  }
  const errs: string[] = [];
  const name = parts.length === 1 ? parts[0]! : parts[1]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else {
      if (prefix.length > 253) errs.push('prefix part must be no more than 253 characters');
      if (!DNS1123_SUBDOMAIN.test(prefix)) errs.push(`prefix part ${dns1123SubdomainMsg}`);
    }
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (!QUALIFIED_NAME.test(name)) errs.push(`name part ${qualifiedNameMsg}`);
  return errs;
}

const dns1123SubdomainMsg = regexError(
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
  '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*',
  'example.com',
);

function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(value)) {
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?',
        'MyValue',
        'my_value',
        '12345',
      ),
    );
  }
  return errs;
}

/** A field.Error rendered as its Error() string: `<path>: Invalid value: "v": detail`. */
const fieldInvalid = (path: string, value: unknown, detail: string): string =>
  `${path}: Invalid value: ${JSON.stringify(value)}: ${detail}`;

/** labels.NewRequirement: validates and normalises (values sorted, de-duplicated). */
function newRequirement(key: string, operator: LabelOperator, values: string[]): LabelRequirement {
  const errs: string[] = [];
  const keyErrs = labelKeyErrors(key);
  if (keyErrs.length > 0) errs.push(fieldInvalid('key', key, keyErrs.join('; ')));
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) errs.push(fieldInvalid('values', values, "for 'in', 'notin' operators, values set can't be empty"));
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) errs.push(fieldInvalid('values', values, 'exact-match compatibility requires one single value'));
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) errs.push(fieldInvalid('values', values, 'values set must be empty for exists and does not exist'));
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) errs.push(fieldInvalid('values', values, "for 'Gt', 'Lt' operators, exactly one value is required"));
      values.forEach((v, i) => {
        if (!INTEGER.test(v)) errs.push(fieldInvalid(`values[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"));
      });
      break;
  }
  values.forEach((v, i) => {
    const valueErrs = labelValueErrors(v);
    if (valueErrs.length > 0) errs.push(fieldInvalid(`values[${i}][${key}]`, v, valueErrs.join('; ')));
  });
  if (errs.length > 0) throw new RequirementError(errs.length === 1 ? errs[0]! : `[${errs.join(', ')}]`);
  return { key, operator, values: [...new Set(values)].sort(compareStrings) };
}

/** Raised by newRequirement; the parser prefixes it with `unable to parse requirement: `. */
class RequirementError extends Error {}

function asBadRequest<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RequirementError) throw badRequest(e.message);
    throw e;
  }
}

// --- lexer and parser (a port of labels/selector.go, so errors read the same) -----------------

type Tok =
  | 'end'
  | 'error'
  | 'ident'
  | 'in'
  | 'notin'
  | '('
  | ')'
  | ','
  | '!'
  | '='
  | '=='
  | '!='
  | '>'
  | '<';

interface Token {
  tok: Tok;
  lit: string;
}

const SYMBOL_TOKENS: ReadonlySet<string> = new Set(['(', ')', ',', '!', '=', '==', '!=', '>', '<']);
const isWhitespace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
const isSpecial = (ch: string): boolean => '=!(),><'.includes(ch);

function lex(s: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  for (;;) {
    while (pos < s.length && isWhitespace(s[pos]!)) pos++;
    if (pos >= s.length) {
      out.push({ tok: 'end', lit: '' });
      return out;
    }
    if (isSpecial(s[pos]!)) {
      // Longest run of special characters that still forms a known symbol.
      let buf = '';
      let last: Token | undefined;
      while (pos < s.length && isSpecial(s[pos]!)) {
        buf += s[pos];
        if (SYMBOL_TOKENS.has(buf)) {
          last = { tok: buf as Tok, lit: buf };
          pos++;
        } else if (last) {
          break;
        } else {
          pos++;
        }
      }
      out.push(last ?? { tok: 'error', lit: `error expected: keyword found '${buf}'` });
      continue;
    }
    let word = '';
    while (pos < s.length && !isSpecial(s[pos]!) && !isWhitespace(s[pos]!)) word += s[pos++];
    out.push({ tok: word === 'in' || word === 'notin' ? word : 'ident', lit: word });
  }
}

type Context = 'keyAndOperator' | 'values';

class LabelParser {
  private position = 0;
  constructor(private readonly items: Token[]) {}

  private lookahead(ctx: Context): Token {
    return this.asContext(this.items[this.position]!, ctx);
  }

  private consume(ctx: Context): Token {
    return this.asContext(this.items[this.position++]!, ctx);
  }

  /** `in`/`notin` are operators after a key and plain identifiers everywhere else. */
  private asContext(t: Token, ctx: Context): Token {
    return ctx === 'values' && (t.tok === 'in' || t.tok === 'notin') ? { tok: 'ident', lit: t.lit } : t;
  }

  parse(): LabelRequirement[] {
    const requirements: LabelRequirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead('values');
      if (tok === 'end') return requirements;
      if (tok !== 'ident' && tok !== '!') throw badRequest(`found '${lit}', expected: !, identifier, or 'end of string'`);
      try {
        requirements.push(this.parseRequirement());
      } catch (e) {
        if (e instanceof RequirementError) throw badRequest(`unable to parse requirement: ${e.message}`);
        throw e;
      }
      const next = this.consume('values');
      if (next.tok === 'end') return requirements;
      if (next.tok !== ',') throw badRequest(`found '${next.lit}', expected: ',' or 'end of string'`);
      const after = this.lookahead('values');
      if (after.tok !== 'ident' && after.tok !== '!') {
        throw badRequest(`found '${after.lit}', expected: identifier after ','`);
      }
    }
  }

  private parseRequirement(): LabelRequirement {
    let unary: LabelOperator | undefined;
    let t = this.consume('values');
    if (t.tok === '!') {
      unary = '!';
      t = this.consume('values');
    }
    if (t.tok !== 'ident') throw new RequirementError(`found '${t.lit}', expected: identifier`);
    const key = t.lit;
    const keyErrs = labelKeyErrors(key);
    // The parser validates the key with a nil field path, hence apiserver's "<nil>:" prefix.
    if (keyErrs.length > 0) throw new RequirementError(fieldInvalid('<nil>', key, keyErrs.join('; ')));
    // `!k` takes no operator: whatever follows it is left for parse() to reject (`!k=v`).
    if (unary) return newRequirement(key, '!', []);
    const ahead = this.lookahead('values').tok;
    if (ahead === 'end' || ahead === ',') return newRequirement(key, 'exists', []);
    const operator = this.parseOperator();
    const values = operator === 'in' || operator === 'notin' ? this.parseValues() : this.parseExactValue();
    return newRequirement(key, operator, [...values].sort(compareStrings));
  }

  private parseOperator(): LabelOperator {
    const { tok, lit } = this.consume('keyAndOperator');
    switch (tok) {
      case 'in':
      case 'notin':
      case '=':
      case '==':
      case '!=':
        return tok;
      case '>':
        return 'gt';
      case '<':
        return 'lt';
      default:
        throw new RequirementError(`found '${lit}', expected: ${BINARY_OPERATORS}`);
    }
  }

  private parseValues(): Set<string> {
    const open = this.consume('values');
    if (open.tok !== '(') throw new RequirementError(`found '${open.lit}' expected: '('`);
    const { tok, lit } = this.lookahead('values');
    if (tok === ')') {
      this.consume('values');
      return new Set(['']);
    }
    if (tok !== 'ident' && tok !== ',') throw new RequirementError(`found '${lit}', expected: ',', ')' or identifier`);
    const values = this.parseIdentifiersList();
    if (this.consume('values').tok !== ')') throw new RequirementError(`found '${lit}', expected: ')'`);
    return values;
  }

  /** A comma-separated list where empty entries (`(,a)`, `(a,)`, `(a,,b)`) mean the empty value. */
  private parseIdentifiersList(): Set<string> {
    const s = new Set<string>();
    for (;;) {
      const { tok, lit } = this.consume('values');
      if (tok === 'ident') {
        s.add(lit);
        const next = this.lookahead('values');
        if (next.tok === ',') continue;
        if (next.tok === ')') return s;
        throw new RequirementError(`found '${next.lit}', expected: ',' or ')'`);
      }
      if (tok === ',') {
        if (s.size === 0) s.add('');
        const next = this.lookahead('values').tok;
        if (next === ')') {
          s.add('');
          return s;
        }
        if (next === ',') {
          this.consume('values');
          s.add('');
        }
        continue;
      }
      throw new RequirementError(`found '${lit}', expected: ',', or identifier`);
    }
  }

  private parseExactValue(): Set<string> {
    const ahead = this.lookahead('values').tok;
    if (ahead === 'end' || ahead === ',') return new Set(['']);
    const { tok, lit } = this.consume('values');
    if (tok === 'ident') return new Set([lit]);
    throw new RequirementError(`found '${lit}', expected: identifier`);
  }
}

const BINARY_OPERATORS = ['in', 'notin', '=', '==', '!=', 'gt', 'lt'].join(', ');

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

export interface FieldRequirement {
  readonly field: string;
  readonly operator: '=' | '!=';
  readonly value: string;
}

/** ANDed terms; an empty list matches everything. */
export interface FieldSelector {
  readonly requirements: readonly FieldRequirement[];
}

const COMMON_FIELDS = ['metadata.name', 'metadata.namespace'] as const;

/** Per-resource selectable fields beyond metadata.name/namespace, keyed like `qualifiedResource`. */
const RESOURCE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  pods: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  events: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  secrets: ['type'],
  nodes: ['spec.unschedulable'],
  namespaces: ['status.phase'],
  'replicasets.apps': ['status.replicas'],
};

/** The field labels a resource's list/watch accepts in `fieldSelector`. */
export function fieldSelectorFields(resource: { group: string; plural: string }): readonly string[] {
  return [...COMMON_FIELDS, ...(RESOURCE_FIELDS[qualifiedResource(resource.group, resource.plural)] ?? [])];
}

/**
 * How a field label reads its value off the object when it is not simply the dotted path, and
 * what an absent value stands for. The apiserver builds these from typed structs, so an unset
 * bool is "false" and an unset int is "0" (`spec.unschedulable=false` matches a fresh node).
 */
const FIELD_VALUES: Readonly<Record<string, (obj: Record<string, unknown>) => unknown>> = {
  source: (o) => pathValue(o, 'source.component'),
  'status.podIP': (o) => {
    const ips = pathValue(o, 'status.podIPs');
    const first = Array.isArray(ips) ? (ips[0] as { ip?: unknown } | undefined)?.ip : undefined;
    return first ?? pathValue(o, 'status.podIP');
  },
  'spec.hostNetwork': (o) => pathValue(o, 'spec.hostNetwork') ?? false,
  'spec.unschedulable': (o) => pathValue(o, 'spec.unschedulable') ?? false,
  'status.replicas': (o) => pathValue(o, 'status.replicas') ?? 0,
};

/** The string a field label compares against for this object ("" when absent). */
export function fieldValue(obj: object, field: string): string {
  const read = FIELD_VALUES[field];
  const v = read ? read(obj as Record<string, unknown>) : pathValue(obj, field);
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function pathValue(obj: object, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function matchesFields(sel: FieldSelector, obj: object): boolean {
  return sel.requirements.every((r) => (fieldValue(obj, r.field) === r.value) === (r.operator === '='));
}

/**
 * Parses a `fieldSelector` query parameter (fields.ParseSelector): `f=v`, `f==v`, `f!=v` joined by
 * commas; `\,`, `\=` and `\\` escape inside values. An empty string selects everything.
 * @throws ApiError BadRequest on a syntax error or `field label not supported: <field>`.
 */
export function parseFieldSelector(s: string, allowedFields: readonly string[]): FieldSelector {
  const requirements: FieldRequirement[] = [];
  for (const term of splitTerms(s).sort(compareStrings)) {
    if (term === '') continue;
    const split = splitTerm(term);
    if (!split) throw badRequest(`invalid selector: '${s}'; can't understand '${term}'`);
    const [field, op, rawValue] = split;
    requirements.push({ field, operator: op === '!=' ? '!=' : '=', value: unescapeValue(rawValue) });
  }
  // The apiserver converts field labels only once the whole selector has parsed.
  const unsupported = requirements.find((r) => !allowedFields.includes(r.field));
  if (unsupported) throw badRequest(`field label not supported: ${unsupported.field}`);
  return { requirements };
}

/** Splits on commas that are not escaped with a backslash. */
function splitTerms(s: string): string[] {
  if (s === '') return [];
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < s.length; i++) {
    if (escaped) escaped = false;
    else if (s[i] === '\\') escaped = true;
    else if (s[i] === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

const TERM_OPERATORS = ['!=', '==', '='] as const;

function splitTerm(term: string): [string, (typeof TERM_OPERATORS)[number], string] | undefined {
  let escaped = false;
  for (let i = 0; i < term.length; i++) {
    if (escaped) {
      escaped = false;
      continue;
    }
    if (term[i] === '\\') {
      escaped = true;
      continue;
    }
    for (const op of TERM_OPERATORS) {
      if (term.startsWith(op, i)) return [term.slice(0, i), op, term.slice(i + op.length)];
    }
  }
  return undefined;
}

function unescapeValue(v: string): string {
  if (!/[\\,=]/.test(v)) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const ch = v[i]!;
    if (ch === '\\') {
      const next = v[i + 1];
      if (next !== '\\' && next !== ',' && next !== '=') {
        throw badRequest(`invalid field selector: invalid escape sequence: \\${next ?? ''}`);
      }
      out += next;
      i++;
    } else if (ch === ',' || ch === '=') {
      throw badRequest(`invalid field selector: unescaped character in value: ${ch}`);
    } else {
      out += ch;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/** Go's byte-wise string order, so sorted output matches the apiserver's. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortByKey(reqs: LabelRequirement[]): LabelRequirement[] {
  // Stable, like sort.Sort on an already key-grouped slice; keeps `a,a!=x` order deterministic.
  return reqs.map((r, i) => [r, i] as const).sort((x, y) => compareStrings(x[0].key, y[0].key) || x[1] - y[1]).map(([r]) => r);
}
