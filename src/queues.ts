/**
 * The worker's queue consumer. Two queues feed it: usage events (roll-ups and detectors) and webhook
 * deliveries. A batch comes from one queue; the message shape says which.
 */
import type { Env } from "./env";
import { aggregatorStub, slicesByShard } from "./usage/aggregator";
import { usageConfig } from "./usage/config";
import { sendMessages, type UsageMessage } from "./usage/events";
import { messagesWithin, ROLLUP_MAX_QUERIES, RollupTooBig, rollUp, splitToFit } from "./usage/rollup";
import { deliveryConfig } from "./webhooks/config";
import { attemptDelivery, type DeliveryMessage, enqueueDeliveries } from "./webhooks/deliver";

/** A failed message is retried after this long (D1 briefly unavailable, a transaction conflict). */
const ROLLUP_RETRY_DELAY_SECONDS = 5;

function isUsage(body: unknown): body is UsageMessage {
  return typeof body === "object" && body !== null && (body as UsageMessage).v === 1 && Array.isArray((body as UsageMessage).events);
}

function isDelivery(body: unknown): body is DeliveryMessage {
  return typeof body === "object" && body !== null && typeof (body as DeliveryMessage).delivery === "string";
}

/**
 * Usage messages are rolled up together, all of them when the roll-up fits one invocation's share of
 * D1's queries (rollUp counts its statements once it has read the counts, before writing anything).
 * A batch too big for it (events of very many keys and clients that could each raise an alert) is
 * cut by an upper bound known before reading: as many messages as fit now, the rest back to the
 * queue for another invocation, a message too big alone split into parts. If the roll-up fails,
 * each message is retried.
 */
async function consumeUsage(messages: readonly Message<UsageMessage>[], env: Env): Promise<void> {
  const { aggregateSeconds, aggregatorShards } = usageConfig(env);
  if (aggregateSeconds > 0) return holdUsage(messages, env, aggregateSeconds, aggregatorShards);
  await applyDirectly(messages, env);
}

/**
 * USAGE_AGGREGATE_SECONDS > 0: each message's events go to the aggregator shards (src/usage/aggregator.ts),
 * one call per shard for the whole batch. A message is acked once every slice of it is held. A shard
 * that cannot be reached gets its slices applied to D1 here, under the same derived ids, so a slice the
 * shard did hold after all (its answer was lost) still counts once. If that fails too, the message is
 * retried; its slices already held are ignored the second time.
 */
async function holdUsage(messages: readonly Message<UsageMessage>[], env: Env, flushSeconds: number, shards: number): Promise<void> {
  const byShard = new Map<number, { slices: UsageMessage[]; from: Message<UsageMessage>[] }>();
  for (const m of messages) {
    for (const [shard, slice] of slicesByShard(m.body, shards)) {
      const entry = byShard.get(shard) ?? { slices: [], from: [] };
      byShard.set(shard, entry);
      entry.slices.push(slice);
      entry.from.push(m);
    }
  }
  const failed = new Set<Message<UsageMessage>>();
  await Promise.all(
    [...byShard].map(async ([shard, { slices, from }]) => {
      try {
        await aggregatorStub(env.USAGE_AGGREGATOR, shard).hold(slices, flushSeconds);
      } catch (err) {
        console.error(`usage: aggregator shard ${shard} unavailable; rolling its ${slices.length} slices up directly`, err);
        try {
          await rollUpWithin(env, slices);
        } catch (err2) {
          console.error(`usage: the direct roll-up of shard ${shard}'s slices failed too; retrying their messages`, err2);
          for (const m of from) failed.add(m);
        }
      }
    }),
  );
  for (const m of messages) {
    if (failed.has(m)) m.retry({ delaySeconds: ROLLUP_RETRY_DELAY_SECONDS });
    else m.ack();
  }
}

/** Rolls messages up in as many transactions as the query budget needs (the fallback of holdUsage). */
async function rollUpWithin(env: Env, messages: readonly UsageMessage[]): Promise<void> {
  let rest = [...messages];
  while (rest.length > 0) {
    const fits = messagesWithin(rest, ROLLUP_MAX_QUERIES);
    // A message too big alone goes in parts, one transaction each.
    const groups = fits === 0 ? splitToFit(rest[0] as UsageMessage, ROLLUP_MAX_QUERIES).map((part) => [part]) : [rest.slice(0, fits)];
    for (const group of groups) {
      const result = await rollUp(env.DB, group, Math.floor(Date.now() / 1000), ROLLUP_MAX_QUERIES);
      if (result.deliveries.length > 0) await enqueueDeliveries(env.WEBHOOK_QUEUE, result.deliveries).catch((err) => console.error(err));
    }
    rest = rest.slice(Math.max(fits, 1));
  }
}

/** USAGE_AGGREGATE_SECONDS = 0: each queue batch is rolled up in D1 at once. */
async function applyDirectly(messages: readonly Message<UsageMessage>[], env: Env): Promise<void> {
  if ((await applyUsage(messages, env)) !== "too big") return;
  const fits = messagesWithin(
    messages.map((m) => m.body),
    ROLLUP_MAX_QUERIES,
  );
  if (fits < messages.length) {
    const later = messages.slice(fits);
    const bodies = later.flatMap((m, i) => (i === 0 && fits === 0 ? splitToFit(m.body, ROLLUP_MAX_QUERIES) : [m.body]));
    try {
      await sendMessages(env.USAGE_QUEUE, bodies);
      for (const m of later) m.ack();
    } catch (err) {
      console.error(`usage: could not send ${later.length} messages back for a later roll-up; retrying them`, err);
      for (const m of later) m.retry({ delaySeconds: ROLLUP_RETRY_DELAY_SECONDS });
    }
  }
  if (fits > 0 && (await applyUsage(messages.slice(0, fits), env)) === "too big") {
    // The upper bound said they fit: never expected; retried rather than lost.
    console.error(`usage roll-up of ${fits} messages is over its query budget after the split; retrying them`);
    for (const m of messages.slice(0, fits)) m.retry({ delaySeconds: ROLLUP_RETRY_DELAY_SECONDS });
  }
}

/** Rolls the messages up and acks them, or retries them on a failure; "too big": nothing done, nothing acked. */
async function applyUsage(messages: readonly Message<UsageMessage>[], env: Env): Promise<"done" | "too big"> {
  try {
    const result = await rollUp(
      env.DB,
      messages.map((m) => m.body),
      Math.floor(Date.now() / 1000),
      ROLLUP_MAX_QUERIES,
    );
    for (const m of messages) m.ack();
    // Deliveries are in D1 already: if this send fails, the cron finds and sends them.
    if (result.deliveries.length > 0) await enqueueDeliveries(env.WEBHOOK_QUEUE, result.deliveries).catch((err) => console.error(err));
  } catch (err) {
    if (err instanceof RollupTooBig) return "too big";
    console.error(`usage roll-up of ${messages.length} messages failed; retrying them`, err);
    for (const m of messages) m.retry({ delaySeconds: ROLLUP_RETRY_DELAY_SECONDS });
  }
  return "done";
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
