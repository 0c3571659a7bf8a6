/** Raising an alert on its own (not inside a roll-up): store it, then send its webhook deliveries. */
import type { Db } from "../db/client";
import { type DeliveryMessage, enqueueDeliveries } from "../webhooks/deliver";
import { deliveryIdsOf } from "../webhooks/outbox";
import { alertStatements, type NewAlert } from "./events";

/** Stores the alert (once per dedupe key) with its deliveries in one transaction, then enqueues them. */
export async function raiseAlert(db: Db, webhooks: Queue<DeliveryMessage>, alert: NewAlert): Promise<void> {
  const d1 = db.$client;
  const deliveries = deliveryIdsOf(await d1.batch(alertStatements(d1, alert)));
  // Deliveries are in D1 already: if this send fails, the cron finds and sends them.
  if (deliveries.length > 0)
    await enqueueDeliveries(webhooks, deliveries).catch((err) => console.error("enqueueing deliveries failed", err));
}
