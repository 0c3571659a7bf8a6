/**
 * Registering webhooks (the signing secret is shown once), listing, deleting, sending a test event,
 * and the deliveries of a webhook with every attempt. Tenant-scoped like everything else.
 */
import { and, desc, eq, inArray, lt } from "drizzle-orm";
import * as z from "zod/mini";
import type { Db } from "../db/client";
import { webhookAttempts, webhookDeliveries, webhooks } from "../db/schema";
import { boundParameters, chunks } from "../db/statements";
import { ApiError } from "../errors";
import { typeError } from "../http/validate";
import { ID_NOUNS, newId } from "../lib/ids";
import { DELIVERY_STATUSES, WEBHOOK_EVENTS, type WebhookEvent } from "../vocab/events.mjs";
import { checkDestination, type DestinationPolicy } from "./destination";
import { eventPayload, newEventId, TEST_EVENT } from "./outbox";
import { newWebhookSecret } from "./signing";

/** Webhooks per tenant: enough for a few receivers per environment, bounded per event fan-out. */
export const MAX_WEBHOOKS_PER_TENANT = 10;
const URL_MAX_LENGTH = 2048;

export const webhookCreateSchema = z.strictObject(
  {
    url: z
      .string(typeError("url", "url must be a string"))
      .check(
        z.maxLength(URL_MAX_LENGTH, `url must be at most ${URL_MAX_LENGTH} characters`),
        z.describe("An https URL that accepts POSTs."),
      ),
    events: z
      .array(
        z.enum(WEBHOOK_EVENTS, { error: `events must list event types from: ${WEBHOOK_EVENTS.join(", ")}` }),
        typeError("events", "events must be an array of event types"),
      )
      .check(z.minLength(1, "events must list at least one event type"), z.describe("Event types to receive.")),
  },
  { error: "the request body must be a JSON object" },
);

const webhookFields = {
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  created_at: z.int(),
};
export const webhookViewSchema = z.strictObject(webhookFields).register(z.globalRegistry, { id: "Webhook" });
export const createdWebhookSchema = z
  .strictObject({ ...webhookFields, secret: z.string().check(z.describe("The signing secret: shown only in this response.")) })
  .register(z.globalRegistry, { id: "CreatedWebhook" });

export const deliveryViewSchema = z
  .strictObject({
    id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    status: z.enum(DELIVERY_STATUSES),
    attempt: z.int().check(z.describe("Attempts made so far.")),
    response_status: z.nullable(z.int()),
    error: z.nullable(z.string()),
    at: z.int(),
    next_attempt_at: z.nullable(z.int()),
    attempts: z.array(
      z.strictObject({
        attempt: z.int(),
        at: z.int(),
        response_status: z.nullable(z.int()),
        error: z.nullable(z.string()),
        duration_ms: z.int(),
      }),
    ),
  })
  .register(z.globalRegistry, { id: "WebhookDelivery" });

type WebhookView = z.output<typeof webhookViewSchema>;

export async function createWebhook(
  db: Db,
  tenant: string,
  input: { url: string; events: WebhookEvent[] },
  createdBy: string,
  destinations: DestinationPolicy,
  now: number,
): Promise<z.output<typeof createdWebhookSchema>> {
  const url = await checkDestination(input.url, destinations);
  const existing = await db.$count(webhooks, eq(webhooks.tenantId, tenant));
  if (existing >= MAX_WEBHOOKS_PER_TENANT) {
    throw new ApiError("conflict", `A tenant may have at most ${MAX_WEBHOOKS_PER_TENANT} webhooks; delete one first`);
  }
  const row = {
    id: newId("webhook"),
    tenantId: tenant,
    url: url.href,
    events: [...new Set(input.events)],
    secret: newWebhookSecret(),
    createdAt: now,
    createdBy,
  };
  await db.insert(webhooks).values(row);
  return { id: row.id, url: row.url, events: row.events, created_at: now, secret: row.secret };
}

export async function listWebhooks(db: Db, tenant: string): Promise<WebhookView[]> {
  const rows = await db.select().from(webhooks).where(eq(webhooks.tenantId, tenant)).orderBy(desc(webhooks.seq));
  return rows.map((r) => ({ id: r.id, url: r.url, events: r.events, created_at: r.createdAt }));
}

async function ownWebhook(db: Db, tenant: string, id: string) {
  const row = await db.query.webhooks.findFirst({ where: and(eq(webhooks.tenantId, tenant), eq(webhooks.id, id)) });
  if (!row) throw new ApiError("not_found", `${ID_NOUNS.webhook} not found`);
  return row;
}

/** Deletes the webhook and its deliveries (pending ones are not sent). */
export async function deleteWebhook(db: Db, tenant: string, id: string): Promise<void> {
  await ownWebhook(db, tenant, id);
  const deliveryIds = db.select({ id: webhookDeliveries.id }).from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, id));
  await db.batch([
    db.delete(webhookAttempts).where(inArray(webhookAttempts.deliveryId, deliveryIds)),
    db.delete(webhookDeliveries).where(eq(webhookDeliveries.webhookId, id)),
    db.delete(webhooks).where(and(eq(webhooks.tenantId, tenant), eq(webhooks.id, id))),
  ]);
}

/** A `webhook.test` event for this webhook only; returns the delivery to enqueue. */
export async function testWebhook(db: Db, tenant: string, id: string, now: number): Promise<{ event_id: string; delivery_id: string }> {
  const hook = await ownWebhook(db, tenant, id);
  const eventId = newEventId();
  const deliveryId = `dlv-${crypto.randomUUID()}`;
  await db.insert(webhookDeliveries).values({
    id: deliveryId,
    webhookId: hook.id,
    tenantId: tenant,
    eventId,
    eventType: TEST_EVENT,
    payload: eventPayload(eventId, TEST_EVENT, tenant, now, { webhook_id: hook.id, message: "A test event from keygate" }),
    status: "pending",
    attempts: 0,
    nextAttemptAt: now,
    createdAt: now,
    updatedAt: now,
  });
  return { event_id: eventId, delivery_id: deliveryId };
}

export async function listDeliveries(
  db: Db,
  tenant: string,
  id: string,
  page: { limit: number; beforeSeq?: number },
): Promise<{ deliveries: z.output<typeof deliveryViewSchema>[]; nextSeq: number | null }> {
  await ownWebhook(db, tenant, id);
  const conditions = [eq(webhookDeliveries.tenantId, tenant), eq(webhookDeliveries.webhookId, id)];
  if (page.beforeSeq !== undefined) conditions.push(lt(webhookDeliveries.seq, page.beforeSeq));
  const rows = await db
    .select()
    .from(webhookDeliveries)
    .where(and(...conditions))
    .orderBy(desc(webhookDeliveries.seq))
    .limit(page.limit + 1);
  const shown = rows.slice(0, page.limit);
  // A page may hold MAX_PAGE_LIMIT deliveries: their attempts are read in IN lists D1 can bind.
  const attempts = (
    await Promise.all(
      chunks(
        shown.map((d) => d.id),
        boundParameters(),
      ).map((ids) => db.select().from(webhookAttempts).where(inArray(webhookAttempts.deliveryId, ids)).orderBy(webhookAttempts.attempt)),
    )
  ).flat();
  const last = shown[shown.length - 1];
  return {
    deliveries: shown.map((d) => ({
      id: d.id,
      event_id: d.eventId,
      event_type: d.eventType,
      status: d.status,
      attempt: d.attempts,
      response_status: d.lastStatus,
      error: d.lastError,
      at: d.updatedAt,
      next_attempt_at: d.nextAttemptAt,
      attempts: attempts
        .filter((a) => a.deliveryId === d.id)
        .map((a) => ({ attempt: a.attempt, at: a.at, response_status: a.responseStatus, error: a.error, duration_ms: a.durationMs })),
    })),
    nextSeq: rows.length > page.limit && last ? last.seq : null,
  };
}
