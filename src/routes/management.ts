/**
 * How every management route (and the introspection route, which has no tenant in its path) is
 * served: authenticate the bearer credential, check the tenant, then run the route. Order matters: credentials are checked before anything about the tenant is
 * revealed. Every refused attempt is written to the tenant's audit log, except that a client
 * throttled for failing to authenticate (src/abuse/auth-failures.ts) is recorded once per burst.
 */

import { firstOfBurst, recordAuthFailure, throttledFor } from "../abuse/auth-failures";
import { auditEntry, outcomeOf } from "../audit/entry";
import { recordRefusal } from "../audit/service";
import {
  authenticateManagement,
  authorizeTenant,
  INTROSPECTION_KEY_SCOPES,
  type ManagementContext,
  type Principal,
} from "../auth/principal";
import { abuseConfig, lastUsedIntervalSeconds } from "../config";
import { database } from "../db/client";
import { ApiError } from "../errors";
import { recordUse } from "../gateway/usage";
import { type AppContext, type ManagementRoute, TENANT_ID_PATTERN } from "./spec";

const USER_AGENT_MAX_LENGTH = 512;
/** Refusals of the credential itself: they count towards brute-force throttling of the client. */
const AUTHENTICATION_FAILURES: ReadonlySet<string> = new Set(["invalid_token", "invalid_request"]);

function tooManyFailures(retryAfterS: number): ApiError {
  return new ApiError("rate_limited", "Too many failed authentication attempts", { headers: { "retry-after": String(retryAfterS) } });
}
/** Bounded: the id in an audit entry comes from the URL. */
const KEY_ID_MAX_LENGTH = 128;

/**
 * The bearer's principal (`keyScopes`: what an API key must hold), throttling a client that keeps
 * failing to authenticate: its failures count, and past the limit it gets 429 before any check.
 */
async function authenticateThrottled(c: AppContext, ip: string | null, now: number, keyScopes?: readonly string[]): Promise<Principal> {
  const nowMs = now * 1000;
  const throttled = throttledFor(ip, nowMs);
  if (throttled > 0) throw tooManyFailures(throttled);
  try {
    return await authenticateManagement(c.req.header("authorization") ?? null, c.env, now, ip, keyScopes);
  } catch (err) {
    if (err instanceof ApiError && AUTHENTICATION_FAILURES.has(err.code)) {
      const after = recordAuthFailure(ip, abuseConfig(c.env).authFailureLimit, c.env.AUTH_FAILURES, c.executionCtx, nowMs);
      if (after > 0) throw tooManyFailures(after);
    }
    throw err;
  }
}

/** A management key in use is a key in use: "revoke unused keys" must not catch the rotation bot. */
function recordKeyUse(c: AppContext, principal: Principal, now: number): void {
  if (principal.kind === "key") recordUse(c.env.DB, c.executionCtx, principal.keyId, now, lastUsedIntervalSeconds(c.env));
}

/**
 * How introspection routes are served: the caller is a user, a management key, or a key holding
 * keys:introspect. There is no tenant in the path, so nothing is audited: which keys the caller may
 * introspect is the route's business (its tenants).
 */
export function introspecting(run: (c: AppContext, caller: Principal, now: number) => Promise<Response>) {
  return async (c: AppContext): Promise<Response> => {
    const now = Math.floor(Date.now() / 1000);
    const caller = await authenticateThrottled(c, c.req.header("cf-connecting-ip") ?? null, now, INTROSPECTION_KEY_SCOPES);
    recordKeyUse(c, caller, now);
    return run(c, caller, now);
  };
}

/** `run` gets the authenticated context and the `{id}` path parameter ("" on routes without one). */
export function managed(
  route: Pick<ManagementRoute, "audit">,
  run: (c: AppContext, ctx: ManagementContext, keyId: string) => Promise<Response>,
) {
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
      principal = await authenticateThrottled(c, base.ip, base.now);
      if (!TENANT_ID_PATTERN.test(tenant)) {
        throw new ApiError("invalid_request", "tenant must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
      }
      authorizeTenant(principal, tenant);
      recordKeyUse(c, principal, base.now);
      return await run(c, { ...base, principal }, keyId ?? "");
    } catch (err) {
      // A throttled client's attempts are one audit row per burst, not one per attempt.
      const audited = !(err instanceof ApiError) || err.code !== "rate_limited" || firstOfBurst(base.ip, base.now * 1000);
      if (err instanceof ApiError && audited && TENANT_ID_PATTERN.test(tenant)) {
        await recordRefusal(
          database(c.env.DB),
          auditEntry(
            { ...base, principal },
            route.audit,
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
