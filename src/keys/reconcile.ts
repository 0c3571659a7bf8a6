/**
 * The scheduled reconciler: builds the edge-record snapshot in KV from D1 (layout and size model:
 * docs/edge-records.md). Every edge record lives in one of 256 shards (two hex digits of the key
 * id); a shard is a KV value named by its content's hash, and one manifest value names each shard's
 * current version, the last change-feed seq it reflects and the D1 time it is current as of. Only
 * the reconciler writes them (KV allows one write per key per second; a new version is a new name).
 *
 * A run (every cron, within RECONCILE_BUDGET):
 * 1. reads its state (the manifest as last written, the versions it retired) from D1 (cron_cursors);
 * 2. asks the change feed which shards changed since each shard's seq, and D1's clock (one batch);
 * 3. rebuilds the changed shards from D1 (one indexed range query per 1,000 records), then, with
 *    what the budget leaves, the next REBUILD_UNCHANGED_PER_RUN shards of a walk that goes round all
 *    of them (its position saved with the state): that drops
 *    the records of keys past their own `exp` (a revoked key's record goes once its `exp` has
 *    passed; a key that never expires keeps its record) and repairs anything KV lost;
 * 4. writes each shard whose content changed under its new name, and the manifest. An unchanged
 *    shard that was not rebuilt is current as of this run too (the feed says nothing changed);
 *    a changed shard the budget left out keeps its old line, and the next run starts with it;
 * 5. deletes versions retired at least RETIRED_GRACE_SECONDS ago (isolates holding an older
 *    manifest may still read them), and a page of the per-key entries versions before issue #18
 *    wrote (`key-state:<id>`, read by nothing now), and saves its state.
 * The feed keeps what the snapshot does not know yet: an isolate reads the changes since the
 * manifest's `asOf` before it trusts what it holds.
 */
import { database } from "../db/client";
import { readCronCursor, writeCronCursor } from "../db/cron-cursors";
import { edgeChangesByIdPrefix, edgeRecordKeysById } from "../db/keys-repo";
import { KV_MAX_VALUE_BYTES } from "../lib/platform-limits";
import {
  type EdgeRecord,
  edgeRecordOf,
  MANIFEST_KEY,
  type Manifest,
  parseManifest,
  SHARD_PREFIX_DIGITS,
  SHARD_PREFIX_OFFSET,
  SHARD_PREFIXES,
  type ShardEntry,
  type ShardValue,
  shardIdRange,
  shardKey,
  snapshotRecordOf,
} from "./edge-record";

const CURSOR_NAME = "edge-snapshot";
/** Unchanged shards rebuilt per run on top of the changed ones (256 shards: each about every 2.7 hours at a run per 5 minutes). */
export const REBUILD_UNCHANGED_PER_RUN = 8;
/** A retired shard version is deleted this long after the manifest stopped naming it. */
const RETIRED_GRACE_SECONDS = 600;
/** Retired versions kept track of, at most (more would be a run that deleted nothing for days). */
const RETIRED_MAX = 5_000;
/** KV entries of the per-key layout before issue #18 (nothing reads them): deleted with what a run's budget leaves. */
const LEGACY_PREFIX = "key-state:";

/** What one run may spend. The cron's other tasks share the invocation's limits, hence the margin. */
export interface ReconcileBudget {
  /** KV writes + deletes (Workers Paid: 1,000 KV operations per invocation). */
  kvOps: number;
  /** D1 queries, the state's read and write included (Paid: 1,000 per invocation). */
  d1Queries: number;
  /** D1 rows per query. */
  pageSize: number;
}

export const RECONCILE_BUDGET: ReconcileBudget = { kvOps: 400, d1Queries: 400, pageSize: 1000 };

export interface ReconcileReport {
  /** Shards rebuilt from D1, and of those, written (their content changed). */
  rebuilt: number;
  written: number;
  /** Records in the rebuilt shards, and their bytes. */
  records: number;
  bytes: number;
  /** Changed shards the budget left for the next run. */
  pending: number;
  /** Retired versions deleted. */
  deleted: number;
  /** Per-key entries of the layout before issue #18 deleted. */
  legacyDeleted: number;
  /** Writes that failed (the shard keeps its old line; the next run tries again). */
  failed: number;
  /** Every shard is current as of this run (nothing pending). */
  passCompleted: boolean;
  /** The manifest's `asOf` after the run (unix s). */
  asOf: number;
  kvOps: number;
  d1Queries: number;
}

interface State {
  manifest: Manifest | null;
  /** [KV key, unix s it was retired]. */
  retired: [string, number][];
  /** The walk that rebuilds unchanged shards too: the index in SHARD_PREFIXES it goes on from. */
  walk: number;
}

function parseState(text: string | undefined): State {
  try {
    const s = text === undefined ? undefined : (JSON.parse(text) as Partial<State>);
    if (s !== undefined && Array.isArray(s.retired))
      return { manifest: parseManifest(s.manifest), retired: s.retired, walk: typeof s.walk === "number" ? s.walk : 0 };
  } catch {
    // fall through: a state this version cannot read starts over (every shard is rebuilt)
  }
  return { manifest: null, retired: [], walk: 0 };
}

async function versionOf(json: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(json)));
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function reconcileEdgeRecords(
  d1: D1Database,
  kv: KVNamespace,
  now: number,
  budget: ReconcileBudget = RECONCILE_BUDGET,
): Promise<ReconcileReport> {
  const db = database(d1);
  const report: ReconcileReport = {
    rebuilt: 0,
    written: 0,
    records: 0,
    bytes: 0,
    pending: 0,
    deleted: 0,
    legacyDeleted: 0,
    failed: 0,
    passCompleted: false,
    asOf: 0,
    kvOps: 0,
    d1Queries: 0,
  };
  const state = parseState(await readCronCursor(db, CURSOR_NAME));
  report.d1Queries++;
  const old = state.manifest;
  const fromSeq = old === null ? -1 : Math.min(...Object.values(old.shards).map((e) => e[1]));
  const changes = await edgeChangesByIdPrefix(db, fromSeq, SHARD_PREFIX_OFFSET, SHARD_PREFIX_DIGITS);
  report.d1Queries += 2;
  const asOf = changes.now;
  const lastSeq = changes.last ?? 0;
  // Rows the last run did not see were pruned (no run for a day): every shard is rebuilt.
  const lost = old !== null && changes.first !== null && changes.first > fromSeq + 1;
  const changedUpTo = new Map(changes.groups.map((g) => [g.prefix, g.seq]));

  const entries: Record<string, ShardEntry> = {};
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const prefix of SHARD_PREFIXES) {
    const entry = old?.shards[prefix];
    if (entry === undefined || lost || (changedUpTo.get(prefix) ?? -1) > entry[1]) changed.push(prefix);
    else unchanged.push(prefix);
  }
  // Changed shards first, those the snapshot has lagged on longest first; then the walk's next unchanged ones.
  changed.sort((a, b) => (old?.shards[a]?.[2] ?? 0) - (old?.shards[b]?.[2] ?? 0));
  const walked: string[] = [];
  for (let i = 0; i < SHARD_PREFIXES.length && walked.length < REBUILD_UNCHANGED_PER_RUN; i++) {
    const prefix = SHARD_PREFIXES[(state.walk + i) % SHARD_PREFIXES.length] as string;
    if (!changed.includes(prefix)) walked.push(prefix);
  }
  const toRebuild = [...changed, ...walked];
  const rebuilt = new Set<string>();
  const retiredNow: string[] = [];

  for (const prefix of toRebuild) {
    // Each rebuild may need a KV write; keep room for the manifest and the state's write.
    if (report.kvOps + 2 > budget.kvOps || report.d1Queries + 2 > budget.d1Queries) break;
    const records: Record<string, EdgeRecord> = {};
    let count = 0;
    const range = shardIdRange(prefix);
    let after = range.after;
    let complete = false;
    while (report.d1Queries + 1 < budget.d1Queries) {
      const rows = await edgeRecordKeysById(db, now, after, range.upTo, budget.pageSize);
      report.d1Queries++;
      for (const row of rows) {
        const record = edgeRecordOf(row);
        if (record !== null) {
          records[row.id] = snapshotRecordOf(record);
          count++;
        }
      }
      if (rows.length < budget.pageSize) {
        complete = true;
        break;
      }
      after = rows[rows.length - 1]?.id ?? after;
    }
    if (!complete) break; // out of D1 budget inside the shard: it keeps its old line
    const previous = old?.shards[prefix];
    let version: string | null = null;
    if (count > 0) {
      const value: ShardValue = { v: 1, prefix, records };
      const json = JSON.stringify(value);
      const bytes = new TextEncoder().encode(json).length;
      if (bytes > KV_MAX_VALUE_BYTES) {
        // Cannot happen below ~300,000 records per shard (docs/edge-records.md); kept visible if it does.
        console.error(`edge snapshot: shard ${prefix} is ${bytes} bytes, over KV's ${KV_MAX_VALUE_BYTES}; it keeps its old version`);
        report.failed++;
        continue;
      }
      version = await versionOf(json);
      report.records += count;
      report.bytes += bytes;
      if (version !== previous?.[0]) {
        report.kvOps++;
        try {
          await kv.put(shardKey(prefix, version), json);
          report.written++;
        } catch (err) {
          console.error(`edge snapshot: KV write of shard ${prefix} failed; the next run tries again`, err);
          report.failed++;
          continue;
        }
      }
    }
    if (previous?.[0] && previous[0] !== version) retiredNow.push(shardKey(prefix, previous[0]));
    entries[prefix] = [version, lastSeq, asOf];
    rebuilt.add(prefix);
    if (walked.includes(prefix)) state.walk = (SHARD_PREFIXES.indexOf(prefix) + 1) % SHARD_PREFIXES.length;
    report.rebuilt++;
  }
  for (const prefix of SHARD_PREFIXES) {
    if (rebuilt.has(prefix)) continue;
    const entry = old?.shards[prefix];
    if (entry === undefined) {
      report.pending++;
      continue; // never built: left out of the manifest, which then covers from no snapshot
    }
    if (changed.includes(prefix)) {
      report.pending++;
      entries[prefix] = entry;
    } else entries[prefix] = [entry[0], lastSeq, asOf];
  }

  // Without every shard, there is no snapshot to name yet: isolates read a day of the feed instead.
  const complete = SHARD_PREFIXES.every((p) => entries[p] !== undefined);
  const manifest: Manifest | null = complete ? { v: 1, asOf: Math.min(...Object.values(entries).map((e) => e[2])), shards: entries } : null;
  if (manifest !== null) {
    report.kvOps++;
    try {
      await kv.put(MANIFEST_KEY, JSON.stringify(manifest));
    } catch (err) {
      console.error("edge snapshot: KV write of the manifest failed; the next run writes it again", err);
      report.failed++;
    }
  }

  // Versions the manifest stopped naming, deleted once no isolate can still be reading them.
  const retired = [...state.retired.filter(([name]) => !retiredNow.includes(name)), ...retiredNow.map((n): [string, number] => [n, asOf])];
  const current = new Set(Object.entries(entries).flatMap(([p, e]) => (e[0] === null ? [] : [shardKey(p, e[0])])));
  const kept: [string, number][] = [];
  for (const [name, since] of retired) {
    if (current.has(name)) continue; // named again (the same content came back)
    if (since <= asOf - RETIRED_GRACE_SECONDS && report.kvOps + 1 < budget.kvOps) {
      report.kvOps++;
      try {
        await kv.delete(name);
        report.deleted++;
        continue;
      } catch (err) {
        console.error(`edge snapshot: KV delete of ${name} failed; the next run tries again`, err);
      }
    }
    kept.push([name, since]);
  }
  if (kept.length > RETIRED_MAX) console.error(`edge snapshot: ${kept.length} retired shard versions waiting to be deleted`);

  // The per-key entries an earlier version wrote: a page per run (deleting moves the list's start).
  if (report.kvOps + 2 <= budget.kvOps) {
    report.kvOps++;
    const legacy = await kv.list({ prefix: LEGACY_PREFIX, limit: Math.min(1000, budget.kvOps - report.kvOps) });
    for (const key of legacy.keys) {
      if (report.kvOps >= budget.kvOps) break;
      report.kvOps++;
      await kv.delete(key.name);
      report.legacyDeleted++;
    }
  }

  // The state keeps building towards a manifest even while none is written (a first build over several runs).
  const next: State = {
    manifest: manifest ?? { v: 1, asOf: 0, shards: entries },
    retired: kept.slice(-RETIRED_MAX),
    walk: state.walk,
  };
  await writeCronCursor(db, CURSOR_NAME, JSON.stringify(next), now);
  report.d1Queries++;
  report.asOf = manifest?.asOf ?? 0;
  report.passCompleted = report.pending === 0 && manifest !== null;
  return report;
}
