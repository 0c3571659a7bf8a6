/**
 * This isolate's copy of the edge-record snapshot (format: edge-record.ts; layout and size model:
 * docs/edge-records.md). D1 holds the truth; the reconciler (reconcile.ts) writes every edge record
 * into KV as 256 shard values, one per two hex digits of the key id, and a manifest naming each
 * shard's current version and the D1 time it is current as of. An isolate reads the manifest once,
 * then a shard the first time it meets a key of that shard, and answers for every other key of the
 * shard, seen or not, without a read: a key with no record is the common case and costs nothing.
 * A shard with no record at all is never read.
 *
 * The snapshot is older than D1 by up to a reconciler period. The change feed (edge-feed.ts) covers
 * the gap: an isolate's first poll reads every change since the manifest's `asOf`, later polls what
 * is new, and each change is kept here ("learned") over the snapshot's record until a snapshot
 * current as of a later time replaces it. While the feed is trusted (feed-trust.ts), what this
 * isolate holds is current within the TTL; while it is not (D1 unreachable), the manifest and
 * shards are re-read from KV once their TTL is over.
 *
 * Propagation:
 * - A management change updates this isolate at once (learnEdgeRecord), so the isolate that served
 *   it enforces it on its very next request.
 * - Every isolate polls the feed every half REVOCATION_CACHE_TTL_SECONDS: a change reaches every
 *   isolate that serves traffic within the TTL (default 10 s).
 * - A fresh isolate's first request waits for its first poll (edge-view.ts), so a revocation older
 *   than the isolate is enforced from its first request; if D1 does not answer, the snapshot alone
 *   is (it lags D1 by up to a reconciler period plus KV's propagation).
 * A revocation or rotation is never forgotten by an isolate that learned it (kept apart, up to
 * KNOWN_REFUSALS_MAX_ENTRIES), whatever a stale snapshot says later.
 */
import { isolateCache, registerCounters, setBounded } from "../lib/bounded-map";
import {
  type EdgeRecord,
  type EdgeView,
  MANIFEST_KEY,
  type Manifest,
  parseManifest,
  parseShard,
  type RefusedFrom,
  shardKey,
  shardOf,
  stricter,
  viewOf,
} from "./edge-record";
import { feedCovers, feedTrust, onEdgeStateReset, resetEdgeState } from "./feed-trust";

/** KV's `cacheTtl` (edge cache of a read); Cloudflare's minimum is 30 s. */
export const KV_CACHE_TTL_SECONDS = 30;
/** Cloudflare documents that a KV write may take this long to be visible everywhere. */
export const KV_PROPAGATION_SECONDS = 60;
/** Clock skew allowed between D1 (the snapshot's and the feed's times) and this isolate. */
export const CLOCK_SKEW_SECONDS = 10;
/** With a trusted feed, the manifest is still re-read this often (to drop learned changes the snapshot caught up with). */
const MANIFEST_REFRESH_MS = 60_000;
/** After a failed read, ask KV again after this long (not on every request). */
const KV_RETRY_AFTER_FAILURE_MS = 1_000;
/** Bound on the changes learned from D1 that are newer than the snapshot (oldest out first). */
const LEARNED_MAX_ENTRIES = 50_000;
/** Bound on the revocations and rotations an isolate remembers beyond the snapshot (oldest out first). */
const KNOWN_REFUSALS_MAX_ENTRIES = 50_000;
/** Every shard may be loaded: the bound is the number of shards. */
const SHARDS_MAX = 256;
/**
 * How far a manifest read now is expected to lag D1 at most: the cron's period (5 minutes) + KV's
 * edge cache + its propagation. A fresh isolate's first poll reads from that far back while the
 * manifest is read (in parallel); a manifest older than that makes the feed read on from its asOf.
 */
export const SNAPSHOT_MAX_LAG_SECONDS = 300 + KV_CACHE_TTL_SECONDS + KV_PROPAGATION_SECONDS + 30;
/** How much of the feed there is (rows older than a day are pruned): without a snapshot, the first poll reads it all. */
export const FEED_RETENTION_SECONDS = 86_400;

interface LoadedShard {
  version: string;
  /** D1 time (unix s) the shard is current as of: its manifest's line, raised when a later manifest names the same version. */
  asOf: number;
  records: Record<string, EdgeRecord>;
  /** Views parsed from `records`, on first use. */
  views: Map<string, EdgeView | null>;
}

/** The manifest this isolate uses, and when it was read. */
const snapshot = {
  /** Read at least once (present, absent or unreadable). */
  known: false,
  manifest: null as Manifest | null,
  /** The state is used without a read until then (TTL, or the retry delay after a failure). */
  freshUntilMs: 0,
  /** A background refresh is due then, even while the feed vouches for the state. */
  refreshAtMs: 0,
};

const shards = isolateCache<string, LoadedShard>("edge-shards", SHARDS_MAX);
/** Shards whose read failed, by prefix: not asked again before this ms time. */
const shardRetryAtMs = new Map<string, number>();

/** A view learned from D1 (a management write in this isolate or the feed) and when (ms, D1's side). */
interface LearnedChange {
  view: EdgeView | null;
  atMs: number;
}
const learned = isolateCache<string, LearnedChange>("edge-record-changes", LEARNED_MAX_ENTRIES);

/**
 * Revocations and rotation cut-offs this isolate learned, by key: both are final in D1, so
 * remembering them is never wrong, and a stale snapshot or a lost learned change cannot bring the key back.
 */
const knownRefusals = isolateCache<string, RefusedFrom>("edge-record-refusals", KNOWN_REFUSALS_MAX_ENTRIES);

/** Reads of the snapshot by this isolate (the bench reports them per request; the soak reads failures). */
export const edgeReadStats = { manifestReads: 0, shardReads: 0, failures: 0, learnedOverflow: 0 };
registerCounters("edge-record-reads", edgeReadStats);

onEdgeStateReset(() => {
  snapshot.known = false;
  snapshot.manifest = null;
  snapshot.freshUntilMs = 0;
  snapshot.refreshAtMs = 0;
  shards.clear();
  shardRetryAtMs.clear();
  learned.clear();
  knownRefusals.clear();
});

/** Forgets everything this isolate read or learned, and the feed's trust and position (test seam). */
export function clearEdgeCache(): void {
  resetEdgeState();
}

/** `view`, with the revocation or rotation this isolate knew of the key where it refuses more; remembers a new one. */
function withKnownRefusal(keyId: string, view: EdgeView | null): EdgeView | null {
  const known = knownRefusals.get(keyId);
  if (view?.refused) {
    const refused = known === undefined ? view.refused : stricter(known, view.refused);
    if (refused !== known) setBounded(knownRefusals, keyId, refused, KNOWN_REFUSALS_MAX_ENTRIES);
    return refused === view.refused ? view : { ...view, refused };
  }
  if (known === undefined) return view;
  return {
    refused: known,
    limits: view?.limits ?? null,
    allowlist: view?.allowlist ?? null,
    group: view?.group ?? null,
    meta: view?.meta ?? null,
  };
}

/** Whether the manifest state may be used at `nowMs` without reading KV. */
function manifestUsable(nowMs: number): boolean {
  return snapshot.known && (snapshot.freshUntilMs > nowMs || feedCovers(feedTrust.needFromS, nowMs));
}

/** The `asOf` that goes with snapshotShard's last answer (a module variable: no allocation per request). */
let lookupAsOf = Number.NEGATIVE_INFINITY;

/**
 * The loaded shard that holds the key's record (null: no snapshot record for it), with its D1 time
 * in `lookupAsOf`; undefined when the shard must be read first. A shard of an older version than
 * the manifest names stays usable while the feed covers everything since its `asOf`; a background
 * refresh replaces it.
 */
function snapshotShard(keyId: string, nowMs: number): LoadedShard | null | undefined {
  lookupAsOf = Number.NEGATIVE_INFINITY;
  const manifest = snapshot.manifest;
  const prefix = shardOf(keyId);
  if (manifest === null || prefix === null) return null;
  const entry = manifest.shards[prefix];
  if (entry === undefined) return null;
  const version = entry[0];
  if (version === null) {
    lookupAsOf = entry[2];
    return null;
  }
  const loaded = shards.get(prefix);
  if (loaded !== undefined && (loaded.version === version || feedCovers(loaded.asOf - CLOCK_SKEW_SECONDS, nowMs))) {
    lookupAsOf = loaded.asOf;
    return loaded;
  }
  // Unreadable for now: the key is judged on what the feed and this isolate learned (an older version if it has one).
  if ((shardRetryAtMs.get(prefix) ?? 0) > nowMs) {
    if (loaded === undefined) return null;
    lookupAsOf = loaded.asOf;
    return loaded;
  }
  return undefined;
}

/** The key's view in a loaded shard; only keys with a record are remembered (unseen keys must not grow it). */
function shardView(shard: LoadedShard, keyId: string): EdgeView | null {
  let view = shard.views.get(keyId);
  if (view === undefined) {
    const record = shard.records[keyId];
    if (record === undefined) return null;
    view = viewOf(record);
    shard.views.set(keyId, view);
  }
  return view;
}

/** The view from the learned change if it is newer than the snapshot's `asOf`, else the snapshot's. */
function resolve(keyId: string, shard: LoadedShard | null, asOf: number): EdgeView | null {
  const change = learned.get(keyId);
  const view =
    change !== undefined && change.atMs >= (asOf - CLOCK_SKEW_SECONDS) * 1000
      ? change.view
      : shard === null
        ? null
        : shardView(shard, keyId);
  return withKnownRefusal(keyId, view);
}

/**
 * The key's edge view from what this isolate holds, or undefined when KV must be read first (the
 * manifest's TTL is over and the feed does not vouch for it, or the key's shard is not loaded).
 * Synchronous: the gateway's hot path. Whether the feed has made its first poll is edge-view.ts's concern.
 */
export function cachedEdgeView(keyId: string, nowMs: number): EdgeView | null | undefined {
  if (!manifestUsable(nowMs)) return undefined;
  const shard = snapshotShard(keyId, nowMs);
  return shard === undefined ? undefined : resolve(keyId, shard, lookupAsOf);
}

/** The key's edge view from what this isolate holds now, read or not (after reads that may have failed). */
export function currentEdgeView(keyId: string, nowMs: number): EdgeView | null {
  const shard = snapshotShard(keyId, nowMs);
  return shard === undefined ? resolve(keyId, null, Number.NEGATIVE_INFINITY) : resolve(keyId, shard, lookupAsOf);
}

const FAILURE_LOG_INTERVAL_MS = 10_000;
let lastFailureLogMs = 0;

/** A read of the snapshot failed: counted, logged at most every 10 s per isolate. */
function readFailed(what: string, nowMs: number, err: unknown): void {
  edgeReadStats.failures++;
  if (nowMs - lastFailureLogMs >= FAILURE_LOG_INTERVAL_MS) {
    lastFailureLogMs = nowMs;
    console.error(
      `KV read of edge records failing (${what}; ${edgeReadStats.failures} so far); serving what this isolate knows and the change feed`,
      err,
    );
  }
}

/** The D1 time the change feed must cover from for what this isolate holds (unix s). */
function coverageNeededFrom(nowMs: number): number {
  const manifest = snapshot.manifest;
  return (manifest === null ? Math.floor(nowMs / 1000) - FEED_RETENTION_SECONDS : manifest.asOf) - CLOCK_SKEW_SECONDS;
}

/** Installs a manifest read at `readAtMs` (an older one than this isolate has is ignored). */
function installManifest(manifest: Manifest | null, readAtMs: number, ttlMs: number): void {
  const current = snapshot.manifest;
  if (manifest !== null && (current === null || manifest.asOf >= current.asOf)) {
    snapshot.manifest = manifest;
    for (const [prefix, shard] of shards) {
      const entry = manifest.shards[prefix];
      if (entry !== undefined && entry[0] === shard.version) shard.asOf = Math.max(shard.asOf, entry[2]);
    }
  }
  snapshot.known = true;
  snapshot.freshUntilMs = readAtMs + ttlMs;
  snapshot.refreshAtMs = readAtMs + MANIFEST_REFRESH_MS;
  feedTrust.needFromS = coverageNeededFrom(readAtMs);
  pruneLearned();
}

/** Drops learned changes every snapshot this isolate may use has caught up with. */
function pruneLearned(): void {
  const manifest = snapshot.manifest;
  if (manifest === null) return;
  let oldest = manifest.asOf;
  for (const [prefix, shard] of shards) if (manifest.shards[prefix]?.[0] !== shard.version) oldest = Math.min(oldest, shard.asOf);
  const coveredMs = (oldest - CLOCK_SKEW_SECONDS) * 1000;
  for (const [keyId, change] of learned) if (change.atMs < coveredMs) learned.delete(keyId);
}

/** Reads the manifest from KV. On failure what this isolate had stays in force, asked again after the retry delay. */
export async function loadManifest(kv: KVNamespace, ttlMs: number, nowMs: number): Promise<void> {
  let value: unknown;
  try {
    edgeReadStats.manifestReads++;
    value = await kv.get(MANIFEST_KEY, { type: "json", cacheTtl: KV_CACHE_TTL_SECONDS });
  } catch (err) {
    readFailed("the manifest", nowMs, err);
    if (!snapshot.known) {
      // No snapshot: the feed must cover everything it holds (a day).
      snapshot.known = true;
      feedTrust.needFromS = coverageNeededFrom(nowMs);
    }
    snapshot.freshUntilMs = nowMs + KV_RETRY_AFTER_FAILURE_MS;
    snapshot.refreshAtMs = nowMs + KV_RETRY_AFTER_FAILURE_MS;
    return;
  }
  const manifest = parseManifest(value);
  if (value !== null && manifest === null) readFailed("a manifest this version cannot read", nowMs, undefined);
  installManifest(manifest, nowMs, ttlMs);
}

/** Whether the key's shard must be read before its view is known (see snapshotShard). */
export function shardNeeded(keyId: string, nowMs: number): boolean {
  return manifestUsable(nowMs) && snapshotShard(keyId, nowMs) === undefined;
}

/** Reads the current version of a shard. On failure the key is judged without it, asked again after the retry delay. */
export async function loadShard(kv: KVNamespace, prefix: string, nowMs: number): Promise<void> {
  const entry = snapshot.manifest?.shards[prefix];
  if (entry === undefined || entry[0] === null) return;
  const [version, , asOf] = entry;
  let value: unknown;
  try {
    edgeReadStats.shardReads++;
    // A shard version never changes (its name is its content's hash): KV's edge cache may keep it long.
    value = await kv.get(shardKey(prefix, version), { type: "json", cacheTtl: 3600 });
  } catch (err) {
    readFailed(`shard ${prefix}`, nowMs, err);
    shardRetryAtMs.set(prefix, nowMs + KV_RETRY_AFTER_FAILURE_MS);
    return;
  }
  const shard = parseShard(value, prefix);
  if (shard === null) {
    readFailed(`shard ${prefix} version ${version} ${value === null ? "missing" : "unreadable"}`, nowMs, undefined);
    shardRetryAtMs.set(prefix, nowMs + KV_RETRY_AFTER_FAILURE_MS);
    return;
  }
  shardRetryAtMs.delete(prefix);
  const loaded = shards.get(prefix);
  // A concurrent read may have loaded a newer one meanwhile.
  if (loaded !== undefined && loaded.asOf > asOf) return;
  setBounded(shards, prefix, { version, asOf, records: shard.records, views: new Map() }, SHARDS_MAX);
  pruneLearned();
}

/** The key's shard prefix when it must be read (edge-view.ts reads it). */
export function shardToRead(keyId: string, nowMs: number): string | null {
  return shardNeeded(keyId, nowMs) ? shardOf(keyId) : null;
}

/**
 * A background refresh if one is due (for the caller to hand to ctx.waitUntil): the manifest, then
 * the loaded shards it names a newer version of. Keeps learned changes few and loaded shards recent
 * without a read on the request path.
 */
export function edgeSnapshotRefreshIfDue(kv: KVNamespace, ttlMs: number, nowMs: number): Promise<void> | undefined {
  if (!snapshot.known || nowMs < snapshot.refreshAtMs) return undefined;
  snapshot.refreshAtMs = nowMs + MANIFEST_REFRESH_MS;
  return (async () => {
    const freshUntil = snapshot.freshUntilMs;
    await loadManifest(kv, ttlMs, nowMs);
    // A background read does not extend the TTL of a state the feed does not vouch for beyond what a request read would.
    snapshot.freshUntilMs = Math.max(freshUntil, snapshot.freshUntilMs);
    const manifest = snapshot.manifest;
    if (manifest === null) return;
    for (const [prefix, shard] of [...shards]) {
      if (manifest.shards[prefix]?.[0] !== shard.version) {
        if (manifest.shards[prefix]?.[0] === null) shards.delete(prefix);
        else await loadShard(kv, prefix, nowMs);
      }
    }
  })();
}

/**
 * Applies a key's record as D1 had it at `atMs` (a feed poll that started then, or a management
 * write this isolate just committed). A change learned later wins.
 */
export function learnEdgeRecord(keyId: string, record: EdgeRecord | null, atMs: number): void {
  const previous = learned.get(keyId);
  if (previous !== undefined && previous.atMs > atMs) return;
  const view = withKnownRefusal(keyId, viewOf(record));
  learned.delete(keyId);
  learned.set(keyId, { view, atMs });
  if (learned.size > LEARNED_MAX_ENTRIES) {
    // Over the bound: the oldest goes (its revocation or rotation stays in knownRefusals).
    const oldest = learned.keys().next().value;
    if (oldest !== undefined) learned.delete(oldest);
    edgeReadStats.learnedOverflow++;
  }
}

/** Applies a change the feed read in a poll that started at `pollStartMs`. */
export function applyFeedChange(keyId: string, record: EdgeRecord | null, pollStartMs: number): void {
  learnEdgeRecord(keyId, record, pollStartMs);
}

/** Before the manifest is read: the feed's first poll may start from the snapshot's expected lag. */
export function expectSnapshotLag(nowMs: number): void {
  if (Number.isNaN(feedTrust.needFromS)) feedTrust.needFromS = Math.floor(nowMs / 1000) - SNAPSHOT_MAX_LAG_SECONDS - CLOCK_SKEW_SECONDS;
}
