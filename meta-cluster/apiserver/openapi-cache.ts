/** The served OpenAPI documents, built on first request and rebuilt when the registry changes. */
import { builtinOpenApiResource, hashDocument, openApiDocument, openApiIndex, openApiV2Minimal, serializeDocument, type OpenApiResource } from './openapi.js';
import type { Registry, ServedResource } from './registry.js';
import { apiVersionOf } from './types.js';

export class OpenApi {
  private built = -1;
  private docs = new Map<string, { json: string; hash: string }>();

  constructor(private readonly registry: Registry) {}

  private refresh(): void {
    if (this.built === this.registry.generation) return;
    const byGv = new Map<string, ServedResource[]>();
    for (const r of this.registry.all()) {
      const gv = apiVersionOf(r);
      if (!byGv.has(gv)) byGv.set(gv, []);
      byGv.get(gv)!.push(r);
    }
    this.docs = new Map();
    for (const [gv, resources] of byGv) {
      const entries: OpenApiResource[] = resources.map((r) =>
        r.custom ? { info: r, schema: r.openAPIV3Schema } : builtinOpenApiResource(r, r.model),
      );
      const doc = openApiDocument(gv, entries);
      this.docs.set(gv, { json: serializeDocument(doc), hash: hashDocument(doc) });
    }
    this.built = this.registry.generation;
  }

  index(): unknown {
    this.refresh();
    return openApiIndex([...this.docs.keys()], (gv) => this.docs.get(gv)!.hash);
  }

  /** `api/v1` or `apis/apps/v1` → the document's JSON. */
  document(path: string): string | undefined {
    this.refresh();
    const gv = path.startsWith('api/') ? path.slice(4) : path.startsWith('apis/') ? path.slice(5) : undefined;
    return gv === undefined ? undefined : this.docs.get(gv)?.json;
  }

  v2(): Buffer {
    return openApiV2Minimal();
  }
}
