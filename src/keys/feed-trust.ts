/**
 * The change feed's standing in this isolate. The feed (edge-feed.ts) has applied every change D1
 * made from `coveredFromS` on, and while its last complete poll is younger than
 * REVOCATION_CACHE_TTL_SECONDS (`trustedUntilMs`) it is "trusted": a snapshot current as of a time
 * the feed covers, plus the changes the feed applied, is D1 within the TTL, with no KV read. The
 * snapshot (edge-cache.ts) says from when it needs the feed (`needFromS`); both forget everything
 * through resetEdgeState().
 */

export const feedTrust = {
  /** D1 time (unix s) from which every change has been applied; +Infinity before the first complete poll. */
  coveredFromS: Number.POSITIVE_INFINITY,
  /** The last complete poll's start + the TTL. */
  trustedUntilMs: 0,
  /** From when this isolate's snapshot needs the feed (unix s); NaN until the manifest was asked for. */
  needFromS: Number.NaN,
  /** A first poll a request waited for failed: requests do not wait for another one before then. */
  firstPollRetryAtMs: 0,
};

/** Whether the feed, trusted at `nowMs`, has applied every change made from `fromS` (unix s, D1's clock) on. */
export function feedCovers(fromS: number, nowMs: number): boolean {
  return feedTrust.trustedUntilMs > nowMs && feedTrust.coveredFromS <= fromS;
}

/** Whether the feed has covered, at least once, what this isolate's snapshot needs (a first poll is done). */
export function feedStarted(): boolean {
  return feedTrust.coveredFromS <= feedTrust.needFromS;
}

const resetHooks: Array<() => void> = [];

/** Runs `reset` whenever this isolate's edge state is forgotten (the cache's and the feed's). */
export function onEdgeStateReset(reset: () => void): void {
  resetHooks.push(reset);
}

/** Forgets the feed's trust and everything registered with onEdgeStateReset (test seam). */
export function resetEdgeState(): void {
  feedTrust.coveredFromS = Number.POSITIVE_INFINITY;
  feedTrust.trustedUntilMs = 0;
  feedTrust.needFromS = Number.NaN;
  feedTrust.firstPollRetryAtMs = 0;
  for (const reset of resetHooks) reset();
}
