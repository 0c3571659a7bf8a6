/**
 * The edge change feed, polled by every isolate that serves the data plane. D1 triggers append a row
 * to edge_changes whenever a key's edge record changes (migrations/0005); an isolate reads the rows
 * after its position, with each key's current record, and applies them over its snapshot
 * (edge-cache.ts). Its first poll reads every change since the snapshot's `asOf` (the manifest's), so
 * the snapshot plus the feed is D1; a complete poll keeps that true for the TTL after it started.
 *
 * Polls run after a response (ctx.waitUntil), started by the first request that finds one due:
 * every half TTL, one at a time. The exception is an isolate's first poll, which its first requests
 * wait for (edge-view.ts: pollNow). A failed poll is counted and logged (at most every 10 s) and
 * retried a second later; the feed's trust then lapses at the end of the TTL and the snapshot falls
 * back to its own TTL and KV.
 */
import { database } from "../db/client";
import { type EdgeFeedFrom, edgeChangesPage } from "../db/keys-repo";
import { registerCounters } from "../lib/bounded-map";
import { applyFeedChange } from "./edge-cache";
import { edgeRecordOf } from "./edge-record";
import { feedTrust, onEdgeStateReset } from "./feed-trust";

/** Rows per query, and queries per poll (a backlog beyond that is read by the next polls). */
const PAGE_SIZE = 500;
const MAX_PAGES_PER_POLL = 10;
/** A poll that has not finished after this long no longer blocks the next one. */
const POLL_TIMEOUT_MS = 10_000;
const RETRY_AFTER_FAILURE_MS = 1_000;
const FAILURE_LOG_INTERVAL_MS = 10_000;

const feed = {
  /** Last seq applied; -1 before the first complete page (the next poll is a first poll). */
  lastSeq: -1,
  nextPollMs: 0,
  /** Bumped when the isolate's edge state is reset: a poll started before drops its answer. */
  generation: 0,
  /** The D1 time (unix s) the current first poll reads from. */
  sinceS: Number.POSITIVE_INFINITY,
  lastFailureLogMs: 0,
};

/** Polls of this isolate (the soak and the bench read them through the inspector). */
export const edgeFeedStats = { polls: 0, queries: 0, changes: 0, failures: 0, resets: 0 };
registerCounters("edge-feed", edgeFeedStats);

onEdgeStateReset(() => {
  feed.lastSeq = -1;
  feed.sinceS = Number.POSITIVE_INFINITY;
  feed.nextPollMs = 0;
  feed.generation++;
});

/**
 * A poll of the feed if one is due (for the caller to hand to ctx.waitUntil), else undefined. Cheap
 * enough for every request: one comparison when none is due. None before the snapshot's manifest
 * was asked for (the first poll reads from its `asOf`).
 */
export function edgeFeedPollIfDue(d1: D1Database, ttlMs: number, nowMs: number): Promise<void> | undefined {
  if (nowMs < feed.nextPollMs || Number.isNaN(feedTrust.needFromS)) return undefined;
  feed.nextPollMs = nowMs + POLL_TIMEOUT_MS;
  return poll(d1, ttlMs, nowMs, feed.generation);
}

/**
 * A poll now, for a request to wait for (an isolate's first requests, before a first poll has
 * covered the snapshot). Rejects if D1 fails or takes longer than `timeoutMs`; requests then stop
 * waiting for a first poll for a second.
 */
export async function edgeFeedPollNow(d1: D1Database, ttlMs: number, nowMs: number, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the edge change feed's first poll took longer than ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([poll(d1, ttlMs, nowMs, feed.generation, true), timeout]);
  } catch (err) {
    feedTrust.firstPollRetryAtMs = nowMs + RETRY_AFTER_FAILURE_MS;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function poll(d1: D1Database, ttlMs: number, startMs: number, generation: number, rethrow = false): Promise<void> {
  const db = database(d1);
  try {
    for (let page = 0; page < MAX_PAGES_PER_POLL; page++) {
      // The snapshot now needs changes from before what the feed covered (a first poll, or a restart).
      if (feedTrust.needFromS < feedTrust.coveredFromS && feed.lastSeq >= 0 && feed.sinceS > feedTrust.needFromS) restart();
      const first = feed.lastSeq < 0;
      const sinceS = first ? feedTrust.needFromS : Number.NaN;
      const from: EdgeFeedFrom = first ? { sinceAt: sinceS } : { afterSeq: feed.lastSeq };
      edgeFeedStats.queries++;
      const result = await edgeChangesPage(db, from, PAGE_SIZE);
      if (generation !== feed.generation) return;
      if (!first && result.first !== null && result.first > feed.lastSeq + 1) {
        // Rows this isolate never read were pruned (it had not polled for a day): start over.
        edgeFeedStats.resets++;
        restart();
        continue;
      }
      if (first) feed.sinceS = Math.min(feed.sinceS, sinceS);
      for (const row of result.rows) applyFeedChange(row.id, edgeRecordOf(row), startMs);
      edgeFeedStats.changes += result.rows.length;
      const complete = result.rows.length < PAGE_SIZE;
      const lastSeq = complete ? Math.max(result.last ?? 0, feed.lastSeq) : (result.rows.at(-1)?.seq ?? feed.lastSeq);
      feed.lastSeq = Math.max(feed.lastSeq, lastSeq);
      if (complete) {
        edgeFeedStats.polls++;
        feedTrust.coveredFromS = Math.min(feedTrust.coveredFromS, feed.sinceS);
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
        `edge change feed: D1 poll failing (${edgeFeedStats.failures} so far); the edge-record snapshot falls back to its TTL and KV`,
        err,
      );
    }
    if (rethrow) throw err;
  }
}

/** Reads the feed again from what the snapshot needs: nothing applied before counts as covering. */
function restart(): void {
  feed.lastSeq = -1;
  feed.sinceS = Number.POSITIVE_INFINITY;
  feedTrust.coveredFromS = Number.POSITIVE_INFINITY;
}
