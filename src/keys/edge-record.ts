/**
 * The per-key edge record: what the data plane must know about a key beyond its signature. That it
 * was revoked or rotated (refused from a time on), its rate limits, and the client addresses it may
 * be used from. D1 holds the truth; the record is mirrored into KV (written after D1, repaired by
 * the scheduled reconciler) and cached per isolate. Keys with nothing special have no KV entry and
 * cost the gateway one cached lookup, as before.
 *
 * Propagation, three ways:
 * - A management change updates this isolate's cache at once, so the isolate that served it
 *   enforces it on its very next request.
 * - Every isolate polls D1's change feed in the background (edge-feed.ts) every half
 *   REVOCATION_CACHE_TTL_SECONDS and applies each change to what it cached. While its last complete
 *   poll is younger than the TTL, the feed is "trusted" and cached records stay valid without
 *   re-reading KV: a change reaches every isolate that serves traffic within the TTL (default 10 s).
 * - While the feed is not trusted (D1 unreachable, an isolate that just started), a cached record
 *   expires after the TTL and is re-read from KV, so the bound falls back to the TTL + KV's edge
 *   cache (KV_CACHE_TTL_SECONDS) + KV's propagation (Cloudflare documents up to 60 s).
 * A KV read may predate a change by up to KV_STALENESS_MS, so a change learned from D1 (a local write
 * or the feed) is kept for that long and wins over KV. A KV write that failed stays wrong until the
 * reconciler repairs it; the repair goes through the feed too, so cached records are corrected
 * then. A revocation or rotation is never forgotten by an isolate that learned it (kept apart from
 * the cache, up to KNOWN_REFUSALS_MAX_ENTRIES), whatever a stale KV read says later.
 */
import type { ApiKeyRow } from "../db/schema";
import { isolateCache, registerCounters, setBounded } from "../lib/bounded-map";
import { type CidrRange, parseCidr } from "../lib/ip";
import type { CountedPolicy } from "../lib/periods";
import { rateLimitPolicyField } from "../vocab/headers.mjs";
import { KEY_QUOTA_ITEM, type Quota } from "../vocab/quotas.mjs";
import type { RateLimit } from "./requests";

/** A key refused from `at` (unix seconds) on: the revocation time, or a rotation's cut-off. */
export interface RefusedFrom {
  state: "revoked" | "rotated";
  at: number;
}

/** The record as stored in KV (JSON). `state`/`at` are top-level as in earlier versions' entries. */
export interface EdgeRecord {
  state?: RefusedFrom["state"];
  at?: number;
  rate_limits?: RateLimit[];
  allowed_ips?: string[];
  /** migrations/0010: the key's quota, and the limit group whose counter it counts against too. */
  quota?: Quota;
  limit_group?: string;
  /** The key's metadata as the X-Keygate-Meta value (base64url of its JSON), encoded once when written. */
  meta?: string;
}

/** What the gateway works with: the record parsed once per read. */
export interface EdgeView {
  refused: RefusedFrom | null;
  /** The key's own counted policies: its rate limits and quota. */
  limits: RateLimits | null;
  allowlist: readonly CidrRange[] | null;
  /** The limit group the key counts against as well (its counter holds the group's policies). */
  group: string | null;
  /** X-Keygate-Meta for the origin (FORWARD_KEY_META), or null for a key without metadata. */
  meta: string | null;
}

export interface RateLimits {
  /** Rate limits by their names, the quota as `key.quota` (src/vocab/quotas.mjs). */
  list: readonly CountedPolicy[];
  /** Identity of this set of limits (leases are per key and per set). */
  fingerprint: string;
  /** The RateLimit-Policy field value (draft-ietf-httpapi-ratelimit-headers-11). */
  policyHeader: string;
}

const KV_PREFIX = "key-state:";
/** KV's `cacheTtl` (edge cache of a read); Cloudflare's minimum is 30 s. */
export const KV_CACHE_TTL_SECONDS = 30;
/** Cloudflare documents that a KV write may take this long to be visible everywhere. */
export const KV_PROPAGATION_SECONDS = 60;
/** KV refuses expirations closer than 60 s. */
const KV_MIN_EXPIRATION_TTL_SECONDS = 60;
/** Added to that floor: the write's own latency and clock skew between the isolate and KV. */
const KV_EXPIRATION_MARGIN_SECONDS = 10;
/** Bound on the per-isolate cache; the oldest entries go first. */
const ISOLATE_CACHE_MAX_ENTRIES = 20_000;
/** How old a KV read's answer may be: its edge cache plus global propagation. */
export const KV_STALENESS_MS = (KV_CACHE_TTL_SECONDS + KV_PROPAGATION_SECONDS) * 1000;
/** Bound on the changes learned from D1 that are kept to override stale KV reads. */
const RECENT_CHANGES_MAX_ENTRIES = 20_000;
/** Bound on the revocations and rotations an isolate remembers beyond its cache (oldest out first). */
const KNOWN_REFUSALS_MAX_ENTRIES = 50_000;

export function edgeRecordKey(keyId: string): string {
  return KV_PREFIX + keyId;
}

export function keyIdFromEdgeRecordKey(name: string): string | undefined {
  return name.startsWith(KV_PREFIX) ? name.slice(KV_PREFIX.length) : undefined;
}

/** The record D1's row calls for, or null when the edge needs to know nothing about the key. */
export function edgeRecordOf(
  row: Pick<ApiKeyRow, "revoked" | "revokedAt" | "rotationCutoffAt" | "rateLimits" | "allowedIps" | "updatedAt"> &
    Partial<Pick<ApiKeyRow, "quota" | "limitGroup" | "metadata">>,
): EdgeRecord | null {
  const record: EdgeRecord = {};
  if (row.revoked) {
    record.state = "revoked";
    record.at = row.revokedAt ?? row.updatedAt;
  } else if (row.rotationCutoffAt !== null) {
    record.state = "rotated";
    record.at = row.rotationCutoffAt;
  }
  if (row.rateLimits && row.rateLimits.length > 0) record.rate_limits = row.rateLimits;
  if (row.allowedIps && row.allowedIps.length > 0) record.allowed_ips = row.allowedIps;
  if (row.quota) record.quota = row.quota;
  if (row.limitGroup) record.limit_group = row.limitGroup;
  if (row.metadata && Object.keys(row.metadata).length > 0) record.meta = metaHeaderValue(row.metadata);
  return Object.keys(record).length > 0 ? record : null;
}

/** FNV-1a over the record's JSON: KV metadata carries it, so the reconciler compares without reading values. */
export function fingerprintOf(record: EdgeRecord): string {
  let hash = 0x811c9dc5;
  const text = JSON.stringify(record);
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, "0");
}

/** base64url (no padding) of the metadata's UTF-8 JSON: a header value whatever the metadata holds. */
export function metaHeaderValue(metadata: Record<string, unknown>): string {
  const bytes = new TextEncoder().encode(JSON.stringify(metadata));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function viewOf(record: EdgeRecord | null): EdgeView | null {
  if (record === null) return null;
  const refused =
    (record.state === "revoked" || record.state === "rotated") && typeof record.at === "number"
      ? { state: record.state, at: record.at }
      : null;
  let limits: RateLimits | null = null;
  const list: CountedPolicy[] = Array.isArray(record.rate_limits) ? [...record.rate_limits] : [];
  if (record.quota && typeof record.quota === "object")
    list.push({ name: KEY_QUOTA_ITEM, limit: record.quota.limit, period: record.quota.period });
  if (list.length > 0) {
    limits = {
      list,
      // A key with rate limits only keeps the fingerprint it had before quotas (its leases stay good).
      fingerprint: fingerprintOf(
        record.quota ? { rate_limits: record.rate_limits, quota: record.quota } : { rate_limits: record.rate_limits },
      ),
      policyHeader: rateLimitPolicyField(list),
    };
  }
  const group = typeof record.limit_group === "string" ? record.limit_group : null;
  let allowlist: CidrRange[] | null = null;
  if (Array.isArray(record.allowed_ips) && record.allowed_ips.length > 0) {
    allowlist = [];
    for (const entry of record.allowed_ips) {
      const parsed = parseCidr(entry);
      if (parsed.ok) allowlist.push(parsed.range);
    }
  }
  const meta = typeof record.meta === "string" && record.meta !== "" ? record.meta : null;
  return refused || limits || allowlist || group || meta ? { refused, limits, allowlist, group, meta } : null;
}

interface CacheEntry {
  /** Resolved values only: a promise created by one request must never be awaited by another. */
  view: EdgeView | null;
  /** ms timestamp after which the entry must be re-read, unless the change feed vouches for it. */
  freshUntil: number;
  /** ms timestamp of the D1 or KV read this view comes from: the feed vouches for reads from its start on. */
  readAt: number;
}

const edgeCache = isolateCache<string, CacheEntry>("edge-records", ISOLATE_CACHE_MAX_ENTRIES);

/**
 * Views learned from D1 itself (this isolate's management writes and the change feed), by key, with
 * when: for KV_STALENESS_MS a KV read may still predate them, so they win over KV.
 */
interface LearnedChange {
  view: EdgeView | null;
  atMs: number;
}
const recentChanges = isolateCache<string, LearnedChange>("edge-record-changes", RECENT_CHANGES_MAX_ENTRIES);

/**
 * The change feed's standing in this isolate. Cached entries read at or after `trustedFromMs` stay
 * valid until `trustedUntilMs` (its last complete poll + the TTL), whatever their own `freshUntil`.
 */
export const feedTrust = {
  trustedFromMs: Number.POSITIVE_INFINITY,
  trustedUntilMs: 0,
  /** No read before this counts, whenever the feed (re)starts: learned changes overflowed their bound. */
  floorMs: 0,
};

/** The key's edge view from this isolate's cache while fresh, else undefined (read KV then). */
export function cachedEdgeView(keyId: string, nowMs: number): EdgeView | null | undefined {
  const cached = edgeCache.get(keyId);
  if (cached === undefined) return undefined;
  if (cached.freshUntil > nowMs || (cached.readAt >= feedTrust.trustedFromMs && feedTrust.trustedUntilMs > nowMs)) return cached.view;
  return undefined;
}

/**
 * Revocations and rotation cut-offs this isolate learned, by key, kept after the key's cache entry
 * is gone: a KV write that failed (until the reconciler repairs it) or has not propagated would
 * otherwise bring the key back. Both are final in D1, so remembering them is never wrong.
 */
const knownRefusals = isolateCache<string, RefusedFrom>("edge-record-refusals", KNOWN_REFUSALS_MAX_ENTRIES);

/** The refusal that refuses more: a revocation over a rotation, else the earlier one. */
function stricter(a: RefusedFrom, b: RefusedFrom): RefusedFrom {
  if (a.state !== b.state) return a.state === "revoked" ? a : b;
  return a.at <= b.at ? a : b;
}

/** `next`, with the revocation or rotation this isolate knew of the key where it refuses more. */
function keepRefusal(keyId: string, next: EdgeView | null): EdgeView | null {
  const known = knownRefusals.get(keyId);
  if (next?.refused) {
    const refused = known === undefined ? next.refused : stricter(known, next.refused);
    if (refused !== known) setBounded(knownRefusals, keyId, refused, KNOWN_REFUSALS_MAX_ENTRIES);
    return refused === next.refused ? next : { ...next, refused };
  }
  if (known === undefined) return next;
  return {
    refused: known,
    limits: next?.limits ?? null,
    allowlist: next?.allowlist ?? null,
    group: next?.group ?? null,
    meta: next?.meta ?? null,
  };
}

/** What D1 told this isolate about the key within the last KV_STALENESS_MS, if anything. */
function learnedView(keyId: string, nowMs: number): LearnedChange | undefined {
  const learned = recentChanges.get(keyId);
  return learned !== undefined && learned.atMs > nowMs - KV_STALENESS_MS ? learned : undefined;
}

/**
 * Remembers a view learned from D1. Should the bound push out a change younger than KV_STALENESS_MS,
 * KV reads could bring that change's old state back, so the feed vouches only for reads made after
 * KV has caught up (a burst of more than RECENT_CHANGES_MAX_ENTRIES changes within 90 s).
 */
function learn(keyId: string, view: EdgeView | null, atMs: number): void {
  recentChanges.delete(keyId);
  recentChanges.set(keyId, { view, atMs });
  // Oldest first (in learning order): drop what KV has caught up with, and past the bound the oldest.
  for (const [oldestKey, oldest] of recentChanges) {
    const expired = oldest.atMs <= atMs - KV_STALENESS_MS;
    if (!expired && recentChanges.size <= RECENT_CHANGES_MAX_ENTRIES) break;
    recentChanges.delete(oldestKey);
    if (!expired) {
      feedTrust.floorMs = Math.max(feedTrust.floorMs, atMs + KV_STALENESS_MS);
      feedTrust.trustedFromMs = Math.max(feedTrust.trustedFromMs, feedTrust.floorMs);
    }
  }
}

/**
 * Applies a key's record as D1 had it in a feed poll that started at `pollStartMs`: to the entry this
 * isolate cached, if any, and to what later KV reads must not override. A local write made after
 * the poll started is newer and stays.
 */
export function applyFeedChange(keyId: string, record: EdgeRecord | null, pollStartMs: number): void {
  const learned = recentChanges.get(keyId);
  if (learned !== undefined && learned.atMs > pollStartMs) return;
  const cached = edgeCache.get(keyId);
  const view = keepRefusal(keyId, viewOf(record));
  learn(keyId, view, pollStartMs);
  if (cached !== undefined) {
    setBounded(edgeCache, keyId, { view, freshUntil: cached.freshUntil, readAt: pollStartMs }, ISOLATE_CACHE_MAX_ENTRIES);
  }
}

/**
 * Reads the key's record from KV and caches it for `ttlMs`, unless D1 told this isolate about the
 * key more recently than KV can be trusted to know. Workers serve requests concurrently in one
 * isolate but each in its own I/O context, and workerd refuses I/O that one request performs on
 * behalf of another, so concurrent misses each read KV themselves instead of sharing a read.
 */
export async function fetchEdgeView(kv: KVNamespace, keyId: string, ttlMs: number, nowMs: number): Promise<EdgeView | null> {
  let learned = learnedView(keyId, nowMs);
  if (learned === undefined) {
    let stored: EdgeRecord | null;
    try {
      stored = await kv.get<EdgeRecord>(edgeRecordKey(keyId), { type: "json", cacheTtl: KV_CACHE_TTL_SECONDS });
    } catch (err) {
      return unreadable(keyId, nowMs, err);
    }
    // A management write or a feed poll may have landed while we were reading.
    learned = learnedView(keyId, nowMs);
    if (learned === undefined) {
      const view = keepRefusal(keyId, viewOf(stored && typeof stored === "object" ? stored : null));
      setBounded(edgeCache, keyId, { view, freshUntil: nowMs + ttlMs, readAt: nowMs }, ISOLATE_CACHE_MAX_ENTRIES);
      return view;
    }
  }
  setBounded(edgeCache, keyId, { view: learned.view, freshUntil: nowMs + ttlMs, readAt: learned.atMs }, ISOLATE_CACHE_MAX_ENTRIES);
  return learned.view;
}

/** After a failed read, ask KV again after this long (not on every request). */
const KV_RETRY_AFTER_FAILURE_MS = 1_000;
const FAILURE_LOG_INTERVAL_MS = 10_000;
let lastFailureLogMs = 0;
/** Reads of edge records that failed in this isolate (visible in the soak's stats). */
export const edgeReadStats = { failures: 0 };
registerCounters("edge-record-reads", edgeReadStats);

/**
 * KV could not be read. What this isolate knew about the key stays in force (stale, including any
 * revocation it learned); a key it knows nothing about is served on its signature and expiry alone,
 * as if it had no record, until KV answers again. Logged, at most every 10 s per isolate.
 */
function unreadable(keyId: string, nowMs: number, err: unknown): EdgeView | null {
  edgeReadStats.failures++;
  if (nowMs - lastFailureLogMs >= FAILURE_LOG_INTERVAL_MS) {
    lastFailureLogMs = nowMs;
    console.error(`KV read of edge records failing (${edgeReadStats.failures} so far); serving what this isolate knows`, err);
  }
  const view = keepRefusal(keyId, edgeCache.get(keyId)?.view ?? null);
  // Not vouched for by the feed (readAt -Infinity): asked again once the retry delay is over.
  setBounded(
    edgeCache,
    keyId,
    { view, freshUntil: nowMs + KV_RETRY_AFTER_FAILURE_MS, readAt: Number.NEGATIVE_INFINITY },
    ISOLATE_CACHE_MAX_ENTRIES,
  );
  return view;
}

/**
 * Mirrors a key's record into KV and into this isolate's cache (the isolate enforces it from its
 * next request on, whatever happens to the KV write). A null record deletes the KV entry. The KV
 * entry expires with the key (`exp`), so the store never outgrows the keys that could still be
 * presented. Returns false if the KV write failed (D1 already holds the truth; the reconciler repairs it).
 */
export async function writeEdgeRecord(
  kv: KVNamespace,
  keyId: string,
  record: EdgeRecord | null,
  keyExpiresAt: number | null,
  now: number,
): Promise<boolean> {
  // When this write was learned: after the D1 commit it mirrors (a feed poll that started earlier
  // may have read D1 before it, and must not undo it). `now` may be a test's clock ahead of ours.
  const nowMs = Math.max(now * 1000, Date.now());
  const view = keepRefusal(keyId, viewOf(record));
  learn(keyId, view, nowMs);
  setBounded(edgeCache, keyId, { view, freshUntil: nowMs + KV_STALENESS_MS, readAt: nowMs }, ISOLATE_CACHE_MAX_ENTRIES);
  try {
    if (record === null) {
      await kv.delete(edgeRecordKey(keyId));
      return true;
    }
    if (keyExpiresAt !== null && keyExpiresAt <= now) return true; // expired keys are refused anyway
    const options: KVNamespacePutOptions = { metadata: { v: fingerprintOf(record) } };
    // KV counts the 60 s from when the write reaches it, not from `now` (the cron's scheduled time, a
    // pass that began seconds ago): a key expiring within the minute got its write refused.
    const floor = Math.ceil(nowMs / 1000) + KV_MIN_EXPIRATION_TTL_SECONDS + KV_EXPIRATION_MARGIN_SECONDS;
    if (keyExpiresAt !== null) options.expiration = Math.max(keyExpiresAt, floor);
    await kv.put(edgeRecordKey(keyId), JSON.stringify(record), options);
    return true;
  } catch (err) {
    console.error(`KV write of ${edgeRecordKey(keyId)} failed; the reconciler will repair it`, err);
    return false;
  }
}

/** Forgets everything this isolate cached or learned, and the feed's trust (test seam, and a feed reset). */
export function clearEdgeCache(): void {
  edgeCache.clear();
  recentChanges.clear();
  knownRefusals.clear();
  feedTrust.trustedFromMs = Number.POSITIVE_INFINITY;
  feedTrust.trustedUntilMs = 0;
  feedTrust.floorMs = 0;
  for (const reset of resetHooks) reset();
}

const resetHooks: Array<() => void> = [];
/** Lets the feed forget its position when clearEdgeCache() runs. */
export function onEdgeCacheCleared(reset: () => void): void {
  resetHooks.push(reset);
}
