/** Raising an alert on its own (not inside a roll-up): store it, then send its webhook deliveries. */
import type { Db } from "../db/client";
import { deliveryIdsOf } from "../webhooks/outbox";
import { alertStatements, type NewAlert } from "./events";

/** Stores the alert (once per dedupe key) with its deliveries in one transaction, then sends them (`deliver`: to the webhook queue). */
export async function raiseAlert(db: Db, deliver: (deliveries: readonly string[]) => Promise<void>, alert: NewAlert): Promise<void> {
  const d1 = db.$client;
  const deliveries = deliveryIdsOf(await d1.batch(alertStatements(d1, alert)));
  // Deliveries are in D1 already: if this send fails, the cron finds and sends them.
  if (deliveries.length > 0) await deliver(deliveries).catch((err) => console.error("enqueueing deliveries failed", err));
}
