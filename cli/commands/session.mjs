// @ts-check
/**
 * `keygate login` / `keygate logout`. Login checks the token against the API (a one-key list on
 * the tenant, which needs exactly what every other command needs) before anything is saved, so a
 * typo or an expired token never ends up in the config file.
 */
import { Client } from "../client.mjs";
import { configPath, normalizeBaseUrl, readConfig, removeConfig, writeConfig } from "../config.mjs";
import { globalOptions, outFor, USER_AGENT } from "../context.mjs";
import { ApiRefusal, UsageError } from "../errors.mjs";
import { escapingReviver } from "../output.mjs";

/** @typedef {import("commander").Command} Command */

/**
 * The token from standard input: the whole of it when piped, one hidden line on a terminal.
 * @returns {Promise<string>}
 */
async function readToken() {
  const stdin = process.stdin;
  let text;
  if (stdin.isTTY) {
    text = await readHiddenLine("Access token (input hidden): ");
  } else {
    stdin.setEncoding("utf8");
    text = "";
    for await (const chunk of stdin) text += chunk;
  }
  const token = text.trim();
  if (token === "") throw new UsageError("no token: pass --token or write it to standard input");
  if (/\s/.test(token)) throw new UsageError("the token on standard input must be a single word (no spaces or line breaks)");
  return token;
}

/**
 * Reads one line from the terminal without echoing it (the token must not stay on screen).
 * @param {string} prompt
 * @returns {Promise<string>}
 */
function readHiddenLine(prompt) {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding("utf8");
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    /** @param {string} chunk */
    const onData = (chunk) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") {
          finish();
          resolve(value);
          return;
        }
        if (ch === "\u0003") {
          finish();
          reject(new UsageError("login cancelled"));
          return;
        }
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/**
 * The tenant a token names by itself, without verifying it (the API checks it next): an API key's
 * `tenant` claim, or a user token's `tenants` claim when it lists exactly one.
 * @param {string} token
 * @returns {string | undefined}
 */
export function tenantFromToken(token) {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"), escapingReviver);
    if (typeof claims.tenant === "string") return claims.tenant;
    if (Array.isArray(claims.tenants) && claims.tenants.length === 1 && typeof claims.tenants[0] === "string") return claims.tenants[0];
  } catch {
    // not a JWT we can read: the tenant must be given
  }
  return undefined;
}

/** @param {Command} program */
export function registerSession(program) {
  program
    .command("login")
    .description("check a token against keygate and save url, tenant and token for later commands")
    .option("--url <base>", "keygate base URL, e.g. https://keygate.example.com (default: KEYGATE_URL, then the saved login)")
    .option("--tenant <tenant>", "tenant to manage (default: KEYGATE_TENANT, the token's only tenant, then the saved login)")
    .option("--token <token>", "user access token or management key (default: read from standard input)")
    .addHelpText(
      "after",
      `
The token is read from standard input unless --token is given (stdin keeps it out of your shell
history and the process list):
  npm run -s token -- --tenant my-tenant | keygate login --url http://localhost:3000
Saved to $XDG_CONFIG_HOME/keygate/config.json (default ~/.config/keygate/config.json), mode 0600.`,
    )
    .action(async (/** @type {unknown} */ _opts, /** @type {Command} */ cmd) => {
      const out = outFor(cmd);
      const file = configPath(process.env);
      const flags = globalOptions(cmd);
      /** @type {import("../config.mjs").SavedConfig} */
      let saved = {};
      try {
        saved = readConfig(file);
      } catch {
        // An unreadable login is what a new login replaces.
      }
      const rawUrl = flags.url || process.env.KEYGATE_URL || saved.url;
      if (!rawUrl) throw new UsageError("give --url <base> (or set KEYGATE_URL): where keygate runs, e.g. http://localhost:3000");
      const url = normalizeBaseUrl(rawUrl, flags.url ? "--url" : process.env.KEYGATE_URL ? "KEYGATE_URL" : "the saved login's url");
      const token = flags.token || (await readToken());
      // The saved tenant only as a last resort, and only for the same server.
      const savedTenant = saved.url === url ? saved.tenant : undefined;
      const tenant = flags.tenant || process.env.KEYGATE_TENANT || tenantFromToken(token) || savedTenant;
      if (!tenant) throw new UsageError("give --tenant <tenant>: the token does not name exactly one tenant");

      const client = new Client({ url, tenant, token, userAgent: USER_AGENT });
      try {
        await client.request("GET", client.tenantPath("api-keys", "list"), { query: { limit: 1 } });
      } catch (err) {
        if (err instanceof ApiRefusal) err.message = `login refused, nothing saved: ${err.message}`;
        throw err;
      }
      writeConfig(file, { url, tenant, token });
      if (out.json) out.printJson({ url, tenant, config_path: file });
      else out.print(`Logged in to ${url} for tenant ${out.p.bold(tenant)}; saved to ${file}\n`);
    });

  program
    .command("logout")
    .description("forget the saved login (removes the config file)")
    .action(async (/** @type {unknown} */ _opts, /** @type {Command} */ cmd) => {
      const out = outFor(cmd);
      const file = configPath(process.env);
      const removed = removeConfig(file);
      const stillSet = ["KEYGATE_URL", "KEYGATE_TENANT", "KEYGATE_TOKEN"].filter((name) => process.env[name]);
      if (out.json) out.printJson({ removed, config_path: file });
      else out.print(removed ? `Logged out: removed ${file}\n` : `Not logged in (no ${file})\n`);
      if (stillSet.length > 0) out.note(`${stillSet.join(", ")} still set in the environment`);
    });
}
