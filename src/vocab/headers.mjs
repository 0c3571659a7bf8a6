// @ts-check
/**
 * Header names keygate speaks, and the one formatting of the RateLimit fields: the identity
 * headers the gateway sets for the origin (src/gateway/origin-headers.ts removes every client copy
 * of them), the `Identity` they carry, and the RateLimit-Policy / RateLimit fields
 * (draft-ietf-httpapi-ratelimit-headers-11). Plain ESM with JSDoc types, like every vocabulary
 * (see src/vocab/key-status.mjs). No imports.
 */

/** Every header keygate sets for the origin about the caller starts with this. */
export const IDENTITY_HEADER_PREFIX = "x-keygate-";

export const KEY_ID_HEADER = "x-keygate-key-id";
export const TENANT_HEADER = "x-keygate-tenant";
export const SCOPES_HEADER = "x-keygate-scopes";
export const SUBJECT_HEADER = "x-keygate-subject";
/** The key's metadata, base64url of its JSON (FORWARD_KEY_META = "true"). */
export const META_HEADER = "x-keygate-meta";
/** The signed identity (IDENTITY_ASSERTION = "jwt"). */
export const ASSERTION_HEADER = "x-keygate-assertion";
/** The client's address as keygate saw it (CF-Connecting-IP): the one client-IP header to trust. */
export const CLIENT_IP_HEADER = "x-keygate-client-ip";

/**
 * Who the origin is told the caller is: a verified key's claims (the same object for every
 * request with that key), sent in the identity headers and, signed, in the assertion.
 * @typedef {object} Identity
 * @property {string} keyId
 * @property {string} tenant
 * @property {readonly string[]} scopes
 * @property {string} sub the key's `sub`
 */

export const RATELIMIT_POLICY_HEADER = "ratelimit-policy";
export const RATELIMIT_HEADER = "ratelimit";

/**
 * An RFC 8941 sf-string: the policy name, quoted, with `\` and `"` escaped.
 * @param {string} value
 */
function sfString(value) {
  return `"${value.replace(/[\\"]/g, "\\$&")}"`;
}

/**
 * The RateLimit-Policy field value for a key's limits: each policy's quota (q) and window (w).
 * @param {ReadonlyArray<{ name: string, limit: number, window_seconds: number }>} limits
 */
export function rateLimitPolicyField(limits) {
  return limits.map((l) => `${sfString(l.name)};q=${l.limit};w=${l.window_seconds}`).join(", ");
}

/**
 * The RateLimit field value (one item) for one policy: what remains (r) and seconds until it resets (t).
 * @param {string} name
 * @param {number} remaining
 * @param {number} resetSeconds
 */
export function rateLimitItem(name, remaining, resetSeconds) {
  return `${sfString(name)};r=${remaining};t=${resetSeconds}`;
}

/**
 * The response headers for a limited key: RateLimit-Policy, and RateLimit when the counter could
 * be asked.
 * @param {{ policy: string, current?: string | undefined }} fields
 * @returns {[string, string][]}
 */
export function rateLimitHeaders(fields) {
  /** @type {[string, string][]} */
  const headers = [[RATELIMIT_POLICY_HEADER, fields.policy]];
  if (fields.current) headers.push([RATELIMIT_HEADER, fields.current]);
  return headers;
}
