/** Bindings, vars and secrets of the keygate worker (wrangler.toml, .dev.vars, `wrangler secret`). */
import type { RateLimitCounter } from "./ratelimit/counter";
import type { UsageMessage } from "./usage/events";
import type { DeliveryMessage } from "./webhooks/deliver";

export interface Env {
  DB: D1Database;
  /** Per-key edge records (revocation, rotation cut-off, rate limits, allowlist), mirrored from D1. */
  EDGE_RECORDS: KVNamespace;
  /** One exact counter per rate-limited key. */
  RATE_LIMITER: DurableObjectNamespace<RateLimitCounter>;
  /** Workers Rate Limiting binding counting failed authentications per client IP. */
  AUTH_FAILURES?: RateLimit;
  /** Usage events from the gateway to the worker's own consumer (roll-ups, detectors). */
  USAGE_QUEUE: Queue<UsageMessage>;
  /** Webhook deliveries, with their retries. */
  WEBHOOK_QUEUE: Queue<DeliveryMessage>;

  /** Secret: private JWK set `{"keys":[...]}` (RS256). The first key signs; all verify. */
  SIGNING_KEYS?: string;
  KEY_ISSUER?: string;
  KEY_AUDIENCE?: string;

  /** Inline public JWK set of the identity provider (dev, or IdPs without a JWKS URL). */
  USER_TOKEN_JWKS?: string;
  USER_TOKEN_JWKS_URL?: string;
  USER_TOKEN_ISSUER?: string;
  USER_TOKEN_AUDIENCE?: string;
  USER_TOKEN_TENANTS_CLAIM?: string;
  /** The claim holding a user's roles: a list for every tenant, or an object of tenant -> list (default "keygate_roles"). */
  USER_TOKEN_ROLES_CLAIM?: string;
  /** The role of a token without that claim: admin (default), operator, viewer, or none. */
  USER_TOKEN_DEFAULT_ROLE?: string;

  /** Object of scope -> description, or its JSON text. */
  SCOPE_CATALOG?: string | Record<string, string>;
  /** Object of scope -> maximum lifetime in days of a key holding it, or its JSON text. */
  SCOPE_MAX_LIFETIME_DAYS?: string | Record<string, number>;

  /** GitHub secret scanning's public keys, as GitHub publishes them: `{"public_keys":[...]}` (or its JSON text). */
  GITHUB_SECRET_SCANNING_KEYS?: string | Record<string, unknown>;

  /** "jwt": sign an identity assertion for the origin on every authenticated request; unset or "off": none. */
  IDENTITY_ASSERTION?: string;
  /** Secret: private Ed25519 JWK set `{"keys":[...]}`; the first key signs assertions, all are published. */
  IDENTITY_ASSERTION_KEYS?: string;
  /** The assertion's `aud`; default ORIGIN_URL. */
  IDENTITY_ASSERTION_AUDIENCE?: string;

  ORIGIN_URL?: string;
  ORIGIN_TIMEOUT_MS?: string;
  FORWARD_AUTHORIZATION?: string;
  /** "true": the origin receives a key's metadata as X-Keygate-Meta (base64url JSON); default "false". */
  FORWARD_KEY_META?: string;
  UNMATCHED_ROUTES?: string;
  /** Array of route rules, or its JSON text. */
  ROUTE_POLICY?: string | unknown[];
  /** "reject" (default): refuse paths an origin could read another way; "normalize": RFC 3986 and forward (src/gateway/path-contract.ts). */
  PATH_NORMALIZATION?: string;

  REVOCATION_CACHE_TTL_SECONDS?: string;
  /** "open" (default): admit when the rate-limit counter is unreachable; "closed": answer 503. */
  RATE_LIMIT_FAILURE_MODE?: string;
  /** Failed authentications per client per 60 s before 429 (default 20). */
  AUTH_FAILURE_LIMIT?: string;
  LAST_USED_INTERVAL_SECONDS?: string;

  /** The console's static files (wrangler.toml [assets]); served under /console by src/console/. */
  ASSETS?: Fetcher;
  /** The console's sign-in: an OpenID provider and a public client registered with it. */
  CONSOLE_OIDC_ISSUER?: string;
  CONSOLE_OIDC_CLIENT_ID?: string;
  CONSOLE_OIDC_SCOPE?: string;
  CONSOLE_OIDC_RESOURCE?: string;
  CONSOLE_OIDC_AUTH_PARAMS?: string;

  /** "on" (default) or "off": the gateway records usage events. */
  USAGE_EVENTS?: string;
  USAGE_FLUSH_MS?: string;
  USAGE_RETENTION_MINUTE_DAYS?: string;
  USAGE_RETENTION_HOUR_DAYS?: string;
  USAGE_RETENTION_DAY_DAYS?: string;
  /** Days audit entries (and the operator's refusal counts) are kept (default 365). */
  AUDIT_RETENTION_DAYS?: string;
  /** "true" lets webhooks point to http://127.0.0.1 / localhost (set by `npm run dev`). */
  WEBHOOK_ALLOW_INSECURE_LOOPBACK?: string;
  /** DNS-over-HTTPS JSON endpoint used to check webhook hosts; "off" disables resolution. */
  WEBHOOK_DNS_RESOLVER?: string;
  WEBHOOK_RETRY_BASE_SECONDS?: string;
  WEBHOOK_MAX_ATTEMPTS?: string;
}
