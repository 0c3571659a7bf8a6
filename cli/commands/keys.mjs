// @ts-check
/** `keygate keys ...`: the key lifecycle over /api/v1/tenant/{tenant}/api-keys/. */
import { Option } from "commander";
import { KEY_STATUSES } from "../../src/vocab/key-status.mjs";
import { action } from "../context.mjs";
import { UsageError } from "../errors.mjs";
import {
  createdKeySummary,
  formatQuota,
  formatSpan,
  formatTime,
  keyPairs,
  keyStatus,
  renderPairs,
  renderTable,
  statusStyle,
} from "../output.mjs";
import {
  parseCount,
  parseDuration,
  parseId,
  parseIpOrCidr,
  parseJsonObject,
  parsePositive,
  parseQuota,
  parseRateLimit,
  repeatable,
} from "../parse.mjs";

/** @typedef {import("commander").Command} Command */
/** @typedef {import("../output.mjs").KeyObject} KeyObject */
/** @typedef {import("../context.mjs").Out} Out */

const TENANT = { tenant: true, token: true };

const RATE_LIMIT_HELP = "a rate limit name=limit/window, e.g. burst=100/60s or daily=10000/1d (repeatable)";
const ALLOW_IP_HELP = "only accept the key from this IP address or CIDR block (repeatable)";
const QUOTA_HELP = "calls per calendar period (UTC): limit/day, limit/month, or limit/none (never refills), e.g. 100000/month";
const LIMIT_GROUP_HELP = "count the key against this limit group's limits and quota too (grp-...; see `keygate limit-groups`)";

/**
 * Prints a key that was just issued: only the key when stdout is not a terminal (so
 * `KEY=$(keygate keys create ...)` works), a summary with a warning on a terminal, the API's
 * JSON with --json.
 * @param {Out} out
 * @param {KeyObject & { api_key: string }} created
 * @param {string} [replaces] a line about the key it replaced
 */
function printIssuedKey(out, created, replaces) {
  if (out.json) out.printJson(created);
  else if (out.tty) out.print(createdKeySummary(created, { now: out.now, p: out.p, replaces }));
  else out.print(`${created.api_key}\n`);
}

/**
 * The optional key fields shared by create and rotate; each is sent only when given.
 * @param {Record<string, any>} opts
 */
function keyFields(opts) {
  /** @type {Record<string, unknown>} */
  const body = {};
  if (opts.expiresInDays !== undefined) body.expires_in_days = opts.expiresInDays;
  if (opts.rateLimit !== undefined) body.rate_limits = opts.rateLimit;
  if (opts.allowIp !== undefined) body.allowed_ips = opts.allowIp;
  if (opts.quota !== undefined) body.quota = opts.quota;
  if (opts.limitGroup !== undefined) body.limit_group = opts.limitGroup;
  return body;
}

/** @param {Command} program */
export function registerKeys(program) {
  const keys = program.command("keys").description("create, list, inspect, change, revoke and rotate API keys");

  keys
    .command("create")
    .description("create an API key and print it (shown only this once)")
    .requiredOption("--name <name>", "what the key is for, e.g. 'CI/CD Pipeline Key'")
    .requiredOption("--scope <scope>", "a scope the key grants (repeatable, or comma-separated; see `keygate scopes`)", repeatable(String))
    .option("--expires-in-days <days>", "lifetime in days, 0 = never expires (API default: 90)", parseCount)
    .option("--rate-limit <name=limit/window>", RATE_LIMIT_HELP, repeatable(parseRateLimit))
    .option("--allow-ip <ip-or-cidr>", ALLOW_IP_HELP, repeatable(parseIpOrCidr))
    .option("--metadata <json>", "a JSON object stored with the key (at most 1 KiB)", parseJsonObject)
    .option("--exempt-from-unused-policy", "the tenant's unused-key policy never revokes this key (a break-glass key)")
    .option("--quota <limit/period>", QUOTA_HELP, parseQuota)
    .option("--limit-group <id>", LIMIT_GROUP_HELP, parseId)
    .addHelpText(
      "after",
      "\nOn a terminal it prints a summary; otherwise only the key, so this works:\n  KEY=$(keygate keys create --name deploy --scope deploy:production)",
    )
    .action(
      action(TENANT, async ({ client, opts, out }) => {
        /** @type {Record<string, unknown>} */
        const body = { name: opts.name, scopes: opts.scope, ...keyFields(opts) };
        if (opts.metadata !== undefined && opts.metadata.value !== null) body.metadata = opts.metadata.value;
        if (opts.exemptFromUnusedPolicy) body.exempt_from_unused_policy = true;
        const res = await client.request("POST", client.tenantPath("api-keys", "create"), { body });
        printIssuedKey(out, /** @type {KeyObject & { api_key: string }} */ (res.body));
      }),
    );

  keys
    .command("list")
    .description("list the tenant's keys, newest first")
    .addOption(new Option("--status <status>", "only keys in this state").choices(KEY_STATUSES))
    .option("--unused-days <days>", "only keys never used, or last used more than this many days ago", parseCount)
    .option("--limit <n>", "keys per page (API default 100, at most 1000)", parsePositive)
    .option("--all", "follow the pages to the end")
    .action(
      action(TENANT, async ({ client, opts, out }) => {
        const query = { status: opts.status, unused_days: opts.unusedDays, limit: opts.limit };
        const { items, more } = await client.list(client.tenantPath("api-keys", "list"), query, opts.all === true);
        const list = /** @type {KeyObject[]} */ (items);
        if (out.json) out.printJson(list);
        else if (list.length === 0) out.print("No keys.\n");
        else {
          out.print(
            renderTable(
              [
                { header: "ID", value: (k) => k.id },
                { header: "NAME", value: (k) => k.name },
                { header: "STATUS", value: (k) => keyStatus(k, out.now), style: statusStyle(out.p) },
                { header: "SCOPES", value: (k) => k.scopes.join(",") },
                { header: "CREATED", value: (k) => formatTime(k.created_at) },
                { header: "EXPIRES", value: (k) => (k.expires_at === null ? "never" : formatTime(k.expires_at)) },
                { header: "LAST USED", value: (k) => (k.last_used === null ? "never" : formatTime(k.last_used)) },
              ],
              list,
              out.p,
            ),
          );
        }
        if (more) out.note("more keys than shown: add --all (or a larger --limit)");
      }),
    );

  keys
    .command("get")
    .description("show one key")
    .argument("<id>", "key id (key-...)", parseId)
    .action(
      action(TENANT, async ({ client, args, out }) => {
        const res = await client.request("GET", client.tenantPath("api-keys", args[0] ?? ""));
        if (out.json) out.printJson(res.body);
        else out.print(renderPairs(keyPairs(/** @type {KeyObject} */ (res.body), out.now), out.p));
      }),
    );

  keys
    .command("update")
    .description("change a key's name, metadata, rate limits or IP allowlist (scopes change by rotation)")
    .argument("<id>", "key id (key-...)", parseId)
    .option("--name <name>", "new name")
    .option("--metadata <json>", "a JSON object stored with the key (at most 1 KiB), or null to clear it", parseJsonObject)
    .option("--rate-limit <name=limit/window>", `replace the rate limits: ${RATE_LIMIT_HELP}`, repeatable(parseRateLimit))
    .addOption(new Option("--clear-rate-limits", "remove all rate limits").conflicts("rateLimit"))
    .option("--allow-ip <ip-or-cidr>", `replace the allowlist: ${ALLOW_IP_HELP}`, repeatable(parseIpOrCidr))
    .addOption(new Option("--clear-allowed-ips", "accept the key from any IP address again").conflicts("allowIp"))
    .option("--quota <limit/period>", `set the quota: ${QUOTA_HELP}`, parseQuota)
    .addOption(new Option("--clear-quota", "remove the quota").conflicts("quota"))
    .option("--limit-group <id>", `join this limit group: ${LIMIT_GROUP_HELP}`, parseId)
    .addOption(new Option("--leave-limit-group", "leave the key's limit group").conflicts("limitGroup"))
    .action(
      action(TENANT, async ({ client, args, opts, out }) => {
        /** @type {Record<string, unknown>} */
        const body = {};
        if (opts.name !== undefined) body.name = opts.name;
        if (opts.metadata !== undefined) body.metadata = opts.metadata.value;
        if (opts.rateLimit !== undefined) body.rate_limits = opts.rateLimit;
        if (opts.clearRateLimits) body.rate_limits = null;
        if (opts.allowIp !== undefined) body.allowed_ips = opts.allowIp;
        if (opts.clearAllowedIps) body.allowed_ips = null;
        if (opts.quota !== undefined) body.quota = opts.quota;
        if (opts.clearQuota) body.quota = null;
        if (opts.limitGroup !== undefined) body.limit_group = opts.limitGroup;
        if (opts.leaveLimitGroup) body.limit_group = null;
        if (Object.keys(body).length === 0) {
          throw new UsageError(
            "nothing to update: give --name, --metadata, --rate-limit, --clear-rate-limits, --allow-ip, --clear-allowed-ips, --quota, --clear-quota, --limit-group or --leave-limit-group",
          );
        }
        const res = await client.request("PATCH", client.tenantPath("api-keys", args[0] ?? ""), { body });
        if (out.json) out.printJson(res.body);
        else out.print(renderPairs(keyPairs(/** @type {KeyObject} */ (res.body), out.now), out.p));
      }),
    );

  keys
    .command("revoke")
    .description("revoke a key: the gateway refuses it from now on (idempotent)")
    .argument("<id>", "key id (key-...)", parseId)
    .option("--reason <text>", "why, for the audit log")
    .action(
      action(TENANT, async ({ client, args, opts, out }) => {
        const id = args[0] ?? "";
        const body = opts.reason === undefined ? undefined : { reason: opts.reason };
        const res = await client.request("POST", client.tenantPath("api-keys", id, "revoke"), { body });
        if (out.json) out.printJson(res.body);
        else out.print(`Revoked ${id}\n`);
      }),
    );

  keys
    .command("rotate")
    .description("issue a replacement key and print it (shown only this once); the old key works until the grace period ends")
    .argument("<id>", "key id (key-...)", parseId)
    .option("--grace-period <duration>", "how long the old key keeps working: 0, 90s, 30m, 12h, 1d (API default: 1d)", parseDuration)
    .option("--name <name>", "name of the new key (default: the old key's)")
    .option("--scope <scope>", "scopes of the new key (repeatable; default: the old key's)", repeatable(String))
    .option("--expires-in-days <days>", "lifetime of the new key, 0 = never (default: the old key's, fresh)", parseCount)
    .option("--rate-limit <name=limit/window>", RATE_LIMIT_HELP, repeatable(parseRateLimit))
    .option("--allow-ip <ip-or-cidr>", ALLOW_IP_HELP, repeatable(parseIpOrCidr))
    .option("--quota <limit/period>", `${QUOTA_HELP} (default: the old key's)`, parseQuota)
    .option("--limit-group <id>", `${LIMIT_GROUP_HELP} (default: the old key's)`, parseId)
    .action(
      action(TENANT, async ({ client, args, opts, out }) => {
        const id = args[0] ?? "";
        /** @type {Record<string, unknown>} */
        const body = keyFields(opts);
        if (opts.gracePeriod !== undefined) body.grace_period_seconds = opts.gracePeriod;
        if (opts.name !== undefined) body.name = opts.name;
        if (opts.scope !== undefined) body.scopes = opts.scope;
        const res = await client.request("POST", client.tenantPath("api-keys", id, "rotate"), {
          body: Object.keys(body).length === 0 ? undefined : body,
        });
        const replaces =
          opts.gracePeriod === undefined
            ? `${id} (works until its grace period ends: keygate keys get ${id})`
            : opts.gracePeriod === 0
              ? `${id} (refused from now on)`
              : `${id} (works for ${formatSpan(opts.gracePeriod)} more, until ${formatTime(out.now + opts.gracePeriod)})`;
        printIssuedKey(out, /** @type {KeyObject & { api_key: string }} */ (res.body), replaces);
      }),
    );

  keys
    .command("credit")
    .description("add calls to a key's quota in its current period (audited; webhook key.quota_credited)")
    .argument("<id>", "key id (key-...)", parseId)
    .requiredOption("--amount <n>", "calls to add", parsePositive)
    .action(
      action(TENANT, async ({ client, args, opts, out }) => {
        const id = args[0] ?? "";
        const res = await client.request("POST", client.tenantPath("api-keys", id, "quota", "credit"), { body: { amount: opts.amount } });
        const credited = /** @type {{ key_id: string, amount: number, quota: import("../output.mjs").QuotaObject }} */ (res.body);
        if (out.json) out.printJson(credited);
        else out.print(`Credited ${credited.amount} calls to ${id}: quota ${formatQuota(credited.quota)}\n`);
      }),
    );

  keys
    .command("ips")
    .description("the client IP addresses a key was used from, most recent first")
    .argument("<id>", "key id (key-...)", parseId)
    .action(
      action(TENANT, async ({ client, args, out }) => {
        const res = await client.request("GET", client.tenantPath("api-keys", args[0] ?? "", "ips"));
        const ips = /** @type {{ ip: string, first_seen: number, last_seen: number, count: number, country?: string | null }[]} */ (
          res.body
        );
        if (out.json) out.printJson(ips);
        else if (ips.length === 0) out.print("No use recorded.\n");
        else {
          out.print(
            renderTable(
              [
                { header: "IP", value: (r) => r.ip },
                { header: "REQUESTS", value: (r) => String(r.count) },
                { header: "FIRST SEEN", value: (r) => formatTime(r.first_seen) },
                { header: "LAST SEEN", value: (r) => formatTime(r.last_seen) },
                { header: "COUNTRY", value: (r) => r.country ?? "-" },
              ],
              ips,
              out.p,
            ),
          );
        }
      }),
    );
}
