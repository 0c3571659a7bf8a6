// @ts-check
/**
 * Least privilege and the unused-key policy: `keygate keys scope-usage KEY`, `keygate keys narrow
 * KEY`, `keygate keys exempt KEY` and `keygate scope-report` (docs/governance.md).
 */
import { action } from "../context.mjs";
import { UsageError } from "../errors.mjs";
import { createdKeySummary, formatSpan, formatTime, renderTable } from "../output.mjs";
import { parseDuration, parseId, parsePositive } from "../parse.mjs";

/** @typedef {import("commander").Command} Command */
/** @typedef {import("../output.mjs").KeyObject} KeyObject */
/** @typedef {import("../context.mjs").Out} Out */
/** @typedef {{ days: number, from: number, to: number }} ReportWindow */
/** @typedef {{ scope: string, exercised: boolean, count: number, last_exercised: number | null, exercised_as?: string[] }} ScopeUsageRow */
/** @typedef {{ key_id: string, window: ReportWindow, scopes: ScopeUsageRow[], exercised_scopes: string[] }} KeyScopeUsage */
/**
 * @typedef {{ key_id: string, name: string, created_at: number, last_used: number | null, unused: boolean,
 *   scopes: string[], unexercised_scopes: string[], exercised_scopes: string[] }} ReportEntry
 */

const TENANT = { tenant: true, token: true };
const DAYS_HELP = "the window in days, today included (API default 30, at most 365)";
/** Pages of a report or a key's scopes followed at most. */
const MAX_PAGES = 1000;

/** @param {ReportWindow} w */
function windowLine(w) {
  return `window: the last ${w.days} day(s), ${formatTime(w.from)} to ${formatTime(w.to)}; a scope needed less often than that reads as unexercised`;
}

/**
 * Every page of a paged object body, its `field` lists joined (the window from the first page).
 * @param {import("../client.mjs").Client} client
 * @param {string} path
 * @param {Record<string, unknown>} query
 * @param {string} field
 * @returns {Promise<any>}
 */
async function allPages(client, path, query, field) {
  /** @type {Record<string, any> | undefined} */
  let first;
  /** @type {unknown[]} */
  const items = [];
  /** @type {string | undefined} */
  let cursor;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await client.request("GET", path, { query: { ...query, cursor } });
    const body = /** @type {Record<string, any>} */ (res.body);
    first ??= body;
    items.push(.../** @type {unknown[]} */ (body[field] ?? []));
    const next = res.headers.get("x-next-cursor") ?? "";
    if (next === "" || next === cursor) return { ...first, [field]: items };
    cursor = next;
  }
  throw new UsageError(`GET ${path}: more than ${MAX_PAGES} pages`);
}

/**
 * @param {import("../client.mjs").Client} client
 * @param {string} id
 * @param {number | undefined} days
 * @returns {Promise<KeyScopeUsage>}
 */
function scopeUsage(client, id, days) {
  return allPages(client, client.tenantPath("api-keys", id, "scope-usage"), { days }, "scopes");
}

/**
 * @param {Out} out
 * @param {ScopeUsageRow[]} rows
 */
function scopeTable(out, rows) {
  return renderTable(
    [
      { header: "SCOPE", value: (r) => r.scope },
      { header: "EXERCISED", value: (r) => (r.exercised ? "yes" : "no"), style: (t) => (t === "no" ? out.p.yellow : undefined) },
      { header: "REQUESTS", value: (r) => String(r.count) },
      { header: "LAST", value: (r) => (r.last_exercised === null ? "-" : formatTime(r.last_exercised)) },
      { header: "AS", value: (r) => (r.exercised_as ?? []).join(",") },
    ],
    rows,
    out.p,
  );
}

/** @param {Command} program */
export function registerGovernance(program) {
  const keys = program.commands.find((c) => c.name() === "keys");
  if (keys === undefined) throw new Error("register the keys commands first");

  keys
    .command("scope-usage")
    .description("which of a key's scopes it exercised within a window, how often and when last")
    .argument("<id>", "key id (key-...)", parseId)
    .option("--days <days>", DAYS_HELP, parsePositive)
    .action(
      action(TENANT, async ({ client, args, opts, out }) => {
        const usage = await scopeUsage(client, args[0] ?? "", opts.days);
        if (out.json) return out.printJson(usage);
        out.print(scopeTable(out, usage.scopes));
        out.note(windowLine(usage.window));
      }),
    );

  keys
    .command("narrow")
    .description("rotate a key to the scopes it exercised within the window; prints what changes first")
    .argument("<id>", "key id (key-...)", parseId)
    .option("--days <days>", DAYS_HELP, parsePositive)
    .option("--grace-period <duration>", "how long the old key keeps working: 0, 90s, 30m, 12h, 1d (API default: 1d)", parseDuration)
    .option("--dry-run", "only show what would change")
    .action(
      action(TENANT, async ({ client, args, opts, out }) => {
        const id = args[0] ?? "";
        const usage = await scopeUsage(client, id, opts.days);
        const held = usage.scopes.map((s) => s.scope);
        const kept = usage.exercised_scopes;
        const removed = held.filter((s) => !kept.includes(s));
        const added = kept.filter((s) => !held.includes(s));
        if (kept.length === 0)
          throw new UsageError(
            `${id} exercised none of its scopes in the last ${usage.window.days} days: nothing to narrow to (revoke it instead)`,
          );
        const preview = [
          `scopes now:   ${held.join(", ")}`,
          `scopes after: ${kept.join(", ")}`,
          `removed:      ${removed.length === 0 ? "-" : removed.join(", ")}`,
          ...(added.length === 0 ? [] : [`in place of a wildcard or admin:all: ${added.join(", ")}`]),
        ].join("\n");
        if (opts.dryRun) {
          if (out.json) out.printJson({ key_id: id, window: usage.window, scopes: held, narrowed_scopes: kept });
          else out.print(`${preview}\n`);
          out.note(windowLine(usage.window));
          return;
        }
        if (!out.json) process.stderr.write(`${preview}\n`);
        /** @type {Record<string, unknown>} */
        const body = {};
        if (opts.days !== undefined) body.days = opts.days;
        if (opts.gracePeriod !== undefined) body.grace_period_seconds = opts.gracePeriod;
        const res = await client.request("POST", client.tenantPath("api-keys", id, "narrow"), { body });
        const created = /** @type {KeyObject & { api_key: string }} */ (res.body);
        const replaces =
          opts.gracePeriod === undefined
            ? `${id} (works until its grace period ends: keygate keys get ${id})`
            : opts.gracePeriod === 0
              ? `${id} (refused from now on)`
              : `${id} (works for ${formatSpan(opts.gracePeriod)} more)`;
        if (out.json) out.printJson(created);
        else if (out.tty) out.print(createdKeySummary(created, { now: out.now, p: out.p, replaces }));
        else out.print(`${created.api_key}\n`);
      }),
    );

  keys
    .command("exempt")
    .description("exempt a key from the tenant's unused-key policy (a break-glass key), or --off to clear it")
    .argument("<id>", "key id (key-...)", parseId)
    .option("--off", "the policy applies to the key again")
    .action(
      action(TENANT, async ({ client, args, opts, out }) => {
        const id = args[0] ?? "";
        const body = { exempt_from_unused_policy: opts.off !== true };
        const res = await client.request("PATCH", client.tenantPath("api-keys", id), { body });
        if (out.json) out.printJson(res.body);
        else out.print(`${id} ${body.exempt_from_unused_policy ? "is exempt from" : "is subject to"} the unused-key policy\n`);
      }),
    );

  program
    .command("scope-report")
    .description("keys holding scopes they did not exercise within the window, and keys not used at all")
    .option("--days <days>", DAYS_HELP, parsePositive)
    .action(
      action(TENANT, async ({ client, opts, out }) => {
        const report = await allPages(client, client.tenantPath("scope-report"), { days: opts.days }, "keys");
        if (out.json) return out.printJson(report);
        const entries = /** @type {ReportEntry[]} */ (report.keys);
        if (entries.length === 0) out.print("Every active key exercised every scope it holds.\n");
        else {
          out.print(
            renderTable(
              [
                { header: "ID", value: (k) => k.key_id },
                { header: "NAME", value: (k) => k.name },
                { header: "UNUSED", value: (k) => (k.unused ? "yes" : "no"), style: (t) => (t === "yes" ? out.p.yellow : undefined) },
                { header: "UNEXERCISED", value: (k) => k.unexercised_scopes.join(",") },
                { header: "EXERCISED", value: (k) => k.exercised_scopes.join(",") },
                { header: "CREATED", value: (k) => formatTime(k.created_at) },
              ],
              entries,
              out.p,
            ),
          );
        }
        out.note(windowLine(/** @type {ReportWindow} */ (report.window)));
      }),
    );
}
