#!/usr/bin/env node
// Seeds a local D1 + KV for the capacity measurements (issue 17, docs/capacity.md): a deployment of
// --keys keys (default 1,000,000) of which --big-tenant-keys (default 100,000) belong to one tenant
// ("capacity-big"), the rest spread over tenants of 1,000 ("capacity-t000", ...), written straight into
// D1 in statements of 10,000 rows (INSERT ... SELECT over a recursive CTE: five bound parameters per
// statement), not through the API. Then the edge records those keys call for, built into KV by
// keygate's reconciler (the snapshot of 256 shards, built by /reconcile of the capacity worker), and a retention backlog.
//
// The mix, per key (deterministic from its number): created within the last 2 years; 30 % never
// expire, the rest after 30, 90 or 365 days (so many have expired, as in a real deployment);
// 20 % never used, the others last used between creation and now; 5 % revoked; 2 % rotated away;
// 8 % with a rate limit; 4 % with an IP allowlist. About 18 % of the keys call for an edge record,
// and those not yet expired get a KV entry.
//
//   npm run seed:capacity [-- --keys 1000000 --big-tenant-keys 100000 --state bench/out/capacity-state --fresh]
//
// The state lives in bench/out/capacity-state (git-ignored); `npm run bench:capacity` measures against it.
import { rmSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { call, DEFAULT_STATE_DIR, startCapacityWorkerd, writeJson } from "../bench/lib/capacity.mjs";
import { positiveNumber } from "../bench/lib/cli.mjs";
import { installSignalHandlers, log, runMain } from "../bench/lib/lifecycle.mjs";

const ROWS_PER_STATEMENT = 10_000;
const BIG_TENANT = "capacity-big";
const DAY = 86_400;

// ?1 first key number, ?2 last, ?3 tenant (NULL: spread over tenants of 1,000), ?4 now, ?5 seed run.
// a, b, c: three independent pseudo-random streams per key number.
const INSERT_KEYS = `
WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2),
r AS (SELECT i, (i * 7919) % 1000 AS a, (i * 104729) % 1000 AS b, (i * 15485863) % 100003 AS c FROM n),
k AS (
  SELECT i, a, b, c,
    ?4 - ((c * 631 + i) % (730 * ${DAY})) AS created,
    CASE WHEN a < 300 THEN 0 WHEN a < 600 THEN 90 WHEN a < 900 THEN 365 ELSE 30 END AS days
  FROM r
)
INSERT INTO api_keys (id, tenant_id, name, scopes, created_at, expires_at, expires_in_days, last_used, revoked, revoked_at,
  revoked_by, revoke_reason, created_by, subject, jti, kid, replaced_by, rotation_cutoff_at, updated_at, rate_limits, allowed_ips)
SELECT
  'key-' || lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2)
    || '-' || lower(hex(randomblob(2))) || '-' || lower(hex(randomblob(6))),
  COALESCE(?3, 'capacity-t' || printf('%03d', (i / 1000) % 900)),
  'capacity key ' || i,
  '["api:read"]',
  created,
  CASE WHEN days = 0 THEN NULL ELSE created + days * ${DAY} END,
  days,
  CASE WHEN b < 200 THEN NULL ELSE created + ((b * 7777 + i) % max(1, ?4 - created)) END,
  CASE WHEN b % 20 = 3 THEN 1 ELSE 0 END,
  CASE WHEN b % 20 = 3 THEN created + ${DAY} END,
  CASE WHEN b % 20 = 3 THEN 'user:seed' END,
  CASE WHEN b % 20 = 3 THEN 'capacity seed' END,
  'user:seed', 'seed-' || ?5, lower(hex(randomblob(16))), 'seed-kid',
  CASE WHEN b % 20 <> 3 AND c % 50 = 11 THEN 'key-replacement-' || i END,
  CASE WHEN b % 20 <> 3 AND c % 50 = 11 THEN created + ${DAY} END,
  created,
  CASE WHEN c % 100 < 8 THEN '[{"name":"burst","limit":100,"window_seconds":60}]' END,
  CASE WHEN (a + b) % 25 = 0 THEN '["203.0.113.0/24"]' END
FROM k`;

// Expired minute roll-ups (one per key and minute of a day 8 days ago): what retention deletes.
const INSERT_OLD_MINUTES = `
WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
INSERT OR IGNORE INTO usage_counts (granularity, tenant_id, key_id, bucket, outcome, count)
SELECT 'minute', 'capacity-t000', 'key-old-' || (i % 200), ?3 - 8 * ${DAY} + (i / 200) * 60, 'accepted', 1 FROM n`;

async function shiftFeed(db, now) {
  // The feed rows the insert trigger wrote are made two days old (what retention prunes), but for the
  // newest 10,000, spread one a second over the last ~3 hours (what a first poll and a backlog read).
  await db.prepare(`UPDATE edge_changes SET at = at - 2 * ${DAY} WHERE seq < (SELECT max(seq) - 10000 FROM edge_changes)`).run();
  await db.prepare(`UPDATE edge_changes SET at = ?1 - (SELECT max(seq) FROM edge_changes) + seq WHERE at >= ?1 - ${DAY}`).bind(now).run();
}

async function main() {
  installSignalHandlers();
  const { values } = parseArgs({
    options: {
      keys: { type: "string", default: "1000000" },
      "big-tenant-keys": { type: "string", default: "100000" },
      "old-minute-rows": { type: "string", default: "200000" },
      state: { type: "string", default: DEFAULT_STATE_DIR },
      fresh: { type: "boolean", default: false },
    },
  });
  const total = positiveNumber("--keys", values.keys);
  const big = Math.min(total, positiveNumber("--big-tenant-keys", values["big-tenant-keys"]));
  const oldMinutes = positiveNumber("--old-minute-rows", values["old-minute-rows"]);
  const stateDir = path.resolve(values.state);
  if (values.fresh) rmSync(stateDir, { recursive: true, force: true });
  const { url, db } = await startCapacityWorkerd({ stateDir });
  const existing = (await db.prepare("SELECT count(*) AS n FROM api_keys").first()).n;
  // A state with exactly --keys keys (a seed stopped after its D1 step) resumes at the KV step.
  if (existing > 0 && existing !== total) throw new Error(`${stateDir} already holds ${existing} keys; pass --fresh to start over`);
  const now = Math.floor(Date.now() / 1000);
  const run = Date.now().toString(36);
  const timings = {};
  if (existing === total) log(`D1 already holds ${total.toLocaleString("en-US")} keys: on to KV`);

  // Keys: every 10th statement is the big tenant's, so its keys are spread over the whole seq range.
  let t0 = performance.now();
  let bigLeft = big;
  let othersLeft = total - big;
  for (let i = 0, s = 0; existing === 0 && bigLeft + othersLeft > 0; s++) {
    const forBig = bigLeft > 0 && (s % 10 === 0 || othersLeft === 0);
    const rows = Math.min(ROWS_PER_STATEMENT, forBig ? bigLeft : othersLeft);
    await db
      .prepare(INSERT_KEYS)
      .bind(i, i + rows - 1, forBig ? BIG_TENANT : null, now, run)
      .run();
    if (forBig) bigLeft -= rows;
    else othersLeft -= rows;
    i += rows;
    if (s % 10 === 9) log(`keys: ${i.toLocaleString("en-US")} of ${total.toLocaleString("en-US")}`);
  }
  timings.d1KeysSeconds = (performance.now() - t0) / 1000;
  log(`D1: ${total.toLocaleString("en-US")} keys in ${timings.d1KeysSeconds.toFixed(1)} s`);

  if (existing === 0) await shiftFeed(db, now);

  // KV: the edge-record snapshot of the keys that call for a record, built by keygate's reconciler.
  t0 = performance.now();
  let written = 0;
  for (let run = 0; run < 100; run++) {
    const r = (await call(url, `/reconcile?now=${now}`)).result;
    written += r.records;
    if (r.passCompleted) break;
  }
  timings.kvSeconds = (performance.now() - t0) / 1000;
  log(`KV: ${written.toLocaleString("en-US")} edge records in the snapshot in ${timings.kvSeconds.toFixed(1)} s`);

  t0 = performance.now();
  for (let i = 0; existing === 0 && i < oldMinutes; i += ROWS_PER_STATEMENT) {
    await db
      .prepare(INSERT_OLD_MINUTES)
      .bind(i, Math.min(oldMinutes, i + ROWS_PER_STATEMENT) - 1, now)
      .run();
  }
  timings.usageSeconds = (performance.now() - t0) / 1000;

  const stats = {
    seededAt: now,
    keys: (await db.prepare("SELECT count(*) AS n FROM api_keys").first()).n,
    bigTenantKeys: (await db.prepare("SELECT count(*) AS n FROM api_keys WHERE tenant_id = ?").bind(BIG_TENANT).first()).n,
    edgeRecordKeys: (
      await db
        .prepare(
          "SELECT count(*) AS n FROM api_keys WHERE (revoked = 1 OR rotation_cutoff_at IS NOT NULL OR rate_limits IS NOT NULL OR allowed_ips IS NOT NULL) AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(now)
        .first()
    ).n,
    kvEdgeRecords: written,
    revoked: (await db.prepare("SELECT count(*) AS n FROM api_keys WHERE revoked = 1").first()).n,
    expired: (await db.prepare("SELECT count(*) AS n FROM api_keys WHERE expires_at <= ?").bind(now).first()).n,
    edgeChanges: (await db.prepare("SELECT count(*) AS n FROM edge_changes").first()).n,
    oldMinuteRows: (await db.prepare("SELECT count(*) AS n FROM usage_counts").first()).n,
    timings,
  };
  writeJson(path.join(stateDir, "seed.json"), stats);
  log(JSON.stringify(stats));
}

runMain(main);
