/**
 * Every var and secret the worker reads, once: its type, default, documentation and the feature
 * that owns it. The parsers (src/config/read.ts and each feature's section), the `Env` interface
 * (src/env.ts), docs/configuration.md's table (`npm run docs:config`) and the check of
 * wrangler.toml [vars] (test/e2e/config-table.test.ts) all derive from this table.
 *
 * A leaf module: no imports, so Node scripts load it as it is.
 */

/** How a value is read: integers and booleans from strings, JSON from a TOML table/array or its text. */
export type VarType = "string" | "url" | "integer" | "boolean" | "enum" | "json";
/** `var` lives in wrangler.toml [vars] (or `--var`); `secret` only ever in `wrangler secret` / .dev.vars. */
export type VarKind = "var" | "secret" | "var or secret";
export type Feature = "keys" | "management" | "gateway" | "abuse" | "leaks" | "usage" | "audit" | "webhooks" | "console";

export interface VarSpec {
  type: VarType;
  kind: VarKind;
  feature: Feature;
  /** Markdown, one sentence or two: the docs table's "Meaning" column. */
  doc: string;
  /** The value an unset (or empty) var takes; absent: none (required, or off, as `doc` says). */
  default?: string | number | boolean | Readonly<Record<string, unknown>> | readonly unknown[];
  /** What the docs table shows as the default when it is not the value itself (a derived default). */
  defaultDoc?: string;
  /** integer: the smallest accepted value. */
  min?: number;
  /** integer: the largest accepted value (absent: no bound). */
  max?: number;
  /** enum: the accepted values, as the error message lists them. */
  values?: readonly string[];
  /** wrangler.toml [vars] ships a sample value that is not the default (the demo route policy). */
  sampleInWrangler?: boolean;
}

export const VARS = {
  SIGNING_KEYS: {
    type: "json",
    kind: "secret",
    feature: "keys",
    defaultDoc: "generated in dev",
    doc: 'Private JWK set `{"keys":[...]}`, RSA >= 2048 bits, each with a `kid`. First signs, all verify.',
  },
  KEY_ISSUER: {
    type: "string",
    kind: "var",
    feature: "keys",
    defaultDoc: "required (`wrangler.toml`: a dev value)",
    doc: "`iss` of API keys; set to keygate's public URL.",
  },
  KEY_AUDIENCE: {
    type: "string",
    kind: "var",
    feature: "keys",
    defaultDoc: "required (`wrangler.toml`: a dev value)",
    doc: "`aud` of API keys; what origins verify against.",
  },
  SCOPE_CATALOG: {
    type: "json",
    kind: "var",
    feature: "keys",
    default: {
      "api:read": "Read API resources",
      "admin:read": "Read admin resources",
      "api:write": "Create/update API resources",
      "admin:write": "Create/update admin resources",
      "deploy:staging": "Deploy to staging",
      "deploy:production": "Deploy to production",
      "billing:manage": "Manage billing",
      "users:manage": "Manage users",
      "admin:all": "Full administrative access",
      "keys:manage": "Manage this tenant's API keys through the management API",
      "keys:introspect": "Ask keygate whether a key of this tenant is active (POST /api/v1/introspect)",
      "keys:read": "Read this tenant's keys, usage, alerts, audit log and settings through the management API (a viewer's reads)",
    },
    defaultDoc: "the seed's Common Scopes + `keys:manage`, `keys:introspect`, `keys:read`",
    doc: "Object `scope -> description` (TOML table or JSON).",
  },
  SCOPE_MAX_LIFETIME_DAYS: {
    type: "json",
    kind: "var",
    feature: "keys",
    // The seed's "Security Considerations" bound production deployment keys to 30-90 days. Its other
    // bands (development 7-30, testing 1-7) describe a key's purpose, which no scope of the catalog
    // names, so they are left to each deployment.
    default: { "deploy:production": 90 },
    doc: "[Lifetime policy](api.md#lifetime-policy-for-risky-scopes): object `scope -> maximum days` (TOML table or JSON); `{}` turns it off.",
  },
  LAST_USED_INTERVAL_SECONDS: {
    type: "integer",
    kind: "var",
    feature: "keys",
    default: 60,
    min: 0,
    doc: 'Minimum interval between `last_used` writes per key per isolate, for management keys\' own calls (and the gateway when `USAGE_EVENTS = "off"`).',
  },

  USER_TOKEN_JWKS_URL: {
    type: "url",
    kind: "var",
    feature: "management",
    doc: "Your identity provider's JWKS URL (production).",
  },
  USER_TOKEN_JWKS: {
    type: "json",
    kind: "var or secret",
    feature: "management",
    defaultDoc: "generated in dev",
    doc: "Inline public JWK set, used instead of the URL when set.",
  },
  USER_TOKEN_ISSUER: {
    type: "string",
    kind: "var",
    feature: "management",
    defaultDoc: "required (`wrangler.toml`: a dev value)",
    doc: "Required `iss` of user access tokens.",
  },
  USER_TOKEN_AUDIENCE: {
    type: "string",
    kind: "var",
    feature: "management",
    defaultDoc: "required (`wrangler.toml`: a dev value)",
    doc: "Required `aud` of user access tokens.",
  },
  USER_TOKEN_TENANTS_CLAIM: {
    type: "string",
    kind: "var",
    feature: "management",
    default: "tenants",
    doc: "Claim listing the tenants a user may manage.",
  },
  USER_TOKEN_ROLES_CLAIM: {
    type: "string",
    kind: "var",
    feature: "management",
    default: "keygate_roles",
    doc: "Claim holding a user's [roles](governance.md#roles-for-people): a list for every tenant, or an object `tenant -> list`.",
  },
  USER_TOKEN_DEFAULT_ROLE: {
    type: "enum",
    kind: "var",
    feature: "management",
    // src/vocab/roles.mjs DEFAULT_ROLE_SETTINGS (test/config/roles-var.test.ts keeps the two equal).
    values: ["viewer", "operator", "admin", "none"],
    default: "admin",
    doc: "The role of a user token without the roles claim; `none` or `viewer` turns the admin default off.",
  },

  ORIGIN_URL: {
    type: "url",
    kind: "var",
    feature: "gateway",
    defaultDoc: "required (`wrangler.toml`: a dev value)",
    doc: "Where the gateway forwards, http(s) without query or fragment (`npm run dev` overrides it with the demo origin).",
  },
  ORIGIN_TIMEOUT_MS: {
    type: "integer",
    kind: "var",
    feature: "gateway",
    default: 30_000,
    min: 1,
    doc: "Time to the origin's response headers before a 504.",
  },
  FORWARD_AUTHORIZATION: {
    type: "boolean",
    kind: "var",
    feature: "gateway",
    default: true,
    doc: "Forward the client's `Authorization` header to the origin.",
  },
  FORWARD_KEY_META: {
    type: "boolean",
    kind: "var",
    feature: "gateway",
    default: false,
    doc: "The origin receives a key's [metadata](governance.md#key-metadata) as `X-Keygate-Meta` (base64url JSON).",
  },
  ROUTE_POLICY: {
    type: "json",
    kind: "var",
    feature: "gateway",
    default: [],
    defaultDoc: "`[]` (`wrangler.toml`: a demo policy)",
    sampleInWrangler: true,
    doc: "[Route rules](gateway.md#route-rules): an array of rules (TOML `[[vars.ROUTE_POLICY]]` or JSON); first match wins.",
  },
  UNMATCHED_ROUTES: {
    type: "enum",
    kind: "var",
    feature: "gateway",
    values: ["authenticate", "deny"],
    default: "authenticate",
    doc: "What a request no rule matches needs: `authenticate` (any valid key) or `deny` (404).",
  },
  PATH_NORMALIZATION: {
    type: "enum",
    kind: "var",
    feature: "gateway",
    values: ["reject", "normalize"],
    default: "reject",
    doc: "A path an origin could read another way: `reject` (400) or `normalize` (RFC 3986, forwarded normalized). [The path contract](security-model.md#the-path-contract).",
  },
  REVOCATION_CACHE_TTL_SECONDS: {
    type: "integer",
    kind: "var",
    feature: "gateway",
    default: 10,
    min: 0,
    doc: "Bound on how long an isolate acts on an edge record older than D1's (revocation, limits, allowlist): it polls the change feed every half of it, and without a good poll re-reads the edge-record snapshot from KV after it.",
  },
  IDENTITY_ASSERTION: {
    type: "enum",
    kind: "var",
    feature: "gateway",
    values: ["jwt", "off"],
    default: "off",
    doc: "`jwt`: send the origin a [signed identity assertion](gateway.md#signed-identity-for-the-origin) (`X-Keygate-Assertion`).",
  },
  IDENTITY_ASSERTION_KEYS: {
    type: "json",
    kind: "secret",
    feature: "gateway",
    defaultDoc: "generated in dev",
    doc: 'Private JWK set `{"keys":[...]}` of Ed25519 (OKP) keys, each with a `kid`. First signs assertions, all are in the JWKS (only while `IDENTITY_ASSERTION = "jwt"`).',
  },
  IDENTITY_ASSERTION_AUDIENCE: {
    type: "string",
    kind: "var",
    feature: "gateway",
    defaultDoc: "`ORIGIN_URL`",
    doc: "The assertion's `aud`: what the origin checks.",
  },

  RATE_LIMIT_FAILURE_MODE: {
    type: "enum",
    kind: "var",
    feature: "abuse",
    values: ["open", "closed"],
    default: "open",
    doc: "When a key's (or limit group's) rate-limit and quota counter cannot be reached: `open` admits (and logs), `closed` answers 503 (docs/quotas.md).",
  },
  AUTH_FAILURE_LIMIT: {
    type: "integer",
    kind: "var",
    feature: "abuse",
    default: 20,
    min: 1,
    doc: "Failed authentications per client per 60 s before 429; keep equal to the `AUTH_FAILURES` binding's `limit` in `wrangler.toml`.",
  },

  GITHUB_SECRET_SCANNING_KEYS: {
    type: "json",
    kind: "var or secret",
    feature: "leaks",
    doc: 'GitHub\'s secret scanning public keys as GitHub publishes them, `{"public_keys":[{"key_identifier","key","is_current"}]}` (JSON). Unset: `POST /api/v1/leaks/github` is a 404.',
  },

  USAGE_EVENTS: {
    type: "enum",
    kind: "var",
    feature: "usage",
    values: ["on", "off"],
    default: "on",
    doc: "`off`: the gateway records no usage events.",
  },
  USAGE_FLUSH_MS: {
    type: "integer",
    kind: "var",
    feature: "usage",
    default: 1_000,
    min: 0,
    doc: "How long an isolate gathers usage events before sending them (what an evicted isolate can lose).",
  },
  USAGE_AGGREGATE_SECONDS: {
    type: "integer",
    kind: "var",
    feature: "usage",
    default: 60,
    min: 0,
    max: 3_600,
    doc: "How long the usage aggregator shards hold usage before one D1 roll-up ([capacity](capacity.md#the-usage-aggregator)); `0`: each queue batch is rolled up at once. `npm run dev` passes 2.",
  },
  USAGE_AGGREGATOR_SHARDS: {
    type: "integer",
    kind: "var",
    feature: "usage",
    default: 16,
    min: 1,
    max: 256,
    doc: "Usage aggregator Durable Objects; a tenant's usage always goes to the same one. At most this many Durable Object calls per queue batch.",
  },
  USAGE_RETENTION_MINUTE_DAYS: {
    type: "integer",
    kind: "var",
    feature: "usage",
    default: 7,
    min: 1,
    doc: "How long the per-minute roll-ups are kept.",
  },
  USAGE_RETENTION_HOUR_DAYS: {
    type: "integer",
    kind: "var",
    feature: "usage",
    default: 90,
    min: 1,
    doc: "How long the per-hour roll-ups are kept.",
  },
  USAGE_RETENTION_DAY_DAYS: {
    type: "integer",
    kind: "var",
    feature: "usage",
    default: 730,
    min: 1,
    doc: "How long the per-day roll-ups are kept.",
  },

  AUDIT_RETENTION_DAYS: {
    type: "integer",
    kind: "var",
    feature: "audit",
    // A year: long enough to answer "who did this?" about a key that lives the default 90 days, and then some.
    default: 365,
    min: 1,
    doc: "How long [audit](audit.md) entries and the operator's refusal counts are kept; the cron prunes older ones in bounded batches.",
  },

  WEBHOOK_ALLOW_INSECURE_LOOPBACK: {
    type: "boolean",
    kind: "var",
    feature: "webhooks",
    default: false,
    defaultDoc: "`false` (`npm run dev`: `true`)",
    doc: "Let webhooks point to `http://127.0.0.1` / `localhost`. Never in a deployment.",
  },
  WEBHOOK_DNS_RESOLVER: {
    type: "string",
    kind: "var",
    feature: "webhooks",
    default: "https://cloudflare-dns.com/dns-query",
    doc: "DNS-over-HTTPS (JSON) endpoint that checks webhook hosts; `off` skips name resolution.",
  },
  WEBHOOK_RETRY_BASE_SECONDS: {
    type: "integer",
    kind: "var",
    feature: "webhooks",
    default: 30,
    min: 0,
    doc: "The first webhook retry's delay; each next one doubles, up to 6 h.",
  },
  WEBHOOK_MAX_ATTEMPTS: {
    type: "integer",
    kind: "var",
    feature: "webhooks",
    default: 14,
    min: 1,
    doc: "Delivery attempts before a delivery is marked failed (about a day).",
  },

  CONSOLE_OIDC_ISSUER: {
    type: "url",
    kind: "var",
    feature: "console",
    defaultDoc: "`npm run dev`: its dev IdP",
    doc: "The console's OpenID provider (its discovery document's `issuer`, https). Unset: console sign-in off.",
  },
  CONSOLE_OIDC_CLIENT_ID: {
    type: "string",
    kind: "var",
    feature: "console",
    defaultDoc: "`npm run dev`: `keygate-console-dev`",
    doc: "The console's public client at that provider.",
  },
  CONSOLE_OIDC_SCOPE: {
    type: "string",
    kind: "var",
    feature: "console",
    default: "openid",
    doc: "Scopes the console asks for; must include `openid`.",
  },
  CONSOLE_OIDC_RESOURCE: {
    type: "string",
    kind: "var",
    feature: "console",
    doc: "RFC 8707 resource indicator sent with the authorization and token requests (the access token's audience at providers that use it).",
  },
  CONSOLE_OIDC_AUTH_PARAMS: {
    type: "string",
    kind: "var",
    feature: "console",
    doc: "Extra authorization-request parameters, form-encoded (e.g. `audience=https://keygate.example.com` for Auth0).",
  },
} as const satisfies Readonly<Record<string, VarSpec>>;

export type VarName = keyof typeof VARS;

/** The value a var has in `Env`: a JSON var may be a TOML table/array binding or its JSON text; a secret is text. */
type EnvValue<S extends VarSpec> = S extends { type: "json"; kind: "var" | "var or secret" }
  ? string | Readonly<Record<string, unknown>> | readonly unknown[]
  : string;

/** The vars and secrets of `Env`, derived from the table. */
export type EnvVars = { [K in VarName]?: EnvValue<(typeof VARS)[K]> };
