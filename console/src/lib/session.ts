/**
 * The signed-in session: the access token (the management API's bearer) and what the console
 * reads from it. Kept in sessionStorage (this tab only, gone when it closes) so a reload does not
 * sign the user out; never in localStorage, cookies or URLs. Sign-out removes every key the
 * console ever writes.
 */
import { DEFAULT_ROLE_SETTINGS, type DefaultRoleSetting, type RoleClaim, readRoleClaim } from "../../../src/vocab/roles.mjs";
import { decodeJwtClaims, tenantsFromClaim } from "./jwt";

export type SessionStore = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export const SESSION_KEY = "keygate.console.session";
/** The sign-in in progress (state, nonce, PKCE verifier), between the redirect and the callback. */
export const SIGN_IN_KEY = "keygate.console.sign-in";
/** Treat the token as expired this early, so a call does not start with a token about to lapse. */
const EXPIRY_SKEW_SECONDS = 30;

export interface Session {
  accessToken: string;
  /** Unix seconds. */
  expiresAt: number;
  subject: string;
  tenants: string[];
  /**
   * What the token's roles claim says, read as the worker reads it (src/vocab/roles.mjs), and the role
   * of a token without it. Only to decide which controls to show: the API decides what is allowed.
   */
  roles?: RoleClaim;
  defaultRole?: DefaultRoleSetting;
}

/** Builds a session from a token response's access token (a JWT, as keygate requires). */
export function sessionFromAccessToken(
  accessToken: string,
  tenantsClaim: string,
  nowSeconds: number,
  expiresIn?: number,
  roles?: { claim: string; defaultRole?: string },
): Session {
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwtClaims(accessToken);
  } catch (err) {
    throw new Error(
      `The identity provider's access token is not a JWT (${(err as Error).message}); keygate needs JWT access tokens for its audience`,
    );
  }
  const exp = typeof claims.exp === "number" ? claims.exp : expiresIn !== undefined ? nowSeconds + expiresIn : undefined;
  if (exp === undefined) throw new Error("The access token has no expiry (exp)");
  return {
    accessToken,
    expiresAt: exp,
    subject: typeof claims.sub === "string" ? claims.sub : "",
    tenants: tenantsFromClaim(claims[tenantsClaim]),
    roles: roles === undefined ? { kind: "absent" } : readRoleClaim(claims[roles.claim]),
    defaultRole: DEFAULT_ROLE_SETTINGS.find((r) => r === roles?.defaultRole) ?? "admin",
  };
}

export function saveSession(store: SessionStore, session: Session): void {
  store.setItem(SESSION_KEY, JSON.stringify(session));
}

function isSession(value: unknown): value is Session {
  const s = value as Session;
  return (
    typeof s === "object" &&
    s !== null &&
    typeof s.accessToken === "string" &&
    typeof s.expiresAt === "number" &&
    typeof s.subject === "string" &&
    Array.isArray(s.tenants) &&
    s.tenants.every((t) => typeof t === "string")
  );
}

/** The stored session if it is well-formed and not (about to be) expired; otherwise none, and it is removed. */
export function loadSession(store: SessionStore, nowSeconds: number): Session | null {
  const raw = store.getItem(SESSION_KEY);
  if (raw === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = null;
  }
  if (!isSession(value) || value.expiresAt - EXPIRY_SKEW_SECONDS <= nowSeconds) {
    store.removeItem(SESSION_KEY);
    return null;
  }
  return value;
}

/** Sign-out: forgets the session and any sign-in in progress. */
export function clearSession(store: SessionStore): void {
  store.removeItem(SESSION_KEY);
  store.removeItem(SIGN_IN_KEY);
}
