/**
 * The `meta.k8s.io` Table that `kubectl get` asks for with
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Built-ins print through
 * ./printers.ts; custom resources through their CRD's additionalPrinterColumns (JSONPath).
 */

import { JSONPath } from 'jsonpath-plus';

import { badRequest } from './errors.js';
import {
  AGE_COLUMN,
  NAME_COLUMN,
  humanDuration,
  parseTimestamp,
  printerFor,
  type Cell,
  type ColumnDefinition,
  type Printer,
  type RowCondition,
} from './printers.js';
import { apiVersionOf, type KubeObject, type ObjectMeta, type ResourceInfo } from './types.js';

export { humanDuration, type Cell, type ColumnDefinition };

// --- negotiation ------------------------------------------------------------------------------

/** kubectl asks for v1 first and falls back to v1beta1 (clients before 1.15 only know v1beta1). */
export type TableVersion = 'v1' | 'v1beta1';

interface MediaRange {
  type: string;
  params: Map<string, string>;
  q: number;
}

function parseAccept(accept: string): MediaRange[] {
  return accept
    .split(',')
    .map((clause) => {
      const [type = '', ...rest] = clause.split(';').map((p) => p.trim());
      const params = new Map<string, string>();
      for (const p of rest) {
        const eq = p.indexOf('=');
        if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'));
      }
      const q = params.has('q') ? Number(params.get('q')) : 1;
      return { type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 0 };
    })
    .filter((r) => r.type !== '' && r.q > 0);
}

const SERVES_JSON = new Set(['application/json', 'application/*', '*/*']);

/**
 * The Table version the Accept header asks for, or undefined when the client prefers a plain
 * list. Like the apiserver, the first acceptable media range (by q, then order) decides; a Table
 * range without a `v` we serve is skipped, not an error.
 */
export function tableVersionOf(accept: string | null | undefined): TableVersion | undefined {
  if (!accept) return undefined;
  const ranges = parseAccept(accept)
    .map((r, i) => ({ r, i }))
    .sort((a, b) => b.r.q - a.r.q || a.i - b.i)
    .map(({ r }) => r);
  for (const r of ranges) {
    if (!SERVES_JSON.has(r.type)) continue;
    const as = r.params.get('as');
    if (as === undefined) return undefined;
    const v = r.params.get('v');
    if (as === 'Table' && r.params.get('g') === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1')) return v;
  }
  return undefined;
}

/** Whether to answer a list/get with a Table; {@link tableVersionOf} says which version. */
export function wantsTable(accept: string | null | undefined): boolean {
  return tableVersionOf(accept) !== undefined;
}

/** What each row carries besides its cells (`includeObject` query parameter). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** @default 'Metadata' when the parameter is absent or empty. */
export function parseIncludeObject(value: string | null | undefined): IncludeObject {
  if (value === undefined || value === null || value === '') return 'Metadata';
  if (value === 'None' || value === 'Metadata' || value === 'Object') return value;
  throw badRequest(`unrecognized includeObject value: ${JSON.stringify(value)}`);
}

// --- shapes -----------------------------------------------------------------------------------

/** A CRD version's `additionalPrinterColumns` entry. */
export interface PrinterColumn {
  name: string;
  /** integer, number, string, boolean or date. */
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  /** Simple JSONPath relative to the object, e.g. `.spec.replicas`. */
  jsonPath: string;
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface PartialObjectMetadata {
  kind: 'PartialObjectMetadata';
  apiVersion: string;
  metadata: ObjectMeta;
}

export interface TableRow {
  cells: Cell[];
  conditions?: RowCondition[];
  /** Absent for `includeObject=None`. */
  object?: PartialObjectMetadata | KubeObject;
}

export interface Table {
  kind: 'Table';
  apiVersion: string;
  metadata: ListMeta;
  columnDefinitions: ColumnDefinition[];
  rows: TableRow[];
}

export interface TableOptions {
  /** The CRD's printer columns for the served version; set (even empty) for custom resources. */
  readonly printerColumns?: readonly PrinterColumn[];
  /** @default 'Metadata' */
  readonly includeObject?: IncludeObject;
  readonly listMeta: ListMeta;
  /** Ages are computed against this instant. */
  readonly now: Date;
  /** @default 'v1' */
  readonly tableVersion?: TableVersion;
  /** Leave `columnDefinitions` empty: watch events after the first carry rows only. */
  readonly noHeaders?: boolean;
}

// --- conversion -------------------------------------------------------------------------------

export function toTable(info: ResourceInfo, objects: readonly KubeObject[], opts: TableOptions): Table {
  const version = opts.tableVersion ?? 'v1';
  const includeObject = opts.includeObject ?? 'Metadata';
  const printer = info.custom || opts.printerColumns !== undefined ? crdPrinter(opts.printerColumns ?? []) : printerFor(info);
  const ctx = { now: opts.now };
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${version}`,
    metadata: { ...opts.listMeta },
    columnDefinitions: opts.noHeaders ? [] : printer.columns.map((c) => ({ ...c })),
    rows: objects.map((obj) => {
      const row: TableRow = { cells: printer.cells(obj, ctx) };
      const conditions = printer.conditions?.(obj);
      if (conditions) row.conditions = conditions;
      const object = rowObject(info, obj, includeObject, version);
      if (object) row.object = object;
      return row;
    }),
  };
}

function rowObject(info: ResourceInfo, obj: KubeObject, include: IncludeObject, version: TableVersion): TableRow['object'] {
  switch (include) {
    case 'None':
      return undefined;
    case 'Object':
      return { apiVersion: apiVersionOf(info), kind: info.kind, ...obj };
    case 'Metadata': {
      // managedFields are bulky and no table consumer reads them.
      const { managedFields: _managedFields, ...metadata } = obj.metadata;
      return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata };
    }
  }
}

// --- custom resources -------------------------------------------------------------------------

const CREATION_TIMESTAMP_PATH = '.metadata.creationTimestamp';

const describe = (c: PrinterColumn): string =>
  c.description || `Custom resource definition column (in JSONPath format): ${c.jsonPath}`;

/**
 * Name, the CRD's printer columns, then Age — unless a column already shows it. (The apiextensions
 * apiserver only adds Age when a CRD declares no columns; kok adds it whenever it is missing.)
 */
function crdPrinter(printerColumns: readonly PrinterColumn[]): Printer {
  const hasAge = printerColumns.some(
    (c) => c.name.toLowerCase() === 'age' || normaliseJsonPath(c.jsonPath) === normaliseJsonPath(CREATION_TIMESTAMP_PATH),
  );
  const columns: PrinterColumn[] = [...printerColumns];
  if (!hasAge) columns.push({ name: 'Age', type: 'date', jsonPath: CREATION_TIMESTAMP_PATH, description: AGE_COLUMN.description });
  const paths = columns.map((c) => toJsonPathPlus(c.jsonPath));
  return {
    columns: [
      NAME_COLUMN,
      ...columns.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: describe(c), priority: c.priority ?? 0 })),
    ],
    cells: (obj, ctx) => [obj.metadata.name ?? '', ...columns.map((c, i) => printerColumnCell(c.type, evaluate(paths[i]!, obj), ctx.now))],
  };
}

function normaliseJsonPath(p: string): string {
  return toJsonPathPlus(p).replace(/\['([^']*)'\]/g, '.$1');
}

/** A k8s JSONPath (`.spec.replicas`, `{.spec.replicas}`) as jsonpath-plus reads it (`$.spec.replicas`). */
export function toJsonPathPlus(k8sPath: string): string {
  let p = k8sPath.trim();
  if (p.startsWith('{') && p.endsWith('}')) p = p.slice(1, -1).trim();
  if (p.startsWith('$')) return p;
  if (p === '' || p === '.') return '$';
  return p.startsWith('.') || p.startsWith('[') ? `$${p}` : `$.${p}`;
}

function evaluate(path: string, obj: KubeObject): unknown[] {
  try {
    const found: unknown = JSONPath({ path, json: obj, wrap: true, eval: 'safe' });
    return Array.isArray(found) ? found.filter((v) => v !== undefined) : [];
  } catch {
    // A path the evaluator rejects prints as an empty cell, as the apiserver does for misses.
    return [];
  }
}

/**
 * One printer-column cell (apiextensions tableconvertor): a miss is null (kubectl prints it empty);
 * string columns render every match, arrays joined by `,`; typed columns take the first match and
 * are null when it has the wrong type; `date` renders as an age.
 */
export function printerColumnCell(type: string, results: readonly unknown[], now: Date): Cell {
  if (results.length === 0) return null;
  if (type === 'string') {
    const parts = results.length > 1 ? results : Array.isArray(results[0]) ? (results[0] as unknown[]) : results;
    if (parts.length === 1 && parts[0] === null) return null;
    return parts.map(renderScalar).join(',');
  }
  const value = results[0];
  switch (type) {
    case 'integer':
      return typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'date': {
      if (typeof value !== 'string') return null;
      if (!RFC3339.test(value)) return '<invalid>';
      const t = parseTimestamp(value);
      return t === undefined ? '<unknown>' : humanDuration(now.getTime() - t);
    }
    default:
      return null;
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function renderScalar(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
