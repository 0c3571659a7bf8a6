// @ts-check
/** `keygate audit` (the tenant's audit log) and `keygate scopes` (the public scope catalog). */
import { action } from "../context.mjs";
import { formatTime, renderTable } from "../output.mjs";
import { parsePositive, parseTime } from "../parse.mjs";

/** @typedef {import("commander").Command} Command */

/**
 * @typedef {object} AuditEntry
 * @property {string} id
 * @property {number} at
 * @property {string} actor_kind
 * @property {string | null} actor_id
 * @property {string} action
 * @property {string | null} key_id
 * @property {string} outcome
 * @property {number} status
 * @property {string | null} error
 * @property {string | null} ip
 */

/** @param {Command} program */
export function registerAudit(program) {
  program
    .command("audit")
    .description("the tenant's audit log, newest first: every management action and every refused attempt")
    .option("--key <id>", "only entries about this key")
    .option("--action <action>", "only this action: create, list, get, update, rotate, revoke, audit, ...")
    .option("--since <time>", "only entries since: unix seconds, a duration ago (30m, 1h, 7d) or an ISO date", (v) => parseTime(v))
    .option("--limit <n>", "entries per page (API default 100, at most 1000)", parsePositive)
    .option("--all", "follow the pages to the end")
    .action(
      action({ tenant: true, token: true }, async ({ client, opts, out }) => {
        const query = { key_id: opts.key, action: opts.action, since: opts.since, limit: opts.limit };
        const { items, more } = await client.list(client.tenantPath("audit-log"), query, opts.all === true);
        const entries = /** @type {AuditEntry[]} */ (items);
        if (out.json) out.printJson(entries);
        else if (entries.length === 0) out.print("No audit entries.\n");
        else {
          out.print(
            renderTable(
              [
                { header: "TIME", value: (e) => formatTime(e.at) },
                { header: "ACTION", value: (e) => e.action },
                { header: "OUTCOME", value: (e) => e.outcome, style: (t) => (t === "success" ? out.p.green : out.p.red) },
                { header: "STATUS", value: (e) => String(e.status) },
                { header: "KEY", value: (e) => e.key_id ?? "-" },
                { header: "ACTOR", value: (e) => (e.actor_id === null ? e.actor_kind : `${e.actor_kind}:${e.actor_id}`) },
                { header: "IP", value: (e) => e.ip ?? "-" },
                { header: "ERROR", value: (e) => e.error ?? "" },
              ],
              entries,
              out.p,
            ),
          );
        }
        if (more) out.note("more entries than shown: add --all (or a larger --limit)");
      }),
    );

  program
    .command("scopes")
    .description("the scopes keys can be granted (public; needs only a URL)")
    .action(
      action({ tenant: false, token: false }, async ({ client, out }) => {
        const res = await client.request("GET", "/api/v1/scopes", { auth: false });
        const catalog = /** @type {Record<string, string>} */ (res.body);
        if (out.json) out.printJson(catalog);
        else {
          out.print(
            renderTable(
              [
                { header: "SCOPE", value: (/** @type {[string, string]} */ e) => e[0] },
                { header: "DESCRIPTION", value: (e) => e[1] },
              ],
              Object.entries(catalog),
              out.p,
            ),
          );
        }
      }),
    );
}
