/**
 * The change feed's standing in this isolate: while its last complete poll is younger than
 * REVOCATION_CACHE_TTL_SECONDS, the feed is "trusted" and what the isolate cached from KV at or
 * after `trustedFromMs` stays valid without re-reading KV. The feed (edge-feed.ts) extends the
 * trust; the cache (edge-cache.ts) consults it and may raise its floor. Both forget everything
 * through resetEdgeState().
 */

/**
 * Cached entries read at or after `trustedFromMs` stay valid until `trustedUntilMs` (the feed's last
 * complete poll + the TTL), whatever their own freshness.
 */
export const feedTrust = {
  trustedFromMs: Number.POSITIVE_INFINITY,
  trustedUntilMs: 0,
  /** No read before this counts, whenever the feed (re)starts: learned changes overflowed their bound. */
  floorMs: 0,
};

/** Whether the feed vouches, at `nowMs`, for something this isolate read at `readAtMs`. */
export function feedVouchesFor(readAtMs: number, nowMs: number): boolean {
  return readAtMs >= feedTrust.trustedFromMs && feedTrust.trustedUntilMs > nowMs;
}

const resetHooks: Array<() => void> = [];

/** Runs `reset` whenever this isolate's edge state is forgotten (the cache's and the feed's). */
export function onEdgeStateReset(reset: () => void): void {
  resetHooks.push(reset);
}

/** Forgets the feed's trust and everything registered with onEdgeStateReset (test seam, and a feed reset). */
export function resetEdgeState(): void {
  feedTrust.trustedFromMs = Number.POSITIVE_INFINITY;
  feedTrust.trustedUntilMs = 0;
  feedTrust.floorMs = 0;
  for (const reset of resetHooks) reset();
}
