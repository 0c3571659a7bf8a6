/**
 * One error type for the whole worker. Every error the wire sees is `{error, error_description}`
 * (the seed's error body) with a stable `error` code; 401/403 from token checks also carry an
 * RFC 6750 `WWW-Authenticate` challenge.
 */

/** Every error code on the wire: its HTTP status and what it means (the OpenAPI document shows both). */
const ERRORS = {
  invalid_request: [400, "Malformed JSON, wrong types, unknown fields or scopes, bad parameters; the description names the field."],
  invalid_token: [401, "No credential, or an invalid, expired, revoked or rotated one."],
  // RFC 6750 §3.1: insufficient_scope is a 403.
  insufficient_scope: [403, "The credential lacks the scope this needs."],
  insufficient_role: [
    403,
    "The user's role in this tenant (viewer, operator, admin) is below the one this needs; the description names it.",
  ],
  access_denied: [403, "The credential may not act on this tenant, or would grant more than it holds."],
  not_found: [404, "No such key (including another tenant's) or endpoint."],
  method_not_allowed: [405, "Wrong method; the Allow header says which."],
  conflict: [409, "The key is revoked or already rotated (or, to narrow, exercised no scope)."],
  payload_too_large: [413, "The request body is over 16 KiB."],
  unsupported_media_type: [415, "The request body is not application/json."],
  rate_limited: [
    429,
    "Too many requests (a key's rate limit, or failed authentications from this client); Retry-After says when to retry.",
  ],
  quota_exceeded: [
    429,
    "A key's quota (or its limit group's) is used up for this period; Retry-After says when it refills (absent when it never does).",
  ],
  bad_gateway: [502, "The origin could not be reached."],
  gateway_timeout: [504, "The origin did not answer in time."],
  temporarily_unavailable: [503, "A dependency (identity provider, database) is unavailable; retry shortly."],
  server_error: [500, "A misconfiguration or bug; details are in the worker log, never in the response."],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

export function statusOf(code: ErrorCode): number {
  return ERRORS[code][0];
}

export const errorDocs = Object.fromEntries(ERROR_CODES.map((code) => [code, ERRORS[code][1]])) as Record<ErrorCode, string>;

export const REALM = "keygate";

export interface ApiErrorOptions {
  /** RFC 6750 challenge: set on errors that come from bearer-token checks. */
  challenge?: "bearer" | "bearer-no-error";
  /** Space-separated scopes for an insufficient_scope challenge. */
  scope?: string;
  headers?: Record<string, string>;
}

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly description: string;
  readonly options: ApiErrorOptions;

  constructor(code: ErrorCode, description: string, options: ApiErrorOptions = {}) {
    super(description);
    this.name = "ApiError";
    this.code = code;
    this.status = statusOf(code);
    this.description = description;
    this.options = options;
  }
}

/** A deployment configuration problem: logged in full, shown to clients as a generic 500. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function quote(value: string): string {
  // RFC 7235 quoted-string: escape backslash and double quote; descriptions are ASCII by construction.
  return `"${value.replace(/[\\"]/g, "\\$&")}"`;
}

function challengeFor(code: ErrorCode, description: string, options: ApiErrorOptions): string | undefined {
  const { challenge, scope } = options;
  if (!challenge) return undefined;
  // RFC 6750 §3: a request without credentials gets a challenge without an error code.
  if (challenge === "bearer-no-error") return `Bearer realm=${quote(REALM)}`;
  const parts = [`realm=${quote(REALM)}`, `error=${quote(code)}`, `error_description=${quote(description)}`];
  if (scope) parts.push(`scope=${quote(scope)}`);
  return `Bearer ${parts.join(", ")}`;
}

export const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

/**
 * The error response itself, without an Error object: the data plane refuses requests at line
 * rate, and an Error would capture a stack trace nobody reads for every refusal.
 */
export function refusal(code: ErrorCode, description: string, options: ApiErrorOptions = {}): Response {
  const headers = new Headers(JSON_HEADERS);
  const challenge = challengeFor(code, description, options);
  if (challenge) headers.set("www-authenticate", challenge);
  if (options.headers) for (const [name, value] of Object.entries(options.headers)) headers.set(name, value);
  return new Response(JSON.stringify({ error: code, error_description: description }), { status: statusOf(code), headers });
}

export function errorResponse(err: ApiError): Response {
  return refusal(err.code, err.description, err.options);
}

/**
 * D1 failing as a service (unreachable, overloaded, reset), as opposed to a statement keygate got
 * wrong (constraint, syntax, types: bugs, which stay 500s).
 */
function isDatabaseUnavailable(err: unknown): boolean {
  // drizzle wraps the binding's error ("Failed query: ...") and keeps it as the cause.
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (/\bD1(_ERROR| DB)\b/.test(e.message)) return !/SQLITE_(CONSTRAINT|ERROR|MISMATCH)|D1_TYPE_ERROR/.test(e.message);
  }
  return false;
}

/** Seconds a client should wait after a 503 for an unavailable database. */
const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * Any throwable -> the wire. D1 being unavailable is a 503 `temporarily_unavailable` with
 * Retry-After; unknown errors become a generic 500 that echoes nothing internal.
 */
export function toErrorResponse(err: unknown): Response {
  if (err instanceof ApiError) return errorResponse(err);
  if (isDatabaseUnavailable(err)) {
    console.error("D1 is unavailable", err);
    return errorResponse(
      new ApiError("temporarily_unavailable", "keygate's database is unavailable; retry shortly", {
        headers: { "retry-after": String(DATABASE_RETRY_AFTER_SECONDS) },
      }),
    );
  }
  console.error(err instanceof ConfigError ? `keygate configuration error: ${err.message}` : err);
  return errorResponse(
    new ApiError("server_error", err instanceof ConfigError ? "keygate is misconfigured; see the worker logs" : "Internal server error"),
  );
}
