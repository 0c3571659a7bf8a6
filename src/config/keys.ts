/**
 * The key and credential domain's config section: API keys' issuer and audience, user tokens, the
 * scope catalog and its lifetime policy, last_used writes. Shared by keys, auth and both planes.
 */
import type { JSONWebKeySet } from "jose";
import { ConfigError } from "../errors";
import type { DefaultRoleSetting } from "../vocab/roles.mjs";
import { enumVar, integerVar, jsonVar, perEnv, required, stringVar, text } from "./read";
import { VARS } from "./vars";

/** The seed's "Common Scopes", plus keys:manage and keys:read for management keys and keys:introspect for origins. */
export const DEFAULT_SCOPE_CATALOG: Readonly<Record<string, string>> = VARS.SCOPE_CATALOG.default;

/** The scope that satisfies every route rule and every management check. */
export const ADMIN_ALL_SCOPE = "admin:all";
/** The scope that lets an API key call the management API of its own tenant. */
export const KEYS_MANAGE_SCOPE = "keys:manage";
/** The scope that lets an API key introspect keys of its own tenant (RFC 7662). */
export const KEYS_INTROSPECT_SCOPE = "keys:introspect";
/** The read-only management scope: a viewer's capabilities, for dashboards and exporters. */
export const KEYS_READ_SCOPE = "keys:read";

const SCOPE_MAX_LIFETIME_DAYS_LIMIT = 3650;

const SCOPE_PATTERN = /^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.*-]+)*$/;
const SCOPE_MAX_LENGTH = 64;

export interface KeyConfig {
  issuer: string;
  audience: string;
}

export interface UserTokenConfig {
  jwks: { kind: "inline"; set: JSONWebKeySet } | { kind: "url"; url: URL };
  issuer: string;
  audience: string;
  tenantsClaim: string;
  /** The claim holding the user's roles (USER_TOKEN_ROLES_CLAIM). */
  rolesClaim: string;
  /** The role of a token without that claim (USER_TOKEN_DEFAULT_ROLE; default admin: deployments before roles keep working). */
  defaultRole: DefaultRoleSetting;
}

export type ScopeCatalog = ReadonlyMap<string, string>;

/** Scope -> the longest lifetime (days) a key holding it may have. */
export type ScopeLifetimePolicy = ReadonlyMap<string, number>;

export const keyConfig = perEnv(
  (env): KeyConfig => ({
    issuer: required(env, "KEY_ISSUER"),
    audience: required(env, "KEY_AUDIENCE"),
  }),
);

export const userTokenConfig = perEnv((env): UserTokenConfig => {
  const issuer = required(env, "USER_TOKEN_ISSUER");
  const audience = required(env, "USER_TOKEN_AUDIENCE");
  const claims = {
    tenantsClaim: stringVar(env, "USER_TOKEN_TENANTS_CLAIM"),
    rolesClaim: stringVar(env, "USER_TOKEN_ROLES_CLAIM"),
    defaultRole: enumVar(env, "USER_TOKEN_DEFAULT_ROLE"),
  };
  if (typeof env.USER_TOKEN_JWKS === "object" || text(env, "USER_TOKEN_JWKS") !== undefined) {
    const set = jsonVar(env, "USER_TOKEN_JWKS") as JSONWebKeySet;
    if (!set || !Array.isArray(set.keys) || set.keys.length === 0) {
      throw new ConfigError('USER_TOKEN_JWKS must be a JWK set: {"keys":[...]}');
    }
    if (set.keys.some((k) => "d" in k)) throw new ConfigError("USER_TOKEN_JWKS must hold public keys only");
    return { jwks: { kind: "inline", set }, issuer, audience, ...claims };
  }
  const url = required(env, "USER_TOKEN_JWKS_URL");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError("USER_TOKEN_JWKS_URL is not a URL");
  }
  return { jwks: { kind: "url", url: parsed }, issuer, audience, ...claims };
});

export const scopeCatalog = perEnv((env): ScopeCatalog => {
  const raw = jsonVar(env, "SCOPE_CATALOG") ?? VARS.SCOPE_CATALOG.default;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError("SCOPE_CATALOG must be an object of scope -> description");
  }
  const catalog = new Map<string, string>();
  for (const [scope, description] of Object.entries(raw)) {
    if (scope.length > SCOPE_MAX_LENGTH || !SCOPE_PATTERN.test(scope)) {
      throw new ConfigError(`SCOPE_CATALOG has an invalid scope name ${JSON.stringify(scope)}`);
    }
    if (typeof description !== "string") throw new ConfigError(`SCOPE_CATALOG[${scope}] must be a string`);
    catalog.set(scope, description);
  }
  if (catalog.size === 0) throw new ConfigError("SCOPE_CATALOG is empty");
  return catalog;
});

/**
 * SCOPE_MAX_LIFETIME_DAYS: scope -> maximum days. Configured scopes must be in the catalog; the
 * default's scopes are dropped when a custom catalog lacks them.
 */
export const scopeLifetimePolicy = perEnv((env): ScopeLifetimePolicy => {
  const configured = jsonVar(env, "SCOPE_MAX_LIFETIME_DAYS");
  const raw = configured ?? VARS.SCOPE_MAX_LIFETIME_DAYS.default;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError("SCOPE_MAX_LIFETIME_DAYS must be an object of scope -> maximum days");
  }
  const catalog = scopeCatalog(env);
  const policy = new Map<string, number>();
  for (const [scope, days] of Object.entries(raw)) {
    if (!catalog.has(scope)) {
      if (configured === undefined) continue;
      throw new ConfigError(`SCOPE_MAX_LIFETIME_DAYS names ${JSON.stringify(scope)}, which is not in the scope catalog`);
    }
    if (!Number.isInteger(days) || days < 1 || days > SCOPE_MAX_LIFETIME_DAYS_LIMIT) {
      throw new ConfigError(`SCOPE_MAX_LIFETIME_DAYS[${scope}] must be an integer from 1 to ${SCOPE_MAX_LIFETIME_DAYS_LIMIT}`);
    }
    policy.set(scope, days);
  }
  return policy;
});

/** How often (at most) each isolate writes a key's last_used; both planes use it. */
export const lastUsedIntervalSeconds = perEnv((env): number => integerVar(env, "LAST_USED_INTERVAL_SECONDS"));
