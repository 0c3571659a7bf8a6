#!/usr/bin/env node
// Manages the SIGNING_KEYS secret (a private JWK set; the first key signs, every key verifies and
// is published in the JWKS), or with --identity the IDENTITY_ASSERTION_KEYS secret (Ed25519 keys
// that sign identity assertions, rotated the same way). Reads the current set from --from <file>,
// else from stdin when piped, else from .dev.vars; prints the updated set as JSON (pipe it to
// `wrangler secret put SIGNING_KEYS`) or, with --write-dev-vars, writes it back to .dev.vars.
//
//   npm run -s keys:new                      add a new key at the end (published, not yet signing)
//   npm run -s keys:promote -- <kid>         make <kid> the signing key
//   npm run -s keys:retire -- <kid>          remove <kid>: API keys it signed stop verifying
//   npm run -s keys:list                     show kids, which one signs
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { readDevVars, writeDevVar } from "./lib/dev-state.mjs";
import { newEd25519PrivateJwk, newRsaPrivateJwk } from "./lib/keys.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    from: { type: "string" },
    "write-dev-vars": { type: "boolean", default: false },
    identity: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});
const [command = "new", kid] = positionals;
const SECRET = values.identity ? "IDENTITY_ASSERTION_KEYS" : "SIGNING_KEYS";
const SIGNED = values.identity ? "identity assertions" : "API keys";

function fail(message) {
  console.error(`signing-keys: ${message}`);
  process.exit(2);
}

if (values.help || !["new", "promote", "retire", "list"].includes(command)) {
  console.error("usage: signing-keys.mjs [new | promote <kid> | retire <kid> | list] [--identity] [--from <file>] [--write-dev-vars]");
  process.exit(values.help ? 0 : 2);
}

function readCurrent() {
  if (values.from) return readFileSync(values.from, "utf8");
  if (!process.stdin.isTTY && !values["write-dev-vars"]) {
    try {
      const piped = readFileSync(0, "utf8");
      if (piped.trim() !== "") return piped;
    } catch {
      // no stdin
    }
  }
  const fromDev = readDevVars()[SECRET];
  if (!fromDev) fail("no current key set: pass --from <file>, pipe it on stdin, or run `npm run dev` once to create .dev.vars");
  return fromDev;
}

let set;
try {
  set = JSON.parse(readCurrent());
} catch {
  fail("the current key set is not valid JSON");
}
if (!Array.isArray(set?.keys)) fail('the current key set is not a JWK set: {"keys":[...]}');

const find = () => {
  if (!kid) fail(`${command} needs a kid (see \`list\`)`);
  const i = set.keys.findIndex((k) => k.kid === kid);
  if (i === -1) fail(`no key with kid ${kid}; kids: ${set.keys.map((k) => k.kid).join(", ")}`);
  return i;
};

switch (command) {
  case "list":
    for (const [i, k] of set.keys.entries()) console.log(`${k.kid}${i === 0 ? "  (signing)" : "  (verify only)"}`);
    process.exit(0);
    break;
  case "new": {
    const key = values.identity ? newEd25519PrivateJwk() : newRsaPrivateJwk("kg");
    set.keys.push(key);
    console.error(`added ${key.kid} (verify only). Deploy it, wait for origins' JWKS caches (5 min), then promote it.`);
    break;
  }
  case "promote": {
    const i = find();
    const [key] = set.keys.splice(i, 1);
    set.keys.unshift(key);
    console.error(`${kid} now signs new ${SIGNED}; the others still verify.`);
    break;
  }
  case "retire": {
    const i = find();
    if (i === 0) fail(`${kid} is the signing key: promote another key first`);
    set.keys.splice(i, 1);
    console.error(`removed ${kid}: ${SIGNED} it signed no longer verify.`);
    break;
  }
}

const out = JSON.stringify(set);
if (values["write-dev-vars"]) {
  writeDevVar(SECRET, out);
  console.error(`wrote ${SECRET} to .dev.vars; restart \`npm run dev\` to load it`);
} else {
  process.stdout.write(`${out}\n`);
}
