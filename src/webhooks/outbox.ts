/**
 * The outbox: webhook events as D1 statements, so they join the transaction of whatever caused them
 * (a usage roll-up, a key change, a leak report, an alert). Each webhook subscribed to the event gets
 * a pending delivery row in the same transaction; after the commit, the caller enqueues the delivery
 * ids the statements returned (deliver.ts), and the cron re-enqueues any a lost message stranded.
 * Features that raise events (alerts, keys) import this module; it imports no feature.
 */
import { type SQL, sql } from "drizzle-orm";
import { returnedIds } from "../db/statements";
import { newRecordId, RECORD_ID_PREFIXES } from "../lib/ids";
import type { KEY_EVENTS } from "../vocab/events.mjs";

/** Sent only by POST .../webhooks/{id}/test, to that webhook. */
export const TEST_EVENT = "webhook.test";

/** The webhook payload: what receivers parse (and what the signature covers, byte for byte). */
export function eventPayload(eventId: string, type: string, tenant: string, createdAt: number, data: unknown): string {
  return JSON.stringify({ id: eventId, type, created_at: createdAt, tenant, data });
}

export function newEventId(): string {
  return newRecordId("event");
}

/** A fresh delivery id, as SQL: `dlv-` and 32 hex digits. */
const NEW_DELIVERY_ID = `'${RECORD_ID_PREFIXES.delivery}-' || lower(hex(randomblob(16)))`;

/**
 * Pending deliveries of one event to every webhook of the tenant subscribed to it, RETURNING the
 * delivery ids. `onlyIf` gates the insert, e.g. on the alert row having been inserted rather than
 * deduplicated away.
 */
export function deliveriesSql(tenant: string, type: string, payload: string, eventId: string, now: number, onlyIf?: SQL): SQL {
  return sql`INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
    SELECT ${sql.raw(NEW_DELIVERY_ID)}, w.id, w.tenant_id, ${eventId}, ${type}, ${payload}, 'pending', 0, ${now}, ${now}, ${now}
    FROM webhooks w
    WHERE w.tenant_id = ${tenant} AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE json_each.value = ${type})${onlyIf ? sql` AND ${onlyIf}` : sql``}
    RETURNING id`;
}

/** SQL expressions, over the rows of `source`, for the fields of the events in them. */
export interface EventColumns {
  eventId: string;
  type: string;
  tenant: string;
  payload: string;
  now: string;
}

/**
 * `deliveriesSql` for many events at once: `source` is a row source (`json_each(?) a`), `columns`
 * read each event's fields from its row, `onlyIf` gates each row (SQL over the same row). RETURNING
 * the delivery ids.
 */
export function deliveriesOfRowsSql(source: string, columns: EventColumns, onlyIf: string): string {
  const c = columns;
  return `INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
           SELECT ${NEW_DELIVERY_ID}, w.id, w.tenant_id, ${c.eventId}, ${c.type}, ${c.payload}, 'pending', 0, ${c.now}, ${c.now}, ${c.now}
           FROM ${source} JOIN webhooks w ON w.tenant_id = ${c.tenant}
           WHERE EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = ${c.type})
             AND ${onlyIf}
           RETURNING id`;
}

/** The deliveries of a key lifecycle event (key.created, ...), gated like the change itself. */
export function keyEventSql(tenant: string, type: (typeof KEY_EVENTS)[number], data: unknown, now: number, onlyIf?: SQL): SQL {
  const eventId = newEventId();
  return deliveriesSql(tenant, type, eventPayload(eventId, type, tenant, now, data), eventId, now, onlyIf);
}

/** Delivery ids a batch's RETURNING statements produced. */
export function deliveryIdsOf(results: readonly (D1Result | unknown[])[]): string[] {
  return results.flatMap((result) => returnedIds(result)).filter((id) => id.startsWith(`${RECORD_ID_PREFIXES.delivery}-`));
}
