/**
 * PKCE (RFC 7636) and the other one-time values of a sign-in. The verifier never leaves this tab
 * except in the token request; only its S256 hash goes into the authorization URL.
 */
import { base64urlEncode } from "./base64url";

/** 32 random bytes: a 43-character verifier, RFC 7636 §4.1's recommendation. */
const VERIFIER_BYTES = 32;
/** RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~". */
export const VERIFIER_PATTERN = /^[A-Za-z0-9\-._~]{43,128}$/;

/** A random, URL-safe string of `bytes` random bytes (state, nonce, verifier). */
export function randomToken(bytes = VERIFIER_BYTES): string {
  return base64urlEncode(crypto.getRandomValues(new Uint8Array(bytes)));
}

export function newCodeVerifier(): string {
  return randomToken(VERIFIER_BYTES);
}

/** code_challenge = BASE64URL(SHA256(ASCII(code_verifier))), RFC 7636 §4.2. */
export async function codeChallengeS256(verifier: string): Promise<string> {
  if (!VERIFIER_PATTERN.test(verifier)) throw new Error("code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64urlEncode(new Uint8Array(digest));
}
