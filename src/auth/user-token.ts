/**
 * User access tokens: JWTs from the deployment's identity provider, verified against its JWKS
 * (a URL, or an inline set in dev). Tenant membership is a claim (default `tenants`).
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { UserTokenConfig } from "../config";

/** Asymmetric algorithms only: an HMAC "IdP key" would let anyone holding the JWKS mint tokens. */
const USER_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519"];

export interface UserPrincipal {
  kind: "user";
  sub: string;
  tenants: ReadonlySet<string>;
}

export type UserTokenVerification = { ok: true; principal: UserPrincipal } | { ok: false; reason: "expired" | "invalid" };

const keySets = new WeakMap<UserTokenConfig, JWTVerifyGetKey>();

function keySetFor(config: UserTokenConfig): JWTVerifyGetKey {
  let keySet = keySets.get(config);
  if (!keySet) {
    keySet = config.jwks.kind === "inline" ? createLocalJWKSet(config.jwks.set) : createRemoteJWKSet(config.jwks.url);
    keySets.set(config, keySet);
  }
  return keySet;
}

function tenantsFrom(claim: unknown): Set<string> {
  if (typeof claim === "string") return new Set([claim]);
  if (Array.isArray(claim)) return new Set(claim.filter((t): t is string => typeof t === "string"));
  return new Set();
}

export async function verifyUserToken(token: string, config: UserTokenConfig, now?: number): Promise<UserTokenVerification> {
  try {
    const { payload } = await jwtVerify(token, keySetFor(config), {
      algorithms: USER_TOKEN_ALGORITHMS,
      issuer: config.issuer,
      audience: config.audience,
      requiredClaims: ["sub", "exp"],
      currentDate: now === undefined ? undefined : new Date(now * 1000),
    });
    if (typeof payload.sub !== "string" || payload.sub === "") return { ok: false, reason: "invalid" };
    return { ok: true, principal: { kind: "user", sub: payload.sub, tenants: tenantsFrom(payload[config.tenantsClaim]) } };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: "expired" };
    if (err instanceof errors.JOSEError) return { ok: false, reason: "invalid" };
    throw err;
  }
}
