/**
 * The edge record's format: what the data plane must know about a key beyond its signature. That it
 * was revoked or rotated (refused from a time on), its rate limits, and the client addresses it may
 * be used from. D1 holds the truth (edgeRecordOf derives the record from a key's row); the record is
 * stored in KV as JSON and parsed once per read into an EdgeView. How it is stored and cached:
 * edge-cache.ts; how the change feed keeps it current: edge-feed.ts and feed-trust.ts.
 */
import type { ApiKeyRow } from "../db/schema";
import { type CidrRange, parseCidr } from "../lib/ip";
import { fnv1a, type RateLimitRule, type RateLimits, rateLimitsOf } from "../lib/rate-limit-set";

/** A key refused from `at` (unix seconds) on: the revocation time, or a rotation's cut-off. */
export interface RefusedFrom {
  state: "revoked" | "rotated";
  at: number;
}

/** The record as stored in KV (JSON). `state`/`at` are top-level as in earlier versions' entries. */
export interface EdgeRecord {
  state?: RefusedFrom["state"];
  at?: number;
  rate_limits?: RateLimitRule[];
  allowed_ips?: string[];
}

/** What the gateway works with: the record parsed once per read. */
export interface EdgeView {
  refused: RefusedFrom | null;
  limits: RateLimits | null;
  allowlist: readonly CidrRange[] | null;
}

const KV_PREFIX = "key-state:";

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
  return fnv1a(JSON.stringify(record));
}

/** The record parsed for the gateway (null: nothing to enforce). */
export function viewOf(record: EdgeRecord | null): EdgeView | null {
  if (record === null) return null;
  const refused =
    (record.state === "revoked" || record.state === "rotated") && typeof record.at === "number"
      ? { state: record.state, at: record.at }
      : null;
  const limits = Array.isArray(record.rate_limits) && record.rate_limits.length > 0 ? rateLimitsOf(record.rate_limits) : null;
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

/** The refusal that refuses more: a revocation over a rotation, else the earlier one. */
export function stricter(a: RefusedFrom, b: RefusedFrom): RefusedFrom {
  if (a.state !== b.state) return a.state === "revoked" ? a : b;
  return a.at <= b.at ? a : b;
}
