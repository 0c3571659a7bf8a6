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

const DAY_SECONDS = 86_400;

/**
 * A RateLimit-Policy item: the policy's quota (q) and window in seconds (w). A rate limit's window
 * is its `window_seconds`; a quota's (issue 19, src/vocab/quotas.mjs) is its period where that has
 * one length (a day), while a month varies and a `none` quota has no window, so theirs carry no `w`
 * (the draft makes it optional).
 * @param {{ name: string, limit: number, window_seconds?: number, period?: string }} policy
 */
export function rateLimitPolicyItem(policy) {
  const w = policy.window_seconds ?? (policy.period === "day" ? DAY_SECONDS : undefined);
  return `${sfString(policy.name)};q=${policy.limit}${w === undefined ? "" : `;w=${w}`}`;
}

/**
 * The RateLimit-Policy field value for a key's (or group's) policies, one item each.
 * @param {ReadonlyArray<{ name: string, limit: number, window_seconds?: number, period?: string }>} limits
 */
export function rateLimitPolicyField(limits) {
  return limits.map(rateLimitPolicyItem).join(", ");
}

/**
 * The RateLimit field value (one item) for one policy: what remains (r) and seconds until it resets
 * (t; none for a quota that never refills).
 * @param {string} name
 * @param {number} remaining
 * @param {number | null} resetSeconds
 */
export function rateLimitItem(name, remaining, resetSeconds) {
  return `${sfString(name)};r=${remaining}${resetSeconds === null ? "" : `;t=${resetSeconds}`}`;
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
