/**
 * The management API under /api/v1/tenant/{tenant}/. Handlers are thin: authenticate, authorize
 * the tenant, parse, call the service. Every refused attempt is written to the tenant's audit log.
 */
import { type Context, Hono } from "hono";
import { AUDIT_ACTIONS, listAuditEntries, outcomeOf, recordRefusal } from "../audit/service";
import { authenticateManagement, authorizeTenant, type Principal } from "../auth/principal";
import { signingKeys } from "../auth/signing-keys";
import { keyConfig, lastUsedIntervalSeconds, scopeCatalog } from "../config";
import { database } from "../db/client";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { recordUse } from "../gateway/usage";
import { readJsonBody } from "../http/json-body";
import { enumParam, intParam, nextPageHeaders, pageRequest } from "../http/pagination";
import { jsonResponse, methodNotAllowed } from "../http/responses";
import { parseBody, requestSchemas } from "../keys/schemas";
import {
  type AuditAction,
  auditEntry,
  createKey,
  getKey,
  type KeyServiceDeps,
  listKeys,
  type ManagementContext,
  revokeKey,
  rotateKey,
  updateKey,
} from "../keys/service";

/** Tenant ids: what fits in a URL segment, a log line and a header without escaping. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KEY_STATUSES = ["active", "revoked", "expired", "rotated"] as const;
/** 100 years: "unused for more than N days" beyond that means "never used". */
const MAX_UNUSED_DAYS = 36_500;
const USER_AGENT_MAX_LENGTH = 512;
const KEY_ID_MAX_LENGTH = 128;

type AppContext = Context<{ Bindings: Env }>;

async function serviceDeps(env: Env): Promise<KeyServiceDeps> {
  return { db: database(env.DB), kv: env.REVOCATIONS, ring: await signingKeys(env.SIGNING_KEYS), keyConfig: keyConfig(env) };
}

/** `keyId` is the `:id` path parameter ("" on routes without one). */
type Handler = (c: AppContext, ctx: ManagementContext, keyId: string) => Promise<Response>;

/**
 * Wraps a management handler: authentication, tenant checks, and an audit entry for any refusal.
 * Order matters: credentials are checked before anything about the tenant is revealed.
 */
function managed(action: AuditAction, handler: Handler) {
  return async (c: AppContext): Promise<Response> => {
    const tenant = c.req.param("tenant") ?? "";
    const keyId = c.req.param("id") ?? null;
    const base = {
      tenant,
      now: Math.floor(Date.now() / 1000),
      ip: c.req.header("cf-connecting-ip") ?? null,
      userAgent: c.req.header("user-agent")?.slice(0, USER_AGENT_MAX_LENGTH) ?? null,
    };
    let principal: Principal | undefined;
    try {
      principal = await authenticateManagement(c.req.header("authorization") ?? null, c.env, base.now);
      if (!TENANT_ID_PATTERN.test(tenant)) {
        throw new ApiError("invalid_request", "tenant must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
      }
      authorizeTenant(principal, tenant);
      // A management key in use is a key in use: "revoke unused keys" must not catch the rotation bot.
      if (principal.kind === "key") {
        recordUse(c.env.DB, c.executionCtx, principal.keyId, base.now, lastUsedIntervalSeconds(c.env));
      }
      return await handler(c, { ...base, principal }, keyId ?? "");
    } catch (err) {
      if (err instanceof ApiError && TENANT_ID_PATTERN.test(tenant)) {
        await recordRefusal(
          database(c.env.DB),
          // Bounded: the id comes from the URL.
          auditEntry(
            { ...base, principal },
            action,
            keyId?.slice(0, KEY_ID_MAX_LENGTH) ?? null,
            outcomeOf(err.status),
            err.status,
            err.code,
          ),
        );
      }
      throw err;
    }
  };
}

export function managementRoutes() {
  const app = new Hono<{ Bindings: Env }>({ strict: false });

  app.post(
    "/api-keys/create",
    managed("create", async (c, ctx) => {
      const body = await readJsonBody(c.req.raw, { optional: false });
      const input = parseBody(requestSchemas(scopeCatalog(c.env)).create, body);
      return jsonResponse(await createKey(await serviceDeps(c.env), ctx, input), 201);
    }),
  );
  app.all("/api-keys/create", methodNotAllowed("POST"));

  app.get(
    "/api-keys/list",
    managed("list", async (c, ctx) => {
      const url = new URL(c.req.url);
      const page = pageRequest(url);
      const result = await listKeys(await serviceDeps(c.env), ctx.tenant, {
        ...page,
        status: enumParam(url, "status", KEY_STATUSES),
        unusedDays: intParam(url, "unused_days", 0, MAX_UNUSED_DAYS),
        now: ctx.now,
      });
      return jsonResponse(result.keys, 200, nextPageHeaders(url, result.nextSeq));
    }),
  );
  app.all("/api-keys/list", methodNotAllowed("GET"));

  app.post(
    "/api-keys/:id/revoke",
    managed("revoke", async (c, ctx, keyId) => {
      const body = await readJsonBody(c.req.raw, { optional: true });
      const input = parseBody(requestSchemas(scopeCatalog(c.env)).revoke, body ?? {});
      await revokeKey(await serviceDeps(c.env), ctx, keyId, input.reason ?? null);
      return jsonResponse({ success: true, message: "API key revoked successfully" });
    }),
  );
  app.all("/api-keys/:id/revoke", methodNotAllowed("POST"));

  app.post(
    "/api-keys/:id/rotate",
    managed("rotate", async (c, ctx, keyId) => {
      const body = await readJsonBody(c.req.raw, { optional: true });
      const input = parseBody(requestSchemas(scopeCatalog(c.env)).rotate, body ?? {});
      return jsonResponse(await rotateKey(await serviceDeps(c.env), ctx, keyId, input), 201);
    }),
  );
  app.all("/api-keys/:id/rotate", methodNotAllowed("POST"));

  app.get(
    "/api-keys/:id",
    managed("get", async (c, ctx, keyId) => jsonResponse(await getKey(await serviceDeps(c.env), ctx.tenant, keyId))),
  );
  app.patch(
    "/api-keys/:id",
    managed("update", async (c, ctx, keyId) => {
      const body = await readJsonBody(c.req.raw, { optional: false });
      if (body && typeof body === "object" && "scopes" in body) {
        throw new ApiError("invalid_request", "scopes of an issued key cannot change in place; rotate the key with new scopes");
      }
      const input = parseBody(requestSchemas(scopeCatalog(c.env)).update, body);
      return jsonResponse(await updateKey(await serviceDeps(c.env), ctx, keyId, input));
    }),
  );
  app.all("/api-keys/:id", methodNotAllowed("GET, PATCH", "revoke with POST .../revoke"));

  app.get(
    "/audit-log",
    managed("audit", async (c, ctx) => {
      const url = new URL(c.req.url);
      const result = await listAuditEntries(database(c.env.DB), ctx.tenant, {
        ...pageRequest(url),
        keyId: url.searchParams.get("key_id") ?? undefined,
        action: enumParam(url, "action", AUDIT_ACTIONS),
        since: intParam(url, "since", 0, Number.MAX_SAFE_INTEGER),
      });
      return jsonResponse(result.entries, 200, nextPageHeaders(url, result.nextSeq));
    }),
  );
  app.all("/audit-log", methodNotAllowed("GET"));

  return app;
}
