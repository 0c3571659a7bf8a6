// @ts-check
/**
 * Why the gateway refuses a request, and the seed's words for a refused API key. Plain ESM with JSDoc types, like every vocabulary (see
 * src/vocab/key-status.mjs). No imports.
 */

/** Why a request was refused; also the outcome usage analytics counts. */
export const REFUSAL_REASONS = /** @type {const} */ ([
  "missing",
  "malformed",
  "invalid",
  "expired",
  "revoked",
  "rotated",
  "throttled",
  "ip_denied",
  "insufficient_scope",
  "rate_limited",
  // Issue 19: a key's or its limit group's quota is used up (docs/quotas.md).
  "quota_exceeded",
  "rate_limit_unavailable",
  "bad_path",
  "no_route",
]);
/** @typedef {(typeof REFUSAL_REASONS)[number]} RefusalReason */

/**
 * Refusals that count as a failed authentication of the client (brute-force throttling, the AUTH_FAILURES binding counts them): 401s,
 * and 403 for an address outside the allowlist.
 * @type {ReadonlySet<RefusalReason>}
 */
export const AUTH_FAILURE_REASONS = new Set(["missing", "malformed", "invalid", "expired", "revoked", "rotated", "ip_denied"]);

/** The seed's error descriptions, one per way a presented API key is refused. */
export const API_KEY_REFUSALS = /** @type {const} */ ({
  expired: "API key has expired",
  invalid: "API key is invalid",
  revoked: "API key has been revoked",
  rotated: "API key has been rotated and its grace period has ended",
});
/** @typedef {keyof typeof API_KEY_REFUSALS} ApiKeyRefusalReason */
