// The dev identity provider's access token: what `npm run token` prints and what the dev sign-in
// of the console (scripts/dev-idp.mjs) issues. One minter, so both are the same token.
import { importJWK, SignJWT } from "jose";
import { VARS } from "../../src/config/vars.ts";
import { wranglerVar } from "./dev-state.mjs";

/** 12 hours, like a working day's session. */
export const DEV_ACCESS_TOKEN_TTL_SECONDS = 43_200;

/**
 * A user access token signed by the dev IdP's private JWK, with wrangler.toml's user-token issuer,
 * audience and tenants claim unless overridden.
 */
export async function mintDevAccessToken({ jwk, sub, tenants, roles, ttlSeconds = DEV_ACCESS_TOKEN_TTL_SECONDS, issuer, audience }) {
  const claim = wranglerVar("USER_TOKEN_TENANTS_CLAIM") ?? VARS.USER_TOKEN_TENANTS_CLAIM.default;
  const now = Math.floor(Date.now() / 1000);
  /** @type {Record<string, unknown>} */
  const claims = { [claim]: tenants };
  // `roles`: the roles claim (USER_TOKEN_ROLES_CLAIM); none, a token without it (an admin by default).
  if (roles !== undefined) claims[wranglerVar("USER_TOKEN_ROLES_CLAIM") ?? VARS.USER_TOKEN_ROLES_CLAIM.default] = roles;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: jwk.kid })
    .setSubject(sub)
    .setIssuer(issuer ?? wranglerVar("USER_TOKEN_ISSUER") ?? "keygate-dev-idp")
    .setAudience(audience ?? wranglerVar("USER_TOKEN_AUDIENCE") ?? "keygate")
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(await importJWK(jwk, "RS256"));
}
