/**
 * The OpenAPI 3.1 document of the control plane, generated from the route table: every route's
 * parameters, request body and responses come from the zod schemas that validate them, and its
 * error responses from the error codes the route can answer with. Nothing here is written by hand
 * but prose, so the document cannot drift from behaviour (the tests check every response they
 * receive against it).
 */
import * as z from "zod/mini";
import type { ScopeCatalog } from "../config";
import { ERROR_CODES, type ErrorCode, errorDocs, statusOf } from "../errors";
import { CREDENTIALS, errorCodesOf, pathParamDoc, pathParams, type Route, SECURITY_SCHEMES } from "../routes/spec";

type JsonSchema = Record<string, unknown>;

export const OPENAPI_VERSION = "3.1.1";

/**
 * Hoists zod's `$defs` (schemas registered with an id, such as ApiKey or JsonValue) into
 * components, rewriting their `$ref`s. Every schema that can appear in two places carries an id,
 * so an anonymous definition is a mistake in a schema, not something to paper over here.
 */
class SchemaComponents {
  readonly schemas: Record<string, JsonSchema> = {};

  add(schema: z.ZodMiniType, io: "input" | "output"): JsonSchema {
    const { $schema: _, $defs, ...root } = z.toJSONSchema(schema, { io, target: "draft-2020-12", unrepresentable: "any" }) as JsonSchema;
    for (const [name, def] of Object.entries(($defs as Record<string, JsonSchema> | undefined) ?? {})) {
      if (name.startsWith("__schema"))
        throw new Error(`an anonymous recursive schema in ${JSON.stringify(root).slice(0, 80)}: register it with an id`);
      this.schemas[name] = rewriteRefs(def) as JsonSchema;
    }
    return rewriteRefs(root) as JsonSchema;
  }
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === "$ref" && typeof v === "string" ? v.replace(/^#\/\$defs\//, "#/components/schemas/") : rewriteRefs(v);
  }
  return out;
}

function errorBodySchema(codes: readonly ErrorCode[]): JsonSchema {
  return {
    type: "object",
    required: ["error", "error_description"],
    additionalProperties: false,
    properties: {
      error: { type: "string", enum: codes },
      error_description: { type: "string", description: "A sentence for people; names the field for invalid_request." },
    },
  };
}

function operation(route: Route, components: SchemaComponents, catalog: ScopeCatalog): JsonSchema {
  const parameters: JsonSchema[] = pathParams(route.path).map((name) => ({
    name,
    in: "path",
    required: true,
    ...pathParamDoc(route.path, name),
  }));
  if (route.query) {
    const query = components.add(route.query, "input") as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, { description, ...schema }] of Object.entries(query.properties ?? {})) {
      parameters.push({ name, in: "query", required: query.required?.includes(name) ?? false, description, schema });
    }
  }
  const responses: Record<string, JsonSchema> = {};
  for (const [status, doc] of Object.entries(route.responses)) {
    const response: JsonSchema = { description: doc.description };
    if (doc.headers) {
      response.headers = Object.fromEntries(
        Object.entries(doc.headers).map(([name, description]) => [name, { description, schema: { type: "string" } }]),
      );
    }
    if (doc.schema) {
      const media: JsonSchema = { schema: components.add(doc.schema, "output") };
      if (doc.example !== undefined) media.example = doc.example;
      response.content = { "application/json": media };
    }
    responses[status] = response;
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorCodesOf(route)) byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code]);
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] = {
      description: codes.map((code) => `\`${code}\`: ${errorDocs[code]}`).join(" "),
      content: { "application/json": { schema: errorBodySchema(codes) } },
    };
  }
  const op: JsonSchema = {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    security: CREDENTIALS[route.credential].schemes.map((scheme) => ({ [scheme]: [] })),
    parameters,
    responses,
  };
  if (route.description) op.description = route.description;
  if (route.credential === "management") op["x-keygate-audit-action"] = route.audit;
  if (route.body) {
    const schema = components.add(route.body.schema(catalog), "input");
    const mediaTypes = route.body.mediaTypes ?? ["application/json"];
    op.requestBody = {
      required: route.body.required,
      content: Object.fromEntries(mediaTypes.map((type) => [type, { schema, example: route.body?.example }])),
    };
  }
  return op;
}

export interface DocumentOptions {
  /** keygate's public URL (KEY_ISSUER). */
  serverUrl: string;
  catalog: ScopeCatalog;
}

/** The whole document for these routes. */
export function buildOpenApiDocument(routes: readonly Route[], options: DocumentOptions): JsonSchema {
  const components = new SchemaComponents();
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    item[route.method.toLowerCase()] = operation(route, components, options.catalog);
    paths[route.path] = item;
  }
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: "keygate",
      version: "v1",
      description:
        "The control plane of keygate: scoped, long-lived API keys (RS256 JWTs) for tenants. Every other path of a keygate deployment is its gateway.",
    },
    servers: [{ url: options.serverUrl }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: {
        ...components.schemas,
        Error: errorBodySchema(ERROR_CODES),
      },
      securitySchemes: Object.fromEntries(
        [...new Set(routes.flatMap((r) => CREDENTIALS[r.credential].schemes))].map((name) => [name, SECURITY_SCHEMES[name]]),
      ),
    },
  };
}
