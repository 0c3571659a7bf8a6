// Local dev state: .dev.vars (the worker's secrets for `wrangler dev`) and the dev identity
// provider's private key (.keygate/dev-idp.private.json, used only by `npm run token`).
// Both are git-ignored and generated on first use.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { newDevKeyMaterial } from "./keys.mjs";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
export const DEV_VARS = path.join(ROOT, ".dev.vars");
export const IDP_KEY = path.join(ROOT, ".keygate", "dev-idp.private.json");

/** Parses the KEY=VALUE lines of a .dev.vars file (values may be single- or double-quoted). */
export function parseDevVars(text) {
  const vars = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\s*$/.exec(line);
    if (!m) continue;
    let value = m[2];
    if ((value.startsWith("'") && value.endsWith("'")) || (value.startsWith('"') && value.endsWith('"'))) value = value.slice(1, -1);
    vars[m[1]] = value;
  }
  return vars;
}

export function readDevVars() {
  return existsSync(DEV_VARS) ? parseDevVars(readFileSync(DEV_VARS, "utf8")) : {};
}

/** Sets `name` in .dev.vars (single-quoted: JSON values keep their double quotes). */
export function writeDevVar(name, value) {
  const lines = existsSync(DEV_VARS)
    ? readFileSync(DEV_VARS, "utf8")
        .split(/\r?\n/)
        .filter((l) => l !== "")
    : [];
  const line = `${name}='${value}'`;
  const at = lines.findIndex((l) => l.startsWith(`${name}=`));
  if (at === -1) lines.push(line);
  else lines[at] = line;
  writeFileSync(DEV_VARS, `${lines.join("\n")}\n`, { mode: 0o600 });
}

/**
 * Makes sure .dev.vars has SIGNING_KEYS, IDENTITY_ASSERTION_KEYS and USER_TOKEN_JWKS and that the
 * dev IdP's private key exists. Never overwrites what is there. Returns the names it generated.
 */
export function ensureDevKeys() {
  const vars = readDevVars();
  const generated = [];
  const haveIdp = existsSync(IDP_KEY) && vars.USER_TOKEN_JWKS;
  const material = newDevKeyMaterial();
  if (!vars.SIGNING_KEYS) {
    writeDevVar("SIGNING_KEYS", material.SIGNING_KEYS);
    generated.push("SIGNING_KEYS");
  }
  // Signs identity assertions once IDENTITY_ASSERTION = "jwt" (off by default).
  if (!vars.IDENTITY_ASSERTION_KEYS) {
    writeDevVar("IDENTITY_ASSERTION_KEYS", material.IDENTITY_ASSERTION_KEYS);
    generated.push("IDENTITY_ASSERTION_KEYS");
  }
  if (!haveIdp) {
    mkdirSync(path.dirname(IDP_KEY), { recursive: true });
    writeFileSync(IDP_KEY, JSON.stringify(material.idpPrivateJwk, null, 2), { mode: 0o600 });
    writeDevVar("USER_TOKEN_JWKS", material.USER_TOKEN_JWKS);
    generated.push("USER_TOKEN_JWKS (dev identity provider)");
  }
  return generated;
}

/** A string var of wrangler.toml's [vars] (enough TOML for `KEY = "value"` lines). */
export function wranglerVar(name) {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  const m = new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, "m").exec(toml);
  return m ? m[1] : undefined;
}
