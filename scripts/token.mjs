#!/usr/bin/env node
// Prints a user access token that the local keygate accepts: the <user-access-token> of the
// seed's curl examples. Signed by the dev identity provider that `npm run dev` set up.
//
//   npm run -s token -- --tenant my-tenant --sub user-123 [--tenant other] [--ttl 3600]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { importJWK, SignJWT } from "jose";
import { ensureDevKeys, IDP_KEY, wranglerVar } from "./lib/dev-state.mjs";

const { values } = parseArgs({
  options: {
    tenant: { type: "string", multiple: true },
    sub: { type: "string", default: "user-123" },
    ttl: { type: "string", default: "43200" },
    issuer: { type: "string" },
    audience: { type: "string" },
    // Sign with another identity-provider key than the dev one (tests use this).
    "idp-key": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log("usage: npm run -s token -- --tenant <tenant> [--tenant <tenant>...] [--sub <user>] [--ttl <seconds>]");
  process.exit(0);
}

const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error("--ttl must be a positive number of seconds");
  process.exit(2);
}

if (values["idp-key"] === undefined) {
  const generated = ensureDevKeys();
  if (generated.length > 0) console.error(`generated dev keys (${generated.join(", ")}); restart a running \`npm run dev\` to load them`);
}

const jwk = JSON.parse(readFileSync(values["idp-key"] ?? IDP_KEY, "utf8"));
const claim = wranglerVar("USER_TOKEN_TENANTS_CLAIM") ?? "tenants";
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ [claim]: values.tenant ?? ["my-tenant"] })
  .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: jwk.kid })
  .setSubject(values.sub)
  .setIssuer(values.issuer ?? wranglerVar("USER_TOKEN_ISSUER") ?? "keygate-dev-idp")
  .setAudience(values.audience ?? wranglerVar("USER_TOKEN_AUDIENCE") ?? "keygate")
  .setIssuedAt(now)
  .setExpirationTime(now + ttl)
  .sign(await importJWK(jwk, "RS256"));
process.stdout.write(`${token}\n`);
