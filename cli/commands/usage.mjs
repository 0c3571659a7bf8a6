// @ts-check
/**
 * `keygate usage [key-id]`: gateway traffic per key (time buckets by outcome) or for the whole
 * tenant (totals and the busiest keys).
 */
import { Option } from "commander";
import { action } from "../context.mjs";
import { UsageError } from "../errors.mjs";
import { formatTime, renderTable } from "../output.mjs";
import { parseId, parseTime } from "../parse.mjs";

/** @typedef {import("commander").Command} Command */
/** @typedef {{ total: number, outcomes: Record<string, number> }} Counts */

/**
 * "accepted 10, rate_limited 2", largest first.
 * @param {Record<string, number>} outcomes
 */
function describeOutcomes(outcomes) {
  return Object.entries(outcomes)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${n}`)
    .join(", ");
}

/** How a limit group's id starts (src/lib/ids.ts mints them). */
const GROUP_ID_PREFIX = "grp-";

/** @param {Command} program */
export function registerUsage(program) {
  program
    .command("usage")
    .description("gateway requests by outcome: for one key or limit group over time, or for the whole tenant (default: the last 24 h)")
    .argument("[key-id]", "a key id (key-...) or a limit group's (grp-...); without it, the tenant's totals and busiest keys", parseId)
    .option("--from <time>", "start: unix seconds, a duration ago (1h, 7d) or an ISO date", (v) => parseTime(v))
    .option("--to <time>", "end: unix seconds, a duration ago or an ISO date (default: now)", (v) => parseTime(v))
    .addOption(new Option("--granularity <unit>", "bucket size, for one key (API default: hour)").choices(["minute", "hour", "day"]))
    .action(
      action({ tenant: true, token: true }, async ({ client, args, opts, out }) => {
        const keyId = args[0];
        const query = { from: opts.from, to: opts.to };
        if (keyId === undefined) {
          if (opts.granularity !== undefined)
            throw new UsageError("--granularity needs a key id: keygate usage <key-id> --granularity day");
          const res = await client.request("GET", client.tenantPath("usage"), { query });
          const usage = /** @type {{ from: number, to: number, totals: Counts, keys: ({ key_id: string, name: string } & Counts)[] }} */ (
            res.body
          );
          if (out.json) return out.printJson(usage);
          out.print(
            `Tenant usage ${formatTime(usage.from)} to ${formatTime(usage.to)}: ${out.p.bold(String(usage.totals.total))} requests` +
              `${usage.totals.total > 0 ? ` (${describeOutcomes(usage.totals.outcomes)})` : ""}\n`,
          );
          if (usage.keys.length > 0) {
            out.print(
              renderTable(
                [
                  { header: "KEY", value: (k) => k.key_id },
                  { header: "NAME", value: (k) => k.name },
                  { header: "TOTAL", value: (k) => String(k.total) },
                  { header: "OUTCOMES", value: (k) => describeOutcomes(k.outcomes) },
                ],
                usage.keys,
                out.p,
              ),
            );
          }
          return;
        }

        // A limit group's usage (issue 19) is the sum of its keys', in the same shape.
        const collection = keyId.startsWith(GROUP_ID_PREFIX) ? "limit-groups" : "api-keys";
        const res = await client.request("GET", client.tenantPath(collection, keyId, "usage"), {
          query: { ...query, granularity: opts.granularity },
        });
        const usage =
          /** @type {{ key_id?: string, limit_group?: string, granularity: string, from: number, to: number, buckets: ({ start: number } & Counts)[], totals: Counts }} */ (
            res.body
          );
        if (out.json) return out.printJson(usage);
        out.print(`${usage.key_id ?? usage.limit_group}: ${formatTime(usage.from)} to ${formatTime(usage.to)} by ${usage.granularity}\n`);
        if (usage.buckets.length === 0) {
          out.print("No requests.\n");
          return;
        }
        // One column per outcome that occurred, in the order the totals list them.
        const outcomes = [...new Set([...Object.keys(usage.totals.outcomes), ...usage.buckets.flatMap((b) => Object.keys(b.outcomes))])];
        const rows = [...usage.buckets.map((b) => ({ label: formatTime(b.start), ...b })), { label: "total", ...usage.totals }];
        out.print(
          renderTable(
            [
              { header: "START", value: (r) => r.label },
              { header: "TOTAL", value: (r) => String(r.total) },
              ...outcomes.map((name) => ({
                header: name.toUpperCase(),
                value: (/** @type {Counts} */ r) => String(r.outcomes[name] ?? 0),
              })),
            ],
            rows,
            out.p,
          ),
        );
      }),
    );
}
