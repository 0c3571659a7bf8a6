/**
 * The gateway's one outcome per request: accepted (with the identity to forward), or refused with
 * a reason. Every check returns one of these; `refusalResponse` is the one place a refusal becomes
 * the wire (the seed's error bodies, RFC 6750 challenges, Retry-After and RateLimit fields), and
 * the usage pipeline sees every decision through the same value.
 */
import type { ApiKeyClaims } from "../auth/api-key-token";
import { type ErrorCode, refusal } from "../errors";
import type { RefusedBy } from "../ratelimit/leases";
import { rateLimitHeaders } from "../vocab/headers.mjs";
import { API_KEY_REFUSALS, type RefusalReason } from "../vocab/refusals.mjs";

/** The RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers-11) for a limited key. */
export interface RateLimitFields {
  policy: string;
  /** Absent when the counter could not be asked (failure mode open). */
  current?: string;
}

export interface Accepted {
  ok: true;
  /** The route rule that matched (usage analytics). */
  rule: string;
  /** Null on public routes. */
  claims: ApiKeyClaims | null;
  rateLimit?: RateLimitFields;
  /** The key's scope that satisfied the rule (what it asked for, through a wildcard or admin:all); absent on rules without scopes. */
  scope?: string;
  /** X-Keygate-Meta for the origin, from the key's edge record (FORWARD_KEY_META). */
  meta?: string;
}

export interface Refused {
  ok: false;
  reason: RefusalReason;
  rule: string;
  /** The key, when its signature verified: only then is the refusal its tenant's business. */
  claims?: ApiKeyClaims;
  /** The malformed-credential description, the scopes a scope refusal asks for, or what is wrong with a path. */
  detail?: string;
  /** Seconds until a retry may succeed; null: never (a quota that does not refill), so no Retry-After. */
  retryAfterS?: number | null;
  rateLimit?: RateLimitFields;
  /** Which counter's which policy refused (rate_limited, quota_exceeded). */
  limitedBy?: RefusedBy;
}

export type Verdict = Accepted | Refused;

export function refused(reason: RefusalReason, rule: string, extra: Omit<Refused, "ok" | "reason" | "rule"> = {}): Refused {
  return { ok: false, reason, rule, ...extra };
}

function bearer(code: ErrorCode, description: string): Response {
  return refusal(code, description, { challenge: "bearer" });
}

function withRetryAfter(code: ErrorCode, description: string, v: Refused): Response {
  const headers: Record<string, string> = {};
  if (v.retryAfterS !== null) headers["retry-after"] = String(v.retryAfterS ?? 1);
  if (v.rateLimit) for (const [name, value] of rateLimitHeaders(v.rateLimit)) headers[name] = value;
  return refusal(code, description, { headers });
}

/** Names the policy that refused: the key's own rate limit keeps the description it always had. */
function limitedDescription(by: RefusedBy | undefined): string {
  if (by === undefined || (by.counter === "key" && !by.quota)) return "API key rate limit exceeded";
  if (by.counter === "key") return `API key quota exhausted ("${by.name}")`;
  return by.quota
    ? `The quota of the key's limit group ${by.id} is exhausted ("${by.name}")`
    : `The rate limit of the key's limit group ${by.id} is exceeded ("${by.name}")`;
}

/** The response for a refusal: the only place the gateway builds one. */
export function refusalResponse(v: Refused): Response {
  switch (v.reason) {
    case "missing":
      // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
      return refusal("invalid_token", "Missing API key: send Authorization: Bearer <api-key>", { challenge: "bearer-no-error" });
    case "malformed":
      return bearer("invalid_request", v.detail ?? "The Authorization header is not of the form 'Bearer <token>'");
    case "invalid":
    case "expired":
    case "revoked":
    case "rotated":
      return bearer("invalid_token", API_KEY_REFUSALS[v.reason]);
    case "insufficient_scope":
      return refusal("insufficient_scope", "API key does not have required permissions", { challenge: "bearer", scope: v.detail });
    case "ip_denied":
      return refusal("access_denied", "API key may not be used from this IP address");
    case "rate_limited":
      return withRetryAfter("rate_limited", limitedDescription(v.limitedBy), v);
    case "quota_exceeded":
      return withRetryAfter("quota_exceeded", limitedDescription(v.limitedBy), v);
    case "throttled":
      return withRetryAfter("rate_limited", "Too many failed authentication attempts", v);
    case "rate_limit_unavailable":
      return withRetryAfter("temporarily_unavailable", "The API key's rate limit cannot be checked right now; retry shortly", v);
    case "bad_path":
      // src/gateway/path-contract.ts says what is wrong with the path.
      return refusal("invalid_request", v.detail ?? "The request path is not accepted");
    case "no_route":
      return refusal("not_found", "No route is configured for this request");
  }
}
