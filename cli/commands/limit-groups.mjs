// @ts-check
/** `keygate limit-groups ...`: shared budgets over /api/v1/tenant/{tenant}/limit-groups (docs/quotas.md). */
import { Option } from "commander";
import { action } from "../context.mjs";
import { UsageError } from "../errors.mjs";
import { formatQuota, formatRateLimit, formatTime, renderPairs, renderTable } from "../output.mjs";
import { parseId, parsePositive, parseQuota, parseRateLimit, repeatable } from "../parse.mjs";

/** @typedef {import("commander").Command} Command */

/**
 * @typedef {object} LimitGroup
 * @property {string} id
 * @property {string} name
 * @property {{ name: string, limit: number, window_seconds: number }[]} [rate_limits]
 * @property {import("../output.mjs").QuotaObject} [quota]
 * @property {number} created_at
 * @property {number} updated_at
 * @property {{ id: string, name: string }[]} [keys]
 */

const TENANT = { tenant: true, token: true };
const RATE_LIMIT_HELP = "a rate limit name=limit/window shared by the group's keys, e.g. burst=1000/60s (repeatable)";
const QUOTA_HELP = "calls the group's keys share per calendar period (UTC): limit/day, limit/month or limit/none, e.g. 1000000/month";

/**
 * @param {LimitGroup} group
 * @returns {[string, string][]}
 */
function groupPairs(group) {
  /** @type {[string, string][]} */
  const pairs = [
    ["id", group.id],
    ["name", group.name],
    ["rate limits", group.rate_limits ? group.rate_limits.map(formatRateLimit).join(", ") : "none"],
    ["quota", group.quota ? formatQuota(group.quota) : "none"],
    ["created", formatTime(group.created_at)],
    ["updated", formatTime(group.updated_at)],
  ];
  if (group.keys !== undefined)
    pairs.push(["keys", group.keys.length === 0 ? "none" : group.keys.map((k) => `${k.id} (${k.name})`).join(", ")]);
  return pairs;
}

/** @param {Command} program */
export function registerLimitGroups(program) {
  const groups = program
    .command("limit-groups")
    .description("budgets shared by several keys: rate limits and a quota they count against together");

  groups
    .command("create")
    .description("create a limit group; keys join with `keygate keys create|update --limit-group <id>`")
    .requiredOption("--name <name>", "what the group is, e.g. 'Acme Corp'")
    .option("--rate-limit <name=limit/window>", RATE_LIMIT_HELP, repeatable(parseRateLimit))
    .option("--quota <limit/period>", QUOTA_HELP, parseQuota)
    .action(
      action(TENANT, async ({ client, opts, out }) => {
        /** @type {Record<string, unknown>} */
        const body = { name: opts.name };
        if (opts.rateLimit !== undefined) body.rate_limits = opts.rateLimit;
        if (opts.quota !== undefined) body.quota = opts.quota;
        const res = await client.request("POST", client.tenantPath("limit-groups"), { body });
        const group = /** @type {LimitGroup} */ (res.body);
        if (out.json) out.printJson(group);
        else if (out.tty) out.print(renderPairs(groupPairs(group), out.p));
        else out.print(`${group.id}\n`);
      }),
    );

  groups
    .command("list")
    .description("the tenant's limit groups, newest first")
    .option("--limit <n>", "groups per page (API default 100, at most 1000)", parsePositive)
    .option("--all", "follow the pages to the end")
    .action(
      action(TENANT, async ({ client, opts, out }) => {
        const { items, more } = await client.list(client.tenantPath("limit-groups"), { limit: opts.limit }, opts.all === true);
        const list = /** @type {LimitGroup[]} */ (items);
        if (out.json) out.printJson(list);
        else if (list.length === 0) out.print("No limit groups.\n");
        else {
          out.print(
            renderTable(
              [
                { header: "ID", value: (g) => g.id },
                { header: "NAME", value: (g) => g.name },
                { header: "RATE LIMITS", value: (g) => (g.rate_limits ? g.rate_limits.map(formatRateLimit).join(", ") : "-") },
                { header: "QUOTA", value: (g) => (g.quota ? formatQuota(g.quota) : "-") },
                { header: "CREATED", value: (g) => formatTime(g.created_at) },
              ],
              list,
              out.p,
            ),
          );
        }
        if (more) out.note("more groups than shown: add --all (or a larger --limit)");
      }),
    );

  groups
    .command("get")
    .description("show one limit group: its keys, and what remains of its quota")
    .argument("<id>", "limit group id (grp-...)", parseId)
    .action(
      action(TENANT, async ({ client, args, out }) => {
        const res = await client.request("GET", client.tenantPath("limit-groups", args[0] ?? ""));
        if (out.json) out.printJson(res.body);
        else out.print(renderPairs(groupPairs(/** @type {LimitGroup} */ (res.body)), out.p));
      }),
    );

  groups
    .command("update")
    .description("change a limit group's name, rate limits or quota (its counter applies them at once)")
    .argument("<id>", "limit group id (grp-...)", parseId)
    .option("--name <name>", "new name")
    .option("--rate-limit <name=limit/window>", `replace the rate limits: ${RATE_LIMIT_HELP}`, repeatable(parseRateLimit))
    .addOption(new Option("--clear-rate-limits", "remove all rate limits").conflicts("rateLimit"))
    .option("--quota <limit/period>", `set the quota: ${QUOTA_HELP}`, parseQuota)
    .addOption(new Option("--clear-quota", "remove the quota").conflicts("quota"))
    .action(
      action(TENANT, async ({ client, args, opts, out }) => {
        /** @type {Record<string, unknown>} */
        const body = {};
        if (opts.name !== undefined) body.name = opts.name;
        if (opts.rateLimit !== undefined) body.rate_limits = opts.rateLimit;
        if (opts.clearRateLimits) body.rate_limits = null;
        if (opts.quota !== undefined) body.quota = opts.quota;
        if (opts.clearQuota) body.quota = null;
        if (Object.keys(body).length === 0)
          throw new UsageError("nothing to update: give --name, --rate-limit, --clear-rate-limits, --quota or --clear-quota");
        const res = await client.request("PATCH", client.tenantPath("limit-groups", args[0] ?? ""), { body });
        if (out.json) out.printJson(res.body);
        else out.print(renderPairs(groupPairs(/** @type {LimitGroup} */ (res.body)), out.p));
      }),
    );

  groups
    .command("delete")
    .description("delete a limit group (refused while keys are in it, unless --detach)")
    .argument("<id>", "limit group id (grp-...)", parseId)
    .option("--detach", "its keys leave the group (they keep their own limits), then it is deleted")
    .action(
      action(TENANT, async ({ client, args, opts, out }) => {
        const id = args[0] ?? "";
        const res = await client.request("DELETE", client.tenantPath("limit-groups", id), {
          query: opts.detach ? { detach: "true" } : {},
        });
        const done = /** @type {{ detached: number }} */ (res.body);
        if (out.json) out.printJson(done);
        else out.print(`Deleted ${id}${done.detached > 0 ? ` (${done.detached} key(s) left it)` : ""}\n`);
      }),
    );
}
