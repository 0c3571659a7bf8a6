/** RFC 6750 §2.1: reading `Authorization: Bearer <b64token>` from a request. */
import { ApiError } from "../errors";

// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** No legitimate key comes near this; longer headers are refused before any parsing. */
const MAX_TOKEN_LENGTH = 8192;

export type BearerCredential = { kind: "missing" } | { kind: "malformed"; reason: string } | { kind: "token"; token: string };

export function readBearer(authorization: string | null): BearerCredential {
  if (authorization === null) return { kind: "missing" };
  const value = authorization.trim();
  const space = value.indexOf(" ");
  const scheme = space === -1 ? value : value.slice(0, space);
  // Another scheme (Basic, ...) carries no bearer credentials: RFC 6750 §3.1 answers with a challenge.
  if (scheme.toLowerCase() !== "bearer") return { kind: "missing" };
  const token = space === -1 ? "" : value.slice(space + 1).trim();
  if (token === "") return { kind: "malformed", reason: "The Authorization header has no bearer token" };
  if (token.length > MAX_TOKEN_LENGTH || !B64TOKEN.test(token)) {
    return { kind: "malformed", reason: "The Authorization header is not of the form 'Bearer <token>'" };
  }
  return { kind: "token", token };
}

/** The token, or the RFC 6750 error for a missing (401) or malformed (400) credential. */
export function requireBearer(authorization: string | null, missingDescription: string): string {
  const credential = readBearer(authorization);
  if (credential.kind === "token") return credential.token;
  if (credential.kind === "missing") {
    throw new ApiError("invalid_token", missingDescription, { challenge: "bearer-no-error" });
  }
  throw new ApiError("invalid_request", credential.reason, { challenge: "bearer" });
}
