/**
 * Reads wrangler vars and secrets into typed, validated configuration. Each section is parsed
 * once per isolate and only when first used, so a broken route policy cannot stop the management
 * API from revoking a leaked key.
 */
import type { JSONWebKeySet } from "jose";
import type { Env } from "./env";
import { ConfigError } from "./errors";
import { PATH_MODES, type PathMode } from "./gateway/path-contract";
import { type CompiledPolicy, compilePolicy, type UnmatchedRoutes } from "./gateway/policy";
import { DEFAULT_USAGE_FLUSH_MS } from "./usage/events";
import { DEFAULT_ROLE_SETTINGS, type DefaultRoleSetting } from "./vocab/roles";
import { DEFAULT_WEBHOOK_MAX_ATTEMPTS, DEFAULT_WEBHOOK_RETRY_BASE_SECONDS, type DeliveryConfig } from "./webhooks/deliver";

/** The seed's "Common Scopes", plus keys:manage for management keys and keys:introspect for origins. */
export const DEFAULT_SCOPE_CATALOG: Readonly<Record<string, string>> = {
  "api:read": "Read API resources",
  "admin:read": "Read admin resources",
  "api:write": "Create/update API resources",
  "admin:write": "Create/update admin resources",
  "deploy:staging": "Deploy to staging",
  "deploy:production": "Deploy to production",
  "billing:manage": "Manage billing",
  "users:manage": "Manage users",
  "admin:all": "Full administrative access",
  "keys:manage": "Manage this tenant's API keys through the management API",
  "keys:introspect": "Ask keygate whether a key of this tenant is active (POST /api/v1/introspect)",
  "keys:read": "Read this tenant's keys, usage, alerts, audit log and settings through the management API (a viewer's reads)",
};

/** The scope that satisfies every route rule and every management check. */
export const ADMIN_ALL_SCOPE = "admin:all";
/** The scope that lets an API key call the management API of its own tenant. */
export const KEYS_MANAGE_SCOPE = "keys:manage";
/** The scope that lets an API key introspect keys of its own tenant (RFC 7662). */
export const KEYS_INTROSPECT_SCOPE = "keys:introspect";
/** The read-only management scope: a viewer's capabilities, for dashboards and exporters. */
export const KEYS_READ_SCOPE = "keys:read";

/**
 * The seed's "Security Considerations" bound production deployment keys to 30-90 days. Its other
 * bands (development 7-30, testing 1-7) describe a key's purpose, which no scope of the catalog
 * names, so they are left to each deployment's SCOPE_MAX_LIFETIME_DAYS.
 */
export const DEFAULT_SCOPE_MAX_LIFETIME_DAYS: Readonly<Record<string, number>> = { "deploy:production": 90 };
const SCOPE_MAX_LIFETIME_DAYS_LIMIT = 3650;

const SCOPE_PATTERN = /^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.*-]+)*$/;
const SCOPE_MAX_LENGTH = 64;
const DEFAULT_ORIGIN_TIMEOUT_MS = 30_000;
const DEFAULT_REVOCATION_CACHE_TTL_SECONDS = 10;
const DEFAULT_LAST_USED_INTERVAL_SECONDS = 60;
const DEFAULT_AUTH_FAILURE_LIMIT = 20;

export interface KeyConfig {
  issuer: string;
  audience: string;
}

export interface UserTokenConfig {
  jwks: { kind: "inline"; set: JSONWebKeySet } | { kind: "url"; url: URL };
  issuer: string;
  audience: string;
  tenantsClaim: string;
  /** The claim holding the user's roles (USER_TOKEN_ROLES_CLAIM, default "keygate_roles"). */
  rolesClaim: string;
  /** The role of a token without that claim (USER_TOKEN_DEFAULT_ROLE, default "admin": deployments before roles keep working). */
  defaultRole: DefaultRoleSetting;
}

export type ScopeCatalog = ReadonlyMap<string, string>;

/** Scope -> the longest lifetime (days) a key holding it may have. */
export type ScopeLifetimePolicy = ReadonlyMap<string, number>;

export interface AbuseConfig {
  /** Failed authentications per client per 60 s before 429. */
  authFailureLimit: number;
  /** What the gateway does when a key's rate-limit counter cannot be reached. */
  rateLimitFailureMode: "open" | "closed";
}

export interface GatewayConfig {
  /** ORIGIN_URL without a trailing slash; request paths are appended byte for byte. */
  origin: string;
  originTimeoutMs: number;
  forwardAuthorization: boolean;
  /** FORWARD_KEY_META: the origin receives the key's metadata as X-Keygate-Meta. */
  forwardKeyMeta: boolean;
  unmatched: UnmatchedRoutes;
  policy: CompiledPolicy;
  /** What the gateway does with a path an origin could read another way (src/gateway/path-contract.ts). */
  pathNormalization: PathMode;
  revocationCacheTtlMs: number;
  lastUsedIntervalSeconds: number;
}

/** Memoizes a parse of `env` per isolate: the runtime hands the same env object to every request. */
export function perEnv<T>(parse: (env: Env) => T): (env: Env) => T {
  const cache = new WeakMap<Env, T>();
  return (env) => {
    let value = cache.get(env);
    if (value === undefined) {
      value = parse(env);
      cache.set(env, value);
    }
    return value;
  };
}

function required(env: Env, name: keyof Env): string {
  const value = env[name];
  if (typeof value !== "string" || value.trim() === "") throw new ConfigError(`${name} is not set`);
  return value.trim();
}

function positiveInt(env: Env, name: keyof Env, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new ConfigError(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return value;
}

function bool(env: Env, name: keyof Env, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(`${name} must be "true" or "false", got ${JSON.stringify(raw)}`);
}

/** A var that may be a JSON binding (TOML table/array) or JSON text (`--var`, dashboard). */
function jsonVar(env: Env, name: keyof Env): unknown {
  const raw = env[name];
  if (typeof raw !== "string") return raw;
  if (raw.trim() === "") return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} is not valid JSON`);
  }
}

export const keyConfig = perEnv(
  (env): KeyConfig => ({
    issuer: required(env, "KEY_ISSUER"),
    audience: required(env, "KEY_AUDIENCE"),
  }),
);

/** The user-token claim read for roles when USER_TOKEN_ROLES_CLAIM is unset. */
export const DEFAULT_ROLES_CLAIM = "keygate_roles";

export const userTokenConfig = perEnv((env): UserTokenConfig => {
  const issuer = required(env, "USER_TOKEN_ISSUER");
  const audience = required(env, "USER_TOKEN_AUDIENCE");
  const tenantsClaim = env.USER_TOKEN_TENANTS_CLAIM?.trim() || "tenants";
  const rolesClaim = env.USER_TOKEN_ROLES_CLAIM?.trim() || DEFAULT_ROLES_CLAIM;
  const defaultRole = (env.USER_TOKEN_DEFAULT_ROLE?.trim() || "admin") as DefaultRoleSetting;
  if (!DEFAULT_ROLE_SETTINGS.includes(defaultRole)) {
    throw new ConfigError(`USER_TOKEN_DEFAULT_ROLE must be one of ${DEFAULT_ROLE_SETTINGS.join(", ")}, got ${JSON.stringify(defaultRole)}`);
  }
  const claims = { tenantsClaim, rolesClaim, defaultRole };
  if (env.USER_TOKEN_JWKS?.trim()) {
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
  const raw = jsonVar(env, "SCOPE_CATALOG") ?? DEFAULT_SCOPE_CATALOG;
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
  const raw = configured ?? DEFAULT_SCOPE_MAX_LIFETIME_DAYS;
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
export const lastUsedIntervalSeconds = perEnv((env): number =>
  positiveInt(env, "LAST_USED_INTERVAL_SECONDS", DEFAULT_LAST_USED_INTERVAL_SECONDS),
);

export const gatewayConfig = perEnv((env): GatewayConfig => {
  const originRaw = required(env, "ORIGIN_URL");
  let origin: URL;
  try {
    origin = new URL(originRaw);
  } catch {
    throw new ConfigError("ORIGIN_URL is not a URL");
  }
  if (origin.protocol !== "http:" && origin.protocol !== "https:") throw new ConfigError("ORIGIN_URL must be http(s)");
  if (origin.search || origin.hash) throw new ConfigError("ORIGIN_URL must not have a query or fragment");
  const unmatched = env.UNMATCHED_ROUTES?.trim() || "authenticate";
  if (unmatched !== "authenticate" && unmatched !== "deny") {
    throw new ConfigError(`UNMATCHED_ROUTES must be "authenticate" or "deny", got ${JSON.stringify(unmatched)}`);
  }
  const pathNormalization = (env.PATH_NORMALIZATION?.trim() || "reject") as PathMode;
  if (!PATH_MODES.includes(pathNormalization)) {
    throw new ConfigError(`PATH_NORMALIZATION must be "reject" or "normalize", got ${JSON.stringify(pathNormalization)}`);
  }
  let policy: CompiledPolicy;
  try {
    policy = compilePolicy(jsonVar(env, "ROUTE_POLICY") ?? []);
  } catch (err) {
    throw new ConfigError(`ROUTE_POLICY: ${(err as Error).message}`);
  }
  const catalog = scopeCatalog(env);
  const unknownScopes = [...policy.scopes].filter((s) => !catalog.has(s));
  if (unknownScopes.length > 0) {
    throw new ConfigError(`ROUTE_POLICY requires scopes missing from the scope catalog: ${unknownScopes.join(", ")}`);
  }
  return {
    origin: origin.href.replace(/\/+$/, ""),
    originTimeoutMs: positiveInt(env, "ORIGIN_TIMEOUT_MS", DEFAULT_ORIGIN_TIMEOUT_MS, 1),
    forwardAuthorization: bool(env, "FORWARD_AUTHORIZATION", true),
    forwardKeyMeta: bool(env, "FORWARD_KEY_META", false),
    unmatched,
    policy,
    pathNormalization,
    revocationCacheTtlMs: positiveInt(env, "REVOCATION_CACHE_TTL_SECONDS", DEFAULT_REVOCATION_CACHE_TTL_SECONDS) * 1000,
    lastUsedIntervalSeconds: lastUsedIntervalSeconds(env),
  };
});

/** Brute-force throttling and rate-limit failure mode; both planes use it. */
export const abuseConfig = perEnv((env): AbuseConfig => {
  const mode = env.RATE_LIMIT_FAILURE_MODE?.trim() || "open";
  if (mode !== "open" && mode !== "closed") {
    throw new ConfigError(`RATE_LIMIT_FAILURE_MODE must be "open" or "closed", got ${JSON.stringify(mode)}`);
  }
  return {
    authFailureLimit: positiveInt(env, "AUTH_FAILURE_LIMIT", DEFAULT_AUTH_FAILURE_LIMIT, 1),
    rateLimitFailureMode: mode,
  };
});

export interface UsageConfig {
  enabled: boolean;
  flushMs: number;
  /** Days each roll-up granularity is kept (pruned by the cron). */
  retentionDays: { minute: number; hour: number; day: number };
}

export const usageConfig = perEnv((env): UsageConfig => {
  const enabled = env.USAGE_EVENTS?.trim() || "on";
  if (enabled !== "on" && enabled !== "off") throw new ConfigError(`USAGE_EVENTS must be "on" or "off", got ${JSON.stringify(enabled)}`);
  return {
    enabled: enabled === "on",
    flushMs: positiveInt(env, "USAGE_FLUSH_MS", DEFAULT_USAGE_FLUSH_MS),
    retentionDays: {
      minute: positiveInt(env, "USAGE_RETENTION_MINUTE_DAYS", 7, 1),
      hour: positiveInt(env, "USAGE_RETENTION_HOUR_DAYS", 90, 1),
      day: positiveInt(env, "USAGE_RETENTION_DAY_DAYS", 730, 1),
    },
  };
});

/** A year: long enough to answer "who did this?" about a key that lives the default 90 days, and then some. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 365;

/** Days audit entries and refusal counts are kept before the cron prunes them. */
export const auditRetentionDays = perEnv((env): number => positiveInt(env, "AUDIT_RETENTION_DAYS", DEFAULT_AUDIT_RETENTION_DAYS, 1));

export const DEFAULT_WEBHOOK_DNS_RESOLVER = "https://cloudflare-dns.com/dns-query";

export const deliveryConfig = perEnv((env): DeliveryConfig => {
  const resolver = env.WEBHOOK_DNS_RESOLVER?.trim() || DEFAULT_WEBHOOK_DNS_RESOLVER;
  if (resolver !== "off" && !/^https?:\/\//.test(resolver)) throw new ConfigError('WEBHOOK_DNS_RESOLVER must be an http(s) URL or "off"');
  return {
    destinations: {
      allowInsecureLoopback: bool(env, "WEBHOOK_ALLOW_INSECURE_LOOPBACK", false),
      resolverUrl: resolver === "off" ? null : resolver,
    },
    retryBaseSeconds: positiveInt(env, "WEBHOOK_RETRY_BASE_SECONDS", DEFAULT_WEBHOOK_RETRY_BASE_SECONDS),
    maxAttempts: positiveInt(env, "WEBHOOK_MAX_ATTEMPTS", DEFAULT_WEBHOOK_MAX_ATTEMPTS, 1),
  };
});
