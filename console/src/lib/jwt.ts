/**
 * Reads a JWT's claims without verifying it. The console never trusts these for access: the
 * management API verifies the access token on every call. It reads them only to list the tenants
 * the user may pick and to know when the session ends; the ID token's claims are checked against
 * the sign-in's nonce after the token endpoint returned it over TLS (OpenID Connect Core §3.1.3.7).
 */
import { base64urlDecodeToString } from "./base64url";

export type Claims = Record<string, unknown>;

export function decodeJwtClaims(token: string): Claims {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("not a JWT (expected three dot-separated parts)");
  let claims: unknown;
  try {
    claims = JSON.parse(base64urlDecodeToString(parts[1]!));
  } catch {
    throw new Error("the JWT's payload is not base64url-encoded JSON");
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) throw new Error("the JWT's payload is not a JSON object");
  return claims as Claims;
}

/** A claim holding tenant ids: an array of strings, or one string (as the worker reads it). */
export function tenantsFromClaim(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return [...new Set(value.filter((t): t is string => typeof t === "string" && t !== ""))];
  return [];
}
