/**
 * Grant policy: what a principal may hand out when it creates, rotates or changes a key. A
 * management key grants nothing it does not hold (DESIGN.md invariant 11): scopes, lifetime,
 * rate limits, allowlist; SCOPE_MAX_LIFETIME_DAYS bounds keys holding risky scopes. Pure checks,
 * no I/O: each throws the 4xx the caller returns, before anything is written.
 */

import type { ManagementContext } from "../auth/principal";
import { ADMIN_ALL_SCOPE, type ScopeLifetimePolicy } from "../config/keys";
import type { ApiKeyRow } from "../db/schema";
import { ApiError } from "../errors";
import { type CidrRange, parseCidr, rangeContains } from "../lib/ip";
import type { Quota } from "../vocab/quotas.mjs";
import type { RateLimit } from "./requests";
import { covers, satisfies } from "./scopes";

/**
 * SCOPE_MAX_LIFETIME_DAYS: a key holding a limited scope must expire within that scope's maximum.
 * A key satisfying the scope through admin:all is a key holding it (it passes the same route
 * rules), so the limit applies to it too. With several limits the strictest is named.
 */
export function assertLifetimeAllowed(policy: ScopeLifetimePolicy, scopes: readonly string[], expiresInDays: number): void {
  let strictest: [string, number] | undefined;
  for (const [scope, maxDays] of policy) {
    if (satisfies(scopes, [scope]) && (strictest === undefined || maxDays < strictest[1])) strictest = [scope, maxDays];
  }
  if (strictest === undefined) return;
  const [scope, maxDays] = strictest;
  if (expiresInDays === 0 || expiresInDays > maxDays) {
    const through = scopes.includes(scope) ? undefined : covers(scopes, scope) ? scopes.find((s) => covers([s], scope)) : ADMIN_ALL_SCOPE;
    const via = through === undefined ? "" : ` (through ${through})`;
    throw new ApiError(
      "invalid_request",
      `expires_in_days must be 1 to ${maxDays}: a key holding ${scope}${via} may live at most ${maxDays} days (SCOPE_MAX_LIFETIME_DAYS), and cannot be non-expiring`,
    );
  }
}

/**
 * A management key with rate limits may not hand out looser ones: for each of its limits the new key
 * needs one over the same window with no larger `limit` (so no limits at all is looser than any).
 */
export function assertLimitsNoLooser(ctx: ManagementContext, limits: readonly RateLimit[] | null): void {
  const { principal } = ctx;
  if (principal.kind !== "key") return;
  for (const own of principal.rateLimits ?? []) {
    if (!limits?.some((l) => l.window_seconds === own.window_seconds && l.limit <= own.limit)) {
      throw new ApiError(
        "access_denied",
        `A management key with rate limits cannot grant looser ones: rate_limits needs a limit of at most ${own.limit} per ${own.window_seconds} s (as its own "${own.name}")`,
      );
    }
  }
}

/**
 * A management key with a quota may not hand out a looser one: the new key needs a quota over the
 * same period with no larger `limit` (so none at all is looser than any).
 */
export function assertQuotaNoLooser(ctx: ManagementContext, quota: Quota | null): void {
  const { principal } = ctx;
  if (principal.kind !== "key" || principal.quota === null) return;
  const own = principal.quota;
  if (quota === null || quota.period !== own.period || quota.limit > own.limit) {
    throw new ApiError(
      "access_denied",
      `A management key with a quota cannot grant a looser one: quota needs a limit of at most ${own.limit} per period "${own.period}" (as its own)`,
    );
  }
}

/**
 * A management key in a limit group may put a key only in that group, or in none; one outside every
 * group may put a key in none. Users may use any group of the tenant.
 */
export function assertMayJoinGroup(ctx: ManagementContext, group: string | null): void {
  const { principal } = ctx;
  if (principal.kind !== "key" || group === null || group === principal.limitGroup) return;
  throw new ApiError(
    "access_denied",
    principal.limitGroup === null
      ? "A management key outside every limit group cannot put a key in one: limit_group must be null or omitted"
      : `A management key can only put a key in its own limit group (${principal.limitGroup}), or in none`,
  );
}

/**
 * A management key with an allowlist may not hand out a wider one (DESIGN.md invariant 11): each
 * entry of `requested` must lie within one of its own entries, and none at all (null: usable from
 * anywhere) is wider than any. `requested` undefined: the field was omitted, nothing to check.
 * Users are not limited here. A 400 naming the field, before anything is written.
 */
export function assertAllowlistNoWider(ctx: ManagementContext, requested: readonly string[] | null | undefined): void {
  const { principal } = ctx;
  if (principal.kind !== "key" || principal.allowedIps === null || requested === undefined) return;
  const own = principal.allowedIps.map(cidr);
  const ownText = principal.allowedIps.join(", ");
  if (requested === null) {
    throw new ApiError(
      "invalid_request",
      `allowed_ips cannot be removed by a management key with an allowlist: give addresses within its own (${ownText})`,
    );
  }
  requested.forEach((entry, i) => {
    const range = cidr(entry);
    if (!own.some((o) => rangeContains(o, range))) {
      throw new ApiError(
        "invalid_request",
        `allowed_ips[${i}] ${JSON.stringify(entry)} is not within this management key's own allowlist (${ownText}); it cannot grant use from addresses it may not use itself`,
      );
    }
  });
}

/** Whether a stored allowlist lies within the principal's own (always, for users and unpinned keys). */
export function allowlistWithinOwn(ctx: ManagementContext, list: readonly string[] | null): boolean {
  try {
    assertAllowlistNoWider(ctx, list);
    return true;
  } catch {
    return false;
  }
}

/** A stored, canonical allowlist entry as a range. */
function cidr(text: string): CidrRange {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`stored allowlist entry ${JSON.stringify(text)} ${parsed.reason}`);
  return parsed.range;
}

/**
 * No escalation through management keys: a key may only hand out scopes it holds (admin:all
 * holds every scope; a wildcard such as `deploy:*` the scopes under it and narrower wildcards, so a
 * wildcard is granted only by a key holding it, a wider one, or admin:all) and lifetimes that end no later than its own. Users are not limited here.
 * A management key rotating itself may give its replacement a lifetime as long as its own (the
 * unattended rotation the seed recommends for the rotation job's own key), never longer.
 */
export function assertMayGrant(ctx: ManagementContext, scopes: readonly string[], expiresAt: number | null, self?: ApiKeyRow): void {
  const { principal } = ctx;
  if (principal.kind !== "key") return;
  if (!principal.scopes.includes(ADMIN_ALL_SCOPE)) {
    const missing = scopes.filter((s) => !covers(principal.scopes, s));
    if (missing.length > 0) {
      throw new ApiError("access_denied", `A management key cannot grant scopes it does not hold: ${missing.join(", ")}`);
    }
  }
  if (principal.exp === undefined) return;
  const latest = self?.expiresAt != null ? ctx.now + (self.expiresAt - self.createdAt) : principal.exp;
  if (expiresAt === null || expiresAt > latest) {
    throw new ApiError(
      "access_denied",
      self
        ? `A management key rotating itself cannot lengthen its lifetime: expires_at must be at most ${latest}`
        : `A management key cannot create a key that outlives itself: expires_at must be at most ${latest}`,
    );
  }
}
