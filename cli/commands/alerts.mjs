// @ts-check
/** `keygate alerts ...`: the tenant's alerts, acknowledging them, and the alert thresholds. */

import { ALERT_TYPES } from "../../src/vocab/events.mjs";
import { action } from "../context.mjs";
import { formatTime, renderPairs, renderTable } from "../output.mjs";
import { parseId, parsePositive, parseSetting, parseTime } from "../parse.mjs";

/** @typedef {import("commander").Command} Command */
/** @typedef {import("../context.mjs").Out} Out */

/**
 * @typedef {object} Alert
 * @property {string} id
 * @property {string} type
 * @property {string | null} key_id
 * @property {number} created_at
 * @property {Record<string, unknown>} details
 * @property {number | null} acknowledged_at
 */

const TENANT = { tenant: true, token: true };

/**
 * @param {Out} out
 * @param {Record<string, unknown>} settings
 */
function printSettings(out, settings) {
  if (out.json) out.printJson(settings);
  else
    out.print(
      renderPairs(
        Object.entries(settings).map(([name, value]) => [name, typeof value === "string" ? value : JSON.stringify(value)]),
        out.p,
      ),
    );
}

/** @param {Command} program */
export function registerAlerts(program) {
  const alerts = program.command("alerts").description("alerts about keys (volume, new IPs, refusals, expiry, leaks) and their settings");

  alerts
    .command("list")
    .description("alerts, newest first")
    .option("--since <time>", "only alerts since: unix seconds, a duration ago (1h, 7d) or an ISO date", (v) => parseTime(v))
    .option("--type <type>", `only this type: ${ALERT_TYPES.join(", ")}`)
    .option("--limit <n>", "alerts per page", parsePositive)
    .option("--all", "follow the pages to the end")
    .action(
      action(TENANT, async ({ client, opts, out }) => {
        const query = { since: opts.since, type: opts.type, limit: opts.limit };
        const { items, more } = await client.list(client.tenantPath("alerts"), query, opts.all === true);
        const list = /** @type {Alert[]} */ (items);
        if (out.json) out.printJson(list);
        else if (list.length === 0) out.print("No alerts.\n");
        else {
          out.print(
            renderTable(
              [
                { header: "ID", value: (a) => a.id },
                { header: "TYPE", value: (a) => a.type, style: () => out.p.yellow },
                { header: "KEY", value: (a) => a.key_id ?? "-" },
                { header: "CREATED", value: (a) => formatTime(a.created_at) },
                { header: "ACKNOWLEDGED", value: (a) => (a.acknowledged_at === null ? "no" : formatTime(a.acknowledged_at)) },
                { header: "DETAILS", value: (a) => JSON.stringify(a.details) },
              ],
              list,
              out.p,
            ),
          );
        }
        if (more) out.note("more alerts than shown: add --all (or a larger --limit)");
      }),
    );

  alerts
    .command("ack")
    .description("acknowledge an alert")
    .argument("<id>", "alert id (alert-...)", parseId)
    .action(
      action(TENANT, async ({ client, args, out }) => {
        const id = args[0] ?? "";
        const res = await client.request("POST", client.tenantPath("alerts", id, "ack"));
        const alert = /** @type {Alert} */ (res.body);
        if (out.json) out.printJson(alert);
        else out.print(`Acknowledged ${alert.id} (${alert.type}) at ${formatTime(alert.acknowledged_at)}\n`);
      }),
    );

  alerts
    .command("settings")
    .description("show the alert settings, or change some with --set")
    .option(
      "--set <name=value>",
      "change one setting, e.g. volume_per_hour=500, new_ip=false, leak_action=revoke (repeatable)",
      (/** @type {string} */ v, /** @type {[string, unknown][] | undefined} */ previous) => [...(previous ?? []), parseSetting(v)],
    )
    .addHelpText(
      "after",
      "\nSettings: volume_per_hour, new_ip, refusals_per_hour, expiring_within_days, unused_days, leak_action, quota_low_percent.",
    )
    .action(
      action(TENANT, async ({ client, opts, out }) => {
        const changes = /** @type {[string, unknown][] | undefined} */ (opts.set);
        const res =
          changes === undefined
            ? await client.request("GET", client.tenantPath("alert-settings"))
            : await client.request("PUT", client.tenantPath("alert-settings"), { body: Object.fromEntries(changes) });
        printSettings(out, /** @type {Record<string, unknown>} */ (res.body));
      }),
    );
}
