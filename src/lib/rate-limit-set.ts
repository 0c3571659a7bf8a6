/**
 * A key's set of rate limits as the data plane works with it, parsed once per edge read: what the
 * keys domain builds from an edge record and the rate-limit leases consume. A leaf module (it
 * imports only the header vocabulary), so `ratelimit/` and `keys/` both depend on it rather than on
 * each other.
 */
import { rateLimitPolicyField } from "../vocab/headers.mjs";
import { KEY_QUOTA_ITEM, type Quota } from "../vocab/quotas.mjs";
import type { CountedPolicy } from "./periods";

/** One limit: at most `limit` requests in each fixed window of `window_seconds` (the RateLimit schema's shape). */
export interface RateLimitRule {
  name: string;
  limit: number;
  window_seconds: number;
}

export interface RateLimits {
  /** Rate limits by their names, the quota as `key.quota` (src/vocab/quotas.mjs). */
  list: readonly CountedPolicy[];
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

/** The counted policies of `rules` and `quota` (not both empty), with their fingerprint and RateLimit-Policy value. */
export function rateLimitsOf(rules: readonly RateLimitRule[], quota: Quota | null = null): RateLimits {
  const list: CountedPolicy[] = [...rules];
  if (quota) list.push({ name: KEY_QUOTA_ITEM, limit: quota.limit, period: quota.period });
  return {
    list,
    // Leases are per key and per set of policies: a changed set starts a new lease. A key with rate
    // limits only keeps the fingerprint it had before quotas (its leases stay good).
    fingerprint: fnv1a(JSON.stringify(quota ? { rate_limits: rules.length > 0 ? rules : undefined, quota } : { rate_limits: rules })),
    policyHeader: rateLimitPolicyField(list),
  };
}
