// @ts-check
/** `keygate webhooks ...`: endpoints that receive the tenant's alerts and key events, signed. */

import { WEBHOOK_EVENTS } from "../../src/vocab/events.mjs";
import { action, keepOwnOption } from "../context.mjs";
import { createdWebhookSummary, formatTime, renderTable } from "../output.mjs";
import { parseId, repeatable } from "../parse.mjs";

/** @typedef {import("commander").Command} Command */

/**
 * @typedef {object} Webhook
 * @property {string} id
 * @property {string} url
 * @property {string[]} events
 * @property {number} created_at
 */

/**
 * @typedef {object} Delivery
 * @property {string} id
 * @property {string} event_id
 * @property {string} event_type
 * @property {number} attempt
 * @property {string} status
 * @property {number | null} response_status
 * @property {string | null} error
 * @property {number} at
 * @property {number | null} next_attempt_at
 */

const TENANT = { tenant: true, token: true };

/** @param {Command} program */
export function registerWebhooks(program) {
  const webhooks = program.command("webhooks").description("send alerts and key events to your HTTPS endpoints");

  const create = webhooks
    .command("create")
    .description("register a webhook and print its signing secret (shown only this once)")
    .requiredOption("--url <url>", "the endpoint that receives events (https://...)")
    .requiredOption("--event <event>", `an event to send (repeatable or comma-separated): ${WEBHOOK_EVENTS.join(", ")}`, repeatable(String))
    .addHelpText(
      "after",
      `
Here --url is the webhook's URL: give keygate's own URL before the command
(keygate --url <base> webhooks create ...), with KEYGATE_URL, or by logging in.
On a terminal it prints a summary; otherwise only the secret: SECRET=$(keygate webhooks create ...)`,
    )
    .action(
      action(TENANT, async ({ client, opts, out }) => {
        const res = await client.request("POST", client.tenantPath("webhooks"), { body: { url: opts.url, events: opts.event } });
        const created = /** @type {Webhook & { secret: string }} */ (res.body);
        if (out.json) out.printJson(created);
        else if (out.tty) out.print(createdWebhookSummary(created, out.p));
        else out.print(`${created.secret}\n`);
      }),
    );
  keepOwnOption(create, "url");

  webhooks
    .command("list")
    .description("the tenant's webhooks")
    .action(
      action(TENANT, async ({ client, out }) => {
        const res = await client.request("GET", client.tenantPath("webhooks"));
        const list = /** @type {Webhook[]} */ (res.body);
        if (out.json) out.printJson(list);
        else if (list.length === 0) out.print("No webhooks.\n");
        else {
          out.print(
            renderTable(
              [
                { header: "ID", value: (w) => w.id },
                { header: "URL", value: (w) => w.url },
                { header: "EVENTS", value: (w) => w.events.join(",") },
                { header: "CREATED", value: (w) => formatTime(w.created_at) },
              ],
              list,
              out.p,
            ),
          );
        }
      }),
    );

  webhooks
    .command("delete")
    .description("delete a webhook")
    .argument("<id>", "webhook id (wh-...)", parseId)
    .action(
      action(TENANT, async ({ client, args, out }) => {
        const id = args[0] ?? "";
        const res = await client.request("DELETE", client.tenantPath("webhooks", id));
        if (out.json) out.printJson(res.body);
        else out.print(`Deleted ${id}\n`);
      }),
    );

  webhooks
    .command("test")
    .description("send a test event to a webhook")
    .argument("<id>", "webhook id (wh-...)", parseId)
    .action(
      action(TENANT, async ({ client, args, out }) => {
        const id = args[0] ?? "";
        const res = await client.request("POST", client.tenantPath("webhooks", id, "test"));
        const queued = /** @type {{ event_id: string }} */ (res.body);
        if (out.json) out.printJson(queued);
        else out.print(`Queued test event ${queued.event_id}; see \`keygate webhooks deliveries ${id}\`\n`);
      }),
    );

  webhooks
    .command("deliveries")
    .description("delivery attempts of a webhook, newest first")
    .argument("<id>", "webhook id (wh-...)", parseId)
    .action(
      action(TENANT, async ({ client, args, out }) => {
        const res = await client.request("GET", client.tenantPath("webhooks", args[0] ?? "", "deliveries"));
        const list = /** @type {Delivery[]} */ (res.body);
        if (out.json) out.printJson(list);
        else if (list.length === 0) out.print("No deliveries.\n");
        else {
          out.print(
            renderTable(
              [
                { header: "AT", value: (d) => formatTime(d.at) },
                { header: "EVENT", value: (d) => d.event_id },
                { header: "TYPE", value: (d) => d.event_type },
                { header: "ATTEMPT", value: (d) => String(d.attempt) },
                {
                  header: "STATUS",
                  value: (d) => d.status,
                  style: (t) => (t === "succeeded" ? out.p.green : t === "failed" ? out.p.red : out.p.yellow),
                },
                { header: "HTTP", value: (d) => (d.response_status === null ? "-" : String(d.response_status)) },
                { header: "NEXT ATTEMPT", value: (d) => formatTime(d.next_attempt_at) },
                { header: "ERROR", value: (d) => d.error ?? "" },
              ],
              list,
              out.p,
            ),
          );
        }
      }),
    );
}
