/**
 * How every management route (and the introspection route, which has no tenant in its path) is
 * served: authenticate the bearer credential, check the tenant, check the path id, then run the
 * route. Order matters: credentials are checked before anything about the tenant is revealed.
 *
 * Where a refused attempt is recorded depends on who made it (DESIGN.md invariant 10): a member of
 * the tenant (its user, or its own live key) in the tenant's audit log; anyone else (no credential,
 * a bad, revoked, expired or rotated one, another tenant's) only in the operator's per-hour counts (src/audit/refusals.ts), so
 * nobody outside a tenant can write its log. A client throttled for failing to authenticate
 * (src/abuse/auth-failures.ts) is recorded once per burst.
 */

import { firstOfBurst, recordAuthFailure, throttledFor } from "../abuse/auth-failures";
import { abuseConfig } from "../abuse/config";
import { auditActorOf, auditEntry, outcomeOf } from "../audit/entry";
import { recordForeignRefusal } from "../audit/refusals";
import { recordRefusal } from "../audit/service";
import {
  authenticateManagement,
  authorizeRole,
  authorizeTenant,
  INTROSPECTION_KEY_SCOPES,
  KeyRefusal,
  type ManagementContext,
  managementScopesFor,
  type Principal,
} from "../auth/principal";
import { lastUsedIntervalSeconds } from "../config/keys";
import { database } from "../db/client";
import { ApiError } from "../errors";
import { recordManagementScope } from "../governance/scope-usage";
import { requestClient } from "../http/client";
import { recordLastUsed } from "../keys/last-used";
import { satisfyingScope } from "../keys/scopes";
import { ID_NOUNS, isId } from "../lib/ids";
import { type AppContext, type ManagementRoute, pathIdKind, TENANT_ID_PATTERN } from "./spec";

/**
 * Refusals of the credential itself (401, a malformed header's 400) and of where it is used (403
 * access_denied: another tenant, an address outside the key's allowlist): they count towards
 * brute-force throttling of the client, so guessing tenants costs as much as guessing keys.
 */
const AUTHENTICATION_FAILURES: ReadonlySet<string> = new Set(["invalid_token", "invalid_request", "access_denied"]);
/**
 * On a tenant's management routes a key short of a scope counts too: each such refusal of a live
 * key is a row in its tenant's audit log, and a low-scope key is the kind that leaks (a data-plane
 * key in a client app), so unthrottled it could write the log without limit. (Introspection, which
 * writes no audit log, and the gateway do not count it: it is not a guess.)
 */
const MANAGEMENT_FAILURES: ReadonlySet<string> = new Set([...AUTHENTICATION_FAILURES, "insufficient_scope", "insufficient_role"]);

function tooManyFailures(retryAfterS: number): ApiError {
  return new ApiError("rate_limited", "Too many failed authentication attempts", { headers: { "retry-after": String(retryAfterS) } });
}
/**
 * The bearer's principal (`keyScopes`: what an API key must hold), throttling a client that keeps
 * failing to authenticate: its failures count, and past the limit it gets 429 before any check.
 */
async function authenticateThrottled(
  c: AppContext,
  ip: string | null,
  now: number,
  failures: ReadonlySet<string>,
  keyScopes?: readonly string[],
): Promise<Principal> {
  const nowMs = now * 1000;
  const throttled = throttledFor(ip, nowMs);
  if (throttled > 0) throw tooManyFailures(throttled);
  try {
    return await authenticateManagement(c.req.header("authorization") ?? null, c.env, now, ip, keyScopes);
  } catch (err) {
    countFailure(c, ip, now, err, failures);
    throw err;
  }
}

/** Counts `err` towards the client's throttling if it is one of `failures`; 429 past the limit. */
function countFailure(c: AppContext, ip: string | null, now: number, err: unknown, failures: ReadonlySet<string>): void {
  if (err instanceof ApiError && failures.has(err.code)) {
    const after = recordAuthFailure(ip, abuseConfig(c.env).authFailureLimit, c.env.AUTH_FAILURES, c.executionCtx, now * 1000);
    if (after > 0) throw tooManyFailures(after);
  }
}

/**
 * Who was refused, and whether they are a member of `tenant`: its user, or one of its own live keys
 * (also when refused for its scope or address). A revoked, expired or rotated key is named as the
 * actor but is an outsider: it may be public (src/auth/principal.ts KeyRefusal).
 */
function refusedActor(
  principal: Principal | undefined,
  err: ApiError,
  tenant: string,
): { actor: ReturnType<typeof auditActorOf>; member: boolean } {
  if (principal === undefined && err instanceof KeyRefusal) {
    return { actor: { actorKind: "key", actorId: err.key.keyId }, member: err.live && err.key.tenant === tenant };
  }
  const member = principal !== undefined && (principal.kind === "user" ? principal.tenants.has(tenant) : principal.tenant === tenant);
  return { actor: auditActorOf(principal), member };
}

/**
 * A management key in use is a key in use: "revoke unused keys" must not catch the rotation bot, and
 * the least-privilege report must see the management scope that let it in (`keyScopes`: what the route asked for).
 */
function recordKeyUse(c: AppContext, principal: Principal, now: number, keyScopes: readonly string[]): void {
  if (principal.kind !== "key") return;
  recordLastUsed(c.env.DB, c.executionCtx, principal.keyId, now, lastUsedIntervalSeconds(c.env));
  const scope = satisfyingScope(principal.scopes, keyScopes);
  if (scope !== null) recordManagementScope(c.env.DB, c.executionCtx, principal, scope, now);
}

/**
 * How introspection routes are served: the caller is a user, a management key, or a key holding
 * keys:introspect. There is no tenant in the path, so nothing is audited: which keys the caller may
 * introspect is the route's business (its tenants).
 */
export function introspecting(run: (c: AppContext, caller: Principal, now: number) => Promise<Response>) {
  return async (c: AppContext): Promise<Response> => {
    const now = Math.floor(Date.now() / 1000);
    const caller = await authenticateThrottled(
      c,
      c.req.header("cf-connecting-ip") ?? null,
      now,
      AUTHENTICATION_FAILURES,
      INTROSPECTION_KEY_SCOPES,
    );
    recordKeyUse(c, caller, now, INTROSPECTION_KEY_SCOPES);
    return run(c, caller, now);
  };
}

/**
 * `run` gets the authenticated context and the `{id}` path parameter ("" on routes without one),
 * which is a well-formed id of the kind the path names (src/lib/ids.ts): any other is a 404 before
 * it is looked up or stored.
 */
export function managed(
  route: Pick<ManagementRoute, "audit" | "path" | "role">,
  run: (c: AppContext, ctx: ManagementContext, keyId: string) => Promise<Response>,
) {
  const idKind = pathIdKind(route.path);
  const keyScopes = managementScopesFor(route.role);
  return async (c: AppContext): Promise<Response> => {
    const tenant = c.req.param("tenant") ?? "";
    const rawId = idKind === undefined ? null : (c.req.param("id") ?? null);
    const pathId = rawId !== null && idKind !== undefined && isId(idKind, rawId) ? rawId : null;
    const base = { tenant, now: Math.floor(Date.now() / 1000), ...requestClient(c.req.raw.headers) };
    let principal: Principal | undefined;
    try {
      principal = await authenticateThrottled(c, base.ip, base.now, MANAGEMENT_FAILURES, keyScopes);
      if (!TENANT_ID_PATTERN.test(tenant)) {
        throw new ApiError("invalid_request", "tenant must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
      }
      try {
        authorizeTenant(principal, tenant);
        // After the tenant: a role is only ever named to a member of the tenant.
        authorizeRole(principal, tenant, route.role);
      } catch (err) {
        countFailure(c, base.ip, base.now, err, MANAGEMENT_FAILURES);
        throw err;
      }
      recordKeyUse(c, principal, base.now, keyScopes);
      if (rawId !== null && pathId === null && idKind !== undefined) throw new ApiError("not_found", `${ID_NOUNS[idKind]} not found`);
      return await run(c, { ...base, principal }, pathId ?? "");
    } catch (err) {
      // A throttled client's attempts are one record per burst, not one per attempt.
      const recorded = !(err instanceof ApiError) || err.code !== "rate_limited" || firstOfBurst(base.ip, base.now * 1000);
      if (err instanceof ApiError && recorded && TENANT_ID_PATTERN.test(tenant)) {
        const db = database(c.env.DB);
        const { actor, member } = refusedActor(principal, err, tenant);
        if (member) {
          await recordRefusal(db, { ...auditEntry(base, route.audit, pathId, outcomeOf(err.status), err.status, err.code), ...actor });
        } else {
          await recordForeignRefusal(db, { ...base, ...actor, error: err.code });
        }
      }
      throw err;
    }
  };
}
