/**
 * Usage aggregation before D1 (docs/capacity.md, "D1 writes"): the usage queue's consumer hands each
 * message's events to one of USAGE_AGGREGATOR_SHARDS Durable Objects (by tenant), which holds them
 * and rolls up everything it holds at most every USAGE_AGGREGATE_SECONDS, in one D1 transaction. D1
 * then writes each key's minute, hour and day rows once per flush instead of once per queue batch
 * the key appears in: writes scale with active keys per flush, not with batches.
 *
 * Exactly once, end to end, with no new bookkeeping: a slice of a queue message keeps an id derived
 * from the message's batch id (`<batch id>@<shard>`), the object stores it under that id (a
 * redelivery while it is pending is ignored), and the flush is the ordinary roll-up (rollUp), which
 * records every slice id in usage_batches in the same transaction as the counts: a slice applied
 * before (a redelivery after the flush, or a flush that committed just before the object was
 * evicted) changes nothing. What the object holds is in its SQLite storage, durable before the
 * consumer acks the queue message.
 *
 * Faults: an object that cannot be reached makes the consumer apply that slice to D1 itself (the
 * path without aggregation); a flush that fails (D1 unavailable) keeps everything and tries again
 * after FLUSH_RETRY_SECONDS. Detectors run in the flush's transaction, so an alert can be up to
 * USAGE_AGGREGATE_SECONDS later than without aggregation.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { enqueueDeliveries } from "../webhooks/deliver";
import type { UsageEvent, UsageMessage } from "./events";
import { messagesWithin, ROLLUP_MAX_QUERIES, RollupTooBig, rollUp, splitToFit } from "./rollup";

/** A failed flush (D1 unavailable) is tried again after this long. */
export const FLUSH_RETRY_SECONDS = 15;
/** Held messages read per flush: bounds the flush's memory; what is left goes in the next one, at once. */
const MESSAGES_PER_FLUSH = 2_000;

/** The shard holding a tenant's events ('' is the deployment: events with no verified key). */
export function aggregatorShard(tenant: string, shards: number): number {
  // FNV-1a: stable across isolates and deploys.
  let h = 0x811c9dc5;
  for (let i = 0; i < tenant.length; i++) h = Math.imul(h ^ tenant.charCodeAt(i), 0x01000193);
  return (h >>> 0) % shards;
}

/** A queue message's events by shard, each part a message of its own with a derived id. */
export function slicesByShard(message: UsageMessage, shards: number): Map<number, UsageMessage> {
  const events = new Map<number, UsageEvent[]>();
  for (const event of message.events) {
    const shard = aggregatorShard(event[1] ?? "", shards);
    const list = events.get(shard) ?? [];
    events.set(shard, list);
    list.push(event);
  }
  const out = new Map<number, UsageMessage>();
  for (const [shard, list] of events) out.set(shard, { v: 1, id: `${message.id}@${shard}`, events: list });
  return out;
}

export function aggregatorName(shard: number): string {
  return `usage-shard-${shard}`;
}

/** The shard's object (USAGE_AGGREGATOR's class; src/env.ts types namespaces loosely, so it imports no feature). */
export function aggregatorStub(
  namespace: DurableObjectNamespace<Rpc.DurableObjectBranded>,
  shard: number,
): DurableObjectStub<UsageAggregator> {
  const aggregators = namespace as unknown as DurableObjectNamespace<UsageAggregator>;
  return aggregators.get(aggregators.idFromName(aggregatorName(shard)));
}

export class UsageAggregator extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS held (id TEXT PRIMARY KEY, events TEXT NOT NULL)");
  }

  /**
   * Holds the messages (a message already held is ignored) and makes sure a flush is due within
   * `flushSeconds` (an alarm set for later is brought forward). Durable when it returns.
   */
  async hold(messages: readonly UsageMessage[], flushSeconds: number): Promise<void> {
    for (const m of messages) this.sql.exec("INSERT OR IGNORE INTO held (id, events) VALUES (?, ?)", m.id, JSON.stringify(m.events));
    // Due within flushSeconds: an alarm set under a longer USAGE_AGGREGATE_SECONDS is brought forward.
    const due = Date.now() + flushSeconds * 1000;
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > due) await this.ctx.storage.setAlarm(due);
  }

  /** How many messages and events are held (tests, operators). */
  async held(): Promise<{ messages: number; events: number }> {
    const row = this.sql
      .exec<{ messages: number; events: number }>(
        "SELECT COUNT(*) AS messages, COALESCE(SUM(json_array_length(events)), 0) AS events FROM held",
      )
      .one();
    return { messages: row.messages, events: row.events };
  }

  /** Rolls up what is held now (the alarm's work; tests call it to skip the wait). */
  async flush(): Promise<{ applied: number; left: number }> {
    const rows = this.sql
      .exec<{ id: string; events: string }>("SELECT id, events FROM held ORDER BY rowid LIMIT ?", MESSAGES_PER_FLUSH)
      .toArray();
    if (rows.length === 0) return { applied: 0, left: 0 };
    const messages: UsageMessage[] = rows.map((r) => ({ v: 1, id: r.id, events: JSON.parse(r.events) as UsageEvent[] }));
    let take = messagesWithin(messages, ROLLUP_MAX_QUERIES);
    // One message too big for one invocation on its own: its parts, each with its own derived id.
    const batch = take === 0 ? splitToFit(messages[0] as UsageMessage, ROLLUP_MAX_QUERIES).slice(0, 1) : messages.slice(0, take);
    const now = Math.floor(Date.now() / 1000);
    let applied: number;
    try {
      const result = await rollUp(this.env.DB, batch, now, ROLLUP_MAX_QUERIES);
      applied = result.applied;
      // Deliveries are in D1 already: if this send fails, the cron finds and sends them.
      if (result.deliveries.length > 0)
        await enqueueDeliveries(this.env.WEBHOOK_QUEUE, result.deliveries).catch((err) => console.error(err));
    } catch (err) {
      if (!(err instanceof RollupTooBig)) throw err;
      // The upper bound said it fits: never expected. Keep it, try again later rather than lose it.
      throw new Error(`usage aggregator: a roll-up of ${batch.length} messages is over its query budget`);
    }
    if (take === 0) {
      // Replace the split message by its remaining parts (their ids make a re-split after a crash harmless).
      const first = messages[0] as UsageMessage;
      const rest = splitToFit(first, ROLLUP_MAX_QUERIES).slice(1);
      this.sql.exec("DELETE FROM held WHERE id = ?", first.id);
      for (const part of rest) this.sql.exec("INSERT OR IGNORE INTO held (id, events) VALUES (?, ?)", part.id, JSON.stringify(part.events));
      take = 1;
    } else {
      for (const m of batch) this.sql.exec("DELETE FROM held WHERE id = ?", m.id);
    }
    const left = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM held").one().n;
    return { applied, left };
  }

  async alarm(): Promise<void> {
    try {
      const { left } = await this.flush();
      if (left > 0) await this.ctx.storage.setAlarm(Date.now());
    } catch (err) {
      console.error(`usage aggregator: flush failed; keeping what is held and trying again in ${FLUSH_RETRY_SECONDS} s`, err);
      await this.ctx.storage.setAlarm(Date.now() + FLUSH_RETRY_SECONDS * 1000);
    }
  }
}
