/**
 * Alerts and webhook events as D1 statements, so they join the transaction of whatever caused them
 * (a usage roll-up, a key change, a leak report): an alert is stored at most once per condition and
 * cooldown (its dedupe key), and each webhook subscribed to the event gets a pending delivery row in
 * the same transaction (an outbox). After the commit, the caller enqueues the deliveries the
 * statements returned (src/webhooks/deliver.ts); the cron re-enqueues any a lost message stranded.
 */
import { type SQL, sql } from "drizzle-orm";
import { d1Statement } from "../db/statements";
import { newId } from "../lib/ids";
import type { AlertType, KeyEvent } from "../vocab/events.mjs";

/** Sent only by POST .../webhooks/{id}/test, to that webhook. */
export const TEST_EVENT = "webhook.test";

export interface NewAlert {
  tenant: string;
  type: AlertType;
  keyId: string | null;
  /** One alert per dedupe key, ever: put the cooldown period in it ("volume:<key>:<hour>"). */
  dedupeKey: string;
  details: Record<string, unknown>;
  now: number;
}

/** The webhook payload: what receivers parse (and what the signature covers, byte for byte). */
export function eventPayload(eventId: string, type: string, tenant: string, createdAt: number, data: unknown): string {
  return JSON.stringify({ id: eventId, type, created_at: createdAt, tenant, data });
}

export function newEventId(): string {
  return `evt-${crypto.randomUUID()}`;
}

/**
 * Pending deliveries of one event to every webhook of the tenant subscribed to it, RETURNING the
 * delivery ids. `onlyIf` gates the insert, e.g. on the alert row having been inserted rather than
 * deduplicated away.
 */
export function deliveriesSql(tenant: string, type: string, payload: string, eventId: string, now: number, onlyIf?: SQL): SQL {
  return sql`INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
    SELECT 'dlv-' || lower(hex(randomblob(16))), w.id, w.tenant_id, ${eventId}, ${type}, ${payload}, 'pending', 0, ${now}, ${now}, ${now}
    FROM webhooks w
    WHERE w.tenant_id = ${tenant} AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE json_each.value = ${type})${onlyIf ? sql` AND ${onlyIf}` : sql``}
    RETURNING id`;
}

/** The deliveries of a key lifecycle event (key.created, ...), gated like the change itself. */
export function keyEventSql(tenant: string, type: KeyEvent, data: unknown, now: number, onlyIf?: SQL): SQL {
  const eventId = newEventId();
  return deliveriesSql(tenant, type, eventPayload(eventId, type, tenant, now, data), eventId, now, onlyIf);
}

/**
 * An alert (skipped if its dedupe key exists) and, only if it was stored, its webhook deliveries.
 * `condition` optionally gates the alert on data in the same transaction (e.g. an hour's count over
 * a threshold, read after the roll-up wrote it).
 */
export function alertSql(alert: NewAlert, condition?: SQL): SQL[] {
  const id = newId("alert");
  const eventId = newEventId();
  const data = { id, type: alert.type, key_id: alert.keyId, created_at: alert.now, details: alert.details, acknowledged_at: null };
  return [
    sql`INSERT INTO alerts (id, tenant_id, type, key_id, dedupe_key, created_at, details)
      SELECT ${id}, ${alert.tenant}, ${alert.type}, ${alert.keyId}, ${alert.dedupeKey}, ${alert.now}, ${JSON.stringify(alert.details)}
      WHERE ${condition ?? sql`true`}
      ON CONFLICT (dedupe_key) DO NOTHING`,
    deliveriesSql(
      alert.tenant,
      alert.type,
      eventPayload(eventId, alert.type, alert.tenant, alert.now, data),
      eventId,
      alert.now,
      sql`EXISTS (SELECT 1 FROM alerts WHERE id = ${id})`,
    ),
  ];
}

/** `alertSql` as raw D1 statements, for transactions built with `d1.batch`. */
export function alertStatements(d1: D1Database, alert: NewAlert, condition?: SQL): D1PreparedStatement[] {
  return alertSql(alert, condition).map((query) => d1Statement(d1, query));
}

/** Alerts per multi-row statement: their rows travel as one JSON parameter (a D1 value may be 2 MB). */
export const ALERTS_PER_STATEMENT = 500;

/**
 * Many unconditional alerts (each still once per dedupe key) and their webhook deliveries, as two
 * statements per ALERTS_PER_STATEMENT alerts, for `d1.batch`: `alertStatements` is two statements
 * per alert, so a storm (every key of a batch rate limited for the first time this hour) was over
 * the 1,000 queries of one invocation. Same rows, same gate: deliveries only for alerts inserted.
 */
export function alertsStatements(d1: D1Database, alerts: readonly NewAlert[]): D1PreparedStatement[] {
  const out: D1PreparedStatement[] = [];
  const col = (i: number) => `json_extract(a.value, '$[${i}]')`;
  for (let i = 0; i < alerts.length; i += ALERTS_PER_STATEMENT) {
    const rows = alerts.slice(i, i + ALERTS_PER_STATEMENT).map((alert) => {
      const id = `alert-${crypto.randomUUID()}`;
      const eventId = newEventId();
      const data = { id, type: alert.type, key_id: alert.keyId, created_at: alert.now, details: alert.details, acknowledged_at: null };
      const payload = eventPayload(eventId, alert.type, alert.tenant, alert.now, data);
      return [id, alert.tenant, alert.type, alert.keyId, alert.dedupeKey, alert.now, JSON.stringify(alert.details), eventId, payload];
    });
    const json = JSON.stringify(rows);
    out.push(
      d1
        .prepare(
          `INSERT INTO alerts (id, tenant_id, type, key_id, dedupe_key, created_at, details)
           SELECT ${[0, 1, 2, 3, 4, 5, 6].map(col).join(", ")} FROM json_each(?) a WHERE true
           ON CONFLICT (dedupe_key) DO NOTHING`,
        )
        .bind(json),
      d1
        .prepare(
          `INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
           SELECT 'dlv-' || lower(hex(randomblob(16))), w.id, w.tenant_id, ${col(7)}, ${col(2)}, ${col(8)}, 'pending', 0, ${col(5)}, ${col(5)}, ${col(5)}
           FROM json_each(?) a JOIN webhooks w ON w.tenant_id = ${col(1)}
           WHERE EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = ${col(2)})
             AND EXISTS (SELECT 1 FROM alerts WHERE alerts.id = ${col(0)})
           RETURNING id`,
        )
        .bind(json),
    );
  }
  return out;
}

/** Delivery ids a batch's RETURNING statements produced. */
export function deliveryIdsOf(results: readonly (D1Result | unknown[])[]): string[] {
  const ids: string[] = [];
  for (const result of results) {
    const rows = Array.isArray(result) ? result : (result.results ?? []);
    for (const row of rows as { id?: unknown }[]) {
      if (typeof row.id === "string" && row.id.startsWith("dlv-")) ids.push(row.id);
    }
  }
  return ids;
}
