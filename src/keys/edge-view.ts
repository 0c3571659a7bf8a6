/**
 * A key's edge view as the gateway asks for it: from what the isolate holds when it can (synchronous,
 * no I/O: knownEdgeView), else after the reads it needs (readEdgeView). What may be read, in order:
 * - the snapshot's manifest (KV), once per isolate and again only when its TTL is over and the feed
 *   does not vouch for it; an isolate's first requests read it and make the feed's first poll at once;
 * - the change feed's first poll (D1), which an isolate's first requests wait for, so a key revoked
 *   before the isolate started is refused from its first request. One request makes it; the others
 *   that arrive meanwhile check every POLL_CHECK_MS whether it has landed (workerd refuses I/O one
 *   request performs for another, so they cannot await its promise). If D1 fails or is slower than
 *   FIRST_POLL_WAIT_MS, requests go on with the snapshot alone and stop waiting for a second (the
 *   feed keeps polling in the background);
 * - the key's shard (KV), the first time the isolate meets a key of that shard (never for a shard
 *   with no record).
 * Every read that fails leaves the key judged on what the isolate knows (see edge-cache.ts).
 */

import { registerCounters } from "../lib/bounded-map";
import { cachedEdgeView, currentEdgeView, expectSnapshotLag, loadManifest, loadShard, shardToRead } from "./edge-cache";
import { edgeFeedPollNow } from "./edge-feed";
import type { EdgeView } from "./edge-record";
import { feedStarted, feedTrust } from "./feed-trust";

/**
 * Wall time (ms) of this isolate's first reads on the request path: the manifest with the feed's
 * first poll, then the first shard (the bench's row (q) reads them; -1 until they happen). workerd
 * advances its clock across I/O only, so these are the round trips' time, not CPU.
 */
export const firstReadStats = { manifestAndPollMs: -1, shardMs: -1 };
registerCounters("edge-first-reads", firstReadStats);

/** How long a request waits for the feed's first poll before it goes on with the snapshot alone. */
export const FIRST_POLL_WAIT_MS = 1_000;

/** How often a request waiting for another request's first poll checks whether it has landed. */
const POLL_CHECK_MS = 2;
/** While a request of this isolate runs the first poll: when it gives up (ms). */
let firstPollUntilMs = 0;

/** Whether a request must wait for the feed's first poll now. */
function firstPollNeeded(nowMs: number): boolean {
  return !feedStarted() && feedTrust.firstPollRetryAtMs <= nowMs;
}

/** The key's view from what this isolate holds, or undefined when something must be read first. */
export function knownEdgeView(keyId: string, nowMs: number): EdgeView | null | undefined {
  if (firstPollNeeded(nowMs)) return undefined;
  return cachedEdgeView(keyId, nowMs);
}

export interface EdgeSources {
  kv: KVNamespace;
  d1: D1Database;
}

/**
 * The key's view after the reads it needs. Concurrent requests that need the same read each make
 * it (workerd refuses I/O one request performs for another); every answer lands in the isolate's state.
 */
export async function readEdgeView(sources: EdgeSources, keyId: string, ttlMs: number, nowMs: number): Promise<EdgeView | null> {
  if (cachedEdgeView(keyId, nowMs) === undefined && shardToRead(keyId, nowMs) === null) {
    // The manifest and the feed's first poll at once: one round trip, not two.
    expectSnapshotLag(nowMs);
    const started = Date.now();
    await Promise.all([loadManifest(sources.kv, ttlMs, nowMs), firstPollNeeded(nowMs) ? firstPoll(sources.d1, ttlMs, nowMs) : undefined]);
    if (firstReadStats.manifestAndPollMs < 0) firstReadStats.manifestAndPollMs = Date.now() - started;
  }
  // Then the key's shard, and the first poll again if the manifest is older than it read back.
  const prefix = shardToRead(keyId, nowMs);
  const started = Date.now();
  await Promise.all([
    firstPollNeeded(nowMs) ? firstPoll(sources.d1, ttlMs, nowMs) : undefined,
    prefix !== null ? loadShard(sources.kv, prefix, nowMs) : undefined,
  ]);
  if (prefix !== null && firstReadStats.shardMs < 0) firstReadStats.shardMs = Date.now() - started;
  return currentEdgeView(keyId, nowMs);
}

/** The feed's first poll: made by this request, or waited for while another request makes it. */
async function firstPoll(d1: D1Database, ttlMs: number, nowMs: number): Promise<void> {
  if (Date.now() < firstPollUntilMs) {
    while (firstPollNeeded(Date.now()) && Date.now() < firstPollUntilMs) await new Promise((r) => setTimeout(r, POLL_CHECK_MS));
    if (!firstPollNeeded(Date.now())) return;
  }
  firstPollUntilMs = Date.now() + FIRST_POLL_WAIT_MS;
  try {
    await edgeFeedPollNow(d1, ttlMs, nowMs, FIRST_POLL_WAIT_MS);
  } catch {
    // Logged by the feed; this request goes on with the snapshot alone.
  } finally {
    firstPollUntilMs = 0;
  }
}
