/**
 * Alerts as D1 statements, so they join the transaction of whatever caused them (a usage roll-up,
 * a leak report, the cron): an alert is stored at most once per condition and cooldown (its dedupe
 * key), and its webhook event goes through the outbox (src/webhooks/outbox.ts) in the same
 * transaction, only if the alert was stored. After the commit, the caller enqueues the deliveries
 * the statements returned (deliveryIdsOf).
 */
import { type SQL, sql } from "drizzle-orm";
import { chunks, d1Statement, jsonRows } from "../db/statements";
import { newId } from "../lib/ids";
import type { AlertType } from "../vocab/events.mjs";
import { deliveriesOfRowsSql, deliveriesSql, eventPayload, newEventId } from "../webhooks/outbox";

export interface NewAlert {
  tenant: string;
  type: AlertType;
  keyId: string | null;
  /** One alert per dedupe key, ever: put the cooldown period in it ("volume:<key>:<hour>"). */
  dedupeKey: string;
  details: Record<string, unknown>;
  now: number;
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

/** Alerts per multi-row statement: their rows travel as one JSON parameter. */
export const ALERTS_PER_STATEMENT = jsonRows(500);

/**
 * Many unconditional alerts (each still once per dedupe key) and their webhook deliveries, as two
 * statements per ALERTS_PER_STATEMENT alerts, for `d1.batch`: `alertStatements` is two statements
 * per alert, so a storm (every key of a batch rate limited for the first time this hour) was over
 * the 1,000 queries of one invocation. Same rows, same gate: deliveries only for alerts inserted.
 */
export function alertsStatements(d1: D1Database, alerts: readonly NewAlert[]): D1PreparedStatement[] {
  const out: D1PreparedStatement[] = [];
  const col = (i: number) => `json_extract(a.value, '$[${i}]')`;
  for (const chunk of chunks(alerts, ALERTS_PER_STATEMENT)) {
    const rows = chunk.map((alert) => {
      const id = newId("alert");
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
          deliveriesOfRowsSql(
            "json_each(?) a",
            { eventId: col(7), type: col(2), tenant: col(1), payload: col(8), now: col(5) },
            `EXISTS (SELECT 1 FROM alerts WHERE alerts.id = ${col(0)})`,
          ),
        )
        .bind(json),
    );
  }
  return out;
}
