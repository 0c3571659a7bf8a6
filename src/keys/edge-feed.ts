/**
 * The edge change feed, polled by every isolate that serves the data plane. D1 triggers append a row
 * to edge_changes whenever a key's edge record changes (migrations/0005); an isolate reads the rows
 * after its position, with each key's current record, and applies them to its cache
 * (applyFeedChange). A complete poll vouches for everything the isolate cached for the TTL after it
 * started, so a warm key costs no KV read however many keys are in rotation, and a change reaches the
 * isolate within the TTL without waiting for KV.
 *
 * Polls run after a response (ctx.waitUntil), started by the first request that finds one due:
 * every half TTL, one at a time. The data plane never waits on them. A failed poll is counted and
 * logged (at most every 10 s) and retried a second later; the feed's trust then lapses at the end of
 * the TTL and cached records fall back to their own TTL and KV (see edge-record.ts).
 */
import { database } from "../db/client";
import { type EdgeFeedFrom, edgeChangesPage } from "../db/keys-repo";
import { registerCounters } from "../lib/bounded-map";
import { applyFeedChange, KV_STALENESS_MS } from "./edge-cache";
import { edgeRecordOf } from "./edge-record";
import { feedTrust, onEdgeStateReset } from "./feed-trust";

/** Rows per query, and queries per poll (a backlog beyond that is read by the next polls). */
const PAGE_SIZE = 500;
const MAX_PAGES_PER_POLL = 10;
/** A poll that has not finished after this long no longer blocks the next one. */
const POLL_TIMEOUT_MS = 10_000;
const RETRY_AFTER_FAILURE_MS = 1_000;
const FAILURE_LOG_INTERVAL_MS = 10_000;
/**
 * A first poll reads the changes of the last KV_STALENESS_MS (plus clock skew between D1 and the
 * isolate): KV reads this isolate makes from then on may predate them.
 */
const LOOKBACK_S = KV_STALENESS_MS / 1000 + 10;

const feed = {
  /** Last seq applied; -1 before the first complete page (the next poll is a first poll). */
  lastSeq: -1,
  nextPollMs: 0,
  /** Identifies the current poll; a superseded poll's answer is dropped. */
  generation: 0,
  lastFailureLogMs: 0,
};

/** Polls of this isolate (the soak and the bench read them through the inspector). */
export const edgeFeedStats = { polls: 0, changes: 0, failures: 0, resets: 0 };
registerCounters("edge-feed", edgeFeedStats);

onEdgeStateReset(() => {
  feed.lastSeq = -1;
  feed.nextPollMs = 0;
  feed.generation++;
});

/**
 * A poll of the feed if one is due (for the caller to hand to ctx.waitUntil), else undefined. Cheap
 * enough for every request: one comparison when none is due.
 */
export function edgeFeedPollIfDue(d1: D1Database, ttlMs: number, nowMs: number): Promise<void> | undefined {
  if (nowMs < feed.nextPollMs) return undefined;
  feed.nextPollMs = nowMs + POLL_TIMEOUT_MS;
  return poll(d1, ttlMs, nowMs, ++feed.generation);
}

async function poll(d1: D1Database, ttlMs: number, startMs: number, generation: number): Promise<void> {
  const db = database(d1);
  try {
    for (let page = 0; page < MAX_PAGES_PER_POLL; page++) {
      const first = feed.lastSeq < 0;
      const from: EdgeFeedFrom = first ? { sinceAt: Math.floor(startMs / 1000) - LOOKBACK_S } : { afterSeq: feed.lastSeq };
      const result = await edgeChangesPage(db, from, PAGE_SIZE);
      if (generation !== feed.generation) return;
      if (!first && result.first !== null && result.first > feed.lastSeq + 1) {
        // Rows this isolate never read were pruned (it had not polled for a day): start over.
        edgeFeedStats.resets++;
        feed.lastSeq = -1;
        continue;
      }
      if (first) {
        // Entries cached before now may predate changes the feed will not replay: only later reads count.
        const from = Math.max(startMs, feedTrust.floorMs);
        feedTrust.trustedFromMs = Number.isFinite(feedTrust.trustedFromMs) ? Math.max(feedTrust.trustedFromMs, from) : from;
      }
      for (const row of result.rows) applyFeedChange(row.id, edgeRecordOf(row), startMs);
      edgeFeedStats.changes += result.rows.length;
      const complete = result.rows.length < PAGE_SIZE;
      feed.lastSeq = complete ? Math.max(result.last ?? 0, feed.lastSeq) : (result.rows.at(-1)?.seq ?? feed.lastSeq);
      if (complete) {
        edgeFeedStats.polls++;
        feedTrust.trustedUntilMs = Math.max(feedTrust.trustedUntilMs, startMs + ttlMs);
        feed.nextPollMs = startMs + ttlMs / 2;
        return;
      }
    }
    // A backlog: read on by the next request, trust not extended until the feed has caught up.
    feed.nextPollMs = 0;
  } catch (err) {
    if (generation !== feed.generation) return;
    edgeFeedStats.failures++;
    feed.nextPollMs = startMs + RETRY_AFTER_FAILURE_MS;
    if (startMs - feed.lastFailureLogMs >= FAILURE_LOG_INTERVAL_MS) {
      feed.lastFailureLogMs = startMs;
      console.error(
        `edge change feed: D1 poll failing (${edgeFeedStats.failures} so far); cached edge records fall back to their TTL and KV`,
        err,
      );
    }
  }
}
