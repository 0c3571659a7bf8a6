/**
 * The OpenAPI 3.1 document of the control plane, generated from the route table: every route's
 * parameters, request body and responses come from the zod schemas that validate them, and its
 * error responses from the error codes the route can answer with. Nothing here is written by hand
 * but prose, so the document cannot drift from behaviour (the tests check every response they
 * receive against it).
 */
import * as z from "zod/mini";
import type { ScopeCatalog } from "../config/keys";
import { ERROR_CODES, type ErrorCode, errorDocs, statusOf } from "../errors";
import { pathParams } from "../http/path-templates";
import { CREDENTIALS, errorCodesOf, pathParamDoc, type Route, SECURITY_SCHEMES } from "../routes/spec";
import { ROLE_DESCRIPTIONS, ROLES, type RouteRole } from "../vocab/roles.mjs";

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
    const {
      $schema: _,
      $defs,
      ...root
    } = z.toJSONSchema(schema, {
      io,
      target: "draft-2020-12",
      unrepresentable: "any",
      override: arraysOfAnyJson,
    }) as JsonSchema;
    for (const [name, def] of Object.entries(($defs as Record<string, JsonSchema> | undefined) ?? {})) {
      if (name.startsWith("__schema"))
        throw new Error(`an anonymous recursive schema in ${JSON.stringify(root).slice(0, 80)}: register it with an id`);
      this.schemas[name] = rewriteRefs(def) as JsonSchema;
    }
    return rewriteRefs(root) as JsonSchema;
  }
}

/**
 * JsonValue's array branch as `items: {}` rather than `items: JsonValue`: the same values (an array
 * parsed from JSON holds only JSON), but TypeScript cannot type an array of the union it is part of
 * as openapi-typescript writes it ("'JsonValue' is referenced directly or indirectly in its own
 * type annotation", openapi-ts/openapi-typescript#1603). The object branch stays recursive.
 */
function arraysOfAnyJson(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  if (z.globalRegistry.get(ctx.zodSchema as z.ZodMiniType)?.id !== "JsonValue") return;
  for (const branch of (ctx.jsonSchema.anyOf as JsonSchema[] | undefined) ?? []) {
    if (branch.type === "array") branch.items = {};
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

/** The seed's error body with every code: components.schemas.Error. */
const ERROR_BODY_SCHEMA: JsonSchema = {
  type: "object",
  required: ["error", "error_description"],
  additionalProperties: false,
  properties: {
    error: { type: "string", enum: ERROR_CODES },
    error_description: { type: "string", description: "A sentence for people; names the field for invalid_request." },
  },
  description: "Every refusal's body: a stable `error` code and a sentence for people.",
};

/** The error body of one status of one operation: the Error schema, narrowed to the codes it can carry. */
function errorBodySchema(codes: readonly ErrorCode[]): JsonSchema {
  return { allOf: [{ $ref: "#/components/schemas/Error" }, { properties: { error: { enum: codes } } }] };
}

export interface RoleDocOptions {
  /** The management scopes that act with at least each role (src/auth/principal.ts managementScopesFor). */
  scopesFor: (role: (typeof ROLES)[number]) => readonly string[];
}

/** The sentence an operation's description ends with: who may call it (`x-keygate-role` says the same to machines). */
function roleSentence(role: RouteRole, options: RoleDocOptions): string {
  if (role === "public") return "Role: public (no person's role is asked for).";
  const scopes = [...options.scopesFor(role), "admin:all"].join(", ");
  const users = role === "admin" ? "a user who is an admin of the tenant" : `a user whose role in the tenant is ${role} or higher`;
  return `Role: ${role} (${users}, or a management key holding one of ${scopes}).`;
}

function operation(route: Route, components: SchemaComponents, catalog: ScopeCatalog, roles: RoleDocOptions): JsonSchema {
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
      response.content = { [doc.mediaType ?? "application/json"]: media };
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
    description: `${route.description}\n\n${roleSentence(route.role, roles)}`,
    tags: [route.tag],
    security: CREDENTIALS[route.credential].schemes.map((scheme) => ({ [scheme]: [] })),
    parameters,
    responses,
  };
  op["x-keygate-role"] = route.role;
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
  /** info.contact.url: the deployment's API reference page. */
  contactUrl: string;
  catalog: ScopeCatalog;
  roles: RoleDocOptions;
}

/** The whole document for these routes. */
export function buildOpenApiDocument(routes: readonly Route[], options: DocumentOptions): JsonSchema {
  const components = new SchemaComponents();
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    item[route.method.toLowerCase()] = operation(route, components, options.catalog, options.roles);
    paths[route.path] = item;
  }
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: "keygate",
      version: "v1",
      description: [
        "The control plane of keygate: scoped, long-lived API keys (RS256 JWTs) for tenants. Every other path of a keygate deployment is its gateway.",
        "",
        "Every operation names the least role it needs in `x-keygate-role`: " +
          ROLES.map((role) => `**${role}** ${ROLE_DESCRIPTIONS[role]}`).join("; ") +
          ". `public` operations ask for none. A user's role comes from its access token; a management key's from its scopes. A caller below the role gets 403 `insufficient_role` (a key: `insufficient_scope`).",
      ].join("\n"),
      // keygate is self-hosted: whoever runs the deployment answers for its API; its reference page is where to start.
      contact: { name: "keygate", url: options.contactUrl },
    },
    servers: [{ url: options.serverUrl }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: {
        ...components.schemas,
        Error: ERROR_BODY_SCHEMA,
      },
      securitySchemes: Object.fromEntries(
        [...new Set(routes.flatMap((r) => CREDENTIALS[r.credential].schemes))].map((name) => [name, SECURITY_SCHEMES[name]]),
      ),
    },
  };
}
