/**
 * Sign-in: OpenID Connect authorization code flow with PKCE (S256) as a public client. The
 * redirect URI is this page's origin + CALLBACK_PATH, so the console works on any host and port
 * the identity provider has registered. `state` binds the callback to this tab's sign-in, `nonce`
 * binds the ID token to it, and the PKCE verifier binds the code exchange to it.
 */
import { decodeJwtClaims } from "./jwt";
import { codeChallengeS256, newCodeVerifier, randomToken } from "./pkce";
import { type Session, type SessionStore, SIGN_IN_KEY, sessionFromAccessToken } from "./session";

export const CALLBACK_PATH = "/console/callback";
/** A sign-in left unfinished longer than this is refused at the callback. */
const SIGN_IN_MAX_AGE_SECONDS = 600;
/** Clock difference tolerated between this browser and the identity provider. */
const CLOCK_SKEW_SECONDS = 120;

/** GET /console/config.json (src/console-host/config.ts). */
export interface ConsoleConfig {
  issuer: string;
  client_id: string;
  authorization_endpoint: string;
  token_endpoint: string;
  scope: string;
  resource: string | null;
  auth_params: Record<string, string>;
  tenants_claim: string;
  /** Absent from a keygate older than roles: every user is then an admin, as that keygate treats them. */
  roles_claim?: string;
  default_role?: string;
}

interface SignInTransaction {
  state: string;
  nonce: string;
  verifier: string;
  issuer: string;
  /** Console path to return to after signing in. */
  returnTo: string;
  createdAt: number;
}

/** A sign-in that failed, with what to tell the user (the identity provider's own description when it gave one). */
export class SignInError extends Error {
  readonly code: string;
  constructor(code: string, description: string) {
    super(description);
    this.name = "SignInError";
    this.code = code;
  }
}

export function redirectUri(origin: string): string {
  return `${origin}${CALLBACK_PATH}`;
}

/** Only paths of the console itself: never an open redirect to another site. */
export function safeReturnPath(path: string | null | undefined): string {
  if (!path?.startsWith("/console/") || path.includes("\\") || path.startsWith(CALLBACK_PATH)) {
    return "/console/";
  }
  return path;
}

/** Stores a new sign-in transaction and returns the authorization URL to navigate to. */
export async function beginSignIn(
  config: ConsoleConfig,
  store: SessionStore,
  origin: string,
  returnTo: string,
  nowSeconds: number,
): Promise<string> {
  const tx: SignInTransaction = {
    state: randomToken(),
    nonce: randomToken(),
    verifier: newCodeVerifier(),
    issuer: config.issuer,
    returnTo: safeReturnPath(returnTo),
    createdAt: nowSeconds,
  };
  store.setItem(SIGN_IN_KEY, JSON.stringify(tx));
  const url = new URL(config.authorization_endpoint);
  for (const [name, value] of Object.entries(config.auth_params)) url.searchParams.set(name, value);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", config.client_id);
  url.searchParams.set("redirect_uri", redirectUri(origin));
  url.searchParams.set("scope", config.scope);
  url.searchParams.set("state", tx.state);
  url.searchParams.set("nonce", tx.nonce);
  url.searchParams.set("code_challenge", await codeChallengeS256(tx.verifier));
  url.searchParams.set("code_challenge_method", "S256");
  if (config.resource) url.searchParams.set("resource", config.resource);
  return url.href;
}

function takeTransaction(store: SessionStore): SignInTransaction | null {
  const raw = store.getItem(SIGN_IN_KEY);
  // One use only: a replayed callback finds nothing.
  store.removeItem(SIGN_IN_KEY);
  if (raw === null) return null;
  try {
    const tx = JSON.parse(raw) as SignInTransaction;
    return typeof tx.state === "string" && typeof tx.nonce === "string" && typeof tx.verifier === "string" ? tx : null;
  } catch {
    return null;
  }
}

function audiences(value: unknown): string[] {
  if (typeof value === "string") return [value];
  return Array.isArray(value) ? value.filter((a): a is string => typeof a === "string") : [];
}

/** OpenID Connect Core §3.1.3.7: the ID token is for this client, from this issuer, for this sign-in, and current. */
export function checkIdToken(idToken: string, config: ConsoleConfig, nonce: string, nowSeconds: number): void {
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwtClaims(idToken);
  } catch (err) {
    throw new SignInError("invalid_id_token", `The identity provider's ID token is malformed: ${(err as Error).message}`);
  }
  if (claims.iss !== config.issuer) throw new SignInError("invalid_id_token", "The ID token was issued by another identity provider (iss)");
  const aud = audiences(claims.aud);
  if (!aud.includes(config.client_id)) throw new SignInError("invalid_id_token", "The ID token is for another client (aud)");
  if (aud.length > 1 && claims.azp !== undefined && claims.azp !== config.client_id) {
    throw new SignInError("invalid_id_token", "The ID token was issued to another client (azp)");
  }
  if (claims.nonce !== nonce) throw new SignInError("invalid_id_token", "The ID token does not belong to this sign-in (nonce)");
  if (typeof claims.exp !== "number" || claims.exp + CLOCK_SKEW_SECONDS <= nowSeconds) {
    throw new SignInError("invalid_id_token", "The ID token has expired; check this computer's clock and sign in again");
  }
}

export interface CallbackResult {
  session: Session;
  returnTo: string;
}

/**
 * Handles the redirect back from the identity provider: checks `state` (and `iss`, RFC 9207,
 * when sent), exchanges the code with the PKCE verifier, checks the ID token, and returns the
 * session. The transaction is consumed whatever happens.
 */
export async function completeSignIn(
  config: ConsoleConfig,
  store: SessionStore,
  callbackUrl: string,
  nowSeconds: number,
  fetchFn: typeof fetch = fetch,
): Promise<CallbackResult> {
  const url = new URL(callbackUrl);
  const params = url.searchParams;
  const tx = takeTransaction(store);
  if (!tx) throw new SignInError("no_sign_in", "No sign-in was started in this tab (or it was already completed); sign in again");
  if (params.get("state") !== tx.state)
    throw new SignInError("invalid_state", "The sign-in response does not match this tab's sign-in (state); sign in again");
  if (tx.issuer !== config.issuer)
    throw new SignInError("invalid_state", "The console's identity provider changed during the sign-in; sign in again");
  if (nowSeconds - tx.createdAt > SIGN_IN_MAX_AGE_SECONDS) throw new SignInError("expired", "The sign-in took too long; sign in again");
  const iss = params.get("iss");
  if (iss !== null && iss !== config.issuer)
    throw new SignInError("invalid_issuer", "The sign-in response came from another identity provider (iss)");
  const error = params.get("error");
  if (error !== null)
    throw new SignInError(error, params.get("error_description") || `The identity provider refused the sign-in (${error})`);
  const code = params.get("code");
  if (!code) throw new SignInError("invalid_request", "The sign-in response has no authorization code");

  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code,
    redirect_uri: redirectUri(url.origin),
    client_id: config.client_id,
    code_verifier: tx.verifier,
  });
  if (config.resource) form.set("resource", config.resource);
  let res: Response;
  try {
    res = await fetchFn(config.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: form,
    });
  } catch {
    throw new SignInError("network_error", "The identity provider's token endpoint could not be reached");
  }
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // described below
  }
  if (!res.ok) {
    // RFC 6749 §5.2 error response.
    const err = typeof body.error === "string" ? body.error : `http_${res.status}`;
    const description =
      typeof body.error_description === "string" ? body.error_description : `The token endpoint answered HTTP ${res.status}`;
    throw new SignInError(err, description);
  }
  if (typeof body.access_token !== "string" || typeof body.token_type !== "string" || body.token_type.toLowerCase() !== "bearer") {
    throw new SignInError("invalid_token_response", "The identity provider did not return a bearer access token");
  }
  if (typeof body.id_token !== "string")
    throw new SignInError("invalid_token_response", "The identity provider did not return an ID token");
  checkIdToken(body.id_token, config, tx.nonce, nowSeconds);
  let session: Session;
  try {
    session = sessionFromAccessToken(
      body.access_token,
      config.tenants_claim,
      nowSeconds,
      typeof body.expires_in === "number" ? body.expires_in : undefined,
      config.roles_claim === undefined ? undefined : { claim: config.roles_claim, defaultRole: config.default_role },
    );
  } catch (err) {
    throw new SignInError("invalid_access_token", (err as Error).message);
  }
  return { session, returnTo: tx.returnTo };
}
