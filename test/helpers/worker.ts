/** Calling the worker inside workerd, as the runtime would, and minting test credentials. */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Validator } from "@cfworker/json-schema";
import { importJWK, SignJWT } from "jose";
import { isControlPlanePath } from "../../src/app";
import type { Env } from "../../src/env";
import { pathMatcher } from "../../src/http/path-templates";
import type { IdKind } from "../../src/lib/ids";
import { pathIdKind } from "../../src/routes/spec";
import { openApiDocument, ROUTES } from "../../src/routes/table";
import { eventually } from "./eventually";
import worker from "./limited-entry";

export const BASE = "http://localhost:3000";

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw body text, sent as is (for malformed-JSON tests). */
  rawBody?: string | ReadableStream<Uint8Array> | Uint8Array;
  /** Vars/secrets to override for this call (config is parsed per env object). */
  env?: Record<string, unknown>;
}

const mergedEnvs = new WeakMap<Record<string, unknown>, Record<string, unknown>>();

/**
 * The test env with `overrides`, the same object for the same overrides object: the worker parses
 * its configuration (and keys its per-isolate caches) per env object, as the runtime hands it one.
 */
function envWith(overrides: Record<string, unknown>): Record<string, unknown> {
  let merged = mergedEnvs.get(overrides);
  if (!merged) {
    merged = { ...env, ...overrides };
    mergedEnvs.set(overrides, merged);
  }
  return merged;
}

/** Sends a request through the worker's fetch handler and waits for its waitUntil work. */
export async function call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  if (options.token !== undefined) headers.set("authorization", `Bearer ${options.token}`);
  let body: BodyInit | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const ctx = createExecutionContext();
  const callEnv = (options.env ? envWith(options.env) : env) as Env;
  const response = await worker.fetch(new Request(`${BASE}${path}`, { method, headers, body }), callEnv, ctx);
  await waitOnExecutionContext(ctx);
  await checkAgainstDocument(callEnv, method, path, response);
  return response;
}

type JsonObject = Record<string, unknown>;
const validators = new WeakMap<object, Validator>();

/**
 * Every control-plane response a test receives must be one the OpenAPI document describes: a
 * documented status, and a body valid against its schema. So the document cannot drift from what
 * the worker does (a 500 on a broken configuration is documented for every route too).
 */
async function checkAgainstDocument(callEnv: Env, method: string, path: string, response: Response): Promise<void> {
  const pathname = path.split("?")[0] ?? path;
  if (!isControlPlanePath(pathname)) return;
  const doc = openApiDocument(callEnv) as { paths: Record<string, Record<string, JsonObject>>; components: { schemas: JsonObject } };
  // The route Hono serves: the first path of the table that matches, as in src/app.ts.
  const template = ROUTES.map((r) => r.path).find((t) => pathMatcher([t]).test(pathname));
  if (template === undefined) throw new Error(`${pathname} is control plane but no route matches it`);
  const operation = doc.paths[template]?.[method === "HEAD" ? "get" : method.toLowerCase()] as
    | { responses: Record<string, { content?: Record<string, { schema: JsonObject }> }> }
    | undefined;
  if (!operation) {
    if (response.status !== 405) throw new Error(`${method} ${template} is not in the document, yet answered ${response.status}`);
    return;
  }
  const documented = operation.responses[String(response.status)];
  if (!documented) throw new Error(`${method} ${template} answered ${response.status}, which the document does not list`);
  const media = Object.keys(documented.content ?? {});
  if (media.length > 0 && !media.includes("application/json")) {
    // A page (the API reference): the documented media type, not checked further.
    const type = response.headers.get("content-type")?.split(";")[0] ?? "";
    if (!media.includes(type)) throw new Error(`${method} ${template} ${response.status} answered ${type}, not ${media.join(" or ")}`);
    return;
  }
  const schema = documented.content?.["application/json"]?.schema;
  if (!schema || method === "HEAD") return;
  let validator = validators.get(schema);
  if (!validator) {
    const defs = JSON.parse(JSON.stringify({ ...schema, $defs: doc.components.schemas }).replaceAll("#/components/schemas/", "#/$defs/"));
    validator = new Validator(defs, "2020-12", false);
    validators.set(schema, validator);
  }
  const result = validator.validate(await response.clone().json());
  if (!result.valid) {
    const errors = result.errors.map((e) => `${e.instanceLocation}: ${e.error}`).join("; ");
    throw new Error(`${method} ${template} ${response.status} does not match the document: ${errors}`);
  }
}

export interface UserTokenOptions {
  tenants?: unknown;
  sub?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  issuer?: string;
  audience?: string;
  extraClaims?: Record<string, unknown>;
}

/** A user access token from the test identity provider (the one USER_TOKEN_JWKS trusts). */
export async function userToken(options: UserTokenOptions = {}): Promise<string> {
  const jwk = env.TEST_IDP_PRIVATE_JWK;
  const key = await importJWK(jwk, "RS256");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenants: options.tenants ?? ["my-tenant"], ...options.extraClaims })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: jwk.kid })
    .setSubject(options.sub ?? "user-123")
    .setIssuer(options.issuer ?? (env.USER_TOKEN_ISSUER as string))
    .setAudience(options.audience ?? (env.USER_TOKEN_AUDIENCE as string))
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 3600))
    .sign(key);
}

/**
 * A concrete path for a route template of the table. `{id}` is whatever the segment before it
 * names (src/routes/spec.ts pathIdKind): a key, an alert or a webhook; a string is used for all.
 */
export function concretePath(
  template: string,
  tenant: string,
  ids: string | { key: string; alert?: string; webhook?: string; group?: string },
): string {
  const byKind: Partial<Record<IdKind, string>> = typeof ids === "string" ? { key: ids, alert: ids, webhook: ids } : ids;
  const kind = pathIdKind(template);
  return template.replace("{tenant}", tenant).replace("{id}", (kind === undefined ? undefined : byKind[kind]) ?? byKind.key ?? "");
}

/** A unique tenant id per test, so tests never see each other's keys. */
export function freshTenant(): string {
  return `t-${crypto.randomUUID().slice(0, 8)}`;
}

export interface CreatedKey {
  id: string;
  name: string;
  api_key: string;
  scopes: string[];
  created_at: number;
  expires_at: number | null;
  last_used: null;
  revoked: false;
}

/** Creates a key through the management API as a user of `tenant`; fails the test on non-201. */
export async function createKey(tenant: string, body: Record<string, unknown> = {}): Promise<CreatedKey> {
  const token = await userToken({ tenants: [tenant] });
  const res = await call("POST", `/api/v1/tenant/${tenant}/api-keys/create`, {
    token,
    body: { name: "test key", scopes: ["api:read"], expires_in_days: 30, ...body },
  });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${await res.text()}`);
  return res.json();
}

export function decodeJwtPart(token: string, index: 0 | 1): Record<string, unknown> {
  const part = token.split(".")[index] ?? "";
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0))));
}

/** Rows in api_keys for a tenant, read straight from D1. */
export async function countKeys(tenant: string): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = ?").bind(tenant).first<{ n: number }>();
  return row?.n ?? 0;
}

/** The operator's counts of refusals of callers outside `tenant` (migrations/0006), straight from D1. */
export async function foreignRefusals(tenant: string): Promise<Record<string, unknown>[]> {
  const { results } = await env.DB.prepare(
    "SELECT * FROM management_refusals WHERE tenant_id = ? ORDER BY hour, actor_kind, actor_id, error",
  )
    .bind(tenant)
    .all();
  return results;
}

/** Audit rows for a tenant, oldest first, straight from D1. */
export async function auditRows(tenant: string): Promise<Record<string, unknown>[]> {
  const { results } = await env.DB.prepare("SELECT * FROM audit_log WHERE tenant_id = ? ORDER BY seq").bind(tenant).all();
  return results;
}

/** Asserts the seed's error body and returns it. */
export async function expectError(res: Response, status: number, error: string): Promise<{ error: string; error_description: string }> {
  const body = (await res.json()) as { error: string; error_description: string };
  if (res.status !== status || body.error !== error) {
    throw new Error(`expected ${status} ${error}, got ${res.status} ${JSON.stringify(body)}`);
  }
  if (
    Object.keys(body).sort().join(",") !== "error,error_description" ||
    typeof body.error_description !== "string" ||
    body.error_description === ""
  ) {
    throw new Error(`not the seed's error body: ${JSON.stringify(body)}`);
  }
  return body;
}

/** The active signing key's private JWK (from the SIGNING_KEYS secret the tests generated). */
export function activeSigningJwk(): JsonWebKey & { kid: string } {
  return (JSON.parse(env.SIGNING_KEYS as string) as { keys: (JsonWebKey & { kid: string })[] }).keys[0]!;
}

/** Signs arbitrary API-key claims with the real signing key (for expired/odd-claim cases). */
export async function signApiKey(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const jwk = activeSigningJwk();
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    sub: "user-123",
    scopes: ["api:read"],
    key_id: `key-${crypto.randomUUID()}`,
    tenant: "t-forged",
    iss: env.KEY_ISSUER,
    aud: env.KEY_AUDIENCE,
    iat: now,
    exp: now + 3600,
    jti: crypto.randomUUID(),
    ...claims,
  })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: jwk.kid, ...header } as never)
    .sign(await importJWK(jwk, "RS256"));
}

/** How many requests the test origin received for `path`. */
export async function originSaw(path: string): Promise<number> {
  const res = await fetch(`${env.ORIGIN_URL}/__seen${path}`);
  return ((await res.json()) as { count: number }).count;
}

/** The key's last_used as D1 has it. */
export async function lastUsedOf(keyId: string): Promise<number | null> {
  const row = await env.DB.prepare("SELECT last_used FROM api_keys WHERE id = ?").bind(keyId).first<{ last_used: number | null }>();
  return row?.last_used ?? null;
}

/**
 * Waits until the usage roll-up (the queue consumer, after the response) has recorded a use of the
 * key: last_used set. Fails after `timeoutMs`.
 */
export async function usageRecorded(keyId: string, timeoutMs = 30_000): Promise<number> {
  const lastUsed = await eventually(
    () => lastUsedOf(keyId),
    (value) => value !== null,
    timeoutMs,
    100,
  );
  if (lastUsed === null) throw new Error(`no use of ${keyId} recorded within ${timeoutMs} ms`);
  return lastUsed;
}

/** An alert of the tenant, as the detectors store them. */
export async function seedAlert(tenant: string): Promise<string> {
  const id = `alert-${crypto.randomUUID()}`;
  await env.DB.prepare(
    "INSERT INTO alerts (id, tenant_id, type, key_id, dedupe_key, created_at, details) VALUES (?, ?, 'volume', NULL, ?, ?, '{}')",
  )
    .bind(id, tenant, id, Math.floor(Date.now() / 1000))
    .run();
  return id;
}

/** The key's use of api:read today, as the usage roll-up records it: narrowing it has something to narrow to. */
export async function seedScopeUsage(tenant: string, keyId: string): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await env.DB.prepare("INSERT INTO scope_usage (tenant_id, key_id, scope, day, count, last_at) VALUES (?, ?, 'api:read', ?, 1, ?)")
    .bind(tenant, keyId, now - (now % 86_400), now)
    .run();
}
