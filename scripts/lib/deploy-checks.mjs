// What `npm run deploy` checks before it creates anything, and how it validates the secrets it
// generates. The rules that make a value valid are the worker's own: src/config/ and each feature's config section are
// loaded as they are (Node strips their types; see ./ts-imports.mjs), so nothing here repeats them.
// Only the rules that hold for a deployment but not for `npm run dev` (no loopback, no dev IdP) live here.
import { importJWK, jwtVerify } from "jose";
import "./ts-imports.mjs";

const src = (file) => new URL(`../../src/${file}`, import.meta.url).href;
const { keyConfig, userTokenConfig, scopeLifetimePolicy } = await import(src("config/keys.ts"));
const { gatewayConfig } = await import(src("gateway/config.ts"));
const { abuseConfig } = await import(src("abuse/config.ts"));
const { usageConfig } = await import(src("usage/config.ts"));
const { deliveryConfig } = await import(src("webhooks/config.ts"));
const { auditRetentionDays } = await import(src("audit/config.ts"));
const { enumVar } = await import(src("config/read.ts"));
const { consoleOidcConfig } = await import(src("console-host/config.ts"));
const { signingKeys } = await import(src("auth/signing-keys.ts"));
const { issueApiKey, verifyApiKey } = await import(src("auth/api-key-token.ts"));
const { assertionJwks, identityAssertion } = await import(src("auth/identity-assertion.ts"));

/** What wrangler.toml ships for `npm run dev`; a deployment must replace each (docs/deploying.md). */
const DEV_USER_TOKEN_ISSUER = "keygate-dev-idp";

function isLoopback(hostname) {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" || host === "0.0.0.0" || /^127\./.test(host);
}

function url(value) {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/**
 * The problems that would make this deployment unusable, as sentences naming the var. `vars` is
 * wrangler.toml's [vars] as wrangler reads them, with the `--var` overrides applied;
 * `userTokenJwksSecret` says whether the deployed worker has a USER_TOKEN_JWKS secret (undefined:
 * not known yet, as in a dry run).
 */
export function deployConfigProblems(vars, { userTokenJwksSecret } = {}) {
  const problems = [];
  // Each section as the worker parses it (a bad value there is a 500 at the first request that needs it).
  const env = { ...vars };
  if (!env.USER_TOKEN_JWKS_URL && !env.USER_TOKEN_JWKS) {
    // Stands in for the secret, which a deploy cannot read: only its presence is checked (below).
    env.USER_TOKEN_JWKS = '{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}';
  }
  const sections = [
    keyConfig,
    userTokenConfig,
    gatewayConfig,
    scopeLifetimePolicy,
    abuseConfig,
    usageConfig,
    auditRetentionDays,
    deliveryConfig,
    consoleOidcConfig,
  ];
  for (const parse of sections) {
    try {
      parse(env);
    } catch (err) {
      problems.push(err.message);
    }
  }
  try {
    enumVar(vars, "IDENTITY_ASSERTION");
  } catch (err) {
    problems.push(err.message);
  }

  // A deployment's own rules: what is right for `npm run dev` and wrong on Cloudflare.
  const issuer = url(vars.KEY_ISSUER ?? "");
  if (issuer && (issuer.protocol !== "https:" || isLoopback(issuer.hostname))) {
    problems.push(`KEY_ISSUER is ${JSON.stringify(vars.KEY_ISSUER)}: set it to keygate's public https URL (it is every API key's \`iss\`)`);
  }
  const origin = url(vars.ORIGIN_URL ?? "");
  if (origin && isLoopback(origin.hostname)) {
    problems.push(
      `ORIGIN_URL is ${JSON.stringify(vars.ORIGIN_URL)}, a loopback address a deployed worker cannot reach: set it to your API's URL`,
    );
  }
  if (!vars.USER_TOKEN_JWKS_URL && !vars.USER_TOKEN_JWKS && userTokenJwksSecret === false) {
    problems.push("USER_TOKEN_JWKS_URL is not set and the worker has no USER_TOKEN_JWKS secret: set your identity provider's JWKS URL");
  }
  if (vars.USER_TOKEN_ISSUER?.trim() === DEV_USER_TOKEN_ISSUER) {
    problems.push(`USER_TOKEN_ISSUER is "${DEV_USER_TOKEN_ISSUER}" (npm run dev's identity provider): set your identity provider's issuer`);
  }
  if (vars.WEBHOOK_ALLOW_INSECURE_LOOPBACK === "true" || vars.WEBHOOK_ALLOW_INSECURE_LOOPBACK === "1") {
    problems.push("WEBHOOK_ALLOW_INSECURE_LOOPBACK is on: never in a deployment (webhooks could target the worker's own network)");
  }
  return problems;
}

/**
 * Proves a generated SIGNING_KEYS works as the worker uses it: the worker's own parser accepts it,
 * and an API key issued with it verifies. Returns a description of the set (no private material).
 */
export async function validateSigningKeys(raw, vars) {
  const ring = await signingKeys(raw);
  const keyConfig = { issuer: vars.KEY_ISSUER, audience: vars.KEY_AUDIENCE };
  const token = await issueApiKey(ring, keyConfig, {
    keyId: "key-deploy-check",
    tenant: "deploy-check",
    sub: "deploy-check",
    scopes: ["api:read"],
    iat: Math.floor(Date.now() / 1000),
    exp: null,
    jti: "deploy-check",
  });
  const verified = await verifyApiKey(token, ring, keyConfig);
  if (!verified.ok) throw new Error(`SIGNING_KEYS: an API key it signed did not verify (${verified.reason})`);
  // base64url: 4 characters carry 3 bytes (as src/auth/signing-keys.ts counts them).
  const bits = Math.floor((ring.active.publicJwk.n.length * 6) / 8) * 8;
  return `${ring.byKid.size} RSA-${bits} key, kid ${ring.active.kid}, RS256: an API key it signs verifies`;
}

/** The same for IDENTITY_ASSERTION_KEYS: an identity assertion signed with it verifies against keygate's JWKS. */
export async function validateIdentityAssertionKeys(raw, vars) {
  const env = { ...vars, IDENTITY_ASSERTION: "jwt", IDENTITY_ASSERTION_KEYS: raw };
  const identity = { keyId: "key-deploy-check", tenant: "deploy-check", scopes: ["api:read"], sub: "deploy-check" };
  const jwt = await identityAssertion(env, identity, "GET", "/deploy-check", Date.now());
  const [publicJwk] = assertionJwks(env);
  if (!publicJwk) throw new Error("IDENTITY_ASSERTION_KEYS: the worker publishes no key for it");
  await jwtVerify(jwt, await importJWK(publicJwk, "EdDSA"), { issuer: vars.KEY_ISSUER });
  return `1 Ed25519 key, kid ${publicJwk.kid}, EdDSA: an identity assertion it signs verifies`;
}
