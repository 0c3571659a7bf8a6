/**
 * The edge record's format: what the data plane must know about a key beyond its signature. That it
 * was revoked or rotated (refused from a time on), its rate limits, and the client addresses it may
 * be used from. D1 holds the truth (edgeRecordOf derives the record from a key's row); the records
 * are stored in KV as a snapshot of 256 shards and a manifest (below; built by reconcile.ts) and
 * parsed once per isolate into EdgeViews. How an isolate holds them: edge-cache.ts; how the change
 * feed keeps them current: edge-feed.ts and feed-trust.ts. Layout and size: docs/edge-records.md.
 */
import type { ApiKeyRow } from "../db/schema";
import { type CidrRange, parseCidr } from "../lib/ip";
import { type RateLimitRule, type RateLimits, rateLimitsOf } from "../lib/rate-limit-set";
import type { Quota } from "../vocab/quotas.mjs";

/** A key refused from `at` (unix seconds) on: the revocation time, or a rotation's cut-off. */
export interface RefusedFrom {
  state: "revoked" | "rotated";
  at: number;
}

/** The record as stored in a shard (JSON). */
export interface EdgeRecord {
  state?: RefusedFrom["state"];
  at?: number;
  rate_limits?: RateLimitRule[];
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

/** base64url (no padding) of the metadata's UTF-8 JSON: a header value whatever the metadata holds. */
export function metaHeaderValue(metadata: Record<string, unknown>): string {
  const bytes = new TextEncoder().encode(JSON.stringify(metadata));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The record parsed for the gateway (null: nothing to enforce). */
export function viewOf(record: EdgeRecord | null): EdgeView | null {
  if (record === null) return null;
  const refused =
    (record.state === "revoked" || record.state === "rotated") && typeof record.at === "number"
      ? { state: record.state, at: record.at }
      : null;
  const rules = Array.isArray(record.rate_limits) ? record.rate_limits : [];
  const quota = record.quota && typeof record.quota === "object" ? record.quota : null;
  const limits: RateLimits | null = rules.length > 0 || quota ? rateLimitsOf(rules, quota) : null;
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

/** The refusal that refuses more: a revocation over a rotation, else the earlier one. */
export function stricter(a: RefusedFrom, b: RefusedFrom): RefusedFrom {
  if (a.state !== b.state) return a.state === "revoked" ? a : b;
  return a.at <= b.at ? a : b;
}

// ---------------------------------------------------------------------------------------------
// The snapshot: every edge record in KV as a few shard values and one manifest (docs/edge-records.md).

/** Hex digits of the key id (after `key-`) that pick its shard: 2 digits, 256 shards. */
export const SHARD_PREFIX_DIGITS = 2;
/** Where the shard prefix starts in a key id (1-based, as SQL's substr counts): after `key-`. */
export const SHARD_PREFIX_OFFSET = 5;
const SHARD_PREFIX = /^key-([0-9a-f]{2})/;
/** Every shard prefix, in order. */
export const SHARD_PREFIXES: readonly string[] = Array.from({ length: 16 ** SHARD_PREFIX_DIGITS }, (_, i) =>
  i.toString(16).padStart(SHARD_PREFIX_DIGITS, "0"),
);

/** The KV key of the manifest: which version of each shard is current, and as of when. */
export const MANIFEST_KEY = "edge-snapshot";
const SHARD_KEY_PREFIX = "edge-shard:";

/** The shard a key id belongs to, or null for an id keygate never mints (it can have no record). */
export function shardOf(keyId: string): string | null {
  return SHARD_PREFIX.exec(keyId)?.[1] ?? null;
}

/** The id range of a shard's keys, for an indexed D1 range query: ids after `after`, up to `upTo`. */
export function shardIdRange(prefix: string): { after: string; upTo: string } {
  // Every id of the shard is `key-<prefix>` followed by [0-9a-f-], all below "~".
  return { after: `key-${prefix}`, upTo: `key-${prefix}~` };
}

/** The KV key of one version of a shard (versions are content hashes: a changed shard gets a new name). */
export function shardKey(prefix: string, version: string): string {
  return `${SHARD_KEY_PREFIX}${prefix}:${version}`;
}

/** A shard as stored in KV (JSON): the records of its keys, by key id. */
export interface ShardValue {
  v: 1;
  prefix: string;
  records: Record<string, EdgeRecord>;
}

/**
 * One shard's line in the manifest: [version (null: the shard holds no record, no read needed),
 * the last edge_changes seq it reflects, the D1 time (unix s) it is current as of].
 */
export type ShardEntry = [version: string | null, seq: number, asOf: number];

/** The manifest as stored in KV (JSON). `asOf` is the oldest shard's: the change feed must cover from there. */
export interface Manifest {
  v: 1;
  asOf: number;
  shards: Record<string, ShardEntry>;
}

/** What a revoked key's record needs (its limits and allowlist no longer matter): kept small. */
export function snapshotRecordOf(record: EdgeRecord): EdgeRecord {
  return record.state === "revoked" ? { state: record.state, at: record.at } : record;
}

/** The manifest read from KV, or null if it is not one this version can read. */
export function parseManifest(value: unknown): Manifest | null {
  const m = value as Partial<Manifest> | null;
  if (m === null || typeof m !== "object" || m.v !== 1 || typeof m.asOf !== "number" || typeof m.shards !== "object" || m.shards === null)
    return null;
  return m as Manifest;
}

/** The shard read from KV, or null if it is not one this version can read. */
export function parseShard(value: unknown, prefix: string): ShardValue | null {
  const s = value as Partial<ShardValue> | null;
  if (s === null || typeof s !== "object" || s.v !== 1 || s.prefix !== prefix || typeof s.records !== "object" || s.records === null)
    return null;
  return s as ShardValue;
}
