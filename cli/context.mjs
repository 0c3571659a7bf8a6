// @ts-check
/**
 * What every command shares: the global options (`--url`, `--tenant`, `--token`, `--json`, valid
 * before the command and after it), the resolved target and client, and where output goes.
 */
import { readFileSync } from "node:fs";
import { Client } from "./client.mjs";
import { configPath, readConfig, resolveTarget } from "./config.mjs";
import { palette, toJson, useColour } from "./output.mjs";

/** @typedef {import("commander").Command} Command */
/** @typedef {import("./output.mjs").Palette} Palette */

const PACKAGE = /** @type {{ version: string }} */ (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")));
export const VERSION = PACKAGE.version;
const USER_AGENT = `keygate-cli/${VERSION} node/${process.versions.node}`;

/** @typedef {"url" | "tenant" | "token" | "json"} GlobalName */
/** @type {Record<GlobalName, [string, string]>} */
const GLOBAL_OPTIONS = {
  url: ["--url <base>", "keygate base URL (default: KEYGATE_URL, then the saved login)"],
  tenant: ["--tenant <tenant>", "tenant (default: KEYGATE_TENANT, then the saved login)"],
  token: ["--token <token>", "access token or management key (default: KEYGATE_TOKEN, then the saved login)"],
  json: ["--json", "print the API's JSON (for scripts)"],
};

/** Which global options each command declared, so a command's own `--url` is never read as one. */
/** @type {WeakMap<Command, Set<GlobalName>>} */
const declaredGlobals = new WeakMap();
/** @type {WeakMap<Command, Set<string>>} */
const ownOptions = new WeakMap();

/**
 * Marks an option of `cmd` that shares a global option's name as the command's own (`webhooks
 * create --url` is the webhook's URL); keygate's URL must then come before the command or from
 * the environment or login.
 * @param {Command} cmd
 * @param {GlobalName} name
 */
export function keepOwnOption(cmd, name) {
  ownOptions.set(cmd, new Set([...(ownOptions.get(cmd) ?? []), name]));
}

/**
 * Declares the global options on `cmd`. An option it already has under a global's name is taken
 * as that global (with the command's own help text) unless marked with keepOwnOption.
 * @param {Command} cmd
 */
export function addGlobalOptions(cmd) {
  /** @type {Set<GlobalName>} */
  const names = new Set();
  for (const [name, [flags, description]] of /** @type {[GlobalName, [string, string]][]} */ (Object.entries(GLOBAL_OPTIONS))) {
    if (ownOptions.get(cmd)?.has(name)) continue;
    if (!cmd.options.some((o) => o.long === flags.split(" ")[0])) cmd.option(flags, description);
    names.add(name);
  }
  declaredGlobals.set(cmd, names);
}

/**
 * The global options in effect: the innermost command that was given one wins.
 * @param {Command} cmd
 * @returns {{ url?: string, tenant?: string, token?: string, json: boolean }}
 */
export function globalOptions(cmd) {
  /** @type {{ url?: string, tenant?: string, token?: string, json: boolean }} */
  const result = { json: false };
  for (let c = /** @type {Command | null} */ (cmd); c; c = c.parent) {
    const names = declaredGlobals.get(c);
    if (!names) continue;
    const opts = c.opts();
    for (const name of /** @type {const} */ (["url", "tenant", "token"])) {
      if (names.has(name) && result[name] === undefined && typeof opts[name] === "string") result[name] = opts[name];
    }
    if (names.has("json") && opts.json === true) result.json = true;
  }
  return result;
}

/**
 * @typedef {object} Out
 * @property {boolean} json `--json`: print the API's JSON
 * @property {boolean} tty stdout is a terminal
 * @property {Palette} p colours for stdout
 * @property {number} now unix seconds
 * @property {(text: string) => void} print to stdout
 * @property {(text: string) => void} note to stderr, prefixed "keygate: "
 * @property {(value: unknown) => void} printJson
 */

/**
 * @typedef {object} ActionContext
 * @property {Client} client
 * @property {string} tenant
 * @property {Record<string, any>} opts the command's own options
 * @property {string[]} args the command's positional arguments
 * @property {Out} out
 */

/** @returns {Out} */
function makeOut(/** @type {boolean} */ json) {
  return {
    json,
    tty: process.stdout.isTTY === true,
    p: palette(useColour(process.stdout, process.env)),
    now: Math.floor(Date.now() / 1000),
    print: (text) => process.stdout.write(text),
    note: (text) => process.stderr.write(`keygate: ${text}\n`),
    printJson: (value) => process.stdout.write(toJson(value)),
  };
}

/**
 * A commander action that resolves the target first. `needs` says what the command requires
 * beyond a URL (the public scope catalog needs no tenant or token).
 * @param {{ tenant: boolean, token: boolean }} needs
 * @param {(ctx: ActionContext) => Promise<void>} fn
 * @returns {(...args: any[]) => Promise<void>}
 */
export function action(needs, fn) {
  return async (...args) => {
    const cmd = /** @type {Command} */ (args[args.length - 1]);
    const flags = globalOptions(cmd);
    const target = resolveTarget(flags, process.env, () => readConfig(configPath(process.env)), needs);
    const client = new Client({ ...target, userAgent: USER_AGENT });
    await fn({
      client,
      tenant: target.tenant,
      opts: cmd.opts(),
      args: /** @type {string[]} */ (cmd.processedArgs),
      out: makeOut(flags.json),
    });
  };
}

/**
 * For commands that resolve their own target (login, logout).
 * @param {Command} cmd
 */
export function outFor(cmd) {
  return makeOut(globalOptions(cmd).json);
}

export { USER_AGENT };
