/**
 * A key's set of rate limits as the data plane works with it, parsed once per edge read: what the
 * keys domain builds from an edge record and the rate-limit leases consume. A leaf module (it
 * imports only the header vocabulary), so `ratelimit/` and `keys/` both depend on it rather than on
 * each other.
 */
import { rateLimitPolicyField } from "../vocab/headers.mjs";

/** One limit: at most `limit` requests in each fixed window of `window_seconds` (the RateLimit schema's shape). */
export interface RateLimitRule {
  name: string;
  limit: number;
  window_seconds: number;
}

export interface RateLimits {
  list: readonly RateLimitRule[];
  /** Identity of this set of limits (leases are per key and per set). */
  fingerprint: string;
  /** The RateLimit-Policy field value (draft-ietf-httpapi-ratelimit-headers-11). */
  policyHeader: string;
}

/** FNV-1a (32 bits) of a string, as 8 hex digits. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, "0");
}

/** The set of `list` (non-empty), with its fingerprint and RateLimit-Policy value. */
export function rateLimitsOf(list: readonly RateLimitRule[]): RateLimits {
  return {
    list,
    // Leases are per key and per set of limits: a changed set starts a new lease.
    fingerprint: fnv1a(JSON.stringify({ rate_limits: list })),
    policyHeader: rateLimitPolicyField(list),
  };
}
