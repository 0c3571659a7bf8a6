/**
 * The worker's queue consumer. Two queues feed it: usage events (roll-ups and detectors) and webhook
 * deliveries. A batch comes from one queue; the message shape says which.
 */
import { deliveryConfig } from "./config";
import type { Env } from "./env";
import type { UsageMessage } from "./usage/events";
import { rollUp } from "./usage/rollup";
import { attemptDelivery, type DeliveryMessage, enqueueDeliveries } from "./webhooks/deliver";

/** A failed message is retried after this long (D1 briefly unavailable, a transaction conflict). */
const ROLLUP_RETRY_DELAY_SECONDS = 5;

function isUsage(body: unknown): body is UsageMessage {
  return typeof body === "object" && body !== null && (body as UsageMessage).v === 1 && Array.isArray((body as UsageMessage).events);
}

function isDelivery(body: unknown): body is DeliveryMessage {
  return typeof body === "object" && body !== null && typeof (body as DeliveryMessage).delivery === "string";
}

/** Usage messages are rolled up together; if that fails, each is retried on its own. */
async function consumeUsage(messages: readonly Message<UsageMessage>[], env: Env): Promise<void> {
  try {
    const result = await rollUp(
      env.DB,
      messages.map((m) => m.body),
      Math.floor(Date.now() / 1000),
    );
    for (const m of messages) m.ack();
    // Deliveries are in D1 already: if this send fails, the cron finds and sends them.
    if (result.deliveries.length > 0) await enqueueDeliveries(env.WEBHOOK_QUEUE, result.deliveries).catch((err) => console.error(err));
  } catch (err) {
    console.error(`usage roll-up of ${messages.length} messages failed; retrying them`, err);
    for (const m of messages) m.retry({ delaySeconds: ROLLUP_RETRY_DELAY_SECONDS });
  }
}

export async function consume(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const usage = batch.messages.filter((m): m is Message<UsageMessage> => isUsage(m.body));
  if (usage.length > 0) await consumeUsage(usage, env);
  for (const message of batch.messages) {
    if (isUsage(message.body)) continue;
    const body = message.body;
    try {
      if (isDelivery(body)) {
        await attemptDelivery(env, deliveryConfig(env), body.delivery);
      } else {
        console.error(`queue ${batch.queue}: dropping a message of unknown shape`, JSON.stringify(body).slice(0, 200));
      }
      message.ack();
    } catch (err) {
      console.error(`queue ${batch.queue}: message ${message.id} failed (attempt ${message.attempts}); retrying`, err);
      message.retry({ delaySeconds: ROLLUP_RETRY_DELAY_SECONDS });
    }
  }
}
