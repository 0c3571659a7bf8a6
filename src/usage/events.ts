/**
 * Usage events, off the request path. Every gateway decision becomes one event; events are
 * buffered per isolate and sent after the response (`ctx.waitUntil`) to the usage queue in batches
 * (messages of at most MAX_MESSAGE_BYTES, sent in batches under Cloudflare Queues' 256 KB batch
 * limit), where the worker's own consumer rolls them up in D1 (src/usage/rollup.ts).
 *
 * The request pays for an array push (and, for the first event of a batch, scheduling the flush).
 * What can be lost: events buffered in an isolate that is evicted before its flush (at most
 * USAGE_FLUSH_MS of that isolate's traffic), and batches the queue refuses USAGE_SEND_ATTEMPTS times
 * in a row (counted in usage_losses and logged, so the loss is visible).
 */
import { registerCounters } from "../lib/bounded-map";
import {
  QUEUE_MAX_BATCH_BYTES,
  QUEUE_MAX_BATCH_MESSAGES,
  QUEUE_MAX_MESSAGE_BYTES,
  QUEUE_MESSAGE_METADATA_BYTES,
} from "../lib/platform-limits";

export type { UsageEvent, UsageMessage } from "../vocab/messages.mjs";

import type { UsageEvent, UsageMessage } from "../vocab/messages.mjs";

/**
 * Queues: a message may hold 128 KB and a sendBatch 256 KB (and 100 messages), each message with
 * ~100 bytes of metadata (src/lib/platform-limits.ts). eventBytes is an estimate: keep a margin.
 */
const MAX_MESSAGE_BYTES = Math.floor(QUEUE_MAX_MESSAGE_BYTES * 0.75);
const MAX_BATCH_BYTES = Math.floor(QUEUE_MAX_BATCH_BYTES * 0.875);
/** A full buffer is sent at once rather than waiting for the flush timer. */
const MAX_EVENTS_PER_FLUSH = 2_000;
/** Attempts at sending a batch before it is counted as lost. */
export const USAGE_SEND_ATTEMPTS = 3;
const SEND_RETRY_MS = 200;
/** Bound on events buffered in one isolate (a stuck queue must not grow memory without limit). */
const MAX_BUFFERED_EVENTS = 50_000;

/** This isolate's pipeline counters (the soak and the bench read them). */
export const usageStats = { recorded: 0, sent: 0, lost: 0 };
registerCounters("usage-events", usageStats);

export interface UsageSink {
  queue: Queue<UsageMessage>;
  db: D1Database;
  flushMs: number;
}

interface Pending {
  events: UsageEvent[];
  /** When the scheduled flush is due (0: none scheduled). */
  flushDueMs: number;
}

/** One buffer per sink (per deployment configuration in this isolate). */
const pending = new WeakMap<UsageSink, Pending>();
/**
 * A scheduled flush lives in the waitUntil of the request that scheduled it; if that request's
 * context is torn down early, the flush never runs. Past its due time by this much, the next
 * event schedules a new one, so a buffer is never stranded.
 */
const FLUSH_TAKEOVER_MS = 1_000;

/** An upper bound of an event's JSON size (its strings are ASCII but for rare escapes; 48 covers the rest). */
function eventBytes(e: UsageEvent): number {
  return (
    48 +
    (e[1]?.length ?? 4) +
    (e[2]?.length ?? 4) +
    e[3].length +
    e[4].length +
    e[6].length +
    (e[7]?.length ?? 4) +
    (e[8]?.length ?? 4) +
    (e[10]?.length ?? 4)
  );
}

/** The events as queue batches: messages under MAX_MESSAGE_BYTES, batches under Queues' limits. */
export function batchesOf(events: UsageEvent[]): { messages: MessageSendRequest<UsageMessage>[]; events: number }[] {
  const batches: { messages: MessageSendRequest<UsageMessage>[]; events: number }[] = [];
  let batch = { messages: [] as MessageSendRequest<UsageMessage>[], events: 0, bytes: 0 };
  let message: UsageEvent[] = [];
  let messageBytes = 0;
  const closeMessage = () => {
    if (message.length === 0) return;
    const bytes = messageBytes + QUEUE_MESSAGE_METADATA_BYTES;
    if (batch.messages.length >= QUEUE_MAX_BATCH_MESSAGES || batch.bytes + bytes > MAX_BATCH_BYTES) {
      batches.push(batch);
      batch = { messages: [], events: 0, bytes: 0 };
    }
    batch.messages.push({ body: { v: 1, id: crypto.randomUUID(), events: message }, contentType: "json" });
    batch.events += message.length;
    batch.bytes += bytes;
    message = [];
    messageBytes = 0;
  };
  for (const event of events) {
    const size = eventBytes(event);
    if (messageBytes + size > MAX_MESSAGE_BYTES) closeMessage();
    message.push(event);
    messageBytes += size;
  }
  closeMessage();
  if (batch.messages.length > 0) batches.push(batch);
  return batches;
}

/** Usage messages as they are (the consumer's deferred and split ones), in sendBatch calls within Queues' limits. */
export async function sendMessages(queue: Queue<UsageMessage>, messages: readonly UsageMessage[]): Promise<void> {
  let batch: MessageSendRequest<UsageMessage>[] = [];
  let bytes = 0;
  for (const body of messages) {
    const size = new TextEncoder().encode(JSON.stringify(body)).byteLength + QUEUE_MESSAGE_METADATA_BYTES;
    if (batch.length >= QUEUE_MAX_BATCH_MESSAGES || bytes + size > QUEUE_MAX_BATCH_BYTES) {
      await queue.sendBatch(batch);
      batch = [];
      bytes = 0;
    }
    batch.push({ body, contentType: "json" });
    bytes += size;
  }
  if (batch.length > 0) await queue.sendBatch(batch);
}

export async function send(sink: UsageSink, events: UsageEvent[]): Promise<void> {
  for (const batch of batchesOf(events)) {
    for (let attempt = 1; ; attempt++) {
      try {
        await sink.queue.sendBatch(batch.messages);
        usageStats.sent += batch.events;
        break;
      } catch (err) {
        if (attempt >= USAGE_SEND_ATTEMPTS) {
          await countLoss(sink.db, batch.events, err);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, SEND_RETRY_MS * attempt));
      }
    }
  }
}

/** A dropped batch is visible: logged, and counted per day in D1 (if D1 can be reached). */
async function countLoss(db: D1Database, events: number, err: unknown): Promise<void> {
  usageStats.lost += events;
  console.error(`usage queue refused ${events} events ${USAGE_SEND_ATTEMPTS} times; dropped and counted in usage_losses`, err);
  const day = Math.floor(Date.now() / 86_400_000) * 86_400;
  try {
    await db
      .prepare("INSERT INTO usage_losses (day, events) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET events = events + excluded.events")
      .bind(day, events)
      .run();
  } catch (dbErr) {
    console.error("could not count the lost usage events in D1 either", dbErr);
  }
}

async function flushLater(sink: UsageSink, state: Pending): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, sink.flushMs));
  state.flushDueMs = 0;
  const events = state.events;
  state.events = [];
  if (events.length > 0) await send(sink, events);
}

/** Records one decision; sends happen after the response. */
export function recordUsage(sink: UsageSink, ctx: Pick<ExecutionContext, "waitUntil">, event: UsageEvent, nowMs: number): void {
  usageStats.recorded++;
  let state = pending.get(sink);
  if (state === undefined) {
    state = { events: [], flushDueMs: 0 };
    pending.set(sink, state);
  }
  if (state.events.length >= MAX_BUFFERED_EVENTS) {
    usageStats.lost++;
    return;
  }
  state.events.push(event);
  if (state.events.length >= MAX_EVENTS_PER_FLUSH) {
    const full = state.events;
    state.events = [];
    ctx.waitUntil(send(sink, full));
    return;
  }
  if (state.flushDueMs === 0 || nowMs > state.flushDueMs + FLUSH_TAKEOVER_MS) {
    state.flushDueMs = nowMs + sink.flushMs;
    ctx.waitUntil(flushLater(sink, state));
  }
}
