// How many usage events per second the queue consumer rolls up locally (issue 9's "events per
// second that the consumer sustains"). A workerd of its own runs the bundle with its usage-queue
// consumer; the bench puts `messages` messages of `eventsPerMessage` synthetic events on the queue
// at once (spread over tenants, keys, outcomes and client IPs like mixed traffic) and times until
// every batch id is in D1. The gateway scenarios run without a consumer (see startWorkerd).
import { sleep } from "./lifecycle.mjs";
import { applyMigrations, startWorkerd } from "./workerd.mjs";

const OUTCOMES = ["accepted", "accepted", "accepted", "accepted", "insufficient_scope", "rate_limited", "revoked", "invalid"];

function syntheticMessage(i, eventsPerMessage, keysCount, nowMs, prefix = "bench") {
  const events = [];
  for (let e = 0; e < eventsPerMessage; e++) {
    const k = (i * 31 + e) % keysCount;
    const outcome = OUTCOMES[(i + e) % OUTCOMES.length];
    const attributed = outcome !== "invalid";
    events.push([
      nowMs + e,
      attributed ? `bench-tenant-${k % 20}` : null,
      attributed ? `key-${prefix}-${k}` : null,
      "GET",
      "GET /api/v1/resources/**",
      outcome === "accepted" ? 200 : 403,
      outcome,
      `198.51.100.${k % 50}`,
      "DE",
      2,
    ]);
  }
  return { v: 1, id: `bench-${i}-${crypto.randomUUID()}`, events };
}

/**
 * Rolls up `messages` messages of `eventsPerMessage` events from `keysCount` keys, and then (when
 * `manyKeys` is set) as many again from `manyKeys` keys, in the same workerd: the second shows what
 * distinct keys cost (each message then names up to `eventsPerMessage` distinct keys, each a count,
 * key_ips and last_used row in D1). Returns the first run's figures, with the second as `manyKeysRun`.
 */
export async function measureConsumer({
  miniflare,
  bundleMain,
  config,
  secrets,
  originUrl,
  messages,
  eventsPerMessage = 400,
  keysCount = 200,
  manyKeys,
}) {
  const workerd = await startWorkerd({
    miniflare,
    bundleMain,
    config,
    secrets,
    originUrl,
    // Each queue batch rolled up at once, as this measures (the aggregator shards would hold them
    // for USAGE_AGGREGATE_SECONDS: npm run bench:capacity -- --only usage-minute measures that path).
    keygates: [{ name: "consumer", vars: { USAGE_AGGREGATE_SECONDS: "0" } }],
    passthrough: false,
  });
  try {
    await applyMigrations(workerd.mf, config.migrations, "consumer");
    const producer = await workerd.mf.getQueueProducer("USAGE_QUEUE", "consumer");
    const db = await workerd.mf.getD1Database("DB", "consumer");
    const run = async (keys, prefix) => {
      const before = (await db.prepare("SELECT COUNT(*) AS n FROM usage_batches").first()).n;
      const nowMs = Date.now();
      const started = performance.now();
      // Queues takes at most 256 KB per sendBatch: four messages of ~50 KB each.
      for (let i = 0; i < messages; i += 4) {
        const chunk = [];
        for (let j = i; j < Math.min(messages, i + 4); j++) {
          chunk.push({ body: syntheticMessage(j, eventsPerMessage, keys, nowMs, prefix) });
        }
        await producer.sendBatch(chunk);
      }
      let applied = 0;
      const deadline = started + 120_000;
      while (applied < messages && performance.now() < deadline) {
        await sleep(100);
        applied = (await db.prepare("SELECT COUNT(*) AS n FROM usage_batches").first()).n - before;
      }
      const seconds = (performance.now() - started) / 1000;
      const counted =
        (
          await db
            .prepare("SELECT SUM(count) AS n FROM usage_counts WHERE granularity = 'minute' AND key_id LIKE ?")
            .bind(`key-${prefix}-%`)
            .first()
        ).n ?? 0;
      const attributed = messages * eventsPerMessage - messages * Math.floor(eventsPerMessage / OUTCOMES.length);
      // Distinct keys each message names, summed: the per-key rows the roll-up must upsert at least.
      const keyMessages = messages * Math.min(keys, eventsPerMessage);
      return {
        messages,
        eventsPerMessage,
        keys,
        events: messages * eventsPerMessage,
        applied,
        counted,
        seconds: Math.round(seconds * 100) / 100,
        eventsPerSecond: Math.round((applied * eventsPerMessage) / seconds),
        keyMessagesPerSecond: Math.round((keyMessages * applied) / messages / seconds),
        complete: applied === messages && counted === attributed,
      };
    };
    const result = await run(keysCount, "bench");
    if (manyKeys) result.manyKeysRun = await run(manyKeys, "many");
    return result;
  } finally {
    await workerd.mf.dispose();
  }
}
