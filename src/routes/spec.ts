/**
 * What a control-plane route is: everything the Hono app, the control-plane path matcher, the
 * OpenAPI document and the shared security tests need to know about an endpoint, declared once
 * in the route table (src/routes/table.ts).
 */
import type { Context } from "hono";
import type * as z from "zod/mini";
import type { ManagementContext, Principal } from "../auth/principal";
import type { ScopeCatalog } from "../config/keys";
import type { Env } from "../env";
import type { ErrorCode } from "../errors";
import type { BodyMediaType } from "../http/request-body";
import { type IdKind, idPattern } from "../lib/ids";
import type { AuditAction } from "../vocab/audit.mjs";
import type { Role } from "../vocab/roles.mjs";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Tenant ids: what fits in a URL segment, a log line and a header without escaping. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** What a path's `{id}` names, by the collection segment before it ("/api-keys/{id}": a key). */
const PATH_ID_KINDS: Readonly<Record<string, IdKind>> = {
  "api-keys": "key",
  alerts: "alert",
  webhooks: "webhook",
  "limit-groups": "group",
};

/** The kind of id a route template's `{id}` names; undefined for a template without one. */
export function pathIdKind(template: string): IdKind | undefined {
  const collection = /\/([a-z-]+)\/\{id\}/.exec(template)?.[1];
  return collection === undefined ? undefined : PATH_ID_KINDS[collection];
}

/** The path parameters of a route, documented once. */
export function pathParamDoc(template: string, name: string): { description: string; schema: Record<string, unknown> } {
  if (name === "tenant") return { description: "The tenant id.", schema: { type: "string", pattern: TENANT_ID_PATTERN.source } };
  const kind = pathIdKind(template);
  if (name === "id" && kind) return { description: `The ${kind} id.`, schema: { type: "string", pattern: idPattern(kind) } };
  return { description: name, schema: { type: "string" } };
}
export type AppContext = Context<{ Bindings: Env }>;

export interface ResponseDoc {
  description: string;
  /** The body's media type (default application/json). */
  mediaType?: "application/json" | "text/html";
  /** The body's schema; absent for a response without a body. */
  schema?: z.ZodMiniType;
  example?: unknown;
  /** Response header name -> description. */
  headers?: Record<string, string>;
}

export interface BodySpec<B> {
  /** Built per scope catalog: scope fields are checked against the deployment's catalog. */
  schema: (catalog: ScopeCatalog) => z.ZodMiniType<B>;
  required: boolean;
  /** A valid body: the document's example, and what the shared security tests send. */
  example: unknown;
  /** Media types accepted, the first preferred (default JSON only); a form body is read as an object of its fields. */
  mediaTypes?: readonly BodyMediaType[];
  /** Largest body accepted, in bytes (default 16 KiB, MAX_JSON_BODY_BYTES). */
  maxBytes?: number;
}

/** How each kind of credential is presented, as OpenAPI security schemes (the document lists those in use). */
export const SECURITY_SCHEMES = {
  userToken: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "An access token from the deployment's identity provider, listing the tenants its user may manage in the tenants claim.",
  },
  managementKey: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "An API key of the same tenant holding keys:manage or admin:all; it may not grant more than it holds.",
  },
  introspectionKey: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "An API key holding keys:introspect (or keys:manage, admin:all): it may introspect keys of its own tenant.",
  },
  githubSignature: {
    type: "apiKey",
    in: "header",
    name: "Github-Public-Key-Signature",
    description:
      "GitHub secret scanning's signature of the raw body (ECDSA P-256 SHA-256, base64 DER), by the key named in Github-Public-Key-Identifier; verified against GITHUB_SECRET_SCANNING_KEYS.",
  },
} as const;
export type SecurityScheme = keyof typeof SECURITY_SCHEMES;

export type CredentialKind = "none" | "management" | "introspection" | "github-signature";

/** Refusals of a bearer credential checked against the key store and the identity provider. */
const BEARER_REFUSALS = [
  "invalid_request",
  "invalid_token",
  "insufficient_scope",
  "access_denied",
  "rate_limited",
  "temporarily_unavailable",
] as const;

/** Per kind of credential: the security schemes that satisfy it (any one) and the refusals checking it can give. */
export const CREDENTIALS: Record<CredentialKind, { schemes: readonly SecurityScheme[]; errors: readonly ErrorCode[] }> = {
  none: { schemes: [], errors: [] },
  management: { schemes: ["userToken", "managementKey"], errors: BEARER_REFUSALS },
  introspection: { schemes: ["userToken", "managementKey", "introspectionKey"], errors: BEARER_REFUSALS },
  // not_found: the deployment has not configured GitHub's keys.
  "github-signature": { schemes: ["githubSignature"], errors: ["invalid_token", "not_found"] },
};

interface BaseSpec<Q, B> {
  method: Method;
  /** OpenAPI path template, e.g. "/api/v1/tenant/{tenant}/api-keys/{id}". */
  path: string;
  operationId: string;
  summary: string;
  /** What a reader of the API reference needs beyond the summary (every operation has one: Spectral's operation-description). */
  description: string;
  tag: string;
  /** Query parameters as one object schema; integer fields accept decimal digits. */
  query?: z.ZodMiniType<Q>;
  body?: BodySpec<B>;
  /** Successful responses by status. */
  responses: Record<number, ResponseDoc>;
  /** Refusals beyond those every route of its kind can give (see `errorCodesOf`). */
  errors?: readonly ErrorCode[];
  /** Appended to the 405 description for other methods on this path. */
  methodHint?: string;
}

export interface RouteInput<Q, B> {
  c: AppContext;
  env: Env;
  url: URL;
  query: Q;
  body: B;
}

export interface PublicRoute<Q = unknown, B = unknown> extends BaseSpec<Q, B> {
  credential: "none";
  /** Anyone may call it: no person's role is asked for. */
  role: "public";
  handle(input: RouteInput<Q, B>): Response | Promise<Response>;
}

export interface ManagementRoute<Q = unknown, B = unknown> extends BaseSpec<Q, B> {
  /** A user access token of the tenant, or a management key of the tenant. */
  credential: "management";
  /**
   * The least role a user needs in the tenant (src/vocab/roles.mjs); a management key needs a scope
   * that maps to it (src/auth/principal.ts MANAGEMENT_SCOPE_ROLES). Required: a route without one
   * does not compile.
   */
  role: Role;
  /** Recorded in the audit log for refusals (and by the service for changes). */
  audit: AuditAction;
  handle(input: RouteInput<Q, B> & { ctx: ManagementContext; keyId: string }): Promise<Response>;
}

export interface IntrospectionRoute<Q = unknown, B = unknown> extends BaseSpec<Q, B> {
  /** A user token, a management key, or an API key holding keys:introspect. */
  credential: "introspection";
  /** The least role a user needs in a tenant to introspect its keys. */
  role: Role;
  /** `caller` is authenticated; which tenants it may see is the route's business. Unix seconds `now`. */
  handle(input: RouteInput<Q, B> & { caller: Principal; now: number }): Promise<Response>;
}

export interface GitHubSignedRoute<Q = unknown, B = unknown> extends BaseSpec<Q, B> {
  /** Signed by GitHub secret scanning: the raw body's signature is verified before the body is parsed. */
  credential: "github-signature";
  /** GitHub, not a person: no role is asked for. */
  role: "public";
  handle(input: RouteInput<Q, B>): Promise<Response>;
}

// biome-ignore lint/suspicious/noExplicitAny: the table holds routes of every query/body type.
export type Route = PublicRoute<any, any> | ManagementRoute<any, any> | IntrospectionRoute<any, any> | GitHubSignedRoute<any, any>;

/** Identity functions that let TypeScript infer each route's query and body types. */
export function publicRoute<Q = undefined, B = undefined>(spec: PublicRoute<Q, B>): PublicRoute<Q, B> {
  return spec;
}
export function managementRoute<Q = undefined, B = undefined>(spec: ManagementRoute<Q, B>): ManagementRoute<Q, B> {
  return spec;
}
export function introspectionRoute<Q = undefined, B = undefined>(spec: IntrospectionRoute<Q, B>): IntrospectionRoute<Q, B> {
  return spec;
}
export function gitHubSignedRoute<Q = undefined, B = undefined>(spec: GitHubSignedRoute<Q, B>): GitHubSignedRoute<Q, B> {
  return spec;
}

/** Error codes a route can answer with, derived from what it is: the document lists exactly these. */
export function errorCodesOf(route: Route): ErrorCode[] {
  const codes = new Set<ErrorCode>(["server_error"]);
  if (route.query || route.body) codes.add("invalid_request");
  if (route.body) {
    codes.add("payload_too_large");
    codes.add("unsupported_media_type");
  }
  for (const code of CREDENTIALS[route.credential].errors) codes.add(code);
  if (route.path.includes("{id}")) codes.add("not_found");
  if (route.credential === "management") codes.add("insufficient_role");
  for (const code of route.errors ?? []) codes.add(code);
  return [...codes];
}
