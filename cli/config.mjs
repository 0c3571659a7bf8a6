// @ts-check
/**
 * Where the CLI talks to and as whom. `keygate login` saves url, tenant and token to
 * `$XDG_CONFIG_HOME/keygate/config.json` (default `~/.config/keygate/config.json`), readable by
 * the user only. Per call, `--url/--tenant/--token` win over `KEYGATE_URL/_TENANT/_TOKEN` (for
 * CI, which has no login), which win over the file.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { UsageError } from "./errors.mjs";

/** The config directory and file hold a bearer credential: owner only. */
const CONFIG_DIR_MODE = 0o700;
const CONFIG_FILE_MODE = 0o600;

/**
 * @typedef {object} SavedConfig
 * @property {string} [url]
 * @property {string} [tenant]
 * @property {string} [token]
 */

/** @typedef {{ url?: string, tenant?: string, token?: string }} TargetFlags */

/**
 * The config file path. XDG Base Directory: `$XDG_CONFIG_HOME` when set to an absolute path.
 * @param {NodeJS.ProcessEnv} env
 */
export function configPath(env) {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(homedir(), ".config");
  return path.join(base, "keygate", "config.json");
}

/**
 * The saved config, or `{}` when there is none.
 * @param {string} file
 * @returns {SavedConfig}
 */
export function readConfig(file) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code === "ENOENT") return {};
    throw new UsageError(`cannot read ${file}: ${/** @type {Error} */ (err).message}`);
  }
  /** @type {unknown} */
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is not valid JSON; run \`keygate login\` again or remove it`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new UsageError(`${file} must hold a JSON object; run \`keygate login\` again or remove it`);
  }
  /** @type {Record<string, unknown>} */
  const record = /** @type {Record<string, unknown>} */ (parsed);
  /** @type {SavedConfig} */
  const config = {};
  for (const field of /** @type {const} */ (["url", "tenant", "token"])) {
    const value = record[field];
    if (typeof value === "string" && value !== "") config[field] = value;
  }
  return config;
}

/**
 * Writes the config atomically (a new 0600 file renamed over the old one), so the token is never
 * readable by others, not even for a moment, and a crash leaves the old file whole.
 * @param {string} file
 * @param {Required<SavedConfig>} config
 */
export function writeConfig(file, config) {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: CONFIG_DIR_MODE });
  // The directory is ours: tighten it even if it existed (mkdir's mode is filtered by the umask).
  chmodSync(dir, CONFIG_DIR_MODE);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: CONFIG_FILE_MODE, flag: "wx" });
    renameSync(temp, file);
  } finally {
    rmSync(temp, { force: true });
  }
}

/**
 * Removes the saved config; false when there was none.
 * @param {string} file
 */
export function removeConfig(file) {
  try {
    rmSync(file);
    return true;
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code === "ENOENT") return false;
    throw err;
  }
}

/**
 * A keygate base URL, normalized: http(s), no query or fragment, no trailing slash (a path
 * prefix such as https://example.com/keygate is kept).
 * @param {string} raw
 * @param {string} source where the value came from, for the error message
 */
export function normalizeBaseUrl(raw, source) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${source} must be an http(s) URL such as https://keygate.example.com (got "${raw}")`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`${source} must be an http(s) URL (got "${raw}")`);
  }
  if (url.search !== "" || url.hash !== "") throw new UsageError(`${source} must not have a query or fragment (got "${raw}")`);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/**
 * The first value that is set, with the name of where it came from.
 * @param {[string, string | undefined][]} candidates
 * @returns {[string, string] | undefined}
 */
function firstSet(candidates) {
  for (const [source, value] of candidates) if (value !== undefined && value !== "") return [source, value];
  return undefined;
}

/**
 * Resolves where and as whom to call. `needs` names what the command uses: the public scope
 * catalog needs only a URL; everything under a tenant needs all three. The saved login is read
 * only when flags and environment leave something open (CI never needs the file), and its tenant
 * and token are used only for its own URL: a token is never sent to another server.
 * @param {TargetFlags} flags
 * @param {NodeJS.ProcessEnv} env
 * @param {() => SavedConfig} loadSaved
 * @param {{ tenant: boolean, token: boolean }} needs
 * @returns {{ url: string, tenant: string, token: string }} "" for what was not needed and not set
 */
export function resolveTarget(flags, env, loadSaved, needs) {
  const given = {
    url: firstSet([
      ["--url", flags.url],
      ["KEYGATE_URL", env.KEYGATE_URL],
    ]),
    tenant: flags.tenant || env.KEYGATE_TENANT,
    token: flags.token || env.KEYGATE_TOKEN,
  };
  const saved = given.url && given.tenant && given.token ? {} : loadSaved();
  const savedUrl = saved.url === undefined ? undefined : normalizeBaseUrl(saved.url, "the saved login's url");
  const url = given.url ? normalizeBaseUrl(given.url[1], given.url[0]) : savedUrl;
  if (url === undefined) throw new UsageError("no keygate URL: run `keygate login --url <base>`, set KEYGATE_URL, or pass --url");
  const sameServer = url === savedUrl;
  const elsewhere = savedUrl !== undefined && !sameServer ? ` (the saved login is for ${savedUrl})` : "";
  const tenant = given.tenant || (sameServer ? saved.tenant : undefined);
  if (needs.tenant && !tenant) {
    throw new UsageError(`no tenant for ${url}${elsewhere}: run \`keygate login\`, set KEYGATE_TENANT, or pass --tenant`);
  }
  const token = given.token || (sameServer ? saved.token : undefined);
  if (needs.token && !token) {
    throw new UsageError(`no token for ${url}${elsewhere}: run \`keygate login\`, set KEYGATE_TOKEN, or pass --token`);
  }
  return { url, tenant: tenant ?? "", token: token ?? "" };
}
