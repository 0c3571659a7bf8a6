/**
 * The console's sign-in settings (CONSOLE_OIDC_* vars) and its identity provider's discovery
 * document. The worker, not the browser, reads the discovery document: the page then talks to
 * exactly one identity-provider origin (the token endpoint), which its CSP names, and the browser
 * needs no CORS on discovery.
 */
import { userTokenConfig } from "../config/keys";
import { perEnv, stringVar } from "../config/read";
import type { Env } from "../env";
import { ApiError, ConfigError } from "../errors";

/** How long a fetched discovery document is used before it is fetched again. */
const DISCOVERY_MAX_AGE_MS = 10 * 60_000;
/** After a failed fetch, later requests wait this long before trying again (no stampede on a down IdP). */
const DISCOVERY_RETRY_AFTER_MS = 10_000;
const DISCOVERY_TIMEOUT_MS = 5_000;
/** RFC 6749 §3.3 scope-token characters. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** Authorization-request parameters the console sets itself; CONSOLE_OIDC_AUTH_PARAMS may not override them. */
const PROTOCOL_PARAMS = new Set([
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "nonce",
  "code_challenge",
  "code_challenge_method",
  "resource",
  "response_mode",
  "request",
  "request_uri",
]);

export interface ConsoleOidcConfig {
  issuer: string;
  clientId: string;
  scope: string;
  /** RFC 8707 resource indicator, sent with the authorization and token requests. */
  resource: string | null;
  /** Extra authorization-request parameters (e.g. Auth0's `audience`). */
  authParams: Record<string, string>;
}

/** What the browser needs to sign in: GET /console/config.json. */
export interface ConsoleClientConfig {
  issuer: string;
  client_id: string;
  authorization_endpoint: string;
  token_endpoint: string;
  scope: string;
  resource: string | null;
  auth_params: Record<string, string>;
  /** The access-token claim that lists the tenants a user may manage (USER_TOKEN_TENANTS_CLAIM). */
  tenants_claim: string;
  /** The access-token claim holding the user's roles (USER_TOKEN_ROLES_CLAIM), and the role without it (USER_TOKEN_DEFAULT_ROLE). */
  roles_claim: string;
  default_role: string;
}

interface ProviderMetadata {
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

/** https, or http on a loopback host (a local identity provider in development). */
function isAcceptableUrl(url: URL): boolean {
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && (url.hostname === "localhost" || url.hostname === "[::1]" || url.hostname.startsWith("127."));
}

function isAbsoluteUri(value: string): boolean {
  try {
    return new URL(value).protocol !== "";
  } catch {
    return false;
  }
}

function parseUrl(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} is not a URL`);
  }
  if (!isAcceptableUrl(url)) throw new ConfigError(`${name} must be https (http only on localhost / 127.0.0.1)`);
  if (url.search || url.hash) throw new ConfigError(`${name} must not have a query or fragment`);
  return url;
}

/** The console's sign-in settings, or null when CONSOLE_OIDC_ISSUER is not set (sign-in disabled). */
export const consoleOidcConfig = perEnv((env: Env): ConsoleOidcConfig | null => {
  const issuer = env.CONSOLE_OIDC_ISSUER?.trim();
  if (!issuer) return null;
  parseUrl(issuer, "CONSOLE_OIDC_ISSUER");
  const clientId = env.CONSOLE_OIDC_CLIENT_ID?.trim();
  if (!clientId) throw new ConfigError("CONSOLE_OIDC_CLIENT_ID is not set (CONSOLE_OIDC_ISSUER is)");

  const scope = stringVar(env, "CONSOLE_OIDC_SCOPE").split(/\s+/).join(" ");
  const scopes = scope.split(" ");
  if (scopes.some((s) => !SCOPE_TOKEN.test(s))) throw new ConfigError("CONSOLE_OIDC_SCOPE has an invalid scope token");
  // The ID token carries the nonce the console checks; without `openid` there is none.
  if (!scopes.includes("openid")) throw new ConfigError('CONSOLE_OIDC_SCOPE must include "openid"');

  const resourceRaw = env.CONSOLE_OIDC_RESOURCE?.trim();
  let resource: string | null = null;
  if (resourceRaw) {
    if (!isAbsoluteUri(resourceRaw)) throw new ConfigError("CONSOLE_OIDC_RESOURCE must be an absolute URI (RFC 8707)");
    resource = resourceRaw;
    if (resourceRaw.includes("#")) throw new ConfigError("CONSOLE_OIDC_RESOURCE must not have a fragment (RFC 8707)");
  }

  const authParams: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(env.CONSOLE_OIDC_AUTH_PARAMS?.trim() ?? "")) {
    if (PROTOCOL_PARAMS.has(name)) throw new ConfigError(`CONSOLE_OIDC_AUTH_PARAMS may not set ${name}`);
    authParams[name] = value;
  }
  return { issuer, clientId, scope, resource, authParams };
});

/** The last fetched discovery result, as a resolved value (never a promise another request made). */
let discovered: { issuer: string; metadata: ProviderMetadata; fetchedAtMs: number } | undefined;
let lastFailure: { issuer: string; atMs: number } | undefined;

function unavailable(): ApiError {
  return new ApiError("temporarily_unavailable", "The console's identity provider could not be reached; try again shortly");
}

async function fetchMetadata(issuer: string): Promise<ProviderMetadata> {
  // OpenID Connect Discovery 1.0 §4: the issuer without a trailing slash + /.well-known/openid-configuration.
  const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let doc: Record<string, unknown>;
  try {
    const res = await fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    doc = (await res.json()) as Record<string, unknown>;
    if (typeof doc !== "object" || doc === null) throw new Error("not a JSON object");
  } catch (err) {
    console.error(`fetching the console's OpenID configuration from ${url} failed`, err);
    throw unavailable();
  }
  // Discovery §4.3: the document's issuer must be exactly the configured one (no IdP mix-up).
  if (doc.issuer !== issuer) {
    throw new ConfigError(`CONSOLE_OIDC_ISSUER is ${JSON.stringify(issuer)} but its discovery document says ${JSON.stringify(doc.issuer)}`);
  }
  const endpoint = (name: string): string => {
    const value = doc[name];
    if (typeof value !== "string") throw new ConfigError(`the console's identity provider has no ${name}`);
    return parseUrl(value, `the identity provider's ${name}`).href;
  };
  const methods = doc.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes("S256")) {
    throw new ConfigError("the console's identity provider does not support PKCE with S256 (code_challenge_methods_supported)");
  }
  return { authorizationEndpoint: endpoint("authorization_endpoint"), tokenEndpoint: endpoint("token_endpoint") };
}

/** The identity provider's endpoints, cached per isolate for DISCOVERY_MAX_AGE_MS. */
export async function providerMetadata(config: ConsoleOidcConfig, nowMs = Date.now()): Promise<ProviderMetadata> {
  if (discovered?.issuer === config.issuer && nowMs - discovered.fetchedAtMs < DISCOVERY_MAX_AGE_MS) return discovered.metadata;
  if (lastFailure?.issuer === config.issuer && nowMs - lastFailure.atMs < DISCOVERY_RETRY_AFTER_MS) throw unavailable();
  try {
    const metadata = await fetchMetadata(config.issuer);
    discovered = { issuer: config.issuer, metadata, fetchedAtMs: nowMs };
    lastFailure = undefined;
    return metadata;
  } catch (err) {
    lastFailure = { issuer: config.issuer, atMs: nowMs };
    throw err;
  }
}

/** The body of GET /console/config.json. */
export async function consoleClientConfig(env: Env): Promise<ConsoleClientConfig> {
  const config = consoleOidcConfig(env);
  if (!config) {
    throw new ApiError("not_found", "The console's sign-in is not configured: set CONSOLE_OIDC_ISSUER and CONSOLE_OIDC_CLIENT_ID");
  }
  const metadata = await providerMetadata(config);
  return {
    issuer: config.issuer,
    client_id: config.clientId,
    authorization_endpoint: metadata.authorizationEndpoint,
    token_endpoint: metadata.tokenEndpoint,
    scope: config.scope,
    resource: config.resource,
    auth_params: config.authParams,
    tenants_claim: userTokenConfig(env).tenantsClaim,
    roles_claim: userTokenConfig(env).rolesClaim,
    default_role: userTokenConfig(env).defaultRole,
  };
}

/** The one identity-provider origin the page may connect to (its token endpoint), if known. */
export async function tokenEndpointOrigin(env: Env): Promise<string | null> {
  const config = consoleOidcConfig(env);
  if (!config) return null;
  try {
    return new URL((await providerMetadata(config)).tokenEndpoint).origin;
  } catch {
    // The page still loads; config.json reports the problem to the user.
    return null;
  }
}
