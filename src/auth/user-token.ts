/**
 * User access tokens: JWTs from the deployment's identity provider, verified against its JWKS
 * (a URL, or an inline set in dev). Tenant membership is a claim (default `tenants`), roles another
 * (default `keygate_roles`, src/vocab/roles.mjs).
 */
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { UserTokenConfig } from "../config/keys";
import { ApiError } from "../errors";
import { escapeControlCharacters } from "../lib/escape-control-characters";
import { type DefaultRoleSetting, type RoleClaim, readRoleClaim } from "../vocab/roles.mjs";

/** Asymmetric algorithms only: an HMAC "IdP key" would let anyone holding the JWKS mint tokens. */
const USER_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519"];

export interface UserPrincipal {
  kind: "user";
  sub: string;
  tenants: ReadonlySet<string>;
  /** What the token's roles claim says (USER_TOKEN_ROLES_CLAIM), read once. */
  roles: RoleClaim;
  /** The role of a token without the claim (USER_TOKEN_DEFAULT_ROLE). */
  defaultRole: DefaultRoleSetting;
}

export type UserTokenVerification = { ok: true; principal: UserPrincipal } | { ok: false; reason: "expired" | "invalid" };

/** How long a fetched identity-provider JWKS is used before it is fetched again. */
const REMOTE_JWKS_MAX_AGE_MS = 10 * 60_000;
/** An unknown `kid` refetches the JWKS (the IdP rotated), but not more often than this. */
const REMOTE_JWKS_COOLDOWN_MS = 30_000;
const REMOTE_JWKS_TIMEOUT_MS = 5_000;

const inlineKeySets = new WeakMap<UserTokenConfig, JWTVerifyGetKey>();
/** The last fetched remote key set, as a resolved value: never a promise another request made. */
let remote: { url: string; getKey: JWTVerifyGetKey; fetchedAtMs: number } | undefined;

async function fetchRemoteKeySet(url: URL): Promise<JWTVerifyGetKey> {
  let jwks: unknown;
  try {
    const res = await fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(REMOTE_JWKS_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    jwks = await res.json();
  } catch (err) {
    console.error(`fetching the identity provider's JWKS from ${url.href} failed`, err);
    throw new ApiError("temporarily_unavailable", "The identity provider's signing keys could not be fetched; try again shortly");
  }
  if (!Array.isArray((jwks as JSONWebKeySet | null)?.keys)) {
    console.error(`${url.href} did not return a JWK set`);
    throw new ApiError("temporarily_unavailable", "The identity provider's signing keys could not be fetched; try again shortly");
  }
  const getKey = createLocalJWKSet(jwks as JSONWebKeySet);
  remote = { url: url.href, getKey, fetchedAtMs: Date.now() };
  return getKey;
}

/**
 * Key lookup for user tokens. A remote JWKS is cached per isolate and refetched when stale or
 * when a token names a `kid` it lacks (at most once per cooldown). Each request that needs a
 * fetch makes its own: workerd refuses to let one request finish another's I/O.
 */
function keyLookup(config: UserTokenConfig): JWTVerifyGetKey {
  if (config.jwks.kind === "inline") {
    let getKey = inlineKeySets.get(config);
    if (!getKey) {
      getKey = createLocalJWKSet(config.jwks.set);
      inlineKeySets.set(config, getKey);
    }
    return getKey;
  }
  const url = config.jwks.url;
  return async (header, token) => {
    const now = Date.now();
    const current = remote?.url === url.href ? remote : undefined;
    const getKey = current && now - current.fetchedAtMs < REMOTE_JWKS_MAX_AGE_MS ? current.getKey : await fetchRemoteKeySet(url);
    try {
      return await getKey(header, token);
    } catch (err) {
      const fetchedAtMs = remote?.url === url.href ? remote.fetchedAtMs : 0;
      if (!(err instanceof errors.JWKSNoMatchingKey) || now - fetchedAtMs < REMOTE_JWKS_COOLDOWN_MS) throw err;
      return (await fetchRemoteKeySet(url))(header, token);
    }
  };
}

function tenantsFrom(claim: unknown): Set<string> {
  if (typeof claim === "string") return new Set([claim]);
  if (Array.isArray(claim)) return new Set(claim.filter((t): t is string => typeof t === "string"));
  return new Set();
}

export async function verifyUserToken(token: string, config: UserTokenConfig, now?: number): Promise<UserTokenVerification> {
  try {
    const { payload } = await jwtVerify(token, keyLookup(config), {
      algorithms: USER_TOKEN_ALGORITHMS,
      issuer: config.issuer,
      audience: config.audience,
      requiredClaims: ["sub", "exp"],
      currentDate: now === undefined ? undefined : new Date(now * 1000),
    });
    if (typeof payload.sub !== "string" || payload.sub === "") return { ok: false, reason: "invalid" };
    return {
      ok: true,
      principal: {
        kind: "user",
        sub: escapeControlCharacters(payload.sub),
        tenants: tenantsFrom(payload[config.tenantsClaim]),
        roles: readRoleClaim(payload[config.rolesClaim]),
        defaultRole: config.defaultRole,
      },
    };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: "expired" };
    if (err instanceof errors.JOSEError) return { ok: false, reason: "invalid" };
    throw err;
  }
}
