/** Alert settings, the tenant's alerts and acknowledging them. */
import * as z from "zod/mini";
import { acknowledgeAlert, alertViewSchema, listAlerts } from "../alerts/service";
import { settingsSchema, settingsUpdateSchema, tenantSettingsOf, updateTenantSettings } from "../alerts/settings";
import { auditEntry } from "../audit/entry";
import { recordChange } from "../audit/service";
import { actorLabel } from "../auth/principal";
import { database } from "../db/client";
import { DEFAULT_PAGE_LIMIT, nextPageHeaders, PAGE_HEADERS, pageQueryFields } from "../http/pagination";
import { jsonResponse } from "../http/responses";
import { boundedInt, oneOf } from "../http/validate";
import { ALERT_TYPES } from "../vocab/events.mjs";
import { managementRoute } from "./spec";

const TENANT = "/api/v1/tenant/{tenant}";

const alertsQuery = z.object({
  ...pageQueryFields,
  since: z.optional(boundedInt("since", 0, Number.MAX_SAFE_INTEGER).check(z.describe("Only alerts raised at or after this unix time."))),
  type: z.optional(oneOf("type", ALERT_TYPES)),
});

export const alertRoutes = [
  managementRoute({
    method: "GET",
    path: `${TENANT}/alert-settings`,
    operationId: "getAlertSettings",
    summary: "The tenant's alert thresholds and leak policy",
    description: "What the detectors fire on and what a leak report does to a live key; a tenant that changed nothing gets the defaults.",
    tag: "Alerts",
    credential: "management",
    role: "viewer",
    audit: "alerts",
    responses: { 200: { description: "Every setting, defaults filled in.", schema: settingsSchema } },
    async handle({ env, ctx }) {
      return jsonResponse(await tenantSettingsOf(database(env.DB), ctx.tenant));
    },
  }),
  managementRoute({
    method: "PUT",
    path: `${TENANT}/alert-settings`,
    operationId: "updateAlertSettings",
    summary: "Change some of the tenant's alert settings",
    description: "Fields left out keep their value.",
    tag: "Alerts",
    credential: "management",
    role: "admin",
    audit: "update_settings",
    body: { schema: () => settingsUpdateSchema, required: true, example: { volume_per_hour: 5000, new_ip: false } },
    responses: { 200: { description: "Every setting after the change.", schema: settingsSchema } },
    async handle({ env, ctx, body }) {
      const db = database(env.DB);
      const settings = await updateTenantSettings(db, ctx.tenant, body, ctx.now);
      await recordChange(db, auditEntry(ctx, "update_settings", null, "success", 200));
      return jsonResponse(settings);
    },
  }),
  managementRoute({
    method: "GET",
    path: `${TENANT}/alerts`,
    operationId: "listAlerts",
    summary: "The tenant's alerts, newest first",
    description: `Pages of at most \`limit\` (default ${DEFAULT_PAGE_LIMIT}) alerts, optionally since a time and of one type; the next page's cursor is in the headers.`,
    tag: "Alerts",
    credential: "management",
    role: "viewer",
    audit: "alerts",
    query: alertsQuery,
    responses: { 200: { description: "A bare array of alerts.", schema: z.array(alertViewSchema), headers: PAGE_HEADERS } },
    async handle({ env, ctx, url, query }) {
      const result = await listAlerts(database(env.DB), ctx.tenant, {
        limit: query.limit ?? DEFAULT_PAGE_LIMIT,
        beforeSeq: query.cursor,
        since: query.since,
        type: query.type,
      });
      return jsonResponse(result.alerts, 200, nextPageHeaders(url, result.nextSeq));
    },
  }),
  managementRoute({
    method: "POST",
    path: `${TENANT}/alerts/{id}/ack`,
    operationId: "acknowledgeAlert",
    summary: "Acknowledge an alert",
    description: "Idempotent: the first acknowledgement's time and actor are kept.",
    tag: "Alerts",
    credential: "management",
    role: "operator",
    audit: "acknowledge_alert",
    responses: { 200: { description: "The alert.", schema: alertViewSchema } },
    async handle({ env, ctx, keyId: alertId }) {
      const db = database(env.DB);
      const alert = await acknowledgeAlert(db, ctx.tenant, alertId, actorLabel(ctx.principal), ctx.now);
      await recordChange(db, auditEntry(ctx, "acknowledge_alert", alert.key_id, "success", 200));
      return jsonResponse(alert);
    },
  }),
];
