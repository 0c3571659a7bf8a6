/** Webhook endpoints of a tenant: register (secret shown once), list, delete, test, deliveries. */
import * as z from "zod/mini";
import { auditEntry } from "../audit/entry";
import { recordChange } from "../audit/service";
import { actorLabel } from "../auth/principal";
import { database } from "../db/client";
import { DEFAULT_PAGE_LIMIT, nextPageHeaders, PAGE_HEADERS, pageQueryFields } from "../http/pagination";
import { jsonResponse } from "../http/responses";
import { deliveryConfig } from "../webhooks/config";
import { enqueueDeliveries } from "../webhooks/deliver";
import {
  createdWebhookSchema,
  createWebhook,
  deleteWebhook,
  deliveryViewSchema,
  listDeliveries,
  listWebhooks,
  testWebhook,
  webhookCreateSchema,
  webhookViewSchema,
} from "../webhooks/service";
import { managementRoute } from "./spec";

const WEBHOOKS = "/api/v1/tenant/{tenant}/webhooks";

export const webhookRoutes = [
  managementRoute({
    method: "POST",
    path: WEBHOOKS,
    operationId: "createWebhook",
    summary: "Register a webhook",
    description:
      "Deliveries are POSTed as JSON, signed with `Keygate-Signature: t=<unix>,v1=<hex HMAC-SHA256 of t.body>` keyed with `secret`, which this response shows once.",
    tag: "Webhooks",
    credential: "management",
    role: "admin",
    audit: "create_webhook",
    body: {
      schema: () => webhookCreateSchema,
      required: true,
      example: { url: "https://hooks.example.com/keygate", events: ["volume", "new_ip", "key.revoked"] },
    },
    responses: { 201: { description: "The webhook, with its signing secret.", schema: createdWebhookSchema } },
    errors: ["conflict"],
    async handle({ env, ctx, body }) {
      const db = database(env.DB);
      const created = await createWebhook(db, ctx.tenant, body, actorLabel(ctx.principal), deliveryConfig(env).destinations, ctx.now);
      await recordChange(db, auditEntry(ctx, "create_webhook", null, "success", 201));
      return jsonResponse(created, 201);
    },
  }),
  managementRoute({
    method: "GET",
    path: WEBHOOKS,
    operationId: "listWebhooks",
    summary: "The tenant's webhooks",
    description: "Their URLs and events; the signing secrets were shown once, at registration, and are not listed.",
    tag: "Webhooks",
    credential: "management",
    role: "admin",
    audit: "webhooks",
    responses: { 200: { description: "A bare array, without secrets.", schema: z.array(webhookViewSchema) } },
    async handle({ env, ctx }) {
      return jsonResponse(await listWebhooks(database(env.DB), ctx.tenant));
    },
  }),
  managementRoute({
    method: "DELETE",
    path: `${WEBHOOKS}/{id}`,
    operationId: "deleteWebhook",
    summary: "Delete a webhook and its pending deliveries",
    description: "Deliveries not yet made are dropped; nothing more is sent to its URL.",
    tag: "Webhooks",
    credential: "management",
    role: "admin",
    audit: "delete_webhook",
    responses: { 200: { description: "Done.", schema: z.strictObject({ success: z.literal(true), message: z.string() }) } },
    async handle({ env, ctx, keyId: webhookId }) {
      const db = database(env.DB);
      await deleteWebhook(db, ctx.tenant, webhookId);
      await recordChange(db, auditEntry(ctx, "delete_webhook", null, "success", 200));
      return jsonResponse({ success: true, message: "Webhook deleted" });
    },
  }),
  managementRoute({
    method: "POST",
    path: `${WEBHOOKS}/{id}/test`,
    operationId: "testWebhook",
    summary: "Send a test event (webhook.test) to this webhook",
    description: "Queued like any event, signed with the webhook's secret and retried on failure; follow it in the webhook's deliveries.",
    tag: "Webhooks",
    credential: "management",
    role: "admin",
    audit: "test_webhook",
    responses: {
      202: { description: "Queued; see its deliveries.", schema: z.strictObject({ event_id: z.string(), delivery_id: z.string() }) },
    },
    async handle({ env, ctx, keyId: webhookId }) {
      const db = database(env.DB);
      const test = await testWebhook(db, ctx.tenant, webhookId, ctx.now);
      await enqueueDeliveries(env.WEBHOOK_QUEUE, [test.delivery_id]);
      await recordChange(db, auditEntry(ctx, "test_webhook", null, "success", 202));
      return jsonResponse(test, 202);
    },
  }),
  managementRoute({
    method: "GET",
    path: `${WEBHOOKS}/{id}/deliveries`,
    operationId: "listWebhookDeliveries",
    summary: "A webhook's deliveries, newest first, with every attempt",
    description: `Pages of at most \`limit\` (default ${DEFAULT_PAGE_LIMIT}) deliveries, each with its status, next attempt and the answer of every attempt; the next page's cursor is in the headers.`,
    tag: "Webhooks",
    credential: "management",
    role: "admin",
    audit: "webhooks",
    query: z.object(pageQueryFields),
    responses: { 200: { description: "A bare array of deliveries.", schema: z.array(deliveryViewSchema), headers: PAGE_HEADERS } },
    async handle({ env, ctx, url, keyId: webhookId, query }) {
      const result = await listDeliveries(database(env.DB), ctx.tenant, webhookId, {
        limit: query.limit ?? DEFAULT_PAGE_LIMIT,
        beforeSeq: query.cursor,
      });
      return jsonResponse(result.deliveries, 200, nextPageHeaders(url, result.nextSeq));
    },
  }),
];
