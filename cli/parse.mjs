// @ts-check
/**
 * Option values: durations, times, rate limits, IP allowlists. Each parser checks syntax only and
 * throws commander's InvalidArgumentError (a usage error, exit 2) naming what it expected; the
 * API stays the one source of the bounds (how many limits, how long a window, ...) and its 400
 * names the field when a value is out of range.
 */
import { isIP } from "node:net";
import { InvalidArgumentError } from "commander";
import { QUOTA_PERIODS } from "../src/vocab/quotas.mjs";

/** @type {Record<string, number>} */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 };
const DURATION = /^(\d+)([smhd]?)$/;

/**
 * Seconds, bare or with a unit: 60, 90s, 30m, 12h, 1d.
 * @param {string} value
 */
export function parseDuration(value) {
  const match = DURATION.exec(value.trim());
  const seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2] || "s"] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(seconds)) throw new InvalidArgumentError("Expected seconds, or a number with a unit: 90s, 30m, 12h, 1d.");
  return seconds;
}

/**
 * A whole number >= 0.
 * @param {string} value
 */
export function parseCount(value) {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError("Expected a whole number.");
  return n;
}

/**
 * A whole number >= 1.
 * @param {string} value
 */
export function parsePositive(value) {
  const n = parseCount(value);
  if (n < 1) throw new InvalidArgumentError("Expected a whole number of at least 1.");
  return n;
}

/**
 * A point in time as unix seconds: unix seconds (1767225600), a duration ago (90s, 30m, 1h, 7d),
 * or an ISO 8601 date or time (2026-01-01, 2026-01-01T12:00:00Z).
 * @param {string} value
 * @param {number} [now] unix seconds
 */
export function parseTime(value, now = Math.floor(Date.now() / 1000)) {
  const text = value.trim();
  if (/^\d+$/.test(text)) return parseCount(text);
  const ago = /^(\d+)([smhd])$/.exec(text);
  if (ago) return Math.max(0, now - parseDuration(text));
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const ms = Date.parse(text);
    if (Number.isFinite(ms) && ms >= 0) return Math.floor(ms / 1000);
  }
  throw new InvalidArgumentError("Expected unix seconds, a duration ago (30m, 1h, 7d) or an ISO date (2026-01-01T12:00:00Z).");
}

/**
 * One rate limit, `name=limit/window`: `burst=100/60s` is at most 100 requests per 60 seconds.
 * @param {string} value
 * @returns {{ name: string, limit: number, window_seconds: number }}
 */
export function parseRateLimit(value) {
  const match = /^([^=]+)=(\d+)\/(.+)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError("Expected name=limit/window, e.g. burst=100/60s or daily=10000/1d.");
  const [, name = "", limit = "", window = ""] = match;
  let windowSeconds;
  try {
    windowSeconds = parseDuration(window);
  } catch {
    throw new InvalidArgumentError(`The window "${window}" is not a duration: use seconds or 90s, 30m, 12h, 1d.`);
  }
  return { name, limit: Number(limit), window_seconds: windowSeconds };
}

/**
 * A quota, `limit/period`: `100000/month` is at most 100,000 calls a calendar month (UTC); `5000/none`
 * is 5,000 calls in all.
 * @param {string} value
 * @returns {{ limit: number, period: string }}
 */
export function parseQuota(value) {
  const match = /^(\d+)\/([a-z]+)$/.exec(value.trim());
  if (!match || !(/** @type {readonly string[]} */ (QUOTA_PERIODS).includes(match[2] ?? ""))) {
    throw new InvalidArgumentError(`Expected limit/period with a period of ${QUOTA_PERIODS.join(", ")}, e.g. 100000/month.`);
  }
  return { limit: Number(match[1]), period: match[2] ?? "" };
}

/**
 * An IPv4 or IPv6 address, or a CIDR block of one (10.0.0.0/8, 2001:db8::/32).
 * @param {string} value
 */
export function parseIpOrCidr(value) {
  const text = value.trim();
  const [address = "", prefix, ...rest] = text.split("/");
  const family = isIP(address);
  const bits = family === 4 ? 32 : 128;
  const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
  if (family === 0 || !prefixOk || rest.length > 0) {
    throw new InvalidArgumentError("Expected an IPv4 or IPv6 address or CIDR block, e.g. 203.0.113.7 or 10.0.0.0/8.");
  }
  return text;
}

/**
 * `name=value` for a setting; the value is JSON when it parses (numbers, true/false, null), else
 * the text as given (`leak_action=revoke`).
 * @param {string} value
 * @returns {[string, unknown]}
 */
export function parseSetting(value) {
  const eq = value.indexOf("=");
  const name = eq > 0 ? value.slice(0, eq).trim() : "";
  if (name === "") throw new InvalidArgumentError("Expected name=value, e.g. volume_per_hour=500 or new_ip=false.");
  const raw = value.slice(eq + 1).trim();
  try {
    return [name, JSON.parse(raw)];
  } catch {
    return [name, raw];
  }
}

/**
 * A JSON object (key metadata), or `null` to clear it. Boxed, because commander turns a parser's
 * `null` into "".
 * @param {string} value
 * @returns {{ value: Record<string, unknown> | null }}
 */
export function parseJsonObject(value) {
  /** @type {unknown} */
  let parsed;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('Expected a JSON object such as \'{"team":"payments"}\', or null to clear it.');
  }
  if (parsed !== null && (typeof parsed !== "object" || Array.isArray(parsed))) {
    throw new InvalidArgumentError("Expected a JSON object, or null to clear it.");
  }
  return { value: /** @type {Record<string, unknown> | null} */ (parsed) };
}

/**
 * For repeatable options: each use appends, and a comma-separated value counts as several.
 * @template T
 * @param {(value: string) => T} parse
 * @returns {(value: string, previous: T[] | undefined) => T[]}
 */
export function repeatable(parse) {
  return (value, previous) => [
    ...(previous ?? []),
    ...value
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part !== "")
      .map(parse),
  ];
}

/**
 * An id argument (key-..., alert-..., wh-...): anything but empty.
 * @param {string} value
 */
export function parseId(value) {
  if (value.trim() === "") throw new InvalidArgumentError("Expected an id.");
  return value.trim();
}
