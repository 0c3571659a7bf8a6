// @ts-check
/**
 * What the CLI prints: tables and summaries for people, the API's JSON for scripts (`--json`), and
 * a freshly issued secret alone on its line when stdout is not a terminal, so
 * `KEY=$(keygate keys create ...)` captures exactly the key. Colour only on a terminal, and never
 * with NO_COLOR set (https://no-color.org).
 */
import { keyDisplayStatus, lifecycleOfView } from "../src/vocab/key-status.mjs";

const SECONDS_PER_DAY = 86_400;

/**
 * Control characters (Unicode Cc: C0, DEL, C1; the worker's src/lib/control-characters.ts, \p{Cc}
 * is the same set, which the CLI does not ship with), and the bidirectional formatting characters
 * (LRM, RLM, ALM, the embeddings and overrides U+202A-U+202E, the isolates U+2066-U+2069): in a
 * bidi-capable terminal those reorder the rest of a table row, so a name could make a row read as
 * another key's or another outcome.
 */
const CONTROL_CHARS = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;

/**
 * `text` with every control character and bidi formatting character written as `\u001b`: nothing
 * the server sends (a key's name, an audit entry, an error) can move the cursor, retitle the window,
 * clear an administrator's terminal or reorder what it shows, even text stored before keygate
 * refused control characters.
 * @param {string} text
 */
export function escapeControlChars(text) {
  return text.replace(CONTROL_CHARS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * JSON.parse reviver for the server's answers: every string and field name with its control
 * characters escaped, so the rest of the CLI only ever holds printable text.
 * @param {string} _key
 * @param {unknown} value
 */
export function escapingReviver(_key, value) {
  if (typeof value === "string") return escapeControlChars(value);
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [escapeControlChars(k), v]));
  }
  return value;
}

/** @typedef {(text: string) => string} Style */
/** @typedef {{ bold: Style, dim: Style, red: Style, green: Style, yellow: Style, cyan: Style }} Palette */

/**
 * @param {{ isTTY?: boolean }} stream
 * @param {NodeJS.ProcessEnv} env
 */
export function useColour(stream, env) {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === "");
}

/**
 * ANSI styles, or identity functions when colour is off.
 * @param {boolean} enabled
 * @returns {Palette}
 */
export function palette(enabled) {
  /** @param {number} open @param {number} close @returns {Style} */
  const sgr = (open, close) => (enabled ? (text) => `\x1b[${open}m${text}\x1b[${close}m` : (text) => text);
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

/**
 * Unix seconds as ISO 8601 UTC without milliseconds; "-" for none.
 * @param {number | null | undefined} unix
 */
export function formatTime(unix) {
  if (unix === null || unix === undefined) return "-";
  return new Date(unix * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * A span of seconds in the largest whole unit that fits: "90 days", "12 hours", "45 s".
 * @param {number} seconds
 */
export function formatSpan(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s >= SECONDS_PER_DAY && s % SECONDS_PER_DAY === 0) return plural(s / SECONDS_PER_DAY, "day");
  if (s >= 2 * SECONDS_PER_DAY) return plural(Math.floor(s / SECONDS_PER_DAY), "day");
  if (s >= 3600) return plural(Math.floor(s / 3600), "hour");
  if (s >= 60) return plural(Math.floor(s / 60), "minute");
  return plural(s, "second");
}

/** @param {number} n @param {string} unit */
function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/**
 * @template T
 * @typedef {object} Column
 * @property {string} header
 * @property {(item: T) => string} value
 * @property {(text: string) => Style | undefined} [style] colour for a cell, by its text
 */

/**
 * A plain-text table: a header row and left-aligned columns two spaces apart.
 * @template T
 * @param {Column<T>[]} columns
 * @param {T[]} items
 * @param {Palette} p
 */
export function renderTable(columns, items, p) {
  const cells = items.map((item) => columns.map((c) => c.value(item).replace(/[\r\n\t]/g, " ")));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]?.length ?? 0)));
  /** @param {string[]} row @param {(text: string, i: number) => string} style */
  const line = (row, style) =>
    row
      .map((text, i) => style(i === row.length - 1 ? text : text.padEnd(widths[i] ?? 0), i))
      .join("  ")
      .trimEnd();
  const header = line(
    columns.map((c) => c.header),
    (text) => p.bold(text),
  );
  const body = cells.map((row) =>
    line(row, (text, i) => {
      const style = columns[i]?.style?.(text.trim());
      return style ? style(text) : text;
    }),
  );
  return `${[header, ...body].join("\n")}\n`;
}

/**
 * Name/value lines for one object, names padded to line up.
 * @param {[string, string][]} pairs
 * @param {Palette} p
 */
export function renderPairs(pairs, p) {
  const width = Math.max(...pairs.map(([name]) => name.length));
  return pairs.map(([name, value]) => `${p.dim(`${name}:`.padEnd(width + 1))}  ${value}\n`).join("");
}

/** @param {unknown} value */
export function toJson(value) {
  // JSON.stringify escapes C0 but writes DEL and C1 (\u009b is a one-byte CSI to some terminals) as is.
  return `${JSON.stringify(value, null, 2).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}\n`;
}

/**
 * @typedef {object} KeyObject
 * @property {string} id
 * @property {string} name
 * @property {string[]} scopes
 * @property {number} created_at
 * @property {number | null} expires_at
 * @property {number | null} last_used
 * @property {boolean} revoked
 * @property {number} [revoked_at]
 * @property {Record<string, unknown>} [metadata]
 * @property {true} [exempt_from_unused_policy]
 * @property {string} [rotated_from]
 * @property {string} [replaced_by]
 * @property {number} [grace_period_ends_at]
 * @property {{ name: string, limit: number, window_seconds: number }[]} [rate_limits]
 * @property {string[]} [allowed_ips]
 * @property {QuotaObject} [quota]
 * @property {string} [limit_group]
 * @property {string} [api_key] only in the answer to create and rotate
 */

/**
 * @typedef {object} QuotaObject
 * @property {number} limit
 * @property {string} period
 * @property {number} [remaining] what the counter has not leased (one key's or group's view)
 * @property {number} [credited]
 * @property {number | null} [resets_at]
 */

/**
 * A quota as people read it: "100000/month", with what remains and the next reset when known.
 * @param {QuotaObject} quota
 */
export function formatQuota(quota) {
  let text = `${quota.limit}/${quota.period}`;
  if (quota.remaining !== undefined) text += `, ${quota.remaining} left`;
  if (quota.credited) text += ` (${quota.credited} credited)`;
  if (quota.resets_at !== undefined) text += quota.resets_at === null ? ", never refills" : `, resets ${formatTime(quota.resets_at)}`;
  return text;
}

/**
 * A key's status as people see it (src/vocab/key-status.mjs): the list filter's (`?status=`),
 * with "rotating" for an active key in a rotation's grace period.
 * @param {KeyObject} key
 * @param {number} now unix seconds
 */
export function keyStatus(key, now) {
  return keyDisplayStatus(lifecycleOfView(key), now);
}

/** @param {Palette} p @returns {(status: string) => Style | undefined} */
export function statusStyle(p) {
  return (status) => (status === "active" ? p.green : status === "rotating" ? p.yellow : status === "" ? undefined : p.red);
}

/** @param {{ name: string, limit: number, window_seconds: number }} rule */
export function formatRateLimit(rule) {
  return `${rule.name}=${rule.limit}/${rule.window_seconds}s`;
}

/**
 * The rows `keys get` shows: every field the key has, in the API's order.
 * @param {KeyObject} key
 * @param {number} now
 * @returns {[string, string][]}
 */
export function keyPairs(key, now) {
  /** @type {[string, string][]} */
  const pairs = [
    ["id", key.id],
    ["name", key.name],
    ["status", keyStatus(key, now)],
    ["scopes", key.scopes.join(", ")],
    ["created", formatTime(key.created_at)],
    ["expires", key.expires_at === null ? "never" : formatTime(key.expires_at)],
    ["last used", key.last_used === null ? "never" : formatTime(key.last_used)],
  ];
  if (key.revoked_at !== undefined) pairs.push(["revoked", formatTime(key.revoked_at)]);
  if (key.rotated_from !== undefined) pairs.push(["rotated from", key.rotated_from]);
  if (key.replaced_by !== undefined) pairs.push(["replaced by", key.replaced_by]);
  if (key.grace_period_ends_at !== undefined) pairs.push(["grace ends", formatTime(key.grace_period_ends_at)]);
  if (key.rate_limits !== undefined) pairs.push(["rate limits", key.rate_limits.map(formatRateLimit).join(", ")]);
  if (key.allowed_ips !== undefined) pairs.push(["allowed IPs", key.allowed_ips.join(", ")]);
  if (key.quota !== undefined) pairs.push(["quota", formatQuota(key.quota)]);
  if (key.limit_group !== undefined) pairs.push(["limit group", key.limit_group]);
  if (key.metadata !== undefined) pairs.push(["metadata", JSON.stringify(key.metadata)]);
  if (key.exempt_from_unused_policy === true) pairs.push(["unused policy", "exempt"]);
  return pairs;
}

/**
 * What a person sees after create or rotate on a terminal: the key on a line of its own (easy to
 * select), what it can do, and that this is the only time it is shown.
 * @param {KeyObject & { api_key: string }} created
 * @param {{ now: number, p: Palette, replaces?: string }} options `replaces`: a line about the old key
 */
export function createdKeySummary(created, { now, p, replaces }) {
  const expires = created.expires_at === null ? "never" : `${formatTime(created.expires_at)} (in ${formatSpan(created.expires_at - now)})`;
  /** @type {[string, string][]} */
  const pairs = [
    ["id", created.id],
    ["scopes", created.scopes.join(", ")],
    ["expires", expires],
  ];
  if (created.rate_limits !== undefined) pairs.push(["rate limits", created.rate_limits.map(formatRateLimit).join(", ")]);
  if (created.allowed_ips !== undefined) pairs.push(["allowed IPs", created.allowed_ips.join(", ")]);
  if (created.quota !== undefined) pairs.push(["quota", formatQuota(created.quota)]);
  if (created.limit_group !== undefined) pairs.push(["limit group", created.limit_group]);
  if (replaces !== undefined) pairs.push(["replaces", replaces]);
  const verb = created.rotated_from === undefined ? "Created" : "Rotated to";
  return [
    `${p.green(verb)} API key ${p.bold(JSON.stringify(created.name))}`,
    renderPairs(pairs, p),
    created.api_key,
    "",
    p.yellow(p.bold("Copy this key now: it will not be shown again.")),
    "",
  ].join("\n");
}

/**
 * The same for a webhook's signing secret.
 * @param {{ id: string, url: string, events: string[], secret: string }} created
 * @param {Palette} p
 */
export function createdWebhookSummary(created, p) {
  return [
    `${p.green("Created")} webhook ${p.bold(created.id)}`,
    renderPairs(
      [
        ["url", created.url],
        ["events", created.events.join(", ")],
      ],
      p,
    ),
    created.secret,
    "",
    p.yellow(p.bold("Copy this signing secret now: it will not be shown again.")),
    "",
  ].join("\n");
}
