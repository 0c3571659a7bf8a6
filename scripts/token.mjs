#!/usr/bin/env node
// Prints a user access token that the local keygate accepts: the <user-access-token> of the
// seed's curl examples. Signed by the dev identity provider that `npm run dev` set up.
//
//   npm run -s token -- --tenant my-tenant --sub user-123 [--tenant other] [--ttl 3600]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ensureDevKeys, IDP_KEY } from "./lib/dev-state.mjs";
import { DEV_ACCESS_TOKEN_TTL_SECONDS, mintDevAccessToken } from "./lib/dev-token.mjs";

const { values } = parseArgs({
  options: {
    tenant: { type: "string", multiple: true },
    sub: { type: "string", default: "user-123" },
    ttl: { type: "string", default: String(DEV_ACCESS_TOKEN_TTL_SECONDS) },
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
const token = await mintDevAccessToken({
  jwk,
  sub: values.sub,
  tenants: values.tenant ?? ["my-tenant"],
  ttlSeconds: ttl,
  issuer: values.issuer,
  audience: values.audience,
});
process.stdout.write(`${token}\n`);
