/**
 * Who is calling the management API: a user (access token from the identity provider) or a
 * management key (an API key of this deployment holding keys:manage or admin:all). The control
 * plane checks a management key against D1, the source of truth, not the edge caches.
 */
import { decodeProtectedHeader } from "jose";
import { ADMIN_ALL_SCOPE, KEYS_INTROSPECT_SCOPE, KEYS_MANAGE_SCOPE, KEYS_READ_SCOPE, keyConfig, userTokenConfig } from "../config/keys";
import { database } from "../db/client";
import type { RateLimitColumn } from "../db/schema";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { lookUpKey } from "../keys/lookup";
import { satisfies } from "../keys/scopes";
import { allowlistAdmits } from "../lib/ip";
import type { Quota } from "../vocab/quotas.mjs";
import { API_KEY_REFUSALS, type ApiKeyRefusalReason } from "../vocab/refusals.mjs";
import { ROLES, type Role, roleAllows, roleIn } from "../vocab/roles.mjs";
import { requireBearer } from "./bearer";
import { signingKeys } from "./signing-keys";
import { type UserPrincipal, verifyUserToken } from "./user-token";

export interface KeyPrincipal {
  kind: "key";
  keyId: string;
  tenant: string;
  sub: string;
  scopes: readonly string[];
  /** Unix seconds; undefined for a non-expiring key. */
  exp: number | undefined;
  /** The key's own rate limits: it may not grant looser ones. */
  rateLimits: RateLimitColumn[] | null;
  /** The key's own allowlist (canonical CIDR texts): it may not grant a wider one. */
  allowedIps: string[] | null;
  /** The key's own quota and limit group: it may not grant a looser quota, nor another group. */
  quota: Quota | null;
  limitGroup: string | null;
}

export type Principal = UserPrincipal | KeyPrincipal;

/** One management request: who, for which tenant, when and from where. */
export interface ManagementContext {
  tenant: string;
  principal: Principal;
  /** Unix seconds. */
  now: number;
  ip: string | null;
  userAgent: string | null;
}

/**
 * Management keys keep their scopes; each management scope stands for a role's capabilities.
 * keys:manage is an admin, as it could do everything before roles existed (a rotation bot's key
 * keeps working); keys:read is a viewer, for dashboards and exporters.
 */
export const MANAGEMENT_SCOPE_ROLES: Readonly<Record<string, Role>> = {
  [KEYS_READ_SCOPE]: "viewer",
  [KEYS_MANAGE_SCOPE]: "admin",
  [ADMIN_ALL_SCOPE]: "admin",
};

/** The management scopes an API key must hold one of to act with `role` (admin:all satisfies every check anyway). */
export function managementScopesFor(role: Role): string[] {
  return Object.entries(MANAGEMENT_SCOPE_ROLES)
    .filter(([scope, granted]) => scope !== ADMIN_ALL_SCOPE && roleAllows(granted, role))
    .map(([scope]) => scope);
}

export const MANAGEMENT_SCOPES = [...managementScopesFor("viewer"), ADMIN_ALL_SCOPE] as const;
/** API keys that may introspect keys of their tenant: keys:introspect, or any management key. */
export const INTROSPECTION_KEY_SCOPES = [KEYS_INTROSPECT_SCOPE, KEYS_MANAGE_SCOPE] as const;

/**
 * A refusal of a genuine API key (signed by keygate and matching its row): revoked, expired or
 * rotated past its grace (`live: false`), or live but short of scope or used from outside its
 * allowlist (`live: true`). It names the key, so the refusal is recorded as that key's: in its own
 * tenant's audit log when it is live and that is the tenant in the path, else as an outsider's
 * (a dead key may be public: a key revoked because it leaked is, by definition).
 */
export class KeyRefusal extends ApiError {
  constructor(
    readonly key: { keyId: string; tenant: string },
    readonly live: boolean,
    ...args: ConstructorParameters<typeof ApiError>
  ) {
    super(...args);
  }
}

function refuseKey(reason: ApiKeyRefusalReason, key?: { keyId: string; tenant: string }): never {
  const args = ["invalid_token", API_KEY_REFUSALS[reason], { challenge: "bearer" }] as const;
  throw key === undefined ? new ApiError(...args) : new KeyRefusal(key, false, ...args);
}

function refuseUserToken(reason: "expired" | "invalid"): never {
  throw new ApiError("invalid_token", reason === "expired" ? "Access token has expired" : "Access token is invalid", {
    challenge: "bearer",
  });
}

/**
 * The principal behind the request's bearer credential, or the 400/401/403 that refuses it. An API
 * key must hold one of `keyScopes` (admin:all holds them all); users are checked per tenant later.
 */
export async function authenticateManagement(
  authorization: string | null,
  env: Env,
  now: number,
  clientIp: string | null,
  keyScopes: readonly string[] = [KEYS_MANAGE_SCOPE],
): Promise<Principal> {
  const token = requireBearer(authorization, "Missing credentials: send Authorization: Bearer <user-access-token>");
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    refuseUserToken("invalid");
  }
  const ring = await signingKeys(env.SIGNING_KEYS);
  if (kid === undefined || !ring.byKid.has(kid)) {
    const result = await verifyUserToken(token, userTokenConfig(env), now);
    if (!result.ok) refuseUserToken(result.reason);
    return result.principal;
  }

  const found = await lookUpKey({ db: database(env.DB), ring, keyConfig: keyConfig(env) }, token, now);
  if (found.kind === "unverified") refuseKey(found.reason);
  if (found.kind !== "found") refuseKey("invalid");
  const { claims, row, status } = found;
  const key = { keyId: claims.keyId, tenant: claims.tenant };
  if (status !== "active") refuseKey(status, key);
  if (!satisfies(claims.scopes, keyScopes)) {
    throw new KeyRefusal(key, true, "insufficient_scope", "API key does not have required permissions", {
      challenge: "bearer",
      scope: [...keyScopes, ADMIN_ALL_SCOPE].join(" "),
    });
  }
  if (row.allowedIps !== null && !allowlistAdmits(row.allowedIps, clientIp)) {
    throw new KeyRefusal(key, true, "access_denied", "API key may not be used from this IP address");
  }
  return {
    kind: "key",
    keyId: claims.keyId,
    tenant: claims.tenant,
    sub: claims.sub,
    scopes: claims.scopes,
    exp: claims.exp,
    rateLimits: row.rateLimits,
    allowedIps: row.allowedIps,
    quota: row.quota ?? null,
    limitGroup: row.limitGroup ?? null,
  };
}

/** 403 unless the principal may manage `tenant`. Says nothing about whether the tenant exists. */
export function authorizeTenant(principal: Principal, tenant: string): void {
  const allowed = principal.kind === "user" ? principal.tenants.has(tenant) : principal.tenant === tenant;
  if (!allowed) {
    throw new ApiError("access_denied", "This credential may not manage API keys of this tenant");
  }
}

/** The role `principal` acts with in `tenant` (a tenant it may manage): a user's from its token, a key's from its scopes. */
export function roleOf(principal: Principal, tenant: string): Role | null {
  if (principal.kind === "user") return roleIn(principal.roles, tenant, principal.defaultRole);
  // As authenticateManagement checks it: admin:all, or a wildcard over a management scope, counts.
  let best: Role | null = null;
  for (const role of ROLES) if (satisfies(principal.scopes, managementScopesFor(role))) best = role;
  return best;
}

/**
 * 403 insufficient_role unless the principal holds `need` in `tenant`, naming the role needed. A
 * management key short of it never gets here: authenticateManagement asked it for the scopes
 * that role maps to (managementScopesFor) and refused it with insufficient_scope, as RFC 6750 says.
 */
export function authorizeRole(principal: Principal, tenant: string, need: Role): void {
  const have = roleOf(principal, tenant);
  if (roleAllows(have, need)) return;
  throw new ApiError(
    "insufficient_role",
    `This needs the ${need} role in this tenant; this credential has ${have === null ? "no role" : `the ${have} role`}`,
  );
}

/** How the key tables name an actor ("user:<sub>", "key:<id>"). */
export function actorLabel(principal: Principal): string {
  return principal.kind === "user" ? `user:${principal.sub}` : `key:${principal.keyId}`;
}
