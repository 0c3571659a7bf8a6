/**
 * The per-key edge record: what the data plane must know about a key beyond its signature. That it
 * was revoked or rotated (refused from a time on), its rate limits, and the client addresses it may
 * be used from. D1 holds the truth; the record is mirrored into KV (written after D1, repaired by
 * the scheduled reconciler) and cached per isolate. Keys with nothing special have no KV entry and
 * cost the gateway one cached lookup, as before.
 *
 * Propagation: a management change updates this isolate's cache at once, so the isolate that served
 * it enforces it on its very next request. Other isolates see it once their cached entry
 * (REVOCATION_CACHE_TTL_SECONDS, default 10 s) and KV's edge cache (KV_CACHE_TTL_SECONDS) expire
 * and KV has propagated the write (Cloudflare documents up to 60 s). KV is eventually consistent;
 * that bound is the trade-off accepted here for a data plane that never waits on D1. A revocation
 * is never forgotten by an isolate that learned it, whatever a stale KV read says later.
 */
import type { ApiKeyRow } from "../db/schema";
import { isolateCache, registerCounters, setBounded } from "../lib/bounded-map";
import { type CidrRange, parseCidr } from "../lib/ip";
import type { RateLimit } from "./schemas";

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
}

/** What the gateway works with: the record parsed once per read. */
export interface EdgeView {
  refused: RefusedFrom | null;
  limits: RateLimits | null;
  allowlist: readonly CidrRange[] | null;
}

export interface RateLimits {
  list: readonly RateLimit[];
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
/** Bound on the per-isolate cache; the oldest entries go first. */
const ISOLATE_CACHE_MAX_ENTRIES = 20_000;
/** How long this isolate trusts its own management write over KV reads (which may predate it). */
const LOCAL_WRITE_TRUST_MS = (KV_CACHE_TTL_SECONDS + KV_PROPAGATION_SECONDS) * 1000;

export function edgeRecordKey(keyId: string): string {
  return KV_PREFIX + keyId;
}

export function keyIdFromEdgeRecordKey(name: string): string | undefined {
  return name.startsWith(KV_PREFIX) ? name.slice(KV_PREFIX.length) : undefined;
}

/** The record D1's row calls for, or null when the edge needs to know nothing about the key. */
export function edgeRecordOf(
  row: Pick<ApiKeyRow, "revoked" | "revokedAt" | "rotationCutoffAt" | "rateLimits" | "allowedIps" | "updatedAt">,
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
  return Object.keys(record).length > 0 ? record : null;
}

/** FNV-1a over the record's JSON: KV metadata carries it, so the reconciler compares without reading values. */
export function fingerprintOf(record: EdgeRecord): string {
  let hash = 0x811c9dc5;
  const text = JSON.stringify(record);
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, "0");
}

function sfString(value: string): string {
  return `"${value.replace(/[\\"]/g, "\\$&")}"`;
}

function viewOf(record: EdgeRecord | null): EdgeView | null {
  if (record === null) return null;
  const refused =
    (record.state === "revoked" || record.state === "rotated") && typeof record.at === "number"
      ? { state: record.state, at: record.at }
      : null;
  let limits: RateLimits | null = null;
  if (Array.isArray(record.rate_limits) && record.rate_limits.length > 0) {
    limits = {
      list: record.rate_limits,
      fingerprint: fingerprintOf({ rate_limits: record.rate_limits }),
      policyHeader: record.rate_limits.map((l) => `${sfString(l.name)};q=${l.limit};w=${l.window_seconds}`).join(", "),
    };
  }
  let allowlist: CidrRange[] | null = null;
  if (Array.isArray(record.allowed_ips) && record.allowed_ips.length > 0) {
    allowlist = [];
    for (const entry of record.allowed_ips) {
      const parsed = parseCidr(entry);
      if (parsed.ok) allowlist.push(parsed.range);
    }
  }
  return refused || limits || allowlist ? { refused, limits, allowlist } : null;
}

interface CacheEntry {
  /** Resolved values only: a promise created by one request must never be awaited by another. */
  view: EdgeView | null;
  /** ms timestamp after which the entry must be re-read from KV. */
  freshUntil: number;
}

const edgeCache = isolateCache<string, CacheEntry>("edge-records", ISOLATE_CACHE_MAX_ENTRIES);

/** The key's edge view from this isolate's cache while fresh, else undefined (read KV then). */
export function cachedEdgeView(keyId: string, nowMs: number): EdgeView | null | undefined {
  const cached = edgeCache.get(keyId);
  return cached !== undefined && cached.freshUntil > nowMs ? cached.view : undefined;
}

/** A revocation or rotation this isolate knew stays known: KV may still serve an older record. */
function keepRefusal(next: EdgeView | null, previous: EdgeView | null | undefined): EdgeView | null {
  const known = previous?.refused;
  if (!known || next?.refused) return next;
  return { refused: known, limits: next?.limits ?? null, allowlist: next?.allowlist ?? null };
}

/**
 * Reads the key's record from KV and caches it for `ttlMs`. Workers serve requests concurrently in
 * one isolate but each in its own I/O context, and workerd refuses I/O that one request performs
 * on behalf of another, so concurrent misses each read KV themselves instead of sharing a read.
 */
export async function fetchEdgeView(kv: KVNamespace, keyId: string, ttlMs: number, nowMs: number): Promise<EdgeView | null> {
  let stored: EdgeRecord | null;
  try {
    stored = await kv.get<EdgeRecord>(edgeRecordKey(keyId), { type: "json", cacheTtl: KV_CACHE_TTL_SECONDS });
  } catch (err) {
    return unreadable(keyId, nowMs, err);
  }
  const current = edgeCache.get(keyId);
  // A management write served by this isolate while we were reading (or shortly before) wins.
  if (current !== undefined && current.freshUntil > nowMs) return current.view;
  const view = keepRefusal(viewOf(stored && typeof stored === "object" ? stored : null), current?.view);
  setBounded(edgeCache, keyId, { view, freshUntil: nowMs + ttlMs }, ISOLATE_CACHE_MAX_ENTRIES);
  return view;
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
  const view = edgeCache.get(keyId)?.view ?? null;
  setBounded(edgeCache, keyId, { view, freshUntil: nowMs + KV_RETRY_AFTER_FAILURE_MS }, ISOLATE_CACHE_MAX_ENTRIES);
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
  const nowMs = now * 1000;
  const view = keepRefusal(viewOf(record), edgeCache.get(keyId)?.view);
  setBounded(edgeCache, keyId, { view, freshUntil: nowMs + LOCAL_WRITE_TRUST_MS }, ISOLATE_CACHE_MAX_ENTRIES);
  try {
    if (record === null) {
      await kv.delete(edgeRecordKey(keyId));
      return true;
    }
    if (keyExpiresAt !== null && keyExpiresAt <= now) return true; // expired keys are refused anyway
    const options: KVNamespacePutOptions = { metadata: { v: fingerprintOf(record) } };
    if (keyExpiresAt !== null) options.expiration = Math.max(keyExpiresAt, now + KV_MIN_EXPIRATION_TTL_SECONDS);
    await kv.put(edgeRecordKey(keyId), JSON.stringify(record), options);
    return true;
  } catch (err) {
    console.error(`KV write of ${edgeRecordKey(keyId)} failed; the reconciler will repair it`, err);
    return false;
  }
}

/** Test seam: forget everything this isolate cached. */
export function clearEdgeCache(): void {
  edgeCache.clear();
}
