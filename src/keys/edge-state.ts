/**
 * What the data plane must know about a key beyond its signature: that it was revoked, or rotated
 * with a cut-off. D1 holds the truth; each state is mirrored into KV (written after D1, repaired
 * by the scheduled reconciler) and cached per isolate.
 *
 * Propagation: a revoke or rotate updates this isolate's cache at once, so the isolate that served
 * it refuses the key on its very next request. Other isolates see it once their cached entry
 * (REVOCATION_CACHE_TTL_SECONDS, default 10 s) and KV's edge cache (KV_CACHE_TTL_SECONDS) expire
 * and KV has propagated the write (Cloudflare documents up to 60 s). KV is eventually consistent;
 * that bound is the trade-off accepted here for a data plane that never waits on D1.
 */
import { isolateCache, setBounded } from "../lib/bounded-map";

export interface EdgeState {
  state: "revoked" | "rotated";
  /** Unix seconds from which the key is refused (the revocation time, or the rotation cut-off). */
  at: number;
}

const KV_PREFIX = "key-state:";
/** KV's `cacheTtl` (edge cache of a read); Cloudflare's minimum is 30 s. */
export const KV_CACHE_TTL_SECONDS = 30;
/** KV refuses expirations closer than 60 s. */
const KV_MIN_EXPIRATION_TTL_SECONDS = 60;
/** Bound on the per-isolate cache; the oldest entries go first. */
const ISOLATE_CACHE_MAX_ENTRIES = 20_000;

export function edgeStateKey(keyId: string): string {
  return KV_PREFIX + keyId;
}

export function keyIdFromEdgeStateKey(name: string): string | undefined {
  return name.startsWith(KV_PREFIX) ? name.slice(KV_PREFIX.length) : undefined;
}

interface CacheEntry {
  /** Resolved values only: a promise created by one request must never be awaited by another. */
  value: EdgeState | null;
  /** ms timestamp after which the entry must be re-read from KV. */
  freshUntil: number;
  /** Written by this isolate's own revoke/rotate: newer than anything a KV read can return. */
  pinned: boolean;
}

const edgeCache = isolateCache<string, CacheEntry>("edge-state", ISOLATE_CACHE_MAX_ENTRIES);

function cacheSet(keyId: string, entry: CacheEntry): void {
  setBounded(edgeCache, keyId, entry, ISOLATE_CACHE_MAX_ENTRIES);
}

function parse(value: unknown): EdgeState | null {
  const v = value as Partial<EdgeState> | null;
  if (v && (v.state === "revoked" || v.state === "rotated") && typeof v.at === "number") return { state: v.state, at: v.at };
  return null;
}

/** The key's edge state from this isolate's cache while fresh, else undefined (read KV then). */
export function cachedEdgeState(keyId: string, nowMs: number): EdgeState | null | undefined {
  const cached = edgeCache.get(keyId);
  return cached && cached.freshUntil > nowMs ? cached.value : undefined;
}

/**
 * Reads the key's edge state from KV and caches the result for `ttlMs`. Workers serve requests
 * concurrently in one isolate but each in its own I/O context, and workerd refuses I/O that one
 * request performs on behalf of another, so concurrent misses each read KV themselves instead of
 * sharing one in-flight read.
 */
export async function fetchEdgeState(kv: KVNamespace, keyId: string, ttlMs: number, nowMs: number): Promise<EdgeState | null> {
  const value = parse(await kv.get(edgeStateKey(keyId), { type: "json", cacheTtl: KV_CACHE_TTL_SECONDS }));
  const current = edgeCache.get(keyId);
  // A revoke or rotate served by this isolate while we were reading wins.
  if (current?.pinned) return current.value;
  cacheSet(keyId, { value, freshUntil: nowMs + ttlMs, pinned: false });
  return value;
}

/**
 * Mirrors a key's state into KV and into this isolate's cache. The KV entry expires with the key
 * (`exp`), so the revocation list never outgrows the keys that could still be presented.
 * Returns false if the KV write failed (D1 already holds the state; the reconciler repairs it).
 */
export async function writeEdgeState(
  kv: KVNamespace,
  keyId: string,
  state: EdgeState,
  keyExpiresAt: number | null,
  now: number,
): Promise<boolean> {
  // This isolate refuses the key from its next request on, whatever happens to the KV write.
  cacheSet(keyId, { value: state, freshUntil: Number.POSITIVE_INFINITY, pinned: true });
  if (keyExpiresAt !== null && keyExpiresAt <= now) return true; // expired keys are refused anyway
  const options: KVNamespacePutOptions = { metadata: state };
  if (keyExpiresAt !== null) options.expiration = Math.max(keyExpiresAt, now + KV_MIN_EXPIRATION_TTL_SECONDS);
  try {
    await kv.put(edgeStateKey(keyId), JSON.stringify(state), options);
    return true;
  } catch (err) {
    console.error(`KV write of ${edgeStateKey(keyId)} failed; the reconciler will repair it`, err);
    return false;
  }
}

/** Test seam: forget everything this isolate cached. */
export function clearEdgeStateCache(): void {
  edgeCache.clear();
}
